//! PTRACE_O_TRACEEXIT: the exit stop carries the wait status in PTRACE_GETEVENTMSG, whether
//! the tracee exits, dies of an injected signal or of SIGKILL; SIGKILL at the exit stop.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::{Options, PtraceEvent, Status, proc, sys};
use ptrace_atf::{harness, require, require_eq};

use crate::common::{Chan, child_raise, cont, traced_child};
use crate::coredump::CorePlan;

/// How the tracee ends.
#[derive(Clone, Copy, Debug)]
enum End {
    /// _exit(42).
    Exit,
    /// The tracer injects SIGUSR1 (default action: terminate).
    Injected,
    /// The tracer sends SIGKILL while it runs (blocked in pause).
    Sigkill,
}

const CODE: i32 = 42;

fn traceexit_status(tc: &Tc, end: End) {
    let w = harness::waiter(tc);
    let ready = Chan::new();
    let plan = CorePlan::never();
    let child = traced_child(|| {
        plan.apply_in_child();
        child_raise(libc::SIGSTOP);
        match end {
            End::Exit => CODE,
            End::Injected => {
                child_raise(libc::SIGUSR1);
                ptrace_atf::child_fail!("the injected SIGUSR1 did not kill the child")
            }
            End::Sigkill => {
                ready.send(b'r');
                loop {
                    // SAFETY: pause only sleeps.
                    unsafe { libc::pause() };
                }
            }
        }
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    ptrace_atf::require_ok!(
        sys::setoptions(pid, Options::TRACEEXIT | Options::EXITKILL),
        "PTRACE_SETOPTIONS failed"
    );
    cont(pid, 0);
    let (msg, last) = match end {
        End::Exit => (CODE << 8, Status::Exited(CODE)),
        End::Injected => {
            child.expect_stopped(&w, libc::SIGUSR1);
            cont(pid, libc::SIGUSR1);
            let s = Status::Signaled {
                sig: libc::SIGUSR1,
                core: false,
            };
            (libc::SIGUSR1, s)
        }
        End::Sigkill => {
            require!(
                ready.recv(w.deadline()) == Some(b'r'),
                "the tracee did not run"
            );
            ptrace_atf::require_ok!(kill(pid, Signal::SIGKILL), "kill(SIGKILL) failed");
            let s = Status::Signaled {
                sig: libc::SIGKILL,
                core: false,
            };
            (libc::SIGKILL, s)
        }
    };
    let got = child.expect_event(&w, PtraceEvent::Exit);
    require_eq!(
        got as i32,
        msg,
        "PTRACE_GETEVENTMSG at PTRACE_EVENT_EXIT ({end:?})"
    );
    cont(pid, 0);
    let after = w.wait(pid, "the end of the tracee");
    require_eq!(after, last, "after the exit stop");
    w.expect_no_children();
}

/// SIGKILL while the tracee sits in its exit stop: it stays there until PTRACE_CONT, then
/// ends with its own exit status.
fn traceexit_sigkill_at_exit_stop(tc: &Tc) {
    let w = harness::waiter(tc);
    harness::require_waiter_options(tc, &w);
    let child = traced_child(|| {
        child_raise(libc::SIGSTOP);
        CODE
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    ptrace_atf::require_ok!(
        sys::setoptions(pid, Options::TRACEEXIT | Options::EXITKILL),
        "PTRACE_SETOPTIONS failed"
    );
    cont(pid, 0);
    child.expect_event(&w, PtraceEvent::Exit);
    ptrace_atf::require_ok!(
        kill(pid, Signal::SIGKILL),
        "kill(SIGKILL) at the exit stop failed"
    );
    std::thread::sleep(Duration::from_millis(100));
    require_eq!(
        w.try_wait(pid),
        None,
        "a report after SIGKILL at the exit stop, before PTRACE_CONT"
    );
    require_eq!(
        proc::state(pid),
        't',
        "state after SIGKILL at the exit stop"
    );
    cont(pid, 0);
    child.expect_exited(&w, CODE);
    w.expect_no_children();
}

pub fn cases() -> Vec<TestCase> {
    let mut v = Vec::new();
    for (name, end, what) in [
        (
            "traceexit_status_exit",
            End::Exit,
            "_exit(42): the message is 42<<8, then the tracee exits 42",
        ),
        (
            "traceexit_status_injected_signal",
            End::Injected,
            "an injected SIGUSR1: the message is SIGUSR1, then the tracee dies of it",
        ),
        (
            "traceexit_status_sigkill",
            End::Sigkill,
            "SIGKILL while running: the exit stop is still reported, the message is SIGKILL, then the tracee dies of it",
        ),
    ] {
        v.push(
            TestCase::new(name)
                .descr(&format!("PTRACE_O_TRACEEXIT reports PTRACE_EVENT_EXIT with the wait status in PTRACE_GETEVENTMSG; {what}"))
                .timeout(15)
                .body(move |tc| traceexit_status(tc, end)),
        );
    }
    v.push(
        TestCase::new("traceexit_sigkill_at_exit_stop")
            .descr("SIGKILL sent to a tracee in its PTRACE_EVENT_EXIT stop leaves it stopped (no report, state t) until PTRACE_CONT; it then exits with its own status (Linux 6.1+)")
            .timeout(15)
            .body(traceexit_sigkill_at_exit_stop),
    );
    v
}
