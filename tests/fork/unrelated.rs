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

use crate::common::{
    EXIT_CODE, How, NoChecks, Plan, cont, follow, forker_body, matrix_options, require_spawn_prog,
};
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

const FAMILIES: &[(&str, How)] = &[
    ("fork", How::Fork),
    ("vfork", How::Vfork),
    ("posix_spawn", How::Spawn),
];

pub fn cases() -> Vec<TestCase> {
    let mut out = Vec::new();
    for &(prefix, how) in FAMILIES {
        let mut variants: Vec<(String, Options, bool)> = (1..=8)
            .map(|n| {
                (
                    format!("unrelated_tracer_{prefix}{n}"),
                    matrix_options(n),
                    false,
                )
            })
            .collect();
        variants.push((
            format!("unrelated_tracer_{prefix}_setpgid"),
            ALL_OPTIONS,
            true,
        ));
        for (name, options, setpgid) in variants {
            let descr = format!(
                "{how:?} by a tracee that a double-forked tracer attached to, with {options}{}: {}",
                if setpgid {
                    " (tracee in its own process group)"
                } else {
                    ""
                },
                promise(&Plan::new(how, options))
            );
            let tc = require_spawn_prog(
                TestCase::new(name.clone())
                    .descr(&descr)
                    .timeout(20)
                    .netbsd(&ptrace_atf::netbsd::id(&name)),
                how,
            );
            out.push(tc.body(move |tc| matrix_scenario(tc, how, options, setpgid)));
        }
    }
    out
}
