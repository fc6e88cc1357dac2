//! NetBSD area (h): syscall entry/exit stops around getpid(2), killing, signalling and
//! detaching at the entry stop, and skipping exit(2) at entry (PT_SYSCALLEMU's Linux forms).

use ptrace_atf::netbsd::SameName;
use std::sync::atomic::{AtomicI32, Ordering};

use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::ops;
use ptrace_atf::trace::siginfo::expect_siginfo;
use ptrace_atf::trace::syscall_info::Op;
use ptrace_atf::trace::{Options, expect, sys};
use ptrace_atf::{child_require, child_require_eq, require_eq};

use crate::common::{EXIT_CODE, ORIG_RAX, POISON, Tracee, errno, install_handler, raw6};

const GETPID: i64 = libc::SYS_getpid;

/// What the tracer does at the entry stop of getpid.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnEntry {
    /// PTRACE_SYSCALL to the exit stop, then PTRACE_CONT.
    Trace,
    /// PTRACE_KILL: the child dies by SIGKILL.
    Kill,
    /// PTRACE_CONT with SIGUSR1: a signal-delivery stop, then the handler runs once.
    Signal,
    /// PTRACE_DETACH: the child finishes untraced.
    Detach,
}

struct Variant {
    name: &'static str,
    on_entry: OnEntry,
    descr: &'static str,
}

const VARIANTS: [Variant; 4] = [
    Variant {
        name: "syscall",
        on_entry: OnEntry::Trace,
        descr: "PTRACE_SYSCALL around getpid(2): an entry stop then an exit stop, each a \
                SIGTRAP|0x80 siginfo from the tracee with PTRACE_GETEVENTMSG 1 then 2",
    },
    Variant {
        name: "syscall_killed_on_sce",
        on_entry: OnEntry::Kill,
        descr: "PTRACE_KILL at the syscall-entry stop of getpid(2) kills the tracee by SIGKILL",
    },
    Variant {
        name: "syscall_signal_on_sce",
        on_entry: OnEntry::Signal,
        descr: "A signal passed with PTRACE_CONT at the syscall-entry stop of getpid(2) is \
                re-sent (si_code SI_KERNEL), stops the tracee once, and its handler runs once",
    },
    Variant {
        name: "syscall_detach_on_sce",
        on_entry: OnEntry::Detach,
        descr: "PTRACE_DETACH at the syscall-entry stop of getpid(2): the syscall completes \
                and the child exits 5",
    },
];

static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn count_usr1(_sig: i32) {
    CAUGHT.fetch_add(1, Ordering::SeqCst);
}

fn traced_getpid(tc: &Tc, on_entry: OnEntry) {
    let t = Tracee::start(tc, Options::TRACESYSGOOD, move || {
        install_handler(libc::SIGUSR1, count_usr1, 0);
        let pid = raw6(GETPID, POISON);
        // SAFETY: raw getpid.
        child_require_eq!(pid, unsafe { libc::syscall(libc::SYS_getpid) });
        let want = if on_entry == OnEntry::Signal { 1 } else { 0 };
        child_require_eq!(CAUGHT.load(Ordering::SeqCst), want);
        EXIT_CODE
    });
    let pid = t.pid();
    let entry = t.run_to_entry(GETPID);
    require_eq!(entry.op(), Op::Entry);
    let info = expect_siginfo(pid, libc::SIGTRAP, expect::SYSCALL_ENTRY_SI_CODE);
    // SAFETY: ptrace_notify fills si_pid with the tracee's pid.
    let si_pid = unsafe { info.si_pid() };
    require_eq!(si_pid, pid.as_raw(), "si_pid of the entry stop");
    require_eq!(sys::geteventmsg(pid), Ok(expect::SYSCALL_ENTRY_EVENTMSG));
    match on_entry {
        OnEntry::Trace => {
            let exit = t.to_exit();
            expect_siginfo(pid, libc::SIGTRAP, expect::SYSCALL_EXIT_SI_CODE);
            require_eq!(sys::geteventmsg(pid), Ok(expect::SYSCALL_EXIT_EVENTMSG));
            require_eq!(exit.rval, i64::from(pid.as_raw()), "getpid's return value");
            t.cont_to_exit(0, EXIT_CODE);
        }
        OnEntry::Kill => {
            ops::kill(pid);
            t.child.expect_signaled(&t.w, libc::SIGKILL, false);
        }
        OnEntry::Signal => {
            ops::cont(pid, libc::SIGUSR1);
            t.child.expect_stopped(&t.w, libc::SIGUSR1);
            expect_siginfo(pid, libc::SIGUSR1, expect::SYSCALL_STOP_INJECTED_SI_CODE);
            t.cont_to_exit(libc::SIGUSR1, EXIT_CODE);
        }
        OnEntry::Detach => {
            ops::detach(pid, 0);
            t.child.expect_exited(&t.w, EXIT_CODE);
        }
    }
    t.w.expect_no_children();
}

/// How the tracer makes exit(100) not happen at its entry stop.
#[derive(Clone, Copy)]
enum Skip {
    /// Reach the entry with PTRACE_SYSEMU (the syscall is emulated, i.e. not run).
    Sysemu,
    /// Reach the entry with PTRACE_SYSCALL and set orig_rax to -1.
    OrigRax,
}

struct SkipVariant {
    name: &'static str,
    /// Whether the case keeps a NetBSD name (`X-netbsd`).
    netbsd: bool,
    skip: Skip,
    descr: &'static str,
}

const SKIP_VARIANTS: [SkipVariant; 2] = [
    SkipVariant {
        name: "syscallemu1",
        netbsd: true,
        skip: Skip::Sysemu,
        descr: "PTRACE_SYSEMU stops at the entry of exit(100) without running it: the exit \
                stop shows -ENOSYS and the child goes on to exit 5",
    },
    SkipVariant {
        name: "syscall_skip_orig_rax",
        netbsd: false,
        skip: Skip::OrigRax,
        descr: "orig_rax = -1 at the syscall-entry stop of exit(100) skips it: the exit stop \
                shows -ENOSYS and the child goes on to exit 5",
    },
];

fn skip_exit(tc: &Tc, skip: Skip) {
    let t = Tracee::start(tc, Options::TRACESYSGOOD, || {
        let r = raw6(libc::SYS_exit, [100, 0, 0, 0, 0, 0]);
        child_require!(r == -1 && errno() == libc::ENOSYS, "exit(100) returned {r}");
        EXIT_CODE
    });
    let pid = t.pid();
    let entry = match skip {
        Skip::Sysemu => {
            ptrace_atf::require_ok!(sys::sysemu(pid, 0), "PTRACE_SYSEMU");
            t.child.expect_syscall_stop(&t.w);
            ptrace_atf::trace::syscall_info::expect_get(pid).0
        }
        Skip::OrigRax => t.run_to_entry(libc::SYS_exit),
    };
    require_eq!(entry.op(), Op::Entry, "the first stop: {entry}");
    require_eq!(entry.nr, libc::SYS_exit as u64, "the first stop: {entry}");
    if let Skip::OrigRax = skip {
        t.poke_reg(ORIG_RAX, -1);
    }
    let exit = t.to_exit();
    require_eq!(
        (exit.rval, exit.is_error),
        (-i64::from(libc::ENOSYS), 1),
        "exit stop of the skipped exit(100): {exit}"
    );
    t.child.cont_to_exit(&t.w, EXIT_CODE);
}

/// Registers the family.
pub fn register(p: &mut ptrace_atf::atf::Program) {
    p.extend(VARIANTS.iter().map(|v| {
        let on_entry = v.on_entry;
        TestCase::new(v.name)
            .descr(v.descr)
            .timeout(15)
            .netbsd_same_name()
            .body(move |tc| traced_getpid(tc, on_entry))
    }));
    p.extend(SKIP_VARIANTS.iter().map(|v| {
        let skip = v.skip;
        let case = TestCase::new(v.name).descr(v.descr).timeout(15);
        let case = if v.netbsd {
            case.netbsd_same_name()
        } else {
            case
        };
        case.body(move |tc| skip_exit(tc, skip))
    }));
}
