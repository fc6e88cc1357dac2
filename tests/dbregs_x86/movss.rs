//! CVE-2018-8897: a #DB from a watchpoint hit by MOV SS is held back one instruction; when
//! that instruction is INT3, SYSCALL or INT1 the kernel used to take the #DB on its own
//! entry path. Now the tracee gets plain signals, the kernel survives and does not taint.
//!
//! Under QEMU TCG these cases skip (CPUID signature "TCGTCGTCGTCG"): QEMU 7.2 TCG does not
//! hold the #DB back. Debian 6.1.192, `-cpu max`: INT1 gives SIGTRAPs [(TRAP_HWBKPT, B0),
//! (TRAP_HWBKPT, B0)] with the first one's RIP still on the INT1 (the ICEBP never ran), and
//! SYSCALL gives a TRAP_HWBKPT before the system call: the hit is delivered right after MOV SS,
//! which the architecture forbids (MOV SS inhibits debug exceptions for one instruction).

use std::sync::atomic::{AtomicU16, Ordering};

use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::dbregs::{self, Cond, Len};
use ptrace_atf::trace::{Status, expect, sys};
use ptrace_atf::{child_require_eq, require_eq};

use crate::common::{self, EXIT_CODE, cont, raise_stop, traced_child};

/// The SS selector, read by MOV SS from this watched location.
static SS_VALUE: AtomicU16 = AtomicU16::new(0);

/// The instruction right after MOV SS.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum After {
    Int3,
    Syscall,
    Int1,
}

fn current_ss() -> u16 {
    let ss: u16;
    // SAFETY: reading a segment register.
    unsafe { std::arch::asm!("mov {0:x}, ss", out(reg) ss) };
    ss
}

/// What the tracee reports for `after` before the control trap: the si_codes of its SIGTRAPs
/// (the watchpoint hit under MOV SS itself is taken in the kernel and not reported).
pub(crate) fn expected_traps(after: After) -> Vec<i32> {
    match after {
        After::Int3 => vec![expect::BRKPT_SI_CODE],
        After::Syscall => vec![],
        After::Int1 => vec![libc::TRAP_BRKPT],
    }
}

/// In the child: MOV SS from the watched word, then `after`.
fn mov_ss_then(after: After) {
    let p = SS_VALUE.as_ptr();
    // SAFETY: SS is reloaded with its own value; INT3/INT1 trap and return to the next
    // instruction; SYSCALL is getpid, clobbering rcx and r11 only.
    unsafe {
        match after {
            After::Int3 => std::arch::asm!("mov ss, word ptr [{p}]", "int3", p = in(reg) p),
            After::Int1 => {
                std::arch::asm!("mov ss, word ptr [{p}]", ".byte 0xf1", "nop", p = in(reg) p)
            }
            After::Syscall => {
                let mut rax = libc::SYS_getpid;
                std::arch::asm!(
                    "mov ss, word ptr [{p}]",
                    "syscall",
                    p = in(reg) p,
                    inout("rax") rax,
                    lateout("rcx") _,
                    lateout("r11") _,
                );
                child_require_eq!(rax as i32, libc::getpid());
            }
        }
    }
}

/// Some hypervisors report INT1 (ICEBP, 0xf1) like a fault, with RIP still on it, so the
/// tracee would take it forever; step RIP over it then (real CPUs report it as a trap).
pub(crate) fn skip_icebp_fault(pid: Pid) {
    let mut regs = ptrace_atf::require_ok!(sys::getregs(pid), "PTRACE_GETREGS");
    let word = ptrace_atf::require_ok!(
        sys::peekdata(pid, regs.rip as usize),
        "PTRACE_PEEKDATA at RIP"
    );
    if word & 0xff == 0xf1 {
        eprintln!("INT1 reported with RIP on the instruction: stepping over it");
        regs.rip += 1;
        ptrace_atf::require_ok!(sys::setregs(pid, regs), "PTRACE_SETREGS");
    }
}

pub(crate) fn tainted() -> String {
    std::fs::read_to_string("/proc/sys/kernel/tainted")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| ptrace_atf::fail!("reading /proc/sys/kernel/tainted: {e}"))
}

/// Most traps the tracee may take between its two stops before this counts as a storm.
pub(crate) const MAX_TRAPS: usize = 5;

fn mov_ss(tc: &Tc, after: After) {
    common::skip_under_emulator(
        tc,
        "a #DB held back by MOV SS until after the next instruction (QEMU TCG reports the \
         watchpoint hit at the instruction right after MOV SS, TRAP_HWBKPT, before it runs)",
    );
    let w = common::setup(tc);
    let taint_before = tainted();
    SS_VALUE.store(current_ss(), Ordering::SeqCst);
    let child = traced_child(&w, move || {
        mov_ss_then(after);
        // The control: a plain read of the watched word must still trap.
        // SAFETY: a volatile read of a static.
        unsafe { std::ptr::read_volatile(SS_VALUE.as_ptr()) };
        raise_stop();
        EXIT_CODE
    });
    let pid = child.pid();
    let addr = SS_VALUE.as_ptr() as u64;
    dbregs::arm(pid, 0, addr, Cond::ReadWrite, Len::Two);
    require_eq!(dbregs::read(pid, 0), addr, "DR0 after POKEUSER");
    let dr7 = dbregs::dr7_global(0, Cond::ReadWrite, Len::Two);
    require_eq!(dbregs::read(pid, 7), dr7, "DR7 after POKEUSER");
    cont(pid, 0);
    let mut traps = Vec::new();
    loop {
        let st = w.wait(pid, "a SIGTRAP or the tracee's SIGSTOP after MOV SS");
        match st {
            Status::Stopped(libc::SIGSTOP) => break,
            Status::Stopped(libc::SIGTRAP) if traps.len() < MAX_TRAPS => {
                let info = dbregs::trap_siginfo(pid);
                traps.push((info.si_code, dbregs::read(pid, 6) & 0x400f));
                if after == After::Int1 {
                    skip_icebp_fault(pid);
                }
                cont(pid, 0);
            }
            other => {
                if other.is_terminal() {
                    child.check(&w, ptrace_atf::trace::Want::Stopped(libc::SIGSTOP), other);
                }
                ptrace_atf::fail!("after MOV SS; {after:?}: {other} after traps {traps:x?}");
            }
        }
    }
    eprintln!("MOV SS; {after:?}: SIGTRAPs (si_code, DR6 Bn|BS): {traps:x?}");
    let control = traps.pop();
    require_eq!(
        control,
        Some((expect::HWBKPT_SI_CODE, dbregs::dr6_b(0))),
        "the last SIGTRAP must be the control read's watchpoint hit (TRAP_HWBKPT, B0)"
    );
    let codes: Vec<i32> = traps.iter().map(|t| t.0).collect();
    require_eq!(
        codes,
        expected_traps(after),
        "si_codes of the SIGTRAPs after MOV SS; {after:?}"
    );
    child.cont_to_exit(&w, EXIT_CODE);
    require_eq!(tainted(), taint_before, "/proc/sys/kernel/tainted");
}

pub fn cases() -> Vec<TestCase> {
    [
        (After::Int3, "dbregs_cve_2018_8897_mov_ss_int3", "INT3"),
        (
            After::Syscall,
            "dbregs_cve_2018_8897_mov_ss_syscall",
            "SYSCALL",
        ),
        (After::Int1, "dbregs_cve_2018_8897_mov_ss_int1", "INT1"),
    ]
    .into_iter()
    .map(|(after, name, insn)| {
        TestCase::new(name)
            .descr(&format!(
                "MOV SS from a DR0-watched word followed by {}: the tracee gets the SIGTRAPs \
                 that instruction gives, the watchpoint still fires on a later read, the tracee \
                 exits and the kernel does not taint (CVE-2018-8897)",
                insn
            ))
            .timeout(15)
            .body(move |tc| mov_ss(tc, after))
    })
    .collect()
}
