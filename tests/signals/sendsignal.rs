//! Signals the tracer injects with PTRACE_CONT(data=sig) at a signal-delivery stop: a
//! handler runs exactly once, a blocked one stays pending, an ignored one vanishes, a
//! default action kills (with a core dump as the action and RLIMIT_CORE say) or stops.

use std::ffi::c_void;
use std::sync::atomic::{AtomicI32, Ordering};

use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::siginfo::{expect_getsiginfo_error, expect_siginfo};
use ptrace_atf::trace::{expect, sig_name};
use ptrace_atf::{child_require, child_require_eq, harness, require};

use crate::common::{
    EXIT_CODE, child_block, child_ignore, child_pending, child_raise, child_sigaction, cont,
    numbered_family, traced_child,
};
use crate::coredump::{CorePlan, dumps_core};

static CAUGHT: AtomicI32 = AtomicI32::new(0);
static CAUGHT_SIGNO: AtomicI32 = AtomicI32::new(0);

extern "C" fn count(sig: i32, info: *mut libc::siginfo_t, _ctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let signo = unsafe { (*info).si_signo };
    CAUGHT_SIGNO.store(if signo == sig { sig } else { -signo }, Ordering::Relaxed);
    CAUGHT.fetch_add(1, Ordering::Relaxed);
}

/// How the tracee treats the injected signal.
#[derive(Clone, Copy, PartialEq)]
enum Disposition {
    Handle,
    Masked,
    Ignored,
}

fn sendsignal(tc: &Tc, sig: i32, disp: Disposition) {
    let w = harness::waiter(tc);
    let plan = CorePlan::never();
    let child = traced_child(|| {
        plan.apply_in_child();
        match disp {
            Disposition::Handle => {
                child_sigaction(sig, count as *const () as usize, libc::SA_SIGINFO)
            }
            Disposition::Masked => child_block(sig),
            Disposition::Ignored => child_ignore(sig),
        }
        child_raise(libc::SIGSTOP);
        match disp {
            Disposition::Handle => {
                child_require_eq!(CAUGHT.load(Ordering::Relaxed), 1);
                child_require_eq!(CAUGHT_SIGNO.load(Ordering::Relaxed), sig);
            }
            Disposition::Masked => {
                child_require!(
                    child_pending(sig),
                    "the injected blocked signal is not pending"
                )
            }
            Disposition::Ignored => {
                child_require!(
                    !child_pending(sig),
                    "the injected ignored signal is pending"
                )
            }
        }
        EXIT_CODE
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    expect_siginfo(pid, libc::SIGSTOP, expect::RAISE_SI_CODE);
    cont(pid, sig);
    child.expect_exited(&w, EXIT_CODE);
    w.expect_no_children();
}

/// traceme_sendsignal_simple: the injected signal's default action.
fn sendsignal_simple(tc: &Tc, sig: i32) {
    let w = harness::waiter(tc);
    let plan = if dumps_core(sig) {
        CorePlan::for_this_machine()
    } else {
        CorePlan::never()
    };
    let child = traced_child(|| {
        plan.apply_in_child();
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // The Rust runtime handles SIGSEGV and SIGBUS: restore the default action.
            child_sigaction(sig, libc::SIG_DFL, 0);
        }
        child_raise(libc::SIGSTOP);
        if sig != libc::SIGSTOP && sig != libc::SIGCONT {
            ptrace_atf::child_fail!("the injected {} did not kill the child", sig_name(sig));
        }
        0
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    expect_siginfo(pid, libc::SIGSTOP, expect::RAISE_SI_CODE);
    cont(pid, sig);
    match sig {
        libc::SIGSTOP => {
            // The injected SIGSTOP starts a group-stop, which has no siginfo.
            child.expect_stopped(&w, libc::SIGSTOP);
            expect_getsiginfo_error(pid, expect::GROUP_STOP_GETSIGINFO_ERRNO);
            cont(pid, 0);
            child.expect_exited(&w, 0);
        }
        libc::SIGCONT => child.expect_exited(&w, 0),
        _ => {
            let core = dumps_core(sig) && plan.expect_core;
            child.expect_signaled(&w, sig, core);
            let files = plan.dumped_files();
            require!(
                core != files.is_empty(),
                "core bit {core} but files {files:?} ({})",
                plan.describe()
            );
        }
    }
    w.expect_no_children();
}

/// traceme_sendsignal_handle1..8: the eight catchable signals (no SIGKILL, SIGSTOP), in NetBSD's case order.
const TRACEME_SENDSIGNAL_HANDLE: &[(&str, i32)] = &[
    ("traceme_sendsignal_handle1", libc::SIGABRT),
    ("traceme_sendsignal_handle2", libc::SIGHUP),
    ("traceme_sendsignal_handle3", libc::SIGCONT),
    ("traceme_sendsignal_handle4", libc::SIGTRAP),
    ("traceme_sendsignal_handle5", libc::SIGBUS),
    ("traceme_sendsignal_handle6", libc::SIGILL),
    ("traceme_sendsignal_handle7", libc::SIGFPE),
    ("traceme_sendsignal_handle8", libc::SIGSEGV),
];

/// traceme_sendsignal_masked1..8: the eight catchable signals.
const TRACEME_SENDSIGNAL_MASKED: &[(&str, i32)] = &[
    ("traceme_sendsignal_masked1", libc::SIGABRT),
    ("traceme_sendsignal_masked2", libc::SIGHUP),
    ("traceme_sendsignal_masked3", libc::SIGCONT),
    ("traceme_sendsignal_masked4", libc::SIGTRAP),
    ("traceme_sendsignal_masked5", libc::SIGBUS),
    ("traceme_sendsignal_masked6", libc::SIGILL),
    ("traceme_sendsignal_masked7", libc::SIGFPE),
    ("traceme_sendsignal_masked8", libc::SIGSEGV),
];

/// traceme_sendsignal_ignored1..8: the eight catchable signals.
const TRACEME_SENDSIGNAL_IGNORED: &[(&str, i32)] = &[
    ("traceme_sendsignal_ignored1", libc::SIGABRT),
    ("traceme_sendsignal_ignored2", libc::SIGHUP),
    ("traceme_sendsignal_ignored3", libc::SIGCONT),
    ("traceme_sendsignal_ignored4", libc::SIGTRAP),
    ("traceme_sendsignal_ignored5", libc::SIGBUS),
    ("traceme_sendsignal_ignored6", libc::SIGILL),
    ("traceme_sendsignal_ignored7", libc::SIGFPE),
    ("traceme_sendsignal_ignored8", libc::SIGSEGV),
];

/// traceme_sendsignal_simple1..10: NetBSD's ten signals, in its case order.
const TRACEME_SENDSIGNAL_SIMPLE: &[(&str, i32)] = &[
    ("traceme_sendsignal_simple1", libc::SIGKILL),
    ("traceme_sendsignal_simple2", libc::SIGSTOP),
    ("traceme_sendsignal_simple3", libc::SIGABRT),
    ("traceme_sendsignal_simple4", libc::SIGHUP),
    ("traceme_sendsignal_simple5", libc::SIGCONT),
    ("traceme_sendsignal_simple6", libc::SIGTRAP),
    ("traceme_sendsignal_simple7", libc::SIGBUS),
    ("traceme_sendsignal_simple8", libc::SIGILL),
    ("traceme_sendsignal_simple9", libc::SIGFPE),
    ("traceme_sendsignal_simple10", libc::SIGSEGV),
];

pub fn cases() -> Vec<TestCase> {
    let mut v = Vec::new();
    for (rows, disp, what) in [
        (
            TRACEME_SENDSIGNAL_HANDLE,
            Disposition::Handle,
            "reaches the tracee's SA_SIGINFO handler exactly once",
        ),
        (
            TRACEME_SENDSIGNAL_MASKED,
            Disposition::Masked,
            "that the tracee blocks stays pending; the tracee exits 5",
        ),
        (
            TRACEME_SENDSIGNAL_IGNORED,
            Disposition::Ignored,
            "that the tracee ignores is discarded (not pending); the tracee exits 5",
        ),
    ] {
        v.extend(numbered_family(
            rows,
            |sig| format!("{} injected with PTRACE_CONT {what}", sig_name(sig)),
            move |tc, sig| sendsignal(tc, sig, disp),
        ));
    }
    v.extend(numbered_family(
        TRACEME_SENDSIGNAL_SIMPLE,
        |sig| {
            let what = match sig {
                libc::SIGSTOP => "starts a group-stop (PTRACE_GETSIGINFO fails with EINVAL); the tracee then exits 0".to_string(),
                libc::SIGCONT => "is harmless; the tracee exits 0".to_string(),
                s if dumps_core(s) => "kills the tracee, with a core dump when RLIMIT_CORE and core_pattern allow one (the case sets both)".to_string(),
                _ => "kills the tracee without a core dump".to_string(),
            };
            format!(
                "{} injected with PTRACE_CONT into a tracee without a handler {what}",
                sig_name(sig)
            )
        },
        sendsignal_simple,
    ));
    v
}
