//! The fork matrix with a tracer that is not the tracee's parent: it was forked twice (the
//! middle process exits) and PTRACE_ATTACHes (NetBSD unrelated_tracer_{fork,vfork,
//! posix_spawn}1..8 and _setpgid).

use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::harness;
use ptrace_atf::require;
use ptrace_atf::trace::topology::{
    Channel, UnrelatedTracer, allow_any_tracer, unrelated_attach_refusal,
};
use ptrace_atf::trace::{Forkee, Options, Waiter, Want, expect, siginfo, sys};

use crate::common::{EXIT_CODE, How, NoChecks, Plan, cont, follow, forker_body, netbsd_fork_case};
use crate::matrix::{ALL_OPTIONS, promise};

/// Exit code of the unrelated tracer.
const TRACER_EXIT: i32 = 0;

/// Runs an unrelated-tracer scenario. The tracee (our child) waits for a go, raises
/// SIGSTOP and runs the forker body (setpgid first if asked). The tracer (forked twice)
/// attaches, checks the attach stop (SIGSTOP, si_code SI_KERNEL on Linux) and the raise stop
/// (si_code SI_TKILL), then runs `body`. We then see the tracer exit, the forkee if
/// `forkee_to_us` (the tracer sends its pid; it was orphaned to us), and the tracee end as
/// `tracee_end`.
pub fn run<B>(tc: &Tc, how: How, setpgid: bool, body: B, tracee_end: Want, forkee_to_us: bool)
where
    B: FnOnce(&Waiter, Pid, &Channel),
{
    let w = harness::waiter(tc);
    harness::require_pid_waiter(tc, &w);
    if let Some(reason) = unrelated_attach_refusal() {
        tc.skip(reason);
    }
    let go = Channel::new();
    let ready = Channel::new();
    let forkee = Channel::new();
    let tracee = Forkee::spawn(|| {
        allow_any_tracer();
        // SAFETY: setpgid is async-signal-safe.
        if setpgid && unsafe { libc::setpgid(0, 0) } != 0 {
            ptrace_atf::child_fail!("setpgid(0, 0) failed: {}", nix::errno::Errno::last());
        }
        go.recv("go from the parent");
        // SAFETY: raise is async-signal-safe.
        unsafe { libc::raise(libc::SIGSTOP) };
        forker_body(how)
    });
    let e = tracee.pid();
    let tracer = UnrelatedTracer::spawn(&w, || {
        if let Err(err) = sys::attach(e) {
            ptrace_atf::fail!("PTRACE_ATTACH to {e} failed: {err}");
        }
        w.expect_stopped(e, expect::ATTACH_STOP_SIGNAL);
        siginfo::expect_siginfo(e, libc::SIGSTOP, expect::ATTACH_STOP_SI_CODE);
        cont(e, 0);
        ready.send(1);
        w.expect_stopped(e, libc::SIGSTOP);
        siginfo::expect_siginfo(e, libc::SIGSTOP, expect::RAISE_SI_CODE);
        body(&w, e, &forkee);
        TRACER_EXIT
    });
    tracer.recv(&ready, "the tracer attached");
    require!(
        w.try_wait(e).is_none(),
        "the tracee's parent saw a report although the tracee is traced by another process"
    );
    go.send(1);
    tracer.expect_exited(&w, TRACER_EXIT);
    if forkee_to_us {
        let g = Pid::from_raw(tracer.recv(&forkee, "the orphaned forkee's pid") as i32);
        w.expect_exited(g, how.forkee_exit());
    }
    tracee.expect(&w, tracee_end);
    w.expect_no_children();
}

fn matrix_scenario(tc: &Tc, how: How, options: Options, setpgid: bool) {
    run(
        tc,
        how,
        setpgid,
        move |w, e, _| {
            follow(w, &e, how, options, &NoChecks);
            w.expect_exited(e, EXIT_CODE);
        },
        Want::Exited(EXIT_CODE),
        false,
    );
}

/// One case: the forker's call, the options the unrelated tracer sets, and whether the
/// tracee makes itself a process-group leader first.
struct Unrelated {
    name: &'static str,
    how: How,
    options: Options,
    setpgid: bool,
}

/// NetBSD's unrelated_tracer_{fork,vfork,posix_spawn}1..8 (the fork matrix's option
/// combinations) and _setpgid (every option), in listing order.
const UNRELATED: &[Unrelated] = &[
    Unrelated {
        name: "unrelated_tracer_fork1",
        how: How::Fork,
        options: Options::NONE,
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_fork2",
        how: How::Fork,
        options: Options::TRACEFORK,
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_fork3",
        how: How::Fork,
        options: Options::TRACEVFORK,
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_fork4",
        how: How::Fork,
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_fork5",
        how: How::Fork,
        options: Options::TRACEVFORKDONE,
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_fork6",
        how: How::Fork,
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_fork7",
        how: How::Fork,
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_fork8",
        how: How::Fork,
        options: ALL_OPTIONS,
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_fork_setpgid",
        how: How::Fork,
        options: ALL_OPTIONS,
        setpgid: true,
    },
    Unrelated {
        name: "unrelated_tracer_vfork1",
        how: How::Vfork,
        options: Options::NONE,
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_vfork2",
        how: How::Vfork,
        options: Options::TRACEFORK,
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_vfork3",
        how: How::Vfork,
        options: Options::TRACEVFORK,
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_vfork4",
        how: How::Vfork,
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_vfork5",
        how: How::Vfork,
        options: Options::TRACEVFORKDONE,
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_vfork6",
        how: How::Vfork,
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_vfork7",
        how: How::Vfork,
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_vfork8",
        how: How::Vfork,
        options: ALL_OPTIONS,
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_vfork_setpgid",
        how: How::Vfork,
        options: ALL_OPTIONS,
        setpgid: true,
    },
    Unrelated {
        name: "unrelated_tracer_posix_spawn1",
        how: How::Spawn,
        options: Options::NONE,
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_posix_spawn2",
        how: How::Spawn,
        options: Options::TRACEFORK,
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_posix_spawn3",
        how: How::Spawn,
        options: Options::TRACEVFORK,
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_posix_spawn4",
        how: How::Spawn,
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_posix_spawn5",
        how: How::Spawn,
        options: Options::TRACEVFORKDONE,
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_posix_spawn6",
        how: How::Spawn,
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_posix_spawn7",
        how: How::Spawn,
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_posix_spawn8",
        how: How::Spawn,
        options: ALL_OPTIONS,
        setpgid: false,
    },
    Unrelated {
        name: "unrelated_tracer_posix_spawn_setpgid",
        how: How::Spawn,
        options: ALL_OPTIONS,
        setpgid: true,
    },
];

pub fn cases() -> Vec<TestCase> {
    let mut out = Vec::new();
    for row in UNRELATED {
        let (name, how, options, setpgid) = (row.name, row.how, row.options, row.setpgid);
        let descr = format!(
            "{how:?} by a tracee that a double-forked tracer attached to, with {options}{}: {}",
            if setpgid {
                " (tracee in its own process group)"
            } else {
                ""
            },
            promise(&Plan::new(how, options))
        );
        let tc = netbsd_fork_case(name, &descr, how);
        out.push(tc.body(move |tc| matrix_scenario(tc, how, options, setpgid)));
    }
    out
}
