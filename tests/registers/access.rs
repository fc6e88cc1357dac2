//! `access_regs*`, `access_fpregs*` and the Linux general-register cases: GETREGS,
//! SETREGS, PEEKUSER/POKEUSER, orig_rax at syscall stops, fs_base and gs_base.

use std::mem::offset_of;
use std::sync::atomic::{AtomicU64, Ordering};

use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::mem::{self, Way};
use ptrace_atf::trace::{Options, regs, sys};
use ptrace_atf::{child_require_eq, harness, require, require_eq};

use crate::common::{EXIT_OK, exec_ranges, kill, raw_sigstop, tracee};

/// x86_64 user code and stack segment selectors (__USER_CS, __USER_DS).
const USER_CS: u64 = 0x33;
const USER_SS: u64 = 0x2b;

/// The address of a local of the tracee's frame that made the stopping syscall.
static FRAME_MARK: AtomicU64 = AtomicU64::new(0);
/// A value the tracee records before stopping (its fs_base).
static RECORDED: AtomicU64 = AtomicU64::new(0);

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
    Access { name: "access_regs3", netbsd: true, descr: "changing a fetched pc without SETREGS changes nothing: the tracee runs on", aux: Aux::SetPcWithoutSetregs },
    Access { name: "access_regs4", netbsd: true, descr: "the sp from GETREGS lies just below the stopping frame's locals", aux: Aux::Sp },
    Access { name: "access_regs5", netbsd: true, descr: "at the stop after kill(2) returns, rax holds its return value 0 and orig_rax its number", aux: Aux::ReturnValue },
    Access { name: "access_regs6", netbsd: true, descr: "SETREGS of the fetched registers changes nothing: GETREGS and the tracee agree", aux: Aux::SetregsUnchanged },
    Access { name: "access_regs_set_unaligned_pc_0x1", netbsd: true, descr: "SETREGS accepts a pc with bit 0 set (x86 has no alignment rule) and GETREGS reads it back", aux: Aux::UnalignedPc(0x1) },
    Access { name: "access_regs_set_unaligned_pc_0x3", netbsd: true, descr: "SETREGS accepts a pc with bits 0-1 set and GETREGS reads it back", aux: Aux::UnalignedPc(0x3) },
    Access { name: "access_regs_set_unaligned_pc_0x7", netbsd: true, descr: "SETREGS accepts a pc with bits 0-2 set and GETREGS reads it back", aux: Aux::UnalignedPc(0x7) },
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
                t = t.netbsd(a.name);
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
        let r = raw_sigstop();
        child_require_eq!(r, want_rax);
        EXIT_OK
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
            let mut copy = r;
            copy.rip = 0;
            std::hint::black_box(copy);
            let again = regs::get(pid);
            require_eq!(
                format!("{again:?}"),
                format!("{r:?}"),
                "registers after a GETREGS-only edit"
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
            // Bit 4 flipped too, so the new pc differs from the old one whatever its low bits.
            let new = ((r.rip & !0xf) ^ 0x10) | mask;
            let mut m = r;
            m.rip = new;
            regs::set(pid, m);
            require_eq!(regs::get(pid).rip, new, "rip read back");
            return kill(&w, &child);
        }
        Aux::SetregsRax => {
            let mut m = r;
            m.rax = NEW_RAX;
            regs::set(pid, m);
        }
        Aux::PokeuserRax => {
            if let Err(e) = regs::poke_user(pid, regs::USER_RAX, 0x77) {
                tc.fail(format!("POKEUSER rax failed: {e}"));
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
    child.cont_to_exit(&w, EXIT_OK);
}

fn syscall_orig_rax(tc: &Tc) {
    let w = harness::waiter(tc);
    let me = nix::unistd::getpid().as_raw() as i64;
    let child = tracee(&w, libc::SIGSTOP, move || {
        child_require_eq!(raw_sigstop(), 0);
        // SAFETY: getppid has no arguments.
        let ppid = unsafe { libc::syscall(libc::SYS_getppid) };
        child_require_eq!(ppid, me);
        EXIT_OK
    });
    let pid = child.pid();
    sys::setoptions(pid, Options::EXITKILL | Options::TRACESYSGOOD)
        .unwrap_or_else(|e| tc.fail(e.to_string()));
    sys::syscall(pid, 0).unwrap_or_else(|e| tc.fail(e.to_string()));
    child.expect_syscall_stop(&w);
    let entry = regs::get(pid);
    require_eq!(
        entry.orig_rax,
        libc::SYS_getppid as u64,
        "orig_rax at entry"
    );
    require_eq!(entry.rax as i64, -(libc::ENOSYS as i64), "rax at entry");
    sys::syscall(pid, 0).unwrap_or_else(|e| tc.fail(e.to_string()));
    child.expect_syscall_stop(&w);
    let exit = regs::get(pid);
    require_eq!(exit.orig_rax, libc::SYS_getppid as u64, "orig_rax at exit");
    require_eq!(exit.rax as i64, me, "rax at exit (getppid's result)");
    child.cont_to_exit(&w, EXIT_OK);
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
        EXIT_OK
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
    child.cont_to_exit(&w, EXIT_OK);
}
