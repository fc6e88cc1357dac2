//! Killing a tracee: PTRACE_KILL, kill(2) and killpg(2) at a stop (kill1..3), both requests
//! on a running tracee, and t_ptrace_kill's stop-then-kill with another thread blocked in
//! wait. SIGKILL is never reported as a signal-delivery stop.

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{Pid, getpgid, setpgid};
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::netbsd::SameName;
use ptrace_atf::trace::{Forkee, Options, Status, sys};
use ptrace_atf::{harness, require, require_eq};

use crate::common::{Chan, child_raise, cont, traced_child};
use crate::coredump::CorePlan;

/// How the tracer kills.
#[derive(Clone, Copy, Debug, PartialEq)]
enum How {
    /// PTRACE_KILL.
    PtraceKill,
    /// kill(pid, SIGKILL).
    Kill,
    /// setpgid(pid, 0), then killpg(pgid, SIGKILL).
    Killpg,
}

fn do_kill(pid: Pid, how: How) {
    match how {
        How::PtraceKill => ptrace_atf::require_ok!(sys::kill(pid), "PTRACE_KILL failed"),
        How::Kill => ptrace_atf::require_ok!(kill(pid, Signal::SIGKILL), "kill(SIGKILL) failed"),
        How::Killpg => {
            ptrace_atf::require_ok!(setpgid(pid, pid), "setpgid(tracee, 0) failed");
            let pg = ptrace_atf::require_ok!(getpgid(Some(pid)), "getpgid failed");
            require_eq!(pg, pid, "the tracee leads its own group");
            ptrace_atf::require_ok!(killpg(pg, Signal::SIGKILL), "killpg(SIGKILL) failed");
        }
    }
}

/// kill1..3: kill a tracee stopped at its SIGSTOP; it dies of SIGKILL without a core.
fn kill_stopped(tc: &Tc, how: How) {
    let w = harness::waiter(tc);
    let plan = CorePlan::never();
    let child = traced_child(|| {
        plan.apply_in_child();
        child_raise(libc::SIGSTOP);
        ptrace_atf::child_fail!("the child was not killed at its stop")
    });
    child.expect_stopped(&w, libc::SIGSTOP);
    do_kill(child.pid(), how);
    child.expect_signaled(&w, libc::SIGKILL, false);
    w.expect_no_children();
}

/// PTRACE_KILL or kill(SIGKILL) on a tracee that is running (blocked in pause): the first
/// report is the death, no stop.
fn kill_running(tc: &Tc, how: How) {
    let w = harness::waiter(tc);
    let ready = Chan::new();
    let child = traced_child(|| {
        child_raise(libc::SIGSTOP);
        ready.send(b'r');
        loop {
            // SAFETY: pause only sleeps.
            unsafe { libc::pause() };
        }
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    ptrace_atf::require_ok!(
        sys::setoptions(pid, Options::EXITKILL),
        "PTRACE_SETOPTIONS failed"
    );
    cont(pid, 0);
    require!(
        ready.recv(w.deadline()) == Some(b'r'),
        "the tracee did not run after PTRACE_CONT"
    );
    do_kill(pid, how);
    let got = w.wait(pid, "a death by SIGKILL");
    require_eq!(
        got,
        Status::Signaled {
            sig: libc::SIGKILL,
            core: false
        },
        "first report after killing a running tracee"
    );
    w.expect_no_children();
}

/// pt_kill: a thread blocks in wait; the tracer stops the running tracee (PTRACE_INTERRUPT)
/// and at once kills it. The waiting thread sees at most the stop, then the SIGKILL death.
fn pt_kill(tc: &Tc, how: How) {
    let w = harness::waiter(tc);
    let ready = Chan::new();
    let child = Forkee::spawn(|| {
        ready.send(b'r');
        loop {
            // SAFETY: pause only sleeps.
            unsafe { libc::pause() };
        }
    });
    let pid = child.pid();
    require!(
        ready.recv(w.deadline()) == Some(b'r'),
        "the child did not start"
    );
    ptrace_atf::require_ok!(sys::seize(pid, Options::EXITKILL), "PTRACE_SEIZE failed");
    let waiter = std::thread::spawn(move || {
        let mut seen = Vec::new();
        loop {
            let s = w.wait(pid, "a report of the killed tracee");
            seen.push(s);
            if s.is_terminal() || seen.len() > 4 {
                return seen;
            }
        }
    });
    // Give the thread time to block in wait (its result does not depend on it).
    std::thread::sleep(std::time::Duration::from_millis(50));
    ptrace_atf::require_ok!(sys::interrupt(pid), "PTRACE_INTERRUPT failed");
    do_kill(pid, how);
    let seen = match waiter.join() {
        Ok(s) => s,
        Err(p) => std::panic::resume_unwind(p),
    };
    let died = Status::Signaled {
        sig: libc::SIGKILL,
        core: false,
    };
    let stop = Status::Event {
        sig: libc::SIGTRAP,
        event: ptrace_atf::trace::PtraceEvent::Stop,
    };
    let ok = seen.last() == Some(&died) && seen[..seen.len() - 1].iter().all(|s| *s == stop);
    require!(
        ok && seen.len() <= 2,
        "expected [optional {stop}, then {died}], the waiting thread saw {seen:?}"
    );
    w.expect_no_children();
}

pub fn cases() -> Vec<TestCase> {
    let mut v = Vec::new();
    for (name, how, what) in [
        ("kill1", How::PtraceKill, "PTRACE_KILL"),
        ("kill2", How::Kill, "kill(SIGKILL)"),
        ("kill3", How::Killpg, "killpg(SIGKILL) after setpgid"),
    ] {
        v.push(
            TestCase::new(name)
                .descr(&format!(
                    "{what} on a tracee stopped at its SIGSTOP kills it: SIGKILL, no core"
                ))
                .timeout(15)
                .netbsd_same_name()
                .body(move |tc| kill_stopped(tc, how)),
        );
    }
    for (name, how, what) in [
        ("ptrace_kill_running", How::PtraceKill, "PTRACE_KILL"),
        ("sigkill_running", How::Kill, "kill(SIGKILL)"),
    ] {
        v.push(
            TestCase::new(name)
                .descr(&format!(
                    "{what} on a running tracee (in pause) kills it: the first report is the SIGKILL death, never a stop"
                ))
                .timeout(15)
                .body(move |tc| kill_running(tc, how)),
        );
    }
    for (name, how, netbsd) in [
        ("pt_kill", How::PtraceKill, true),
        ("pt_kill_sigkill", How::Kill, false),
    ] {
        let what = if how == How::Kill {
            "kill(SIGKILL)"
        } else {
            "PTRACE_KILL"
        };
        let mut c = TestCase::new(name)
            .descr(&format!(
                "PTRACE_INTERRUPT of a running seized tracee immediately followed by {what}, while another thread is blocked in wait: that thread sees the SIGKILL death (after at most the interrupt stop)"
            ))
            .timeout(15);
        if netbsd {
            c = c.netbsd_same_name();
        }
        v.push(c.body(move |tc| pt_kill(tc, how)));
    }
    v
}
