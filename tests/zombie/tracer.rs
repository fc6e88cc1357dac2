//! Topology cases: a tracer that is not the parent reaps a dead tracee first, the real
//! parent only after; attaching to one's child or parent; the tracee's view of its parent.

use ptrace_atf::netbsd::SameName;
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::topology::{
    Channel, UnrelatedTracer, allow_any_tracer, unrelated_attach_refusal,
};
use ptrace_atf::trace::{Forkee, Waiter, Want, expect, proc, sys};
use ptrace_atf::{child_fail, child_require, child_require_eq, harness, require_eq};

use crate::common::{appearances, await_stopped, await_zombie, proc_scan};

/// Exit code of the tracee.
const TRACEE_EXIT: i32 = 5;
/// Exit code of a tracer whose checks passed.
const TRACER_OK: i32 = 0;

#[derive(Clone, Copy)]
struct Reap {
    name: &'static str,
    descr: &'static str,
    unrelated: bool,
    stopped: bool,
    scan: bool,
}

#[rustfmt::skip]
const REAPS: &[Reap] = &[
    Reap { name: "tracer_sees_terminaton_before_the_parent", descr: "a sibling tracer reaps the dead tracee first; the real parent sees nothing until then, and its exit status after", unrelated: false, stopped: false, scan: false },
    Reap { name: "unrelated_tracer_sees_terminaton_before_the_parent", descr: "a tracer that is no relative (double fork) reaps the dead tracee first; the real parent only after", unrelated: true, stopped: false, scan: false },
    Reap { name: "tracer_attach_to_unrelated_stopped_process", descr: "an unrelated tracer attaches to a stopped process, reaps it first at its death; the real parent only after", unrelated: true, stopped: true, scan: false },
    Reap { name: "tracer_sysctl_lookup_without_duplicates", descr: "the unrelated-tracer reaping scenario over and over for `duration` seconds (default 5, as NetBSD): while each tracee dies and then waits as a zombie for its tracer, every /proc scan lists it exactly once, and its state only goes forward (alive, then zombie)", unrelated: true, stopped: false, scan: true },
];

#[derive(Clone, Copy)]
enum Seen {
    Getppid,
    Stat,
    Status,
}

pub fn cases() -> Vec<TestCase> {
    let mut out: Vec<TestCase> = REAPS
        .iter()
        .map(|r| {
            TestCase::new(r.name)
                .descr(r.descr)
                .timeout(20)
                .netbsd_same_name()
                .body(move |tc| tracer_reaps_first(tc, r))
        })
        .collect();
    for (name, stopped) in [
        ("parent_attach_to_its_child", false),
        ("parent_attach_to_its_stopped_child", true),
    ] {
        out.push(
            TestCase::new(name)
                .descr("a parent PTRACE_ATTACHes its own (running or stopped) child and sees the SIGSTOP stop (twice for a stopped child: group stop, then the queued SIGSTOP); the child runs on")
                .timeout(15)
                .netbsd_same_name()
                .body(move |tc| parent_attach(tc, stopped)),
        );
    }
    for (name, stopped) in [
        ("child_attach_to_its_parent", false),
        ("child_attach_to_its_stopped_parent", true),
    ] {
        out.push(
            TestCase::new(name)
                .descr("a child PTRACE_ATTACHes its (running or stopped) parent, sees its SIGSTOP stop and detaches; the parent runs on")
                .timeout(15)
                .netbsd_same_name()
                .body(move |tc| child_attach(tc, stopped)),
        );
    }
    for (name, how, what) in [
        (
            "tracee_sees_its_original_parent_getppid",
            Seen::Getppid,
            "getppid()",
        ),
        (
            "tracee_sees_its_original_parent_sysctl_kinfo_proc2",
            Seen::Stat,
            "the ppid field of /proc/self/stat",
        ),
        (
            "tracee_sees_its_original_parent_procfs_status",
            Seen::Status,
            "PPid in /proc/self/status",
        ),
    ] {
        let descr =
            format!("a tracee traced by a sibling still sees its original parent through {what}");
        out.push(
            TestCase::new(name)
                .descr(&descr)
                .timeout(15)
                .netbsd_same_name()
                .body(move |tc| original_parent(tc, how)),
        );
    }
    out
}

/// After PTRACE_ATTACH: the attach stop, and, when the process was already in a group
/// stop, the signal-delivery stop of the SIGSTOP that PTRACE_ATTACH queued (Linux reports
/// the group stop first); each is continued without a signal.
fn attach_stops(w: &Waiter, tracee: Pid, was_stopped: bool) {
    let stops = if was_stopped { 2 } else { 1 };
    for _ in 0..stops {
        w.expect(tracee, Want::Stopped(expect::ATTACH_STOP_SIGNAL));
        if let Err(e) = sys::cont(tracee, 0) {
            ptrace_atf::fail!("PTRACE_CONT {tracee} failed: {e}");
        }
    }
}

/// The tracer's side: attach, see the stop, continue, report, then reap the tracee when told.
fn trace_then_reap(
    w: &Waiter,
    tracee: Pid,
    was_stopped: bool,
    attached: &Channel,
    reap: &Channel,
) -> i32 {
    if let Err(e) = sys::attach(tracee) {
        child_fail!("PTRACE_ATTACH {tracee} failed: {e}");
    }
    attach_stops(w, tracee, was_stopped);
    attached.send(1);
    let _ = reap.recv("the parent's go-ahead to reap");
    w.expect(tracee, Want::Exited(TRACEE_EXIT));
    TRACER_OK
}

/// How long `tracer_sysctl_lookup_without_duplicates` repeats its round by default
/// (NetBSD's 5 s); config variable `duration`.
const LOOKUP_SECONDS: u64 = 5;
/// /proc scans of the traced zombie per round, once it is a zombie.
const ZOMBIE_SCANS: u32 = 20;

fn tracer_reaps_first(tc: &Tc, r: &Reap) {
    let w = harness::waiter(tc);
    harness::require_pid_waiter(tc, &w);
    harness::require_waiter_options(tc, &w);
    if let (true, Some(why)) = (r.unrelated, unrelated_attach_refusal()) {
        tc.skip(why);
    }
    if !r.scan {
        return reap_round(&w, r, 0);
    }
    let duration = Duration::from_secs(tc.config_u64("duration", LOOKUP_SECONDS));
    let start = Instant::now();
    let mut round = 0;
    while round == 0 || start.elapsed() < duration {
        round += 1;
        reap_round(&w, r, round);
    }
    eprintln!("{round} rounds in {:?}", start.elapsed());
}

/// In round `round` of the scanning variant: scans /proc until `tpid`, which is dying and
/// not reaped, is a zombie; each scan must list it exactly once, and its state never goes
/// back from zombie.
fn scan_until_zombie(tpid: Pid, round: u32) {
    let start = Instant::now();
    let limit = ptrace_atf::atf::timescale::scaled(crate::common::STATE_DEADLINE);
    let mut scans = 0u64;
    loop {
        let n = appearances(&proc_scan(), tpid);
        require_eq!(
            n,
            1,
            "round {round}: appearances of the dying traced {tpid} in /proc scan {scans}"
        );
        scans += 1;
        match proc::try_state(tpid) {
            Some('Z') => return,
            Some(_) => {}
            None => ptrace_atf::fail!(
                "round {round}: {tpid} vanished from /proc before its tracer reaped it"
            ),
        }
        if start.elapsed() > limit {
            ptrace_atf::fail!("round {round}: {tpid} did not become a zombie within {limit:?}");
        }
    }
}

fn reap_round(w: &Waiter, r: &Reap, round: u32) {
    let w = *w;
    let (go, attached, reap) = (Channel::new(), Channel::new(), Channel::new());
    let stopped = r.stopped;
    let tracee = Forkee::spawn(|| {
        allow_any_tracer();
        if stopped {
            // SAFETY: raise is async-signal-safe.
            child_require!(unsafe { libc::raise(libc::SIGSTOP) } == 0);
        }
        let _ = go.recv("the go-ahead to exit");
        TRACEE_EXIT
    });
    let tpid = tracee.pid();
    if stopped {
        await_stopped(tpid);
    }
    let body = || trace_then_reap(&w, tpid, stopped, &attached, &reap);
    enum Tracer {
        Sibling(ptrace_atf::trace::Child),
        Unrelated(UnrelatedTracer),
    }
    let tracer = if r.unrelated {
        Tracer::Unrelated(UnrelatedTracer::spawn(&w, body))
    } else {
        Tracer::Sibling(Forkee::spawn(body))
    };
    let _ = attached.recv("the tracer's attach");
    go.send(1);
    if r.scan {
        scan_until_zombie(tpid, round);
    } else {
        await_zombie(tpid);
    }
    require_eq!(
        w.try_wait(tpid),
        None,
        "the real parent's WNOHANG wait while the tracer has not reaped"
    );
    if r.scan {
        for scans in 0..ZOMBIE_SCANS {
            let n = appearances(&proc_scan(), tpid);
            require_eq!(
                n,
                1,
                "round {round}: appearances of the traced zombie {tpid} in /proc scan {scans}"
            );
            require_eq!(
                proc::try_state(tpid),
                Some('Z'),
                "round {round}: state of the traced zombie"
            );
        }
    }
    reap.send(1);
    match &tracer {
        Tracer::Sibling(c) => c.expect_exited(&w, TRACER_OK),
        Tracer::Unrelated(u) => u.expect_exited(&w, TRACER_OK),
    }
    tracee.expect_exited(&w, TRACEE_EXIT);
    w.expect_no_children();
}

fn parent_attach(tc: &Tc, stopped: bool) {
    let w = harness::waiter(tc);
    let go = Channel::new();
    let child = Forkee::spawn(|| {
        if stopped {
            // SAFETY: raise is async-signal-safe.
            child_require!(unsafe { libc::raise(libc::SIGSTOP) } == 0);
        } else {
            let _ = go.recv("the go-ahead to exit");
        }
        TRACEE_EXIT
    });
    if stopped {
        await_stopped(child.pid());
    }
    sys::attach(child.pid()).unwrap_or_else(|e| ptrace_atf::fail!("PTRACE_ATTACH failed: {e}"));
    require_eq!(
        proc::tracer_pid(child.pid()),
        nix::unistd::getpid().as_raw(),
        "TracerPid"
    );
    attach_stops(&w, child.pid(), stopped);
    if !stopped {
        go.send(1);
    }
    child.expect_exited(&w, TRACEE_EXIT);
    w.expect_no_children();
}

/// Exit code of the middle process ("the parent") when its tracer child passed.
const PARENT_OK: i32 = 7;

fn child_attach(tc: &Tc, stopped: bool) {
    let w = harness::waiter(tc);
    // The parent being attached is a forked middle process, not the test process.
    let parent = Forkee::spawn(move || {
        allow_any_tracer();
        let tracer = Forkee::spawn(move || {
            // SAFETY: getppid has no preconditions.
            let ppid = Pid::from_raw(unsafe { libc::getppid() });
            if stopped {
                await_stopped(ppid);
            }
            if let Err(e) = sys::attach(ppid) {
                child_fail!("PTRACE_ATTACH of the parent {ppid} failed: {e}");
            }
            w.expect(ppid, Want::Stopped(expect::ATTACH_STOP_SIGNAL));
            child_require_eq!(proc::tracer_pid(ppid), nix::unistd::getpid().as_raw());
            if let Err(e) = sys::detach(ppid, 0) {
                child_fail!("PTRACE_DETACH of the parent failed: {e}");
            }
            if stopped {
                // Detaching leaves a group-stopped process stopped: wake it.
                child_require!(
                    nix::sys::signal::kill(ppid, nix::sys::signal::Signal::SIGCONT).is_ok()
                );
            }
            0
        });
        if stopped {
            // SAFETY: raise is async-signal-safe.
            child_require!(unsafe { libc::raise(libc::SIGSTOP) } == 0);
        }
        tracer.expect_exited(&w, 0);
        PARENT_OK
    });
    let mut st = w.wait(parent.pid(), "the middle process's end");
    if stopped && st == ptrace_atf::trace::Status::Stopped(libc::SIGSTOP) {
        // Its own group stop, reported to us unless its tracer child woke it first.
        st = w.wait(parent.pid(), "the middle process's end");
    }
    parent.check(&w, Want::Exited(PARENT_OK), st);
    w.expect_no_children();
}

fn original_parent(tc: &Tc, how: Seen) {
    let w = harness::waiter(tc);
    harness::require_pid_waiter(tc, &w);
    let me = nix::unistd::getpid().as_raw();
    let attached = Channel::new();
    let tracee = Forkee::spawn(|| {
        let _ = attached.recv("the tracer's attach");
        let seen = match how {
            // SAFETY: getppid has no preconditions.
            Seen::Getppid => unsafe { libc::getppid() },
            Seen::Stat => proc::ppid(nix::unistd::getpid()).as_raw(),
            Seen::Status => proc::status_field(nix::unistd::getpid(), "PPid")
                .and_then(|v| v.parse().ok())
                .unwrap_or(-1),
        };
        child_require_eq!(seen, me);
        TRACEE_EXIT
    });
    let tpid = tracee.pid();
    let tracer = Forkee::spawn(|| {
        if let Err(e) = sys::attach(tpid) {
            child_fail!("PTRACE_ATTACH {tpid} failed: {e}");
        }
        w.expect(tpid, Want::Stopped(expect::ATTACH_STOP_SIGNAL));
        child_require_eq!(proc::tracer_pid(tpid), nix::unistd::getpid().as_raw());
        if let Err(e) = sys::cont(tpid, 0) {
            child_fail!("PTRACE_CONT failed: {e}");
        }
        attached.send(1);
        w.expect(tpid, Want::Exited(TRACEE_EXIT));
        TRACER_OK
    });
    tracer.expect_exited(&w, TRACER_OK);
    tracee.expect_exited(&w, TRACEE_EXIT);
    w.expect_no_children();
}
