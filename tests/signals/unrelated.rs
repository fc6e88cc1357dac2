//! unrelated_tracer_sees_*crash_*: a debugger that is not the tracee's parent (a grandchild
//! of the test, reparented by a double fork) attaches and sees the crash with its si_code.

use ptrace_atf::atf::timescale::scaled;
use ptrace_atf::netbsd::SameName;
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use nix::unistd::Pid;
use ptrace_atf::atf::state::Finish;
use ptrace_atf::atf::{Tc, TestCase, TestResult};
use ptrace_atf::trace::siginfo::expect_siginfo;
use ptrace_atf::trace::{Forkee, Options, Waiter, expect, sys};
use ptrace_atf::{child_fail, harness};

use crate::common::{Chan, child_allow_any_tracer, child_raise, cont};
use crate::crash::{Setup, check_fault_stop};
use crate::fault::Fault;

const READY: u8 = b'R';
const DONE: u8 = b'D';

/// How long the test waits for a message of the debugger (more than one wait deadline of
/// the debugger, so that its own timeout message arrives first).
const MSG_LIMIT: Duration = Duration::from_secs(25);

/// The debugger's work, in the grandchild; panics are reported through the Forkee pipe.
fn debugger(w: Waiter, tracee: Pid, f: Fault, addr: usize, setup: Setup, done: &Chan) {
    ptrace_atf::require_ok!(sys::attach(tracee), "PTRACE_ATTACH failed");
    w.expect_stopped(tracee, expect::ATTACH_STOP_SIGNAL);
    expect_siginfo(
        tracee,
        expect::ATTACH_STOP_SIGNAL,
        expect::ATTACH_STOP_SI_CODE,
    );
    ptrace_atf::require_ok!(
        sys::setoptions(tracee, Options::EXITKILL),
        "PTRACE_SETOPTIONS failed"
    );
    cont(tracee, 0);
    done.send(READY);
    w.expect_stopped(tracee, libc::SIGSTOP);
    expect_siginfo(tracee, libc::SIGSTOP, expect::RAISE_SI_CODE);
    let before = setup.mask(tracee);
    cont(tracee, 0);
    w.expect_stopped(tracee, f.signal());
    check_fault_stop(tracee, f, addr, setup, before);
    ptrace_atf::require_ok!(sys::kill(tracee), "PTRACE_KILL at the fault stop failed");
    w.expect_signaled(tracee, libc::SIGKILL, false);
    done.send(DONE);
}

/// The text of a panic payload: a toolkit panic's message or an ATF require's reason.
fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(Finish(r)) = p.downcast_ref::<Finish>() {
        return match r {
            TestResult::Failed(m) => m.clone(),
            other => format!("{other:?}"),
        };
    }
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(unknown panic payload)".to_string())
}

fn unrelated_tracer_sees_crash(tc: &Tc, f: Fault, setup: Setup) {
    let w = harness::waiter(tc);
    ptrace_atf::harness::require_attach_allowed(tc);
    let addr = f.prepare();
    let sig = f.signal();
    let go = Chan::new();
    let allowed = Chan::new();
    let tracee = Forkee::spawn(|| {
        child_allow_any_tracer();
        allowed.send(b'a');
        go.child_recv();
        setup.apply(sig);
        child_raise(libc::SIGSTOP);
        f.trigger(addr)
    });
    if allowed.recv(w.deadline()) != Some(b'a') {
        ptrace_atf::fail!("the tracee did not start");
    }
    let tpid = tracee.pid();
    let done = Chan::new();
    let tracer = Forkee::spawn(|| {
        // SAFETY: fork in the single-threaded intermediate child; the grandchild only runs
        // the debugger and _exits.
        match unsafe { libc::fork() } {
            0 => {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    debugger(w, tpid, f, addr, setup, &done)
                }));
                if let Err(p) = r {
                    child_fail!("debugger: {}", panic_message(p.as_ref()));
                }
                // SAFETY: leave without running the parent's atexit handlers.
                unsafe { libc::_exit(0) }
            }
            -1 => child_fail!("fork of the debugger failed"),
            _ => 0,
        }
    });
    tracer.expect_exited(&w, 0);
    let done = done.close_writer();
    let why = |what: &str| {
        let report = tracer.failure().unwrap_or_else(|| "no report".to_string());
        format!("the debugger did not report {what}: {report}")
    };
    if done.recv(scaled(MSG_LIMIT)) != Some(READY) {
        ptrace_atf::fail!("{}", why("that it attached"));
    }
    go.send(b'g');
    if done.recv(scaled(MSG_LIMIT)) != Some(DONE) {
        ptrace_atf::fail!("{}", why("the crash and the kill"));
    }
    tracee.expect_signaled(&w, libc::SIGKILL, false);
    w.expect_no_children();
}

/// The unrelated_tracer_sees_*crash_* cases: (name, what the tracee did to the signal, the
/// fault), in listing order.
const UNRELATED_TRACER_SEES: &[(&str, Setup, Fault)] = &[
    (
        "unrelated_tracer_sees_crash_trap",
        Setup::Plain,
        Fault::Trap,
    ),
    (
        "unrelated_tracer_sees_crash_segv",
        Setup::Plain,
        Fault::Segv,
    ),
    ("unrelated_tracer_sees_crash_ill", Setup::Plain, Fault::Ill),
    ("unrelated_tracer_sees_crash_fpe", Setup::Plain, Fault::Fpe),
    ("unrelated_tracer_sees_crash_bus", Setup::Plain, Fault::Bus),
    (
        "unrelated_tracer_sees_signalmasked_crash_trap",
        Setup::Masked,
        Fault::Trap,
    ),
    (
        "unrelated_tracer_sees_signalmasked_crash_segv",
        Setup::Masked,
        Fault::Segv,
    ),
    (
        "unrelated_tracer_sees_signalmasked_crash_ill",
        Setup::Masked,
        Fault::Ill,
    ),
    (
        "unrelated_tracer_sees_signalmasked_crash_fpe",
        Setup::Masked,
        Fault::Fpe,
    ),
    (
        "unrelated_tracer_sees_signalmasked_crash_bus",
        Setup::Masked,
        Fault::Bus,
    ),
    (
        "unrelated_tracer_sees_signalignored_crash_trap",
        Setup::Ignored,
        Fault::Trap,
    ),
    (
        "unrelated_tracer_sees_signalignored_crash_segv",
        Setup::Ignored,
        Fault::Segv,
    ),
    (
        "unrelated_tracer_sees_signalignored_crash_ill",
        Setup::Ignored,
        Fault::Ill,
    ),
    (
        "unrelated_tracer_sees_signalignored_crash_fpe",
        Setup::Ignored,
        Fault::Fpe,
    ),
    (
        "unrelated_tracer_sees_signalignored_crash_bus",
        Setup::Ignored,
        Fault::Bus,
    ),
];

pub fn cases() -> Vec<TestCase> {
    let mut v = Vec::new();
    for &(name, setup, f) in UNRELATED_TRACER_SEES {
        let descr = format!(
            "A debugger that is not the parent attaches (SIGSTOP, si_code {}) and sees the tracee's raised SIGSTOP, then its real {f:?} fault with si_code {} ({setup:?} signal); PTRACE_KILL kills it",
            expect::ATTACH_STOP_SI_CODE,
            f.si_code()
        );
        v.push(
            TestCase::new(name)
                .descr(&descr)
                .timeout(30)
                .netbsd_same_name()
                .body(move |tc| unrelated_tracer_sees_crash(tc, f, setup)),
        );
    }
    v
}
