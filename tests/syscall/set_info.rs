//! PTRACE_SET_SYSCALL_INFO (Linux 6.16): rewrite the number, skip with -1 (-ENOSYS), change
//! the arguments at entry, inject a return value or an error at exit, and the requests the
//! kernel must refuse. Skipped, naming the missing request, on kernels without it.

use ptrace_atf::atf::{Program, Tc, TestCase};
use ptrace_atf::trace::Options;
use ptrace_atf::trace::ops;
use ptrace_atf::trace::syscall_info::{self, Op, STRUCT_SIZE, SyscallInfo};
use ptrace_atf::{child_require, child_require_eq, require_eq};

use nix::errno::Errno;

use crate::common::{EXIT_CODE, POISON, Tracee, errno, raw6, require_set_syscall_info};

/// What the tracer changes, and where.
#[derive(Clone, Copy)]
enum Act {
    /// At the entry of getppid: nr = getpid.
    ChangeNr,
    /// At the entry of exit(100): nr = -1.
    Skip,
    /// At the entry of exit_group(100, POISON..): args = [7, NEW..].
    ChangeArgs,
    /// At the exit of getppid: rval = 4242, is_error 0.
    ExitValue,
    /// At the exit of getppid: rval = -EPERM, is_error 1.
    ExitError,
    /// At the entry of getppid: a SET that must fail with the errno; the call is unchanged.
    Reject(fn(&mut SyscallInfo) -> usize, Errno),
}

struct Variant {
    name: &'static str,
    descr: &'static str,
    act: Act,
}

const NEW_ARGS: [u64; 6] = [7, 0x1111, 0x2222, 0x3333, 0x4444, 0x5555];
const INJECTED: i64 = 4242;

static VARIANTS: [Variant; 10] = [
    Variant {
        name: "set_syscall_info_change_nr",
        descr: "SET_SYSCALL_INFO at the entry of getppid with nr = getpid: GET reads back the \
                new nr and the tracee gets its own pid",
        act: Act::ChangeNr,
    },
    Variant {
        name: "set_syscall_info_skip",
        descr: "SET_SYSCALL_INFO at the entry of exit(100) with nr = -1 skips it: the exit stop \
                and the tracee see -ENOSYS, and the tracee exits 5",
        act: Act::Skip,
    },
    Variant {
        name: "set_syscall_info_change_args",
        descr: "SET_SYSCALL_INFO at the entry of exit_group(100, ...) replacing all six \
                arguments: GET reads them back and the tracee exits 7",
        act: Act::ChangeArgs,
    },
    Variant {
        name: "set_syscall_info_exit_value",
        descr: "SET_SYSCALL_INFO at the exit of getppid with rval 4242, is_error 0: the tracee \
                gets 4242",
        act: Act::ExitValue,
    },
    Variant {
        name: "set_syscall_info_exit_error",
        descr: "SET_SYSCALL_INFO at the exit of getppid with rval -EPERM, is_error 1: the \
                tracee gets -1 with errno EPERM",
        act: Act::ExitError,
    },
    Variant {
        name: "set_syscall_info_rejects_wrong_op",
        descr: "SET_SYSCALL_INFO with op EXIT at an entry stop fails with EINVAL and changes \
                nothing",
        act: Act::Reject(
            |i| {
                i.op_raw = Op::Exit.raw();
                STRUCT_SIZE
            },
            Errno::EINVAL,
        ),
    },
    Variant {
        name: "set_syscall_info_rejects_flags",
        descr: "SET_SYSCALL_INFO with a non-zero flags field fails with EINVAL and changes \
                nothing",
        act: Act::Reject(
            |i| {
                i.flags = 1;
                i.nr = libc::SYS_getpid as u64;
                STRUCT_SIZE
            },
            Errno::EINVAL,
        ),
    },
    Variant {
        name: "set_syscall_info_rejects_reserved",
        descr: "SET_SYSCALL_INFO with a non-zero reserved byte fails with EINVAL and changes \
                nothing",
        act: Act::Reject(
            |i| {
                i.reserved = 1;
                i.nr = libc::SYS_getpid as u64;
                STRUCT_SIZE
            },
            Errno::EINVAL,
        ),
    },
    Variant {
        name: "set_syscall_info_rejects_short_size",
        descr: "SET_SYSCALL_INFO with a size smaller than the struct (80) fails with EINVAL and \
                changes nothing",
        act: Act::Reject(
            |i| {
                i.nr = libc::SYS_getpid as u64;
                Op::Entry.size()
            },
            Errno::EINVAL,
        ),
    },
    Variant {
        name: "set_syscall_info_rejects_wide_nr",
        descr: "SET_SYSCALL_INFO with a syscall number that is not an int (1<<32 | getpid) \
                fails with ERANGE and changes nothing",
        act: Act::Reject(
            |i| {
                i.nr = (1 << 32) | libc::SYS_getpid as u64;
                STRUCT_SIZE
            },
            Errno::ERANGE,
        ),
    },
];

#[track_caller]
fn set(t: &Tracee, info: &SyscallInfo) {
    if let Err(e) = syscall_info::set(t.pid(), info) {
        ptrace_atf::fail!("PTRACE_SET_SYSCALL_INFO({info}) failed: {e}");
    }
}

fn scenario(tc: &Tc, act: Act) {
    let parent = i64::from(nix::unistd::getpid().as_raw());
    let t = Tracee::start(tc, Options::TRACESYSGOOD, move || {
        // SAFETY: raw getpid.
        let me = unsafe { libc::syscall(libc::SYS_getpid) };
        match act {
            Act::ChangeNr => child_require_eq!(raw6(libc::SYS_getppid, POISON), me),
            Act::Skip => {
                let r = raw6(libc::SYS_exit, [100, 0, 0, 0, 0, 0]);
                child_require!(r == -1 && errno() == libc::ENOSYS, "exit(100) gave {r}");
            }
            Act::ChangeArgs => {
                let mut a = POISON;
                a[0] = 100;
                raw6(libc::SYS_exit_group, a);
                child_require!(false, "exit_group returned");
            }
            Act::ExitValue => child_require_eq!(raw6(libc::SYS_getppid, POISON), INJECTED),
            Act::ExitError => {
                let r = raw6(libc::SYS_getppid, POISON);
                child_require!(r == -1 && errno() == libc::EPERM, "getppid gave {r}");
            }
            Act::Reject(..) => child_require_eq!(raw6(libc::SYS_getppid, POISON), parent),
        }
        EXIT_CODE
    });
    require_set_syscall_info(tc, t.pid());
    let nr = match act {
        Act::Skip => libc::SYS_exit,
        Act::ChangeArgs => libc::SYS_exit_group,
        _ => libc::SYS_getppid,
    };
    let mut info = t.run_to_entry(nr);
    match act {
        Act::ChangeNr | Act::Skip => {
            let new_nr = if let Act::Skip = act {
                -1
            } else {
                libc::SYS_getpid
            };
            let args = info.args;
            info.nr = new_nr as u64;
            set(&t, &info);
            let back = syscall_info::expect_get(t.pid()).0;
            require_eq!(back.nr as i64, new_nr, "nr read back: {back}");
            require_eq!(back.args, args, "args read back: {back}");
            let exit = t.to_exit();
            let want = match act {
                Act::Skip => (-i64::from(libc::ENOSYS), 1),
                _ => (i64::from(t.pid().as_raw()), 0),
            };
            require_eq!((exit.rval, exit.is_error), want, "exit stop: {exit}");
        }
        Act::ChangeArgs => {
            info.args = NEW_ARGS;
            set(&t, &info);
            let back = syscall_info::expect_get(t.pid()).0;
            require_eq!(back.args, NEW_ARGS, "args read back: {back}");
            ops::cont(t.pid(), 0);
            t.child.expect_exited(&t.w, NEW_ARGS[0] as i32);
            t.w.expect_no_children();
            return;
        }
        Act::ExitValue | Act::ExitError => {
            let mut exit = t.to_exit();
            (exit.rval, exit.is_error) = match act {
                Act::ExitValue => (INJECTED, 0),
                _ => (-i64::from(libc::EPERM), 1),
            };
            set(&t, &exit);
            let back = syscall_info::expect_get(t.pid()).0;
            require_eq!(
                (back.rval, back.is_error),
                (exit.rval, exit.is_error),
                "{back}"
            );
        }
        Act::Reject(mutate, errno) => {
            let mut bad = info;
            let size = mutate(&mut bad);
            require_eq!(
                syscall_info::set_sized(t.pid(), &bad, size),
                Err(errno),
                "PTRACE_SET_SYSCALL_INFO({bad}, size {size})"
            );
            let back = syscall_info::expect_get(t.pid()).0;
            require_eq!(back, info, "the entry after the refused SET");
            let exit = t.to_exit();
            require_eq!(
                (exit.rval, exit.is_error),
                (parent, 0),
                "getppid's exit: {exit}"
            );
        }
    }
    t.child.cont_to_exit(&t.w, EXIT_CODE);
}

/// Registers the family.
pub fn register(p: &mut Program) {
    p.extend(VARIANTS.iter().map(|v| {
        let act = v.act;
        TestCase::new(v.name)
            .descr(v.descr)
            .timeout(15)
            .body(move |tc| scenario(tc, act))
    }));
}
