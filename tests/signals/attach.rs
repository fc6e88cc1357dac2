//! Attach errors (t_ptrace.c) with this OS's errno, and t_ptrace_sigchld's traced child of
//! a parent that asked for no zombies (SA_NOCLDWAIT).

use std::ffi::c_void;
use std::time::{Duration, Instant};

use nix::unistd::{Pid, getpid};
use ptrace_atf::atf::{Tc, TestCase, User};
use ptrace_atf::netbsd::SameName;
use ptrace_atf::trace::{Forkee, expect, proc, sys};
use ptrace_atf::{child_fail, child_require_eq, harness, require_eq};

use crate::common::{child_raise, traced_child};

fn attach_pid0(_tc: &Tc) {
    require_eq!(
        sys::attach(Pid::from_raw(0)),
        Err(expect::ATTACH_PID0_ERRNO),
        "PTRACE_ATTACH to pid 0"
    );
}

fn attach_self(_tc: &Tc) {
    require_eq!(
        sys::attach(getpid()),
        Err(expect::ATTACH_SELF_ERRNO),
        "PTRACE_ATTACH to the caller's own pid"
    );
}

/// Unprivileged PTRACE_ATTACH to init. Kyua runs the body as the unprivileged user; run by
/// hand as root, the child drops to nobody first.
fn attach_pid1(tc: &Tc) {
    let w = harness::waiter(tc);
    let child = Forkee::spawn(|| {
        // SAFETY: plain credential syscalls in the single-threaded child.
        unsafe {
            if libc::geteuid() == 0
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(65534) != 0
                    || libc::setuid(65534) != 0)
            {
                child_fail!("dropping privileges to nobody failed");
            }
            if libc::geteuid() == 0 {
                child_fail!("still root after dropping privileges");
            }
        }
        child_require_eq!(
            sys::attach(Pid::from_raw(1)).map_err(|e| e as i32),
            Err(expect::ATTACH_DENIED_ERRNO as i32)
        );
        0
    });
    child.expect_exited(&w, 0);
    w.expect_no_children();
}

fn traceme_twice(tc: &Tc) {
    let w = harness::waiter(tc);
    let child = traced_child(|| {
        child_require_eq!(
            sys::traceme().map_err(|e| e as i32),
            Err(expect::TRACEME_TWICE_ERRNO as i32)
        );
        0
    });
    child.expect_exited(&w, 0);
    w.expect_no_children();
}

/// Where Linux documents that a traced child is never auto-reaped: do_notify_parent()
/// applies SIG_IGN / SA_NOCLDWAIT only `if (!tsk->ptrace && sig == SIGCHLD && ...)`, so that
/// the tracer always sees the death; a tracer that detaches a zombie reaps it then
/// (__ptrace_detach, ignoring_children). Deliberate since the condition was written: not a
/// bug any kernel will fix.
const NOCLDWAIT_DEVIATION: &str = "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/kernel/signal.c?h=v6.1 do_notify_parent(): \"if (!tsk->ptrace && sig == SIGCHLD && (SIG_IGN || SA_NOCLDWAIT))\": a ptraced child is never auto-reaped (POSIX says no zombie); its tracer must see the death";

extern "C" fn on_sigchld(_sig: i32, _info: *mut libc::siginfo_t, _ctx: *mut c_void) {}

/// POSIX: with SA_NOCLDWAIT, terminated children are not turned into zombies, and a wait
/// then blocks until all children are gone and fails with ECHILD. The child here is traced
/// by the parent and dies of a raised SIGKILL.
fn sigchld_nocldwait(tc: &Tc) {
    let w = harness::waiter(tc);
    // SAFETY: installing a handler that does nothing, in the test process.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigchld as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_NOCLDWAIT;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGCHLD, &sa, std::ptr::null_mut());
    }
    let child = traced_child(|| {
        child_raise(libc::SIGKILL);
        child_fail!("raise(SIGKILL) returned")
    });
    let pid = child.pid();
    // Wait (without reaping) until the child is dead: a zombie, or gone if auto-reaped.
    let start = Instant::now();
    let mut state = proc::try_state(pid);
    while state.is_some_and(|s| s != 'Z') && start.elapsed() < w.deadline() {
        std::thread::sleep(Duration::from_millis(5));
        state = proc::try_state(pid);
    }
    tc.expect_fail(
        "Linux never auto-reaps a traced child: do_notify_parent() ignores SA_NOCLDWAIT while the child is ptraced, so it stays a zombie for its tracer",
    );
    if let Some(s) = state {
        // Reap it here, so that only the assertion fails, not the leak check.
        let got = w.wait(pid, "the dead child");
        ptrace_atf::fail!(
            "the traced child is left in state {s} ({got}) although SIGCHLD has SA_NOCLDWAIT"
        );
    }
    w.expect_no_children();
}

pub fn cases() -> Vec<TestCase> {
    vec![
        TestCase::new("attach_pid0")
            .descr("PTRACE_ATTACH to pid 0 fails with ESRCH")
            .timeout(10)
            .netbsd_same_name()
            .body(attach_pid0),
        TestCase::new("attach_pid1")
            .descr("An unprivileged PTRACE_ATTACH to init (pid 1) fails with EPERM")
            .timeout(10)
            .require_user(User::Unprivileged)
            .netbsd_same_name()
            .body(attach_pid1),
        TestCase::new("attach_self")
            .descr("PTRACE_ATTACH to the caller's own process fails with EPERM")
            .timeout(10)
            .netbsd_same_name()
            .body(attach_self),
        TestCase::new("traceme_twice")
            .descr("A second PTRACE_TRACEME in an already traced child fails with EPERM")
            .timeout(10)
            .netbsd_same_name()
            .body(traceme_twice),
        TestCase::new("sigchld_nocldwait_traceme_raise1")
            .descr("A traced child of a parent whose SIGCHLD action has SA_NOCLDWAIT dies of raise(SIGKILL): POSIX says no zombie is left (wait fails with ECHILD)")
            .timeout(15)
            .netbsd(&ptrace_atf::netbsd::id("t_ptrace_sigchld.c:traceme_raise1"))
            .deviation(NOCLDWAIT_DEVIATION)
            .body(sigchld_nocldwait),
    ]
}
