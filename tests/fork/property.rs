//! A seeded property test: random clone3 flag sets, exit signals and fork-event options;
//! each must map to the event (or error) the kernel's clone rules give (`Plan`).
//! Config: `seed` (default fixed) and `iterations`; the seed is in every failure reason.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::harness;
use ptrace_atf::trace::{Forkee, Options, Waiter, expect};

use crate::common::{EXIT_CODE, How, NoChecks, follow, forker_body};

/// The default seed: fixed, so that a plain run is reproducible.
const DEFAULT_SEED: u64 = 0x5eed_f04c;

/// Flags drawn from (CLONE_THREAD and CLONE_PARENT are left out: the forker could not
/// reap such a child).
const FLAG_POOL: &[(u64, &str)] = &[
    (libc::CLONE_VM as u32 as u64, "CLONE_VM"),
    (libc::CLONE_FS as u32 as u64, "CLONE_FS"),
    (libc::CLONE_FILES as u32 as u64, "CLONE_FILES"),
    (libc::CLONE_SIGHAND as u32 as u64, "CLONE_SIGHAND"),
    (libc::CLONE_VFORK as u32 as u64, "CLONE_VFORK"),
    (libc::CLONE_UNTRACED as u32 as u64, "CLONE_UNTRACED"),
    (libc::CLONE_SYSVSEM as u32 as u64, "CLONE_SYSVSEM"),
    (libc::CLONE_IO as u32 as u64, "CLONE_IO"),
];

const EXIT_SIGNALS: &[i32] = &[libc::SIGCHLD, 0, libc::SIGUSR1];

const OPTION_POOL: &[Options] = &[
    Options::TRACEFORK,
    Options::TRACEVFORK,
    Options::TRACECLONE,
    Options::TRACEVFORKDONE,
];

/// The forker's exit code when clone3 fails: this plus errno.
const ERRNO_EXIT_BASE: i32 = 100;

/// xorshift64*: small, deterministic, good enough to pick subsets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn flag_names(flags: u64) -> String {
    let names: Vec<&str> = FLAG_POOL
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|&(_, n)| n)
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

/// The error clone3 must return for `flags`, if any.
fn expected_error(flags: u64) -> Option<nix::errno::Errno> {
    let sighand = flags & libc::CLONE_SIGHAND as u64 != 0;
    let vm = flags & libc::CLONE_VM as u64 != 0;
    (sighand && !vm).then_some(nix::errno::Errno::EINVAL)
}

/// The forker for one draw: clone3, then reap; a clone3 error becomes the exit code.
fn forker(how: How) -> i32 {
    if let How::Clone3(flags, _) = how
        && expected_error(flags).is_some()
    {
        return match how.create() {
            Err(e) => ERRNO_EXIT_BASE + e as i32,
            Ok(_) => ptrace_atf::child_fail!("clone3({}) succeeded", flag_names(flags)),
        };
    }
    forker_body(how)
}

fn one(w: &Waiter, how: How, options: Options) {
    let f = Forkee::traceme(move || forker(how));
    f.expect_stopped(w, expect::AUTO_ATTACH_FIRST_STOP);
    let How::Clone3(flags, _) = how else {
        unreachable!()
    };
    match expected_error(flags) {
        Some(e) => {
            crate::common::setoptions(f.pid(), options | Options::EXITKILL);
            crate::common::cont(f.pid(), 0);
            f.expect_exited(w, ERRNO_EXIT_BASE + e as i32);
        }
        None => {
            follow(w, &f, how, options, &NoChecks);
            f.expect_exited(w, EXIT_CODE);
        }
    }
    w.expect_no_children();
}

fn message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}

fn scenario(tc: &Tc) {
    let w = harness::waiter(tc);
    harness::require_pid_waiter(tc, &w);
    let seed = tc.config_u64("seed", DEFAULT_SEED);
    let iterations = tc.config_u64("iterations", 48);
    let mut rng = Rng(seed | 1);
    for i in 0..iterations {
        let bits = rng.next();
        let flags = FLAG_POOL
            .iter()
            .enumerate()
            .filter(|(k, _)| bits >> k & 1 != 0)
            .fold(0, |acc, (_, &(f, _))| acc | f);
        let sig = EXIT_SIGNALS[(bits >> 16) as usize % EXIT_SIGNALS.len()];
        let options = OPTION_POOL
            .iter()
            .enumerate()
            .filter(|(k, _)| bits >> (24 + k) & 1 != 0)
            .fold(Options::NONE, |acc, (_, &o)| acc | o);
        let how = How::Clone3(flags, sig);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| one(&w, how, options))) {
            let Some(msg) = message(payload.as_ref()) else {
                resume_unwind(payload);
            };
            ptrace_atf::fail!(
                "seed {seed} iteration {i}: clone3({}, exit_signal {}) traced with {options}: {msg}",
                flag_names(flags),
                ptrace_atf::trace::sig_name(sig),
            );
        }
    }
}

pub fn cases() -> Vec<TestCase> {
    vec![
        TestCase::new("clone3_flags_property")
            .descr(
                "Seeded random clone3 flag sets, exit signals and TRACEFORK/VFORK/CLONE/VFORKDONE \
             options (config: seed, iterations): each gives the event the clone rules predict \
             (VFORK if CLONE_VFORK, else CLONE for a non-SIGCHLD exit signal, else FORK; none \
             with CLONE_UNTRACED), or EINVAL for CLONE_SIGHAND without CLONE_VM",
            )
            .timeout(30)
            .body(scenario),
    ]
}
