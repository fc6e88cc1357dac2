//! PTRACE_SEIZE, PTRACE_INTERRUPT and PTRACE_LISTEN: seizing does not stop, an interrupt
//! gives PTRACE_EVENT_STOP (the "stop" request of other systems, on a running and on a
//! stopped tracee), group-stops are reported as event stops, LISTEN waits for SIGCONT and
//! re-traps; the requests need a seized tracee.

use ptrace_atf::atf::timescale::scaled;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::siginfo::expect_siginfo;
use ptrace_atf::trace::{Child, Forkee, Options, Waiter, Want, expect, proc, sys};
use ptrace_atf::{harness, require, require_eq};

use crate::common::{Chan, child_allow_any_tracer, child_raise, cont, traced_child};

/// Time given to the kernel to act on a request before checking that nothing happened.
const SETTLE: Duration = Duration::from_millis(50);

/// si_code of the siginfo of a PTRACE_EVENT_STOP with signal `sig`.
const fn event_stop_code(sig: i32) -> i32 {
    sig | (libc::PTRACE_EVENT_STOP << 8)
}

/// A child sleeping in pause(), already running when this returns, seized with EXITKILL.
fn seized_sleeper() -> Child {
    let ready = Chan::new();
    let child = Forkee::spawn(|| {
        ready.send(b'r');
        loop {
            // SAFETY: pause only sleeps.
            unsafe { libc::pause() };
        }
    });
    require!(
        ready.recv(scaled(Duration::from_secs(10))) == Some(b'r'),
        "the child did not start"
    );
    ptrace_atf::require_ok!(
        sys::seize(child.pid(), Options::EXITKILL),
        "PTRACE_SEIZE failed"
    );
    child
}

/// Asserts nothing is waitable for `pid` and it is in state `state`.
#[track_caller]
fn expect_quiet(w: &Waiter, pid: Pid, state: char, when: &str) {
    std::thread::sleep(SETTLE);
    require_eq!(w.try_wait(pid), None, "a report {when}");
    require_eq!(proc::state(pid), state, "/proc state {when}");
}

#[track_caller]
fn kill_and_reap(w: &Waiter, child: &Child) {
    ptrace_atf::require_ok!(kill(child.pid(), Signal::SIGKILL), "kill(SIGKILL) failed");
    child.expect_signaled(w, libc::SIGKILL, false);
    w.expect_no_children();
}

fn seize_does_not_stop(tc: &Tc) {
    let w = harness::waiter(tc);
    harness::require_waiter_options(tc, &w);
    let child = seized_sleeper();
    expect_quiet(&w, child.pid(), 'S', "after PTRACE_SEIZE");
    kill_and_reap(&w, &child);
}

fn interrupt_running(tc: &Tc) {
    let w = harness::waiter(tc);
    let child = seized_sleeper();
    let pid = child.pid();
    ptrace_atf::require_ok!(sys::interrupt(pid), "PTRACE_INTERRUPT failed");
    w.expect_event_stop(pid, libc::SIGTRAP);
    expect_siginfo(pid, libc::SIGTRAP, event_stop_code(libc::SIGTRAP));
    kill_and_reap(&w, &child);
}

fn interrupt_stopped(tc: &Tc) {
    let w = harness::waiter(tc);
    harness::require_waiter_options(tc, &w);
    let child = seized_sleeper();
    let pid = child.pid();
    ptrace_atf::require_ok!(kill(pid, Signal::SIGUSR1), "kill(SIGUSR1) failed");
    child.expect_stopped(&w, libc::SIGUSR1);
    ptrace_atf::require_ok!(
        sys::interrupt(pid),
        "PTRACE_INTERRUPT at a signal-delivery stop failed"
    );
    expect_quiet(&w, pid, 't', "after PTRACE_INTERRUPT of a stopped tracee");
    expect_siginfo(pid, libc::SIGUSR1, expect::KILL_SI_CODE);
    cont(pid, 0);
    w.expect_event_stop(pid, libc::SIGTRAP);
    expect_siginfo(pid, libc::SIGTRAP, event_stop_code(libc::SIGTRAP));
    kill_and_reap(&w, &child);
}

/// Brings a seized sleeper into group-stop: SIGSTOP's delivery stop, then the group-stop.
#[track_caller]
fn into_group_stop(w: &Waiter, child: &Child) {
    let pid = child.pid();
    ptrace_atf::require_ok!(kill(pid, Signal::SIGSTOP), "kill(SIGSTOP) failed");
    child.expect_stopped(w, libc::SIGSTOP);
    expect_siginfo(pid, libc::SIGSTOP, expect::KILL_SI_CODE);
    cont(pid, libc::SIGSTOP);
    w.expect_event_stop(pid, libc::SIGSTOP);
}

fn seize_group_stop(tc: &Tc) {
    let w = harness::waiter(tc);
    let child = seized_sleeper();
    into_group_stop(&w, &child);
    expect_siginfo(child.pid(), libc::SIGSTOP, event_stop_code(libc::SIGSTOP));
    kill_and_reap(&w, &child);
}

fn listen_sigcont(tc: &Tc) {
    let w = harness::waiter(tc);
    harness::require_waiter_options(tc, &w);
    let child = seized_sleeper();
    let pid = child.pid();
    into_group_stop(&w, &child);
    ptrace_atf::require_ok!(sys::listen(pid), "PTRACE_LISTEN in group-stop failed");
    expect_quiet(&w, pid, 't', "after PTRACE_LISTEN");
    require_eq!(
        sys::getsiginfo(pid).map(drop),
        Err(Errno::ESRCH),
        "PTRACE_GETSIGINFO on a listening tracee"
    );
    ptrace_atf::require_ok!(kill(pid, Signal::SIGCONT), "kill(SIGCONT) failed");
    w.expect_event_stop(pid, libc::SIGTRAP);
    cont(pid, 0);
    child.expect_stopped(&w, libc::SIGCONT);
    kill_and_reap(&w, &child);
}

fn not_seized(tc: &Tc, listen: bool) {
    let w = harness::waiter(tc);
    let child = traced_child(|| {
        child_raise(libc::SIGSTOP);
        5
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    let (r, what) = if listen {
        (sys::listen(pid), "PTRACE_LISTEN")
    } else {
        (sys::interrupt(pid), "PTRACE_INTERRUPT")
    };
    require_eq!(
        r,
        Err(expect::NOT_SEIZED_ERRNO),
        "{what} on a PTRACE_TRACEME tracee"
    );
    cont(pid, 0);
    child.expect_exited(&w, 5);
    w.expect_no_children();
}

/// In a child of the test: SIGKILL it when the test process dies, so that it never
/// outlives its case even when kill(2) fails to end it (the kernel sends the parent-death
/// signal itself).
fn child_die_with_parent() {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } != 0 {
        ptrace_atf::child_fail!("PR_SET_PDEATHSIG failed");
    }
}

/// Exit code of a released tracee that was never told to go on.
const TRACEE_NO_GO: i32 = 9;

/// The debugger (another child of the test) seizes the tracee, interrupts it and dies of
/// SIGKILL with the tracee in its stop. Both children die with the test process, and the
/// released tracee waits for its go-ahead within a deadline, so that nothing outlives the
/// case whatever kill(2) does.
fn debugger_death(tc: &Tc, exitkill: bool) {
    let w = harness::waiter(tc);
    harness::require_pid_waiter(tc, &w);
    ptrace_atf::harness::require_attach_allowed(tc);
    let go = Chan::new();
    let allowed = Chan::new();
    let limit = w.deadline();
    let tracee = Forkee::spawn(|| {
        child_die_with_parent();
        child_allow_any_tracer();
        allowed.send(b'a');
        match go.recv(limit) {
            Some(b'g') => 7,
            _ => TRACEE_NO_GO,
        }
    });
    if allowed.recv(w.deadline()) != Some(b'a') {
        ptrace_atf::fail!("the tracee did not start");
    }
    let tpid = tracee.pid();
    let msg = Chan::new();
    let debugger = Forkee::spawn(|| {
        child_die_with_parent();
        let opts = if exitkill {
            Options::EXITKILL
        } else {
            Options::NONE
        };
        if let Err(e) = sys::seize(tpid, opts) {
            ptrace_atf::child_fail!("PTRACE_SEIZE failed: {e}");
        }
        if let Err(e) = sys::interrupt(tpid) {
            ptrace_atf::child_fail!("PTRACE_INTERRUPT failed: {e}");
        }
        w.expect_event_stop(tpid, libc::SIGTRAP);
        msg.send(b's');
        loop {
            // SAFETY: pause only sleeps.
            unsafe { libc::pause() };
        }
    });
    if msg.recv(scaled(Duration::from_secs(15))) != Some(b's') {
        let why = debugger.failure().unwrap_or_else(|| "no report".into());
        ptrace_atf::fail!("the debugger did not stop the tracee: {why}");
    }
    require_eq!(
        proc::state(tpid),
        't',
        "the tracee's state in its interrupt stop"
    );
    let dpid = debugger.pid();
    ptrace_atf::require_ok!(
        kill(dpid, Signal::SIGKILL),
        "kill(debugger, SIGKILL) failed"
    );
    let st = w.wait(
        dpid,
        "the debugger's death by SIGKILL (kill(2) on it returned 0)",
    );
    debugger.check(
        &w,
        Want::Signaled {
            sig: libc::SIGKILL,
            core: false,
        },
        st,
    );
    if exitkill {
        let st = w.wait(
            tpid,
            "the tracee's death by SIGKILL (PTRACE_O_EXITKILL of its dead debugger)",
        );
        tracee.check(
            &w,
            Want::Signaled {
                sig: libc::SIGKILL,
                core: false,
            },
            st,
        );
    } else {
        go.send(b'g');
        let st = w.wait(
            tpid,
            "the released tracee's exit 7 (its debugger died without PTRACE_O_EXITKILL)",
        );
        tracee.check(&w, Want::Exited(7), st);
    }
    w.expect_no_children();
}

pub fn cases() -> Vec<TestCase> {
    type Body = fn(&Tc);
    let plain: [(&str, &str, Body); 6] = [
        (
            "seize_does_not_stop",
            "PTRACE_SEIZE of a sleeping child does not stop it: nothing to wait for, /proc state S",
            seize_does_not_stop,
        ),
        (
            "interrupt_running_tracee",
            "PTRACE_INTERRUPT of a running seized tracee gives a waitable PTRACE_EVENT_STOP with SIGTRAP (siginfo si_code SIGTRAP|PTRACE_EVENT_STOP<<8)",
            interrupt_running,
        ),
        (
            "interrupt_stopped_tracee",
            "PTRACE_INTERRUPT of a seized tracee in a signal-delivery stop succeeds without a new report; after PTRACE_CONT it traps at once in PTRACE_EVENT_STOP",
            interrupt_stopped,
        ),
        (
            "seize_group_stop_event",
            "A seized tracee's group-stop is reported as PTRACE_EVENT_STOP with SIGSTOP, and PTRACE_GETSIGINFO gives si_code SIGSTOP|PTRACE_EVENT_STOP<<8",
            seize_group_stop,
        ),
        (
            "listen_sigcont_retraps",
            "PTRACE_LISTEN in group-stop keeps the tracee stopped (no report, requests fail with ESRCH); SIGCONT re-traps it in PTRACE_EVENT_STOP with SIGTRAP, then SIGCONT's delivery stop follows",
            listen_sigcont,
        ),
        (
            "interrupt_without_seize",
            "PTRACE_INTERRUPT on a PTRACE_TRACEME tracee fails with EIO",
            |tc| not_seized(tc, false),
        ),
    ];
    let mut v: Vec<TestCase> = plain
        .into_iter()
        .map(|(name, descr, body)| TestCase::new(name).descr(descr).timeout(15).body(body))
        .collect();
    v.push(
        TestCase::new("listen_without_seize")
            .descr("PTRACE_LISTEN on a PTRACE_TRACEME tracee fails with EIO")
            .timeout(15)
            .body(|tc| not_seized(tc, true)),
    );
    v.push(
        TestCase::new("debugger_death_kills_stopped_tracee")
            .descr("A debugger that seized with PTRACE_O_EXITKILL and interrupted the tracee dies of SIGKILL: the stopped tracee dies of SIGKILL")
            .timeout(30)
            .body(|tc| debugger_death(tc, true)),
    );
    v.push(
        TestCase::new("debugger_death_releases_stopped_tracee")
            .descr("A debugger that seized without PTRACE_O_EXITKILL and interrupted the tracee dies of SIGKILL: the tracee is released and runs to its normal exit")
            .timeout(30)
            .body(|tc| debugger_death(tc, false)),
    );
    v
}
