//! Crash signals from real faults under trace: the fault is reported with this OS's si_code
//! (and si_addr), also when the signal is blocked or ignored; what the forced delivery does
//! to the tracee's mask and disposition is the `expect` module's rule.

use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::harness;
use ptrace_atf::netbsd::SameName;
use ptrace_atf::require_eq;
use ptrace_atf::trace::siginfo::expect_siginfo;
use ptrace_atf::trace::{expect, proc, sys};

use crate::common::{child_block, child_ignore, child_raise, cont, traced_child};
use crate::fault::Fault;

/// What the tracee did to the crash signal before faulting.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Setup {
    /// Nothing.
    Plain,
    /// Blocked it.
    Masked,
    /// Set it to SIG_IGN.
    Ignored,
}

impl Setup {
    /// In the tracee: apply the setup to `sig`.
    pub fn apply(self, sig: i32) {
        match self {
            Setup::Plain => {}
            Setup::Masked => child_block(sig),
            Setup::Ignored => child_ignore(sig),
        }
    }

    /// The /proc mask this setup changes (SigBlk or SigIgn), None for Plain.
    pub fn mask(self, pid: Pid) -> Option<u64> {
        match self {
            Setup::Plain => None,
            Setup::Masked => Some(proc::sig_blocked(pid)),
            Setup::Ignored => Some(proc::sig_ignored(pid)),
        }
    }

    /// What the mask must be at the fault stop, given the one seen before the fault.
    pub fn mask_after_fault(self, before: u64, sig: i32) -> u64 {
        let cleared = match self {
            Setup::Plain => false,
            Setup::Masked => expect::FAULT_UNBLOCKS_SIGNAL,
            Setup::Ignored => expect::FAULT_RESETS_IGNORED_SIGNAL,
        };
        if cleared {
            before & !proc::sig_bit(sig)
        } else {
            before
        }
    }
}

/// At the fault stop: the siginfo (signal, si_code, si_addr) and the mask rule.
pub fn check_fault_stop(pid: Pid, f: Fault, addr: usize, setup: Setup, before: Option<u64>) {
    let info = expect_siginfo(pid, f.signal(), f.si_code());
    if let Some(want) = f.expected_addr(addr) {
        // SAFETY: a fault siginfo carries si_addr.
        let got = unsafe { info.si_addr() } as usize;
        require_eq!(got, want, "si_addr of the {:?} fault", f);
    }
    if let (Some(before), Some(after)) = (before, setup.mask(pid)) {
        let bit = proc::sig_bit(f.signal());
        require_eq!(
            before & bit,
            bit,
            "the tracee's {:?} setup is not in /proc",
            setup
        );
        let want = setup.mask_after_fault(before, f.signal());
        require_eq!(
            format!("{after:#x}"),
            format!("{want:#x}"),
            "{:?} mask at the fault stop (before the fault: {before:#x})",
            setup
        );
    }
}

/// traceme_{,signalmasked_,signalignored_}crash_*.
fn traceme_crash(tc: &Tc, f: Fault, setup: Setup) {
    let w = harness::waiter(tc);
    let addr = f.prepare();
    let sig = f.signal();
    let child = traced_child(move || {
        setup.apply(sig);
        if setup != Setup::Plain {
            child_raise(libc::SIGSTOP);
        }
        f.trigger(addr)
    });
    let pid = child.pid();
    let mut before = None;
    if setup != Setup::Plain {
        child.expect_stopped(&w, libc::SIGSTOP);
        expect_siginfo(pid, libc::SIGSTOP, expect::RAISE_SI_CODE);
        before = setup.mask(pid);
        cont(pid, 0);
    }
    child.expect_stopped(&w, sig);
    check_fault_stop(pid, f, addr, setup, before);
    ptrace_atf::require_ok!(sys::kill(pid), "PTRACE_KILL at the fault stop failed");
    child.expect_signaled(&w, libc::SIGKILL, false);
    w.expect_no_children();
}

/// The traceme_*crash_* cases: (name, what the tracee did to the signal, the fault), in
/// listing order.
const TRACEME_CRASH: &[(&str, Setup, Fault)] = &[
    ("traceme_crash_trap", Setup::Plain, Fault::Trap),
    ("traceme_crash_segv", Setup::Plain, Fault::Segv),
    ("traceme_crash_ill", Setup::Plain, Fault::Ill),
    ("traceme_crash_fpe", Setup::Plain, Fault::Fpe),
    ("traceme_crash_bus", Setup::Plain, Fault::Bus),
    (
        "traceme_signalmasked_crash_trap",
        Setup::Masked,
        Fault::Trap,
    ),
    (
        "traceme_signalmasked_crash_segv",
        Setup::Masked,
        Fault::Segv,
    ),
    ("traceme_signalmasked_crash_ill", Setup::Masked, Fault::Ill),
    ("traceme_signalmasked_crash_fpe", Setup::Masked, Fault::Fpe),
    ("traceme_signalmasked_crash_bus", Setup::Masked, Fault::Bus),
    (
        "traceme_signalignored_crash_trap",
        Setup::Ignored,
        Fault::Trap,
    ),
    (
        "traceme_signalignored_crash_segv",
        Setup::Ignored,
        Fault::Segv,
    ),
    (
        "traceme_signalignored_crash_ill",
        Setup::Ignored,
        Fault::Ill,
    ),
    (
        "traceme_signalignored_crash_fpe",
        Setup::Ignored,
        Fault::Fpe,
    ),
    (
        "traceme_signalignored_crash_bus",
        Setup::Ignored,
        Fault::Bus,
    ),
];

pub fn cases() -> Vec<TestCase> {
    let mut v = Vec::new();
    for &(name, setup, f) in TRACEME_CRASH {
        let extra = match setup {
            Setup::Plain => String::new(),
            Setup::Masked => format!(
                "; the signal was blocked, and at the stop it is {}",
                if expect::FAULT_UNBLOCKS_SIGNAL {
                    "unblocked"
                } else {
                    "still blocked"
                }
            ),
            Setup::Ignored => format!(
                "; the signal was ignored, and at the stop it is {}",
                if expect::FAULT_RESETS_IGNORED_SIGNAL {
                    "reset to SIG_DFL"
                } else {
                    "still ignored"
                }
            ),
        };
        let descr = format!(
            "A real {f:?} fault in a PTRACE_TRACEME child is reported as a stop with si_code {}{extra}; PTRACE_KILL then kills it",
            f.si_code()
        );
        v.push(
            TestCase::new(name)
                .descr(&descr)
                .timeout(15)
                .netbsd_same_name()
                .body(move |tc| traceme_crash(tc, f, setup)),
        );
    }
    v
}
