//! A signal sent to one thread of a multi-threaded tracee is reported as that thread's
//! signal-delivery stop, and once injected it runs the handler on that thread.

use ptrace_atf::atf::timescale::scaled;
use std::ffi::c_void;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::siginfo::expect_siginfo;
use ptrace_atf::trace::{Options, PtraceEvent, Status, Want, child_thread, expect, probe, sys};
use ptrace_atf::{child_require_eq, harness, require_eq};

use crate::common::{Chan, EXIT_CODE, child_raise, child_sigaction, cont, traced_child};

static HANDLED_ON: AtomicI32 = AtomicI32::new(0);
static WORKER_TID: AtomicI32 = AtomicI32::new(0);

extern "C" fn note_tid(_sig: i32, _info: *mut libc::siginfo_t, _ctx: *mut c_void) {
    // SAFETY: gettid is async-signal-safe.
    HANDLED_ON.store(unsafe { libc::gettid() }, Ordering::Relaxed);
}

extern "C" fn worker(_arg: *mut c_void) -> *mut c_void {
    // SAFETY: gettid has no preconditions.
    WORKER_TID.store(unsafe { libc::gettid() }, Ordering::Relaxed);
    let start = Instant::now();
    while HANDLED_ON.load(Ordering::Relaxed) == 0
        && start.elapsed() < scaled(Duration::from_secs(8))
    {
        // SAFETY: a short sleep.
        unsafe { libc::usleep(1000) };
    }
    std::ptr::null_mut()
}

fn signal_to_thread(tc: &Tc) {
    let w = harness::waiter(tc);
    harness::require_pid_waiter(tc, &w);
    if let Err(why) = probe::waiter_names_threads(w.kind()) {
        tc.skip(why);
    }
    let go = Chan::new();
    let child = traced_child(|| {
        child_sigaction(
            libc::SIGUSR1,
            note_tid as *const () as usize,
            libc::SA_SIGINFO,
        );
        child_raise(libc::SIGSTOP);
        child_thread::join(child_thread::spawn(worker, 0));
        child_require_eq!(
            HANDLED_ON.load(Ordering::Relaxed),
            WORKER_TID.load(Ordering::Relaxed)
        );
        // Exit only after the tracer reaped the worker: a thread reaped after the group's
        // exit began reports the group's status instead of its own.
        go.child_recv();
        EXIT_CODE
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    ptrace_atf::require_ok!(
        sys::setoptions(pid, Options::TRACECLONE | Options::EXITKILL),
        "PTRACE_SETOPTIONS failed"
    );
    cont(pid, 0);
    let tid = Pid::from_raw(child.expect_event(&w, PtraceEvent::Clone) as i32);
    w.expect_stopped(tid, libc::SIGSTOP);
    cont(pid, 0);
    // SAFETY: tgkill with our tracee's ids.
    let r = unsafe { libc::syscall(libc::SYS_tgkill, pid.as_raw(), tid.as_raw(), libc::SIGUSR1) };
    require_eq!(r, 0, "tgkill(tracee, worker, SIGUSR1)");
    cont(tid, 0);
    w.expect_stopped(tid, libc::SIGUSR1);
    let info = expect_siginfo(tid, libc::SIGUSR1, expect::RAISE_SI_CODE);
    // SAFETY: a tgkill siginfo carries si_pid.
    let si_pid = unsafe { info.si_pid() };
    require_eq!(si_pid, std::process::id() as i32, "si_pid of the tgkill");
    cont(tid, libc::SIGUSR1);
    let got = w.wait(tid, "the worker's exit");
    if got != Status::Exited(0)
        && let Some(report) = child.failure()
    {
        ptrace_atf::fail!("child {pid} failed: {report}");
    }
    w.check(tid, Want::Exited(0), got);
    go.send(b'g');
    child.expect_exited(&w, EXIT_CODE);
    w.expect_no_children();
}

pub fn cases() -> Vec<TestCase> {
    vec![TestCase::new("signal_to_thread")
        .descr("tgkill(SIGUSR1) to the second thread of a traced process stops that thread (not the leader) with SI_TKILL; injected with PTRACE_CONT, the handler runs on that thread")
        .timeout(20)
        .body(signal_to_thread)]
}
