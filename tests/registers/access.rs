//! `access_regs*`, `access_fpregs*` and the Linux general-register cases: GETREGS,
//! SETREGS, PEEKUSER/POKEUSER, orig_rax at syscall stops, fs_base and gs_base.

use ptrace_atf::netbsd::SameName;
use std::mem::offset_of;
use std::sync::atomic::{AtomicU64, Ordering};

use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::mem::{self, Way};
use ptrace_atf::trace::siginfo::expect_siginfo;
use ptrace_atf::trace::{Options, expect, regs, sys};
use ptrace_atf::{child_require, child_require_eq, harness, require, require_eq};

use crate::common::{EXIT_CODE, exec_ranges, raw_sigstop, tracee};

/// x86_64 user code and stack segment selectors (__USER_CS, __USER_DS).
const USER_CS: u64 = 0x33;
const USER_SS: u64 = 0x2b;

/// The address of a local of the tracee's frame that made the stopping syscall.
static FRAME_MARK: AtomicU64 = AtomicU64::new(0);
/// A value the tracee records before stopping (its fs_base).
static RECORDED: AtomicU64 = AtomicU64::new(0);
/// The address of the tracee's page of hlt instructions (the unaligned-pc cases).
static HLT_PAGE: AtomicU64 = AtomicU64::new(0);

/// hlt: in user mode a general-protection fault whatever the byte offset it is executed at
/// in a page filled with it, so an unaligned pc there faults at exactly that pc.
const HLT: u8 = 0xf4;
/// nop, the instruction right after the stopping syscall in `sigstop_then_nop`.
const NOP: u8 = 0x90;
/// si_code of the SIGSEGV of a general-protection fault in user mode (x86: SI_KERNEL, si_addr 0).
const GP_FAULT_SI_CODE: i32 = libc::SI_KERNEL;
/// Where in the hlt page the unaligned pcs point (the low bits are the case's).
const HLT_OFFSET: u64 = 0x400;

/// In the tracee: kill(getpid(), SIGSTOP) as a raw syscall followed by one nop, so that the
/// stop's pc is the address of that nop; returns the syscall's result.
fn sigstop_then_nop() -> i64 {
    let ret: i64;
    // SAFETY: a kill(2) system call on our own pid with SIGSTOP and a nop; the syscall
    // instruction clobbers rcx and r11, declared; no memory or stack is touched.
    unsafe {
        let pid = i64::from(libc::getpid());
        std::arch::asm!(
            "syscall",
            "nop",
            inlateout("rax") libc::SYS_kill => ret,
            in("rdi") pid,
            in("rsi") i64::from(libc::SIGSTOP),
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// In the tracee: maps a page of hlt instructions (read and execute) and records its address
/// in `HLT_PAGE`; 0 if that failed.
fn map_hlt_page() -> u64 {
    // SAFETY: a fresh private anonymous mapping, filled while writable, then made r-x.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return 0;
        }
        std::ptr::write_bytes(p.cast::<u8>(), HLT, 4096);
        if libc::mprotect(p, 4096, libc::PROT_READ | libc::PROT_EXEC) != 0 {
            return 0;
        }
        p as u64
    }
}

/// Reads a u64 the tracee stored in `cell` before stopping.
fn tracee_u64(pid: nix::unistd::Pid, cell: &AtomicU64) -> u64 {
    let bytes = mem::read_exact(pid, Way::PeekPokeData, cell.as_ptr() as usize, 8);
    u64::from_le_bytes(bytes.try_into().unwrap_or_default())
}

#[derive(Clone, Copy)]
enum Aux {
    Get,
    Pc,
    SetPcWithoutSetregs,
    Sp,
    ReturnValue,
    SetregsUnchanged,
    UnalignedPc(u64),
    SetregsRax,
    PokeuserRax,
    GetFp,
    SetFpUnchanged,
}

struct Access {
    name: &'static str,
    netbsd: bool,
    descr: &'static str,
    aux: Aux,
}

#[rustfmt::skip]
const ACCESS: &[Access] = &[
    Access { name: "access_regs1", netbsd: true, descr: "GETREGS at a SIGSTOP stop gives user cs/ss selectors and a pc in executable memory", aux: Aux::Get },
    Access { name: "access_regs2", netbsd: true, descr: "the pc from GETREGS follows the syscall instruction that stopped the tracee and equals PEEKUSER's", aux: Aux::Pc },
    Access { name: "access_regs3", netbsd: true, descr: "a pc changed in the fetched registers without SETREGS does not reach the tracee: GETREGS still gives the old pc, and a single step from the stop executes the nop at the old pc (SIGTRAP, TRAP_TRACE, pc one byte further); the tracee then exits 5", aux: Aux::SetPcWithoutSetregs },
    Access { name: "access_regs4", netbsd: true, descr: "the sp from GETREGS lies just below the stopping frame's locals", aux: Aux::Sp },
    Access { name: "access_regs5", netbsd: true, descr: "at the stop after kill(2) returns, rax holds its return value 0 and orig_rax its number", aux: Aux::ReturnValue },
    Access { name: "access_regs6", netbsd: true, descr: "SETREGS of the fetched registers changes nothing: GETREGS and the tracee agree", aux: Aux::SetregsUnchanged },
    Access { name: "access_regs_set_unaligned_pc_0x1", netbsd: true, descr: "SETREGS accepts a pc with bit 0 set (x86 has no alignment rule for code) into a page of hlt instructions and GETREGS reads it back; resumed, the tracee executes the hlt there: SIGSEGV (si_code SI_KERNEL) with the pc exactly at the new value; PTRACE_KILL then kills it", aux: Aux::UnalignedPc(0x1) },
    Access { name: "access_regs_set_unaligned_pc_0x3", netbsd: true, descr: "SETREGS accepts a pc with bits 0-1 set into a page of hlt instructions and GETREGS reads it back; resumed, the tracee faults there: SIGSEGV (si_code SI_KERNEL) with the pc exactly at the new value; PTRACE_KILL then kills it", aux: Aux::UnalignedPc(0x3) },
    Access { name: "access_regs_set_unaligned_pc_0x7", netbsd: true, descr: "SETREGS accepts a pc with bits 0-2 set into a page of hlt instructions and GETREGS reads it back; resumed, the tracee faults there: SIGSEGV (si_code SI_KERNEL) with the pc exactly at the new value; PTRACE_KILL then kills it", aux: Aux::UnalignedPc(0x7) },
    Access { name: "setregs_rax_reaches_tracee", netbsd: false, descr: "rax set with SETREGS at the stop after a syscall is the value that syscall returns", aux: Aux::SetregsRax },
    Access { name: "pokeuser_rax_reaches_tracee", netbsd: false, descr: "rax set with POKEUSER is read back by PEEKUSER and returned by the interrupted syscall", aux: Aux::PokeuserRax },
    Access { name: "access_fpregs1", netbsd: true, descr: "GETFPREGS of a fresh tracee gives the initial x87 control word 0x37f and MXCSR 0x1f80", aux: Aux::GetFp },
    Access { name: "access_fpregs2", netbsd: true, descr: "SETFPREGS of the fetched FP registers changes nothing", aux: Aux::SetFpUnchanged },
];

const NEW_RAX: u64 = 0x1234_5678_9abc;

pub fn cases() -> Vec<TestCase> {
    let mut out: Vec<TestCase> = ACCESS
        .iter()
        .map(|a| {
            let mut t = TestCase::new(a.name).descr(a.descr).timeout(15);
            if a.netbsd {
                t = t.netbsd_same_name();
            }
            t.body(move |tc| access(tc, a.aux))
        })
        .collect();
    out.push(
        TestCase::new("syscall_stop_orig_rax")
            .descr("at a syscall-entry stop orig_rax is the syscall number and rax -ENOSYS; at the exit stop rax is the result")
            .timeout(15)
            .body(syscall_orig_rax),
    );
    for (name, fs, write) in [
        ("fs_base_read", true, false),
        ("gs_base_read", false, false),
        ("fs_base_write", true, true),
        ("gs_base_write", false, true),
    ] {
        let descr = match (fs, write) {
            (true, false) => "GETREGS fs_base equals the tracee's own ARCH_GET_FS",
            (false, false) => "GETREGS gs_base equals what the tracee set with ARCH_SET_GS",
            (true, true) => "fs_base set with SETREGS is read back by GETREGS and PEEKUSER",
            (false, true) => {
                "gs_base set with SETREGS is what the tracee then gets from ARCH_GET_GS"
            }
        };
        out.push(
            TestCase::new(name)
                .descr(descr)
                .timeout(15)
                .body(move |tc| fs_gs(tc, fs, write)),
        );
    }
    out
}

fn access(tc: &Tc, aux: Aux) {
    let w = harness::waiter(tc);
    let want_rax = match aux {
        Aux::SetregsRax => NEW_RAX as i64,
        Aux::PokeuserRax => 0x77,
        _ => 0,
    };
    let child = tracee(&w, libc::SIGSTOP, move || {
        let local = 0u8;
        FRAME_MARK.store(&raw const local as u64, Ordering::SeqCst);
        let r = match aux {
            Aux::SetPcWithoutSetregs => sigstop_then_nop(),
            Aux::UnalignedPc(_) => {
                let page = map_hlt_page();
                child_require!(page != 0);
                HLT_PAGE.store(page, Ordering::SeqCst);
                raw_sigstop()
            }
            _ => raw_sigstop(),
        };
        child_require_eq!(r, want_rax);
        EXIT_CODE
    });
    let pid = child.pid();
    let r = regs::get(pid);
    match aux {
        Aux::Get => {
            require_eq!(r.cs, USER_CS, "cs");
            require_eq!(r.ss, USER_SS, "ss");
            let ranges = exec_ranges(pid);
            require!(
                ranges.iter().any(|&(a, b)| a <= r.rip && r.rip < b),
                "rip {:#x} is in no executable mapping of the tracee: {ranges:x?}",
                r.rip
            );
        }
        Aux::Pc => {
            let insn = mem::read_exact(pid, Way::ProcMem, r.rip as usize - 2, 2);
            require_eq!(
                insn,
                vec![0x0f, 0x05],
                "the 2 bytes before rip {:#x} (a syscall instruction)",
                r.rip
            );
            require_eq!(
                regs::peek_user(pid, regs::USER_RIP),
                r.rip,
                "PEEKUSER rip vs GETREGS rip"
            );
        }
        Aux::SetPcWithoutSetregs => {
            require_eq!(
                mem::read_exact(pid, Way::ProcMem, r.rip as usize, 1),
                vec![NOP],
                "the byte at the stop's pc {:#x} (the nop after the stopping syscall)",
                r.rip
            );
            let mut copy = r;
            copy.rip = 0;
            std::hint::black_box(copy);
            let again = regs::get(pid);
            require_eq!(
                format!("{again:?}"),
                format!("{r:?}"),
                "registers after a GETREGS-only edit"
            );
            if let Err(e) = sys::singlestep(pid, 0) {
                ptrace_atf::fail!("PTRACE_SINGLESTEP failed: {e}");
            }
            child.expect_stopped(&w, libc::SIGTRAP);
            expect_siginfo(pid, libc::SIGTRAP, expect::TRACE_SI_CODE);
            require_eq!(
                regs::get(pid).rip,
                r.rip + 1,
                "pc after one step from the stop (the old pc {:#x} plus the nop; the edited pc was 0)",
                r.rip
            );
        }
        Aux::Sp => {
            let mark = mem::read_exact(pid, Way::PeekPokeData, FRAME_MARK.as_ptr() as usize, 8);
            let mark = u64::from_le_bytes(mark.try_into().unwrap_or_default());
            require!(
                r.rsp < mark && mark - r.rsp < 64 * 1024,
                "rsp {:#x} is not just below the stopping frame's local at {mark:#x}",
                r.rsp
            );
        }
        Aux::ReturnValue => {
            require_eq!(r.rax, 0, "rax (kill's return value)");
            require_eq!(
                r.orig_rax,
                libc::SYS_kill as u64,
                "orig_rax (the syscall number)"
            );
        }
        Aux::SetregsUnchanged => {
            regs::set(pid, r);
            require_eq!(
                format!("{:?}", regs::get(pid)),
                format!("{r:?}"),
                "registers after SETREGS of themselves"
            );
        }
        Aux::UnalignedPc(mask) => {
            let page = tracee_u64(pid, &HLT_PAGE);
            let new = page + HLT_OFFSET + mask;
            let mut m = r;
            m.rip = new;
            regs::set(pid, m);
            require_eq!(regs::get(pid).rip, new, "rip read back");
            if let Err(e) = sys::cont(pid, 0) {
                ptrace_atf::fail!("PTRACE_CONT failed: {e}");
            }
            child.expect_stopped(&w, libc::SIGSEGV);
            let info = expect_siginfo(pid, libc::SIGSEGV, GP_FAULT_SI_CODE);
            require_eq!(
                regs::get(pid).rip,
                new,
                "pc at the fault (the hlt at the unaligned pc set)"
            );
            // SAFETY: reading the address member of a SIGSEGV siginfo.
            let addr = unsafe { info.si_addr() } as u64;
            require_eq!(addr, 0, "si_addr of the general-protection fault");
            if let Err(e) = sys::kill(pid) {
                ptrace_atf::fail!("PTRACE_KILL at the fault stop failed: {e}");
            }
            child.expect_signaled(&w, libc::SIGKILL, false);
            return w.expect_no_children();
        }
        Aux::SetregsRax => {
            let mut m = r;
            m.rax = NEW_RAX;
            regs::set(pid, m);
        }
        Aux::PokeuserRax => {
            if let Err(e) = regs::poke_user(pid, regs::USER_RAX, 0x77) {
                ptrace_atf::fail!("POKEUSER rax failed: {e}");
            }
            require_eq!(regs::peek_user(pid, regs::USER_RAX), 0x77, "PEEKUSER rax");
        }
        Aux::GetFp => {
            let fp = regs::get_fp(pid);
            require_eq!(fp.cwd, 0x37f, "x87 control word");
            require_eq!(fp.mxcsr & 0xffff, 0x1f80, "MXCSR");
        }
        Aux::SetFpUnchanged => {
            let fp = regs::get_fp(pid);
            regs::set_fp(pid, &fp);
            require_eq!(
                regs::fp_bytes(&regs::get_fp(pid)),
                regs::fp_bytes(&fp),
                "FP area after SETFPREGS of itself"
            );
        }
    }
    child.cont_to_exit(&w, EXIT_CODE);
}

fn syscall_orig_rax(tc: &Tc) {
    let w = harness::waiter(tc);
    let me = nix::unistd::getpid().as_raw() as i64;
    let child = tracee(&w, libc::SIGSTOP, move || {
        child_require_eq!(raw_sigstop(), 0);
        // SAFETY: getppid has no arguments.
        let ppid = unsafe { libc::syscall(libc::SYS_getppid) };
        child_require_eq!(ppid, me);
        EXIT_CODE
    });
    let pid = child.pid();
    sys::setoptions(pid, Options::EXITKILL | Options::TRACESYSGOOD)
        .unwrap_or_else(|e| ptrace_atf::fail!("{}", e.to_string()));
    sys::syscall(pid, 0).unwrap_or_else(|e| ptrace_atf::fail!("{}", e.to_string()));
    child.expect_syscall_stop(&w);
    let entry = regs::get(pid);
    require_eq!(
        entry.orig_rax,
        libc::SYS_getppid as u64,
        "orig_rax at entry"
    );
    require_eq!(entry.rax as i64, -(libc::ENOSYS as i64), "rax at entry");
    sys::syscall(pid, 0).unwrap_or_else(|e| ptrace_atf::fail!("{}", e.to_string()));
    child.expect_syscall_stop(&w);
    let exit = regs::get(pid);
    require_eq!(exit.orig_rax, libc::SYS_getppid as u64, "orig_rax at exit");
    require_eq!(exit.rax as i64, me, "rax at exit (getppid's result)");
    child.cont_to_exit(&w, EXIT_CODE);
}

/// arch_prctl codes (asm/prctl.h; not in libc for this target).
const ARCH_SET_GS: i32 = 0x1001;
const ARCH_GET_FS: i32 = 0x1003;
const ARCH_GET_GS: i32 = 0x1004;

const GS_SET_BY_TRACEE: u64 = 0x5a5a_0000;
const GS_SET_BY_TRACER: u64 = 0x7b7b_0000;

fn arch_prctl(code: i32, addr: u64) -> i64 {
    // SAFETY: ARCH_SET_GS takes a value, ARCH_GET_* a pointer to a u64 the caller owns.
    unsafe { libc::syscall(libc::SYS_arch_prctl, code, addr) }
}

fn fs_gs(tc: &Tc, fs: bool, write: bool) {
    let w = harness::waiter(tc);
    let child = tracee(&w, libc::SIGSTOP, move || {
        let mut v = 0u64;
        child_require_eq!(arch_prctl(ARCH_GET_FS, &raw mut v as u64), 0);
        RECORDED.store(v, Ordering::SeqCst);
        if !fs {
            child_require_eq!(arch_prctl(ARCH_SET_GS, GS_SET_BY_TRACEE), 0);
        }
        child_require_eq!(raw_sigstop(), 0);
        if !fs && write {
            let mut g = 0u64;
            child_require_eq!(arch_prctl(ARCH_GET_GS, &raw mut g as u64), 0);
            child_require_eq!(g, GS_SET_BY_TRACER);
        }
        EXIT_CODE
    });
    let pid = child.pid();
    let r = regs::get(pid);
    let fs_of_tracee = u64::from_le_bytes(
        mem::read_exact(pid, Way::PeekPokeData, RECORDED.as_ptr() as usize, 8)
            .try_into()
            .unwrap_or_default(),
    );
    let fs_off = regs::user_offset(offset_of!(libc::user_regs_struct, fs_base));
    match (fs, write) {
        (true, false) => require_eq!(
            r.fs_base,
            fs_of_tracee,
            "fs_base vs the tracee's ARCH_GET_FS"
        ),
        (false, false) => require_eq!(r.gs_base, GS_SET_BY_TRACEE, "gs_base"),
        (true, true) => {
            let mut m = r;
            m.fs_base = r.fs_base + 0x1000;
            regs::set(pid, m);
            require_eq!(
                regs::get(pid).fs_base,
                r.fs_base + 0x1000,
                "fs_base via GETREGS"
            );
            require_eq!(
                regs::peek_user(pid, fs_off),
                r.fs_base + 0x1000,
                "fs_base via PEEKUSER"
            );
            // Put the tracee's TLS back so that it can run on.
            regs::set(pid, r);
        }
        (false, true) => {
            let mut m = r;
            m.gs_base = GS_SET_BY_TRACER;
            regs::set(pid, m);
        }
    }
    child.cont_to_exit(&w, EXIT_CODE);
}
