//! The program counter rules (NetBSD's PC=0 seed, `user_va0_disable_*`, is NetBSD-only:
//! there resume requests take a resume address). Here resume requests ignore `addr`, a pc
//! of 0 set with SETREGS faults at address 0, and a non-canonical pc gives SIGSEGV without
//! hurting the kernel (CVE-2014-4699).

use std::ffi::c_void;

use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::{Child, Options, Waiter, probe, regs, sys};
use ptrace_atf::{child_require_eq, harness, require, require_eq};

use crate::common::{EXIT_CODE, exec_ranges, kill, raw_sigstop, tracee};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Resume {
    Cont,
    Syscall,
    Detach,
}

/// si_code of a fault at an unmapped address (asm-generic/siginfo.h).
const SEGV_MAPERR: i32 = 1;

#[derive(Clone, Copy, PartialEq, Eq)]
enum StopAt {
    Signal,
    SyscallEntry,
    SyscallExit,
}

/// The *_keeps_pc cases: (name, the resuming request, its name, the addr passed).
const KEEPS_PC: &[(&str, Resume, &str, usize)] = &[
    ("cont_addr0_keeps_pc", Resume::Cont, "PTRACE_CONT", 0),
    ("cont_addr1_keeps_pc", Resume::Cont, "PTRACE_CONT", 1),
    (
        "syscall_addr0_keeps_pc",
        Resume::Syscall,
        "PTRACE_SYSCALL",
        0,
    ),
    (
        "syscall_addr1_keeps_pc",
        Resume::Syscall,
        "PTRACE_SYSCALL",
        1,
    ),
    ("detach_addr0_keeps_pc", Resume::Detach, "PTRACE_DETACH", 0),
    ("detach_addr1_keeps_pc", Resume::Detach, "PTRACE_DETACH", 1),
];

pub fn cases() -> Vec<TestCase> {
    let mut out = Vec::new();
    for &(name, req, request, addr) in KEEPS_PC {
        let descr = format!(
            "{request} with addr {addr} resumes where the tracee stopped, which runs on correctly"
        );
        out.push(
            TestCase::new(name)
                .descr(&descr)
                .timeout(15)
                .body(move |tc| resume_keeps_pc(tc, req, addr)),
        );
    }
    out.push(
        TestCase::new("setregs_pc0_sigsegv")
            .descr("a pc of 0 set with SETREGS faults: the tracer sees a SIGSEGV stop at address 0 (SEGV_MAPERR)")
            .timeout(15)
            .body(pc0),
    );
    for (at, name) in [
        (StopAt::Signal, "noncanonical_pc_at_signal_stop"),
        (
            StopAt::SyscallEntry,
            "noncanonical_pc_at_syscall_entry_stop",
        ),
        (StopAt::SyscallExit, "noncanonical_pc_at_syscall_exit_stop"),
    ] {
        out.push(
            TestCase::new(name)
                .descr("a non-canonical pc set with SETREGS gives the tracee SIGSEGV and leaves the kernel untainted (CVE-2014-4699)")
                .timeout(15)
                .body(move |tc| noncanonical(tc, at)),
        );
    }
    out
}

/// A tracee that stops with SIGSTOP, then checks kill's return and calls getppid.
fn stopping_tracee(w: &Waiter) -> Child {
    let me = nix::unistd::getpid().as_raw() as i64;
    tracee(w, libc::SIGSTOP, move || {
        child_require_eq!(raw_sigstop(), 0);
        // SAFETY: getppid has no arguments.
        child_require_eq!(unsafe { libc::syscall(libc::SYS_getppid) }, me);
        EXIT_CODE
    })
}

fn resume_keeps_pc(tc: &Tc, req: Resume, addr: usize) {
    let w = harness::waiter(tc);
    let child = stopping_tracee(&w);
    let pid = child.pid();
    sys::setoptions(pid, Options::EXITKILL | Options::TRACESYSGOOD)
        .unwrap_or_else(|e| ptrace_atf::fail!("{}", e.to_string()));
    let before = regs::get(pid);
    let request = match req {
        Resume::Cont => libc::PTRACE_CONT,
        Resume::Syscall => libc::PTRACE_SYSCALL,
        Resume::Detach => libc::PTRACE_DETACH,
    };
    // SAFETY: these requests take addr as an (ignored) integer and data as a signal number.
    let r = unsafe { sys::raw(request, pid, addr as *mut c_void, std::ptr::null_mut()) };
    require_eq!(r, Ok(0), "the resume request with addr {addr}");
    if req == Resume::Syscall {
        child.expect_syscall_stop(&w);
        let at = regs::get(pid);
        require_eq!(at.orig_rax, libc::SYS_getppid as u64, "the next syscall");
        let ranges = exec_ranges(pid);
        require!(
            at.rip != 0 && ranges.iter().any(|&(a, b)| a <= at.rip && at.rip < b),
            "rip {:#x} at the next syscall (was {:#x}) is not in executable memory",
            at.rip,
            before.rip
        );
        return child.cont_to_exit(&w, EXIT_CODE);
    }
    child.expect_exited(&w, EXIT_CODE);
    w.expect_no_children();
}

fn pc0(tc: &Tc) {
    let w = harness::waiter(tc);
    let child = stopping_tracee(&w);
    let pid = child.pid();
    let mut r = regs::get(pid);
    r.rip = 0;
    regs::set(pid, r);
    sys::cont(pid, 0).unwrap_or_else(|e| ptrace_atf::fail!("{}", e.to_string()));
    child.expect_stopped(&w, libc::SIGSEGV);
    let info = sys::getsiginfo(pid).unwrap_or_else(|e| ptrace_atf::fail!("{}", e.to_string()));
    require_eq!(info.si_code, SEGV_MAPERR, "si_code");
    // SAFETY: a SIGSEGV siginfo carries si_addr.
    require_eq!(unsafe { info.si_addr() } as usize, 0, "si_addr");
    require_eq!(regs::get(pid).rip, 0, "rip at the fault");
    kill(&w, &child);
}

fn noncanonical(tc: &Tc, at: StopAt) {
    let w = harness::waiter(tc);
    let taint = regs::kernel_taint();
    let child = stopping_tracee(&w);
    let pid = child.pid();
    sys::setoptions(pid, Options::EXITKILL | Options::TRACESYSGOOD)
        .unwrap_or_else(|e| ptrace_atf::fail!("{}", e.to_string()));
    if at != StopAt::Signal {
        sys::syscall(pid, 0).unwrap_or_else(|e| ptrace_atf::fail!("{}", e.to_string()));
        child.expect_syscall_stop(&w);
        if at == StopAt::SyscallExit {
            sys::syscall(pid, 0).unwrap_or_else(|e| ptrace_atf::fail!("{}", e.to_string()));
            child.expect_syscall_stop(&w);
        }
    }
    let mut r = regs::get(pid);
    // The lowest non-canonical address of this kernel's paging mode (1 << 47 with 4-level
    // paging; with 5-level paging that is an ordinary user address, and it is 1 << 56).
    let noncanonical = probe::lowest_noncanonical();
    r.rip = noncanonical;
    regs::set(pid, r);
    require_eq!(regs::get(pid).rip, noncanonical, "rip read back");
    sys::cont(pid, 0).unwrap_or_else(|e| ptrace_atf::fail!("{}", e.to_string()));
    child.expect_stopped(&w, libc::SIGSEGV);
    kill(&w, &child);
    require_eq!(
        regs::kernel_taint(),
        taint,
        "/proc/sys/kernel/tainted before vs after"
    );
}
