//! Signals a PTRACE_TRACEME child raises itself: reported as signal-delivery stops (even when
//! ignored), hidden while blocked, SIGKILL never reported as a stop.

use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::harness;
use ptrace_atf::netbsd::SameName;
use ptrace_atf::require_eq;
use ptrace_atf::trace::siginfo::expect_siginfo;
use ptrace_atf::trace::{expect, sig_name, sys};

use crate::common::{
    EXIT_CODE, child_block, child_ignore, child_raise, cont, numbered_family, traced_child,
};

/// How the child treats the signal before raising it.
#[derive(Clone, Copy, PartialEq)]
enum Setup {
    /// SIG_IGN, then SIGSTOP, then the signal.
    Ignored,
    /// Blocked, then SIGSTOP, then the signal.
    Masked,
}

/// traceme_raise: the raised signal is the first report (SIGKILL: a death, no stop).
fn traceme_raise(tc: &Tc, sig: i32) {
    let w = harness::waiter(tc);
    let child = traced_child(move || {
        child_raise(sig);
        if sig == libc::SIGKILL {
            ptrace_atf::child_fail!("raise(SIGKILL) returned");
        }
        EXIT_CODE
    });
    let pid = child.pid();
    if sig == libc::SIGKILL {
        child.expect_signaled(&w, libc::SIGKILL, false);
        let after = sys::getsiginfo(pid).map(drop);
        require_eq!(
            after,
            Err(expect::DEAD_TRACEE_ERRNO),
            "ptrace on the dead tracee"
        );
    } else {
        child.expect_stopped(&w, sig);
        expect_siginfo(pid, sig, expect::RAISE_SI_CODE);
        let msg = ptrace_atf::require_ok!(sys::geteventmsg(pid), "PTRACE_GETEVENTMSG failed");
        require_eq!(
            msg,
            0,
            "no ptrace event happened, yet the event message is set"
        );
        cont(pid, 0);
        child.expect_exited(&w, EXIT_CODE);
    }
    w.expect_no_children();
}

/// raisesignal_ignored / _masked: SIGSTOP first, then the signal, reported iff not blocked.
fn raise_after_stop(tc: &Tc, sig: i32, setup: Setup) {
    let w = harness::waiter(tc);
    let child = traced_child(move || {
        match setup {
            Setup::Ignored => child_ignore(sig),
            Setup::Masked => child_block(sig),
        }
        child_raise(libc::SIGSTOP);
        child_raise(sig);
        if setup == Setup::Masked {
            child_require_pending(sig);
        }
        EXIT_CODE
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    expect_siginfo(pid, libc::SIGSTOP, expect::RAISE_SI_CODE);
    cont(pid, 0);
    if setup == Setup::Ignored {
        child.expect_stopped(&w, sig);
        expect_siginfo(pid, sig, expect::RAISE_SI_CODE);
        cont(pid, 0);
    }
    child.expect_exited(&w, EXIT_CODE);
    w.expect_no_children();
}

/// In the child: `sig`, raised while blocked, is pending (sigpending(2)), neither delivered
/// nor discarded.
fn child_require_pending(sig: i32) {
    // SAFETY: sigpending fills a local set; sigismember reads it.
    let pending = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        if libc::sigpending(&mut set) != 0 {
            ptrace_atf::child_fail!("sigpending failed");
        }
        libc::sigismember(&set, sig)
    };
    if pending != 1 {
        ptrace_atf::child_fail!(
            "{} raised while blocked is not pending after raise() returned (sigismember: {pending})",
            sig_name(sig)
        );
    }
}

/// signal_mask_unrelated: SIGTRAP blocked, SIGINT still reported.
fn signal_mask_unrelated(tc: &Tc) {
    let w = harness::waiter(tc);
    let child = traced_child(|| {
        child_block(libc::SIGTRAP);
        child_raise(libc::SIGSTOP);
        child_raise(libc::SIGINT);
        EXIT_CODE
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    cont(pid, 0);
    child.expect_stopped(&w, libc::SIGINT);
    cont(pid, 0);
    child.expect_exited(&w, EXIT_CODE);
    w.expect_no_children();
}

/// traceme_raise1..10: NetBSD's ten raised signals, in its case order.
const TRACEME_RAISE: &[(&str, i32)] = &[
    ("traceme_raise1", libc::SIGKILL),
    ("traceme_raise2", libc::SIGSTOP),
    ("traceme_raise3", libc::SIGABRT),
    ("traceme_raise4", libc::SIGHUP),
    ("traceme_raise5", libc::SIGCONT),
    ("traceme_raise6", libc::SIGTRAP),
    ("traceme_raise7", libc::SIGBUS),
    ("traceme_raise8", libc::SIGILL),
    ("traceme_raise9", libc::SIGFPE),
    ("traceme_raise10", libc::SIGSEGV),
];

/// traceme_raisesignal_ignored1..8: the eight catchable ones (no SIGKILL, SIGSTOP), ignored.
const TRACEME_RAISESIGNAL_IGNORED: &[(&str, i32)] = &[
    ("traceme_raisesignal_ignored1", libc::SIGABRT),
    ("traceme_raisesignal_ignored2", libc::SIGHUP),
    ("traceme_raisesignal_ignored3", libc::SIGCONT),
    ("traceme_raisesignal_ignored4", libc::SIGTRAP),
    ("traceme_raisesignal_ignored5", libc::SIGBUS),
    ("traceme_raisesignal_ignored6", libc::SIGILL),
    ("traceme_raisesignal_ignored7", libc::SIGFPE),
    ("traceme_raisesignal_ignored8", libc::SIGSEGV),
];

/// traceme_raisesignal_masked1..8: the eight catchable ones, blocked.
const TRACEME_RAISESIGNAL_MASKED: &[(&str, i32)] = &[
    ("traceme_raisesignal_masked1", libc::SIGABRT),
    ("traceme_raisesignal_masked2", libc::SIGHUP),
    ("traceme_raisesignal_masked3", libc::SIGCONT),
    ("traceme_raisesignal_masked4", libc::SIGTRAP),
    ("traceme_raisesignal_masked5", libc::SIGBUS),
    ("traceme_raisesignal_masked6", libc::SIGILL),
    ("traceme_raisesignal_masked7", libc::SIGFPE),
    ("traceme_raisesignal_masked8", libc::SIGSEGV),
];

pub fn cases() -> Vec<TestCase> {
    let mut v = Vec::new();
    v.extend(numbered_family(
        TRACEME_RAISE,
        |sig| {
            if sig == libc::SIGKILL {
                "raise(SIGKILL) in a PTRACE_TRACEME child kills it without any stop; ptrace on it then fails with ESRCH".to_string()
            } else {
                format!(
                    "raise({}) in a PTRACE_TRACEME child gives a signal-delivery stop with si_code SI_TKILL and no event message; PTRACE_CONT with 0 lets it exit 5",
                    sig_name(sig)
                )
            }
        },
        traceme_raise,
    ));
    for (rows, setup, what) in [
        (
            TRACEME_RAISESIGNAL_IGNORED,
            Setup::Ignored,
            "ignored (SIG_IGN) signal is still reported to the tracer",
        ),
        (
            TRACEME_RAISESIGNAL_MASKED,
            Setup::Masked,
            "blocked signal is not reported to the tracer and stays pending in the child (sigpending); the child exits 5",
        ),
    ] {
        v.extend(numbered_family(
            rows,
            |sig| format!("A raised {what} ({})", sig_name(sig)),
            move |tc, sig| raise_after_stop(tc, sig, setup),
        ));
    }
    v.push(
        TestCase::new("signal_mask_unrelated")
            .descr("Blocking SIGTRAP in the tracee does not hide a raised SIGINT from the tracer")
            .timeout(15)
            .netbsd_same_name()
            .body(signal_mask_unrelated),
    );
    v
}
