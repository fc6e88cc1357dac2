//! PTRACE_SINGLESTEP: one TRAP_TRACE per step (NetBSD step1..4, step_signal{masked,ignored})
//! and DR6 as the tracer sees it after a step and after a hit (cb05143bdf42).

use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::netbsd::SameName;
use ptrace_atf::trace::dbregs::{self, Cond, DR6_B_MASK, DR6_BS, Len};
use ptrace_atf::trace::ops;
use ptrace_atf::trace::{Child, Forkee, Waiter, exit_kill_default, expect, proc, sys};
use ptrace_atf::{child_fail, child_require_eq, require_eq};

use crate::common::{self, EXIT_CODE, cont, raise_stop, watched};

/// What the tracee did to SIGTRAP before it was stepped.
#[derive(Clone, Copy, PartialEq)]
enum Trap {
    Default,
    Masked,
    Ignored,
}

fn happy(n: u64) -> u64 {
    (1..=std::hint::black_box(n)).fold(0u64, |a, i| a.wrapping_mul(31).wrapping_add(i))
}

/// A PTRACE_TRACEME child that applies `trap` to SIGTRAP, stops, then checks its work.
fn spawn(w: &Waiter, trap: Trap) -> Child {
    let child = Forkee::spawn(move || {
        if sys::traceme().is_err() {
            child_fail!("PTRACE_TRACEME failed");
        }
        // SAFETY: sigprocmask and signal on the single-threaded child.
        unsafe {
            match trap {
                Trap::Default => {}
                Trap::Masked => {
                    let mut set: libc::sigset_t = std::mem::zeroed();
                    libc::sigemptyset(&mut set);
                    libc::sigaddset(&mut set, libc::SIGTRAP);
                    libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                }
                Trap::Ignored => {
                    libc::signal(libc::SIGTRAP, libc::SIG_IGN);
                }
            }
        }
        let before = happy(999);
        raise_stop();
        child_require_eq!(before, happy(999));
        EXIT_CODE
    });
    child.expect_stopped(w, libc::SIGSTOP);
    ops::setoptions(child.pid(), exit_kill_default());
    child
}

/// One PTRACE_SINGLESTEP: a SIGTRAP stop with si_code TRAP_TRACE.
#[track_caller]
fn step_once(w: &Waiter, child: &Child, n: u32) {
    let pid = child.pid();
    sys::singlestep(pid, 0)
        .unwrap_or_else(|e| ptrace_atf::fail!("PTRACE_SINGLESTEP {n} failed: {e}"));
    child.expect_stopped(w, libc::SIGTRAP);
    let info = dbregs::trap_siginfo(pid);
    require_eq!(
        (info.si_signo, info.si_code),
        (libc::SIGTRAP, expect::TRACE_SI_CODE),
        "signal and si_code after single step {n} (TRAP_TRACE = {})",
        expect::TRACE_SI_CODE
    );
}

fn step(tc: &Tc, steps: u32, trap: Trap) {
    let w = common::setup_state(tc);
    let child = spawn(&w, trap);
    let pid = child.pid();
    let bit = proc::sig_bit(libc::SIGTRAP);
    for n in 1..=steps {
        step_once(&w, &child, n);
        match trap {
            Trap::Default => {}
            Trap::Masked => require_eq!(
                proc::sig_blocked(pid) & bit != 0,
                !expect::FORCED_TRAP_RESETS_DISPOSITION,
                "SIGTRAP blocked after step {n}"
            ),
            Trap::Ignored => require_eq!(
                proc::sig_ignored(pid) & bit != 0,
                !expect::FORCED_TRAP_RESETS_DISPOSITION,
                "SIGTRAP ignored after step {n}"
            ),
        }
    }
    child.cont_to_exit(&w, EXIT_CODE);
}

#[track_caller]
fn dr6_flags(pid: Pid) -> u64 {
    dbregs::read(pid, 6) & (DR6_B_MASK | DR6_BS)
}

/// DR6 through ptrace: BS alone after a single step, Bn alone after a hit of slot n,
/// and each trap replaces the previous one's bits.
fn dr6_view(tc: &Tc) {
    let w = common::setup(tc);
    let addr = watched(0);
    let child = common::traced_child(&w, move || {
        common::access(addr, Len::Four, true);
        raise_stop();
        EXIT_CODE
    });
    let pid = child.pid();
    require_eq!(dr6_flags(pid), 0, "DR6 Bn|BS of a fresh tracee");
    step_once(&w, &child, 1);
    let dr6 = dbregs::read(pid, 6);
    require_eq!(
        dr6 & (DR6_B_MASK | DR6_BS),
        DR6_BS,
        "DR6 after PTRACE_SINGLESTEP: want BS only, got {} (DR6={dr6:#x})",
        common::dr6_bits(dr6)
    );
    dbregs::arm(pid, 2, addr, Cond::Write, Len::Four);
    cont(pid, 0);
    common::expect_hw_trap(&w, &child, 2);
    cont(pid, 0);
    child.expect_stopped(&w, libc::SIGSTOP);
    child.cont_to_exit(&w, EXIT_CODE);
}

pub fn cases() -> Vec<TestCase> {
    let mut v: Vec<TestCase> = [("step1", 1), ("step2", 2), ("step3", 3), ("step4", 4)]
        .into_iter()
        .map(|(name, n)| {
            TestCase::new(name)
                .descr(&format!(
                    "{n} PTRACE_SINGLESTEP(s) each report one SIGTRAP with TRAP_TRACE; the tracee \
                     then runs on and exits"
                ))
                .timeout(15)
                .netbsd_same_name()
                .body(move |tc| step(tc, n, Trap::Default))
        })
        .collect();
    v.push(
        TestCase::new("step_signalmasked")
            .descr(
                "A step of a tracee blocking SIGTRAP reports TRAP_TRACE; the forced trap unblocks \
                 SIGTRAP (Linux force_sig)",
            )
            .timeout(15)
            .netbsd_same_name()
            .body(|tc| step(tc, 1, Trap::Masked)),
    );
    v.push(
        TestCase::new("step_signalignored")
            .descr(
                "A step of a tracee ignoring SIGTRAP reports TRAP_TRACE; the forced trap resets \
                 SIGTRAP to SIG_DFL (Linux force_sig)",
            )
            .timeout(15)
            .netbsd_same_name()
            .body(|tc| step(tc, 1, Trap::Ignored)),
    );
    v.push(
        TestCase::new("dbregs_dr6_after_step_and_hit")
            .descr(
                "PEEKUSER DR6 shows BS alone after PTRACE_SINGLESTEP (cb05143bdf42) and B2 alone \
                 after a DR2 watchpoint hit",
            )
            .timeout(15)
            .body(dr6_view),
    );
    v
}
