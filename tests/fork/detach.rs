//! Detaching or killing the forker at its fork, vfork or vfork-done stop (NetBSD
//! *_detach_forker, *_detach_vforker, *_detach_spawner, vfork_detach_vforkerdone and the
//! *_kill_* counterparts, which kill with PT_KILL: here PTRACE_KILL at the event stop, the
//! path Linux 5.19 fixed in 6a2d90ba0276; the *_sigkill_* cases kill with kill(2)): the
//! forkee stays traced, is still reported, and exits cleanly.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::netbsd::SameName;
use ptrace_atf::trace::{Forkee, PtraceEvent, Waiter, Want, expect, proc, sys};
use ptrace_atf::{harness, require_eq};

use crate::common::{EXIT_CODE, How, Plan, Traced, cont, require_spawn_prog, setoptions};
use crate::matrix::ALL_OPTIONS;
use crate::unrelated;

/// What the tracer does to the forker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// PTRACE_DETACH: the forker runs on untraced.
    Detach,
    /// PTRACE_KILL (NetBSD's PT_KILL): the forker dies. Before Linux 5.19 (6a2d90ba0276)
    /// PTRACE_KILL only resumed a tracee at an event stop, which then ran on.
    PtraceKill,
    /// kill(SIGKILL): the forker dies.
    Kill,
}

/// One detach/kill case.
pub struct Variant {
    /// NetBSD's name of the case with the tracee's parent as tracer.
    pub name: &'static str,
    /// NetBSD's name of the same case with an unrelated (double-forked, attached) tracer.
    pub unrelated: &'static str,
    how: How,
    /// Act at VFORK_DONE rather than at the creation event.
    at_done: bool,
    op: Op,
}

pub const VARIANTS: &[Variant] = &[
    Variant {
        name: "posix_spawn_detach_spawner",
        unrelated: "unrelated_tracer_posix_spawn_detach_spawner",
        how: How::Spawn,
        at_done: false,
        op: Op::Detach,
    },
    Variant {
        name: "fork_detach_forker",
        unrelated: "unrelated_tracer_fork_detach_forker",
        how: How::Fork,
        at_done: false,
        op: Op::Detach,
    },
    Variant {
        name: "vfork_detach_vforker",
        unrelated: "unrelated_tracer_vfork_detach_vforker",
        how: How::Vfork,
        at_done: false,
        op: Op::Detach,
    },
    Variant {
        name: "vfork_detach_vforkerdone",
        unrelated: "unrelated_tracer_vfork_detach_vforkerdone",
        how: How::Vfork,
        at_done: true,
        op: Op::Detach,
    },
    Variant {
        name: "posix_spawn_kill_spawner",
        unrelated: "unrelated_tracer_posix_spawn_kill_spawner",
        how: How::Spawn,
        at_done: false,
        op: Op::PtraceKill,
    },
    Variant {
        name: "fork_kill_forker",
        unrelated: "unrelated_tracer_fork_kill_forker",
        how: How::Fork,
        at_done: false,
        op: Op::PtraceKill,
    },
    Variant {
        name: "vfork_kill_vforker",
        unrelated: "unrelated_tracer_vfork_kill_vforker",
        how: How::Vfork,
        at_done: false,
        op: Op::PtraceKill,
    },
    Variant {
        name: "vfork_kill_vforkerdone",
        unrelated: "unrelated_tracer_vfork_kill_vforkerdone",
        how: How::Vfork,
        at_done: true,
        op: Op::PtraceKill,
    },
    Variant {
        name: "posix_spawn_sigkill_spawner",
        unrelated: "unrelated_tracer_posix_spawn_sigkill_spawner",
        how: How::Spawn,
        at_done: false,
        op: Op::Kill,
    },
    Variant {
        name: "fork_sigkill_forker",
        unrelated: "unrelated_tracer_fork_sigkill_forker",
        how: How::Fork,
        at_done: false,
        op: Op::Kill,
    },
    Variant {
        name: "vfork_sigkill_vforker",
        unrelated: "unrelated_tracer_vfork_sigkill_vforker",
        how: How::Vfork,
        at_done: false,
        op: Op::Kill,
    },
    Variant {
        name: "vfork_sigkill_vforkerdone",
        unrelated: "unrelated_tracer_vfork_sigkill_vforkerdone",
        how: How::Vfork,
        at_done: true,
        op: Op::Kill,
    },
];

fn act(op: Op, forker: Pid) {
    match op {
        Op::Detach => {
            if let Err(e) = sys::detach(forker, 0) {
                ptrace_atf::fail!("pid {forker}: PTRACE_DETACH failed with {e}");
            }
        }
        Op::PtraceKill => {
            if let Err(e) = sys::kill(forker) {
                ptrace_atf::fail!("pid {forker}: PTRACE_KILL at its event stop failed with {e}");
            }
        }
        Op::Kill => {
            if let Err(e) = kill(forker, Signal::SIGKILL) {
                ptrace_atf::fail!("kill({forker}, SIGKILL) failed: {e}");
            }
        }
    }
}

/// After `act`: the forker is no longer traced by us when detached; the forkee (alive, or
/// dying after its exit or exec) is still ours to trace and, after a detach, still the
/// forker's child.
fn check_links(op: Op, forker: Pid, forkee: Pid) {
    let me = nix::unistd::getpid().as_raw();
    require_eq!(
        proc::tracer_pid(forkee),
        me,
        "the forkee's TracerPid after {op:?} of the forker (we are {me})"
    );
    if op == Op::Detach {
        require_eq!(
            proc::tracer_pid(forker),
            0,
            "the detached forker's TracerPid"
        );
        require_eq!(
            proc::ppid(forkee),
            forker,
            "the forkee's parent after the forker was detached"
        );
    }
}

/// The tracer's walk: every option set; at the creation event (or at VFORK_DONE) the
/// forker is detached or killed; the forkee must still stop, run and exit 0 under trace.
/// Returns the forkee's pid.
pub fn walk(w: &Waiter, forker: &dyn Traced, v: &Variant) -> Pid {
    let f = forker.id();
    let plan = Plan::new(v.how, ALL_OPTIONS);
    let ev = ptrace_atf::require_ok!(plan.event, "every option set: a creation event");
    setoptions(f, ALL_OPTIONS | v.how.extra_options());
    cont(f, 0);
    forker.want(w, Want::Event(ev));
    let g = Pid::from_raw(w.event_msg(f, ev) as i32);
    if v.at_done {
        cont(f, 0);
    } else {
        act(v.op, f);
        check_links(v.op, f, g);
    }
    w.expect_stopped(g, expect::AUTO_ATTACH_FIRST_STOP);
    cont(g, 0);
    if plan.exec {
        let msg = w.expect_event(g, PtraceEvent::Exec);
        ptrace_atf::require_eq!(msg, g.as_raw() as u64, "PTRACE_EVENT_EXEC's message");
        cont(g, 0);
    }
    if v.at_done {
        forker.want(w, Want::Event(PtraceEvent::VforkDone));
        ptrace_atf::require_eq!(
            w.event_msg(f, PtraceEvent::VforkDone) as i32,
            g.as_raw(),
            "PTRACE_EVENT_VFORK_DONE's message"
        );
        act(v.op, f);
        check_links(v.op, f, g);
    }
    w.expect_exited(g, v.how.forkee_exit());
    g
}

/// How the forker ends once detached or killed.
fn forker_end(op: Op) -> Want {
    match op {
        Op::Detach => Want::Exited(EXIT_CODE),
        Op::PtraceKill | Op::Kill => Want::Signaled {
            sig: libc::SIGKILL,
            core: false,
        },
    }
}

fn scenario(tc: &Tc, v: &Variant) {
    let w = harness::waiter(tc);
    harness::require_pid_waiter(tc, &w);
    let how = v.how;
    let f = Forkee::traceme(move || crate::common::forker_body(how));
    f.expect_stopped(&w, expect::AUTO_ATTACH_FIRST_STOP);
    walk(&w, &f, v);
    f.expect(&w, forker_end(v.op));
    w.expect_no_children();
}

fn unrelated_scenario(tc: &Tc, v: &'static Variant) {
    let op = v.op;
    unrelated::run(
        tc,
        v.how,
        false,
        move |w, e, to_parent| {
            let g = walk(w, &e, v);
            if op != Op::Detach {
                // The tracer sees the death first; the orphaned forkee is the subreaper's.
                w.expect_signaled(e, libc::SIGKILL, false);
                to_parent.send_pid(g);
            }
        },
        forker_end(op),
        op != Op::Detach,
    );
}

fn descr(v: &Variant, unrelated: bool) -> String {
    format!(
        "{}{} the forker ({:?}, every option) at {}: the forkee is still reported and still \
         traced by us (after a detach: the forker untraced, still the forkee's parent), stops, \
         and exits 0; the forker then {}",
        if unrelated {
            "An unrelated (double-forked, attached) tracer: "
        } else {
            ""
        },
        match v.op {
            Op::Detach => "PTRACE_DETACH",
            Op::PtraceKill => "PTRACE_KILL",
            Op::Kill => "kill(SIGKILL)",
        },
        v.how,
        if v.at_done {
            "PTRACE_EVENT_VFORK_DONE"
        } else {
            "its creation event"
        },
        if v.op == Op::Detach {
            "exits normally"
        } else {
            "dies by SIGKILL"
        },
    )
}

pub fn cases() -> Vec<TestCase> {
    let mut out = Vec::new();
    for v in VARIANTS {
        for unrelated in [false, true] {
            let name = if unrelated { v.unrelated } else { v.name };
            let mut tc = TestCase::new(name).descr(&descr(v, unrelated)).timeout(20);
            if v.op != Op::Kill {
                tc = tc.netbsd_same_name();
            }
            let tc = require_spawn_prog(tc, v.how);
            out.push(if unrelated {
                tc.body(move |tc| unrelated_scenario(tc, v))
            } else {
                tc.body(move |tc| scenario(tc, v))
            });
        }
    }
    out
}
