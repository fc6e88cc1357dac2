//! seccomp under ptrace: the syscall-entry stop comes before PTRACE_EVENT_SECCOMP, the
//! seccomp stop's info and message, a rewritten syscall is filtered again, and
//! PTRACE_O_SUSPEND_SECCOMP needs CAP_SYS_ADMIN (CVE-2022-30594).

use ptrace_atf::atf::{Program, Tc, TestCase, User};
use ptrace_atf::trace::ops;
use ptrace_atf::trace::siginfo::expect_siginfo;
use ptrace_atf::trace::syscall_info::{self, AUDIT_ARCH_X86_64, Op};
use std::os::fd::AsRawFd;

use ptrace_atf::trace::{Forkee, Options, PtraceEvent, sys};
use ptrace_atf::{child_fail, child_require, child_require_eq, harness, require_eq};

use crate::common::{EXIT_CODE, ORIG_RAX, POISON, Tracee, errno, raw6, require_set_syscall_info};

/// SECCOMP_RET_DATA of the filter's SECCOMP_RET_TRACE for getppid.
const TRACE_DATA: u32 = 0xabc;
/// The errno the filter returns for getuid.
const FILTER_ERRNO: i32 = libc::EACCES;

fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// Child side: no_new_privs, then a filter: getppid -> TRACE|0xabc, getuid -> ERRNO(EACCES),
/// any other x86_64 syscall allowed, any other arch killed.
pub fn install_filter() {
    let ld = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let mut prog = [
        stmt(ld, 4), // seccomp_data.arch
        jeq(AUDIT_ARCH_X86_64, 1, 0),
        stmt(ret, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(ld, 0), // seccomp_data.nr
        jeq(libc::SYS_getppid as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_TRACE | TRACE_DATA),
        jeq(libc::SYS_getuid as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | FILTER_ERRNO as u32),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: prctl and seccomp with a valid filter program.
    unsafe {
        child_require!(
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0,
            "no_new_privs"
        );
        let r = libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        );
        child_require!(r == 0, "seccomp(SET_MODE_FILTER) failed: errno {}", errno());
    }
}

/// What a variant checks.
#[derive(Clone, Copy)]
enum Check {
    /// PTRACE_SYSCALL: entry stop of getppid, then PTRACE_EVENT_SECCOMP, then the exit stop.
    Order,
    /// PTRACE_CONT: at the seccomp stop GET_SYSCALL_INFO gives op SECCOMP, 84 bytes.
    Info,
    /// PTRACE_CONT: at the seccomp stop GETEVENTMSG and the siginfo carry the filter's data.
    EventMsg,
    /// PTRACE_SYSCALL: getpid rewritten to getuid at the entry stop gets the filter's errno.
    RewriteAtEntry,
    /// PTRACE_CONT: getppid rewritten to getuid at the seccomp stop gets the filter's errno.
    RewriteAtEvent,
    /// PTRACE_CONT: SET_SYSCALL_INFO (op SECCOMP) at the seccomp stop turns getppid into
    /// getpid, which the recheck allows.
    SetAtEvent,
}

struct Variant {
    name: &'static str,
    descr: &'static str,
    check: Check,
}

static VARIANTS: [Variant; 6] = [
    Variant {
        name: "seccomp_entry_stop_before_event",
        descr: "Under PTRACE_SYSCALL a SECCOMP_RET_TRACE syscall reports its syscall-entry \
                stop first, then PTRACE_EVENT_SECCOMP, then its exit stop (Linux >= 4.8)",
        check: Check::Order,
    },
    Variant {
        name: "seccomp_event_syscall_info",
        descr: "At a PTRACE_EVENT_SECCOMP stop GET_SYSCALL_INFO returns 84 bytes: op SECCOMP, \
                nr, the six arguments and ret_data = the filter's SECCOMP_RET_DATA",
        check: Check::Info,
    },
    Variant {
        name: "seccomp_event_geteventmsg",
        descr: "At a PTRACE_EVENT_SECCOMP stop PTRACE_GETEVENTMSG gives the filter's \
                SECCOMP_RET_DATA and si_code is SIGTRAP|PTRACE_EVENT_SECCOMP<<8",
        check: Check::EventMsg,
    },
    Variant {
        name: "seccomp_refilter_after_entry_rewrite",
        descr: "A syscall the tracer rewrites at the syscall-entry stop is filtered as the new \
                syscall: getpid turned into getuid gets the filter's EACCES",
        check: Check::RewriteAtEntry,
    },
    Variant {
        name: "seccomp_refilter_after_event_rewrite",
        descr: "A syscall the tracer rewrites at the PTRACE_EVENT_SECCOMP stop is filtered \
                again: getppid turned into getuid gets the filter's EACCES",
        check: Check::RewriteAtEvent,
    },
    Variant {
        name: "seccomp_set_syscall_info_at_event",
        descr: "SET_SYSCALL_INFO with op SECCOMP at the seccomp stop turns getppid into getpid: \
                GET reads it back and the tracee gets its own pid",
        check: Check::SetAtEvent,
    },
];

fn scenario(tc: &Tc, check: Check) {
    let parent = i64::from(nix::unistd::getpid().as_raw());
    let t = Tracee::start(
        tc,
        Options::TRACESYSGOOD | Options::TRACESECCOMP,
        move || {
            install_filter();
            match check {
                Check::Order | Check::Info | Check::EventMsg => {
                    child_require_eq!(raw6(libc::SYS_getppid, POISON), parent);
                }
                Check::RewriteAtEntry | Check::RewriteAtEvent => {
                    let nr = match check {
                        Check::RewriteAtEntry => libc::SYS_getpid,
                        _ => libc::SYS_getppid,
                    };
                    let r = raw6(nr, POISON);
                    child_require!(
                        r == -1 && errno() == FILTER_ERRNO,
                        "got {r}, errno {}",
                        errno()
                    );
                }
                Check::SetAtEvent => {
                    let r = raw6(libc::SYS_getppid, POISON);
                    // SAFETY: raw getpid.
                    child_require_eq!(r, unsafe { libc::syscall(libc::SYS_getpid) });
                }
            }
            EXIT_CODE
        },
    );
    let pid = t.pid();
    let to_event = || {
        ops::cont(pid, 0);
        t.child.expect_event(&t.w, PtraceEvent::Seccomp)
    };
    match check {
        Check::Order => {
            t.run_to_entry(libc::SYS_getppid);
            ops::syscall(pid, 0);
            t.child.expect_event(&t.w, PtraceEvent::Seccomp);
            let exit = t.to_exit();
            require_eq!(
                (exit.rval, exit.is_error),
                (parent, 0),
                "getppid's exit: {exit}"
            );
        }
        Check::Info => {
            to_event();
            let (info, size) = syscall_info::expect_get(pid);
            require_eq!(
                (info.op(), size),
                (Op::Seccomp, Op::Seccomp.size()),
                "{info}"
            );
            require_eq!(info.arch, AUDIT_ARCH_X86_64, "{info}");
            require_eq!(info.nr, libc::SYS_getppid as u64, "{info}");
            require_eq!(info.args, POISON, "{info}");
            require_eq!(info.ret_data, TRACE_DATA, "{info}");
        }
        Check::EventMsg => {
            let msg = to_event();
            require_eq!(msg, u64::from(TRACE_DATA), "PTRACE_GETEVENTMSG");
            expect_siginfo(
                pid,
                libc::SIGTRAP,
                libc::SIGTRAP | (libc::PTRACE_EVENT_SECCOMP << 8),
            );
        }
        Check::RewriteAtEntry => {
            t.run_to_entry(libc::SYS_getpid);
            t.poke_reg(ORIG_RAX, libc::SYS_getuid);
            let exit = t.to_exit();
            let want = (-i64::from(FILTER_ERRNO), 1);
            require_eq!(
                (exit.rval, exit.is_error),
                want,
                "exit stop of getpid->getuid: {exit}"
            );
        }
        Check::RewriteAtEvent => {
            to_event();
            t.poke_reg(ORIG_RAX, libc::SYS_getuid);
        }
        Check::SetAtEvent => {
            require_set_syscall_info(tc, pid);
            to_event();
            let (mut info, _) = syscall_info::expect_get(pid);
            info.nr = libc::SYS_getpid as u64;
            if let Err(e) = syscall_info::set(pid, &info) {
                ptrace_atf::fail!("PTRACE_SET_SYSCALL_INFO({info}) failed: {e}");
            }
            let back = syscall_info::expect_get(pid).0;
            require_eq!(back, info, "read back after SET at the seccomp stop");
        }
    }
    t.child.cont_to_exit(&t.w, EXIT_CODE);
}

/// uid/gid the tracer drops to in the root form of the SUSPEND_SECCOMP case.
const NOBODY: u32 = 65534;

/// A helper process (with all privileges dropped when `drop`) forks a sleeper and tries to
/// PTRACE_SEIZE it with PTRACE_O_SUSPEND_SECCOMP: that must fail with EPERM.
fn suspend_denied(tc: &Tc, drop: bool) {
    let w = harness::waiter(tc);
    let helper = Forkee::spawn(move || {
        if drop {
            // SAFETY: plain credential syscalls in the forked child.
            unsafe {
                child_require!(libc::setgroups(0, std::ptr::null()) == 0, "setgroups");
                child_require!(libc::setresgid(NOBODY, NOBODY, NOBODY) == 0, "setresgid");
                child_require!(libc::setresuid(NOBODY, NOBODY, NOBODY) == 0, "setresuid");
            }
        }
        // SAFETY: fork; the grandchild only pauses.
        let sleeper = unsafe { libc::fork() };
        if sleeper == 0 {
            // SAFETY: pause until killed.
            unsafe {
                libc::pause();
                libc::_exit(1)
            }
        }
        child_require!(sleeper > 0, "fork failed");
        let pid = nix::unistd::Pid::from_raw(sleeper);
        let r = sys::seize(pid, Options::SUSPEND_SECCOMP | Options::EXITKILL);
        // SAFETY: kill and reap our own child.
        unsafe {
            libc::kill(sleeper, libc::SIGKILL);
            libc::waitpid(sleeper, std::ptr::null_mut(), libc::__WALL);
        }
        match r {
            Err(nix::errno::Errno::EPERM) => EXIT_CODE,
            Err(e) => child_fail!("SEIZE with PTRACE_O_SUSPEND_SECCOMP failed with {e}, not EPERM"),
            Ok(()) => {
                child_fail!("SEIZE with PTRACE_O_SUSPEND_SECCOMP succeeded without CAP_SYS_ADMIN")
            }
        }
    });
    helper.expect_exited(&w, EXIT_CODE);
    w.expect_no_children();
}

/// Root seizes a filtered child with PTRACE_O_SUSPEND_SECCOMP: the filter no longer applies.
/// The child waits on a pipe (no stop, so every waiter sees only its exit).
fn suspend_root(tc: &Tc) {
    let w = harness::waiter(tc);
    let (r, wr) = ptrace_atf::require_ok!(nix::unistd::pipe(), "pipe");
    let rfd = r.as_raw_fd();
    let child = Forkee::spawn(move || {
        install_filter();
        let mut byte = 0u8;
        // SAFETY: read one byte into a local.
        let n = unsafe { libc::read(rfd, (&raw mut byte).cast(), 1) };
        child_require_eq!(n, 1);
        // SAFETY: raw getuid.
        let uid = unsafe { libc::syscall(libc::SYS_getuid) };
        child_require!(uid == 0, "getuid gave {uid}, errno {}", errno());
        EXIT_CODE
    });
    match sys::seize(child.pid(), Options::SUSPEND_SECCOMP | Options::EXITKILL) {
        Ok(()) => {}
        Err(nix::errno::Errno::EINVAL) => tc.skip(
            "PTRACE_O_SUSPEND_SECCOMP gives EINVAL: kernel without CONFIG_CHECKPOINT_RESTORE",
        ),
        Err(e) => ptrace_atf::fail!("SEIZE with PTRACE_O_SUSPEND_SECCOMP as root failed: {e}"),
    }
    ptrace_atf::require_ok!(nix::unistd::write(&wr, b"g"), "write to the pipe");
    child.expect_exited(&w, EXIT_CODE);
    w.expect_no_children();
}

/// Registers the family.
pub fn register(p: &mut Program) {
    p.extend(VARIANTS.iter().map(|v| {
        let check = v.check;
        TestCase::new(v.name)
            .descr(v.descr)
            .timeout(15)
            .body(move |tc| scenario(tc, check))
    }));
    let cve = "CVE-2022-30594, ee1fee900537 ptrace: Check PTRACE_O_SUSPEND_SECCOMP permission on PTRACE_SEIZE";
    p.add(
        TestCase::new("seccomp_suspend_unprivileged_eperm")
            .descr("An unprivileged tracer's PTRACE_SEIZE with PTRACE_O_SUSPEND_SECCOMP fails with EPERM")
            .timeout(15)
            .require_user(User::Unprivileged)
            .custom("cve", cve)
            .body(|tc| suspend_denied(tc, false)),
    );
    p.add(
        TestCase::new("seccomp_suspend_dropped_privileges_eperm")
            .descr(
                "A tracer that dropped root (uid 65534, no capabilities) gets EPERM from \
                    PTRACE_SEIZE with PTRACE_O_SUSPEND_SECCOMP",
            )
            .timeout(15)
            .require_user(User::Root)
            .custom("cve", cve)
            .body(|tc| suspend_denied(tc, true)),
    );
    p.add(
        TestCase::new("seccomp_suspend_root")
            .descr(
                "Root's PTRACE_SEIZE with PTRACE_O_SUSPEND_SECCOMP suspends the tracee's \
                    filter: getuid, filtered to EACCES, returns 0",
            )
            .timeout(15)
            .require_user(User::Root)
            .body(suspend_root),
    );
}
