//! PTRACE_GET_SYSCALL_INFO: the op and the exact size returned at each kind of stop, arch,
//! instruction and stack pointer, number and six arguments at entry, rval and is_error at exit.

use ptrace_atf::atf::{Program, Tc, TestCase};
use ptrace_atf::trace::ops;
use ptrace_atf::trace::syscall_info::{self, AUDIT_ARCH_X86_64, HEADER_SIZE, Op, SyscallInfo};
use ptrace_atf::trace::{Options, PtraceEvent, sys};
use ptrace_atf::{child_require, child_require_eq, require, require_eq};

use crate::common::{EXIT_CODE, POISON, Tracee, errno, raw6};

/// What the child does after its SIGSTOP.
#[derive(Clone, Copy)]
enum Prog {
    /// getpid(POISON...), then exit 5.
    Getpid,
    /// close(-1, POISON[1..]...): EBADF, then exit 5.
    CloseBad,
}

/// The stop a variant inspects.
#[derive(Clone, Copy)]
enum Reach {
    /// The SIGSTOP signal-delivery stop itself.
    SignalStop,
    /// The PTRACE_EVENT_EXIT stop (TRACEEXIT).
    EventExit,
    /// The entry stop of the program's syscall.
    Entry,
    /// The exit stop of the program's syscall.
    Exit,
}

struct Variant {
    name: &'static str,
    descr: &'static str,
    prog: Prog,
    reach: Reach,
    check: fn(&Tracee, &SyscallInfo, usize),
}

fn check_none(t: &Tracee, info: &SyscallInfo, size: usize) {
    require_eq!(info.op(), Op::None, "{info}");
    require_eq!(size, HEADER_SIZE, "size returned for op NONE: {info}");
    require_eq!(info.arch, AUDIT_ARCH_X86_64, "{info}");
    check_pointers(t, info);
}

/// ip and sp are the tracee's user rip and rsp; reserved and flags are zero.
fn check_pointers(t: &Tracee, info: &SyscallInfo) {
    let regs = t.regs();
    require_eq!(info.instruction_pointer, regs.rip, "ip vs rip: {info}");
    require_eq!(info.stack_pointer, regs.rsp, "sp vs rsp: {info}");
    require_eq!(
        (info.reserved, info.flags),
        (0, 0),
        "reserved/flags: {info}"
    );
}

fn check_entry(t: &Tracee, info: &SyscallInfo, size: usize) {
    require_eq!(info.op(), Op::Entry, "{info}");
    require_eq!(size, Op::Entry.size(), "size returned for op ENTRY: {info}");
    require_eq!(info.arch, AUDIT_ARCH_X86_64, "{info}");
    require_eq!(info.nr, libc::SYS_getpid as u64, "{info}");
    require_eq!(info.args, POISON, "the six arguments: {info}");
    check_pointers(t, info);
}

fn check_exit_ok(t: &Tracee, info: &SyscallInfo, size: usize) {
    require_eq!(info.op(), Op::Exit, "{info}");
    require_eq!(size, Op::Exit.size(), "size returned for op EXIT: {info}");
    require_eq!(info.arch, AUDIT_ARCH_X86_64, "{info}");
    require_eq!(
        (info.rval, info.is_error),
        (i64::from(t.pid().as_raw()), 0),
        "getpid's exit: {info}"
    );
    check_pointers(t, info);
}

fn check_exit_error(t: &Tracee, info: &SyscallInfo, size: usize) {
    require_eq!(info.op(), Op::Exit, "{info}");
    require_eq!(size, Op::Exit.size(), "size returned for op EXIT: {info}");
    require_eq!(
        (info.rval, info.is_error),
        (-i64::from(libc::EBADF), 1),
        "close(-1)'s exit: {info}"
    );
    check_pointers(t, info);
}

/// The instruction before ip is `syscall` (0f 05), at entry and (the same ip) at exit.
fn check_ip_after_syscall(t: &Tracee, info: &SyscallInfo, _size: usize) {
    let word = sys::peekdata(t.pid(), info.instruction_pointer as usize - 2)
        .unwrap_or_else(|e| ptrace_atf::fail!("PEEKDATA at ip-2 failed: {e}"));
    require_eq!(
        word as u16,
        0x050f,
        "the two bytes before the entry ip {:#x}",
        info.instruction_pointer
    );
    let exit = t.to_exit();
    require_eq!(
        exit.instruction_pointer,
        info.instruction_pointer,
        "exit ip"
    );
    require_eq!(exit.stack_pointer, info.stack_pointer, "exit sp");
}

/// A buffer shorter than the op's data gets exactly that many bytes; the full size is
/// still returned.
fn check_truncated(t: &Tracee, info: &SyscallInfo, _size: usize) {
    let short = HEADER_SIZE + 8 + 8 + 3; // nr, args[0] and 3 bytes of args[1]
    let (buf, n) = syscall_info::get_raw(t.pid(), short, 16, 0xa5)
        .unwrap_or_else(|e| ptrace_atf::fail!("PTRACE_GET_SYSCALL_INFO(size {short}) failed: {e}"));
    require_eq!(
        n,
        Op::Entry.size(),
        "size returned with a {short}-byte buffer"
    );
    let full = info.encode();
    require_eq!(&buf[..short], &full[..short], "the bytes the kernel copied");
    require!(
        buf[short..].iter().all(|&b| b == 0xa5),
        "the kernel wrote past the {short} bytes it was given: {:x?}",
        &buf[short..]
    );
}

static VARIANTS: [Variant; 8] = [
    Variant {
        name: "syscall_info_signal_stop",
        descr: "At a signal-delivery stop PTRACE_GET_SYSCALL_INFO returns 24 bytes: op NONE, \
                arch x86_64, ip and sp equal to rip and rsp",
        prog: Prog::Getpid,
        reach: Reach::SignalStop,
        check: check_none,
    },
    Variant {
        name: "syscall_info_event_stop",
        descr: "At a PTRACE_EVENT_EXIT stop PTRACE_GET_SYSCALL_INFO returns 24 bytes with op \
                NONE",
        prog: Prog::Getpid,
        reach: Reach::EventExit,
        check: check_none,
    },
    Variant {
        name: "syscall_info_entry",
        descr: "At a syscall-entry stop PTRACE_GET_SYSCALL_INFO returns 80 bytes: op ENTRY, \
                arch, nr and all six poisoned arguments of getpid as passed",
        prog: Prog::Getpid,
        reach: Reach::Entry,
        check: check_entry,
    },
    Variant {
        name: "syscall_info_exit_success",
        descr: "At the syscall-exit stop of getpid PTRACE_GET_SYSCALL_INFO returns 33 bytes: \
                op EXIT, rval the pid, is_error 0",
        prog: Prog::Getpid,
        reach: Reach::Exit,
        check: check_exit_ok,
    },
    Variant {
        name: "syscall_info_exit_error",
        descr: "At the syscall-exit stop of close(-1) PTRACE_GET_SYSCALL_INFO returns 33 bytes: \
                op EXIT, rval -EBADF, is_error 1",
        prog: Prog::CloseBad,
        reach: Reach::Exit,
        check: check_exit_error,
    },
    Variant {
        name: "syscall_info_ip_after_syscall_insn",
        descr: "The entry stop's instruction_pointer follows the syscall instruction (0f 05) \
                and the exit stop reports the same ip and sp",
        prog: Prog::Getpid,
        reach: Reach::Entry,
        check: check_ip_after_syscall,
    },
    Variant {
        name: "syscall_info_truncated",
        descr: "With a buffer shorter than the entry data PTRACE_GET_SYSCALL_INFO copies \
                exactly that many bytes and still returns 80",
        prog: Prog::Getpid,
        reach: Reach::Entry,
        check: check_truncated,
    },
    Variant {
        name: "syscall_info_size_zero",
        descr: "With size 0 PTRACE_GET_SYSCALL_INFO copies nothing and returns the entry size",
        prog: Prog::Getpid,
        reach: Reach::Entry,
        check: |t, _info, _size| {
            let (buf, n) = syscall_info::get_raw(t.pid(), 0, 8, 0x5a).unwrap_or_else(|e| {
                ptrace_atf::fail!("PTRACE_GET_SYSCALL_INFO(size 0) failed: {e}")
            });
            require_eq!(n, Op::Entry.size(), "size returned with size 0");
            require_eq!(buf, vec![0x5a; 8], "bytes after a size-0 request");
        },
    },
];

fn scenario(tc: &Tc, v: &Variant) {
    let prog = v.prog;
    let options = match v.reach {
        Reach::EventExit => Options::TRACESYSGOOD | Options::TRACEEXIT,
        _ => Options::TRACESYSGOOD,
    };
    let t = Tracee::start(tc, options, move || {
        match prog {
            Prog::Getpid => {
                let got = raw6(libc::SYS_getpid, POISON);
                // SAFETY: raw getpid.
                child_require_eq!(got, unsafe { libc::syscall(libc::SYS_getpid) });
            }
            Prog::CloseBad => {
                let mut a = POISON;
                a[0] = u64::MAX;
                let r = raw6(libc::SYS_close, a);
                child_require!(r == -1 && errno() == libc::EBADF, "close(-1) gave {r}");
            }
        }
        EXIT_CODE
    });
    let nr = match prog {
        Prog::Getpid => libc::SYS_getpid,
        Prog::CloseBad => libc::SYS_close,
    };
    let (info, size) = match v.reach {
        Reach::SignalStop => syscall_info::expect_get(t.pid()),
        Reach::EventExit => {
            ops::cont(t.pid(), 0);
            let status = t.child.expect_event(&t.w, PtraceEvent::Exit);
            require_eq!(status, (EXIT_CODE << 8) as u64, "PTRACE_EVENT_EXIT message");
            syscall_info::expect_get(t.pid())
        }
        Reach::Entry => {
            t.run_to_entry(nr);
            syscall_info::expect_get(t.pid())
        }
        Reach::Exit => {
            t.run_to_entry(nr);
            t.to_exit();
            syscall_info::expect_get(t.pid())
        }
    };
    (v.check)(&t, &info, size);
    t.child.cont_to_exit(&t.w, EXIT_CODE);
}

/// Without PTRACE_O_TRACESYSGOOD a syscall stop is a plain SIGTRAP stop whose siginfo has
/// si_code SIGTRAP, and PTRACE_GET_SYSCALL_INFO cannot tell it from a signal: op NONE.
fn without_sysgood(tc: &Tc) {
    let t = Tracee::start(tc, Options::NONE, || {
        raw6(libc::SYS_getpid, POISON);
        EXIT_CODE
    });
    ops::syscall(t.pid(), 0);
    t.child.expect_stopped(&t.w, libc::SIGTRAP);
    let (info, size) = syscall_info::expect_get(t.pid());
    require_eq!((info.op(), size), (Op::None, HEADER_SIZE), "{info}");
    t.child.cont_to_exit(&t.w, EXIT_CODE);
}

/// exit_group has an entry stop and no exit stop: the next report is the exit status.
fn exit_group_no_exit_stop(tc: &Tc) {
    let t = Tracee::start(tc, Options::TRACESYSGOOD, || {
        raw6(libc::SYS_exit_group, [7, 0, 0, 0, 0, 0]);
        child_require!(false, "exit_group returned");
        EXIT_CODE
    });
    let entry = t.run_to_entry(libc::SYS_exit_group);
    require_eq!(entry.args[0], 7, "{entry}");
    ops::syscall(t.pid(), 0);
    t.child.expect_exited(&t.w, 7);
    t.w.expect_no_children();
}

/// Registers the family.
pub fn register(p: &mut Program) {
    p.extend(VARIANTS.iter().map(|v| {
        TestCase::new(v.name)
            .descr(v.descr)
            .timeout(15)
            .body(move |tc| scenario(tc, v))
    }));
    p.add(
        TestCase::new("syscall_info_without_tracesysgood")
            .descr(
                "Without PTRACE_O_TRACESYSGOOD a syscall stop is a SIGTRAP stop and \
                 PTRACE_GET_SYSCALL_INFO reports op NONE (24 bytes) there",
            )
            .timeout(15)
            .body(without_sysgood),
    );
    p.add(
        TestCase::new("syscall_exit_group_no_exit_stop")
            .descr(
                "exit_group(7) reports a syscall-entry stop and no exit stop: the next \
                 PTRACE_SYSCALL ends in exit status 7",
            )
            .timeout(15)
            .body(exit_group_no_exit_stop),
    );
}
