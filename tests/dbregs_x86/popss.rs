//! CVE-2018-8897, POP SS form: POP SS is invalid in 64-bit mode, so the tracee far-returns to
//! compat mode (__USER32_CS) into code below 4 GiB, pops SS from a DR0-watched stack slot,
//! runs INT3, SYSCALL or INT1 under the held-back #DB, then far-returns to 64-bit mode.
//!
//! Under QEMU TCG these cases skip (CPUID signature "TCGTCGTCGTCG"), before any tracee
//! exists, because there they oops the guest kernel. The oops is the emulator's, not the
//! kernel's. Debian 6.1.192 under QEMU 7.2 TCG, `-cpu max`, this case without the skip:
//!
//! ```text
//! BUG: unable to handle page fault for address: 00007fff3ecff568
//! #PF: supervisor read access in user mode
//! #PF: error_code(0x0001) - permissions violation
//! PTE 8000000004fdb867
//! RIP: 0033:0x55d0656cd911  Code: ... 6a 23 56 <48> cb 5d 5b ...
//! RSP: 002b:00007fff3ecff568 EFLAGS: 00000246  CR2: 00007fff3ecff568  CR4: 0000000000751eb0
//! ```
//!
//! - The faulting instruction is `retfq` (48 cb) in `run_compat`, at CPL 3 (CS 0x33), before
//!   any compat code ran: the fault address CR2 equals RSP, the stack slot the far return
//!   pops its RIP from.
//! - That page is an ordinary user stack page: PTE present, writable, user (0x867).
//! - The error code says the access was a supervisor read (U/S clear) of a present page, and
//!   SMAP is on (CR4 bit 21) with EFLAGS.AC clear: SMAP refused a supervisor read of a user
//!   page. But the stack reads of a far return at CPL 3 are ordinary data accesses at the
//!   current privilege level; on x86 only accesses to the descriptor tables and the TSS are
//!   implicit supervisor accesses, and those live in kernel pages. So a CPU cannot raise this
//!   fault from this instruction; the kernel, seeing a supervisor fault with a user-mode CS,
//!   can only oops.
//! - QEMU did raise it: before 9.1, TCG's far-return and IRET helpers read the stack with its
//!   kernel MMU index (`POPQ_RA` = `cpu_ldq_kernel_ra` in target/i386/tcg/seg_helper.c),
//!   fixed upstream by "target/i386/tcg: Allow IRET from user mode to user mode with SMAP"
//!   (July 2024: "manifested itself as a page fault in the guest Linux kernel due to SMAP").
//! - The same binary passes on this suite's AMD host under KVM, where the instructions run on
//!   the real CPU; issue 13 saw the same oops under TCG on 6.1, 6.12 and 6.12-rt alike.
//!
//! TCG also gets MOV SS wrong (the hit is reported right after MOV SS instead of being held
//! back one instruction; see movss.rs), so the family skips under any TCG, whatever its
//! version: CPUID does not say which QEMU it is.

use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::require_eq;
use ptrace_atf::trace::dbregs::{self, Cond, Len};
use ptrace_atf::trace::ops;
use ptrace_atf::trace::{Options, Status, Want, exit_kill_default, expect, sys};

use crate::common::{self, EXIT_CODE, cont, raise_stop, traced_child};
use crate::movss::{After, MAX_TRAPS, expected_traps, skip_icebp_fault, tainted};

/// __USER32_CS, __USER_CS and __USER_DS of x86_64 Linux.
const USER32_CS: u64 = 0x23;
const USER_CS: u64 = 0x33;
const USER_DS: u32 = 0x2b;
/// i386 __NR_getpid.
const COMPAT_GETPID: u64 = 20;

/// Data page layout: the saved 64-bit RSP, the top of the 32-bit stack used by the far
/// return, and the watched stack slot POP SS reads.
const SAVED_RSP: u64 = 0;
const STACK32_TOP: u64 = 0x800;
const SLOT: u64 = 0xf00;

/// Code page layout: where the instruction after POP SS ends (SYSCALL resumes there) and
/// where the 64-bit landing stub starts.
const AFTER_END: u64 = 13;
const STUB64: u64 = 26;

/// Two pages below 2 GiB (MAP_32BIT), mapped by the tracer before the fork so the tracee
/// has them at the same addresses: the compat-mode code (RX) and its data (RW).
struct Pages {
    code: u64,
    data: u64,
}

fn map32(prot: i32) -> u64 {
    // SAFETY: a fresh anonymous private mapping.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
            -1,
            0,
        )
    };
    ptrace_atf::require_ne!(
        p,
        libc::MAP_FAILED,
        "mmap(MAP_32BIT): {}",
        std::io::Error::last_os_error()
    );
    p as u64
}

/// The bytes at `code`: 32-bit code from offset 0, a 64-bit stub at STUB64.
fn code_bytes(after: After, code: u64, data: u64) -> Vec<u8> {
    let imm = |v: u64| ptrace_atf::require_ok!(u32::try_from(v), "below 4 GiB").to_le_bytes();
    let mut b = vec![0xb8, COMPAT_GETPID as u8, 0, 0, 0]; // mov eax, 20 (for SYSCALL)
    b.push(0xbc); // mov esp, data+SLOT (the watched slot)
    b.extend(imm(data + SLOT));
    b.push(0x17); // pop ss: reads the slot, holds the #DB back one instruction
    b.extend(match after {
        After::Int3 => [0xcc, 0x90],    // int3; nop
        After::Syscall => [0x0f, 0x05], // syscall (compat getpid)
        After::Int1 => [0xf1, 0x90],    // int1 (icebp); nop
    });
    ptrace_atf::require_eq!(b.len() as u64, AFTER_END);
    b.push(0xbc); // mov esp, data+STACK32_TOP (away from the watched slot)
    b.extend(imm(data + STACK32_TOP));
    b.extend([0x6a, USER_CS as u8]); // push __USER_CS
    b.push(0x68); // push code+STUB64
    b.extend(imm(code + STUB64));
    b.push(0xcb); // retf: to 64-bit mode at the stub
    ptrace_atf::require_eq!(b.len() as u64, STUB64);
    b.extend([0x48, 0x8b, 0x24, 0x25]); // mov rsp, [data+SAVED_RSP] (64-bit, absolute)
    b.extend(imm(data + SAVED_RSP));
    b.push(0xc3); // ret: to the caller's label
    b
}

impl Pages {
    fn new(after: After) -> Pages {
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        let (code, data) = (map32(rw), map32(rw));
        let bytes = code_bytes(after, code, data);
        // SAFETY: both pages are ours, writable and 4096 bytes long.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), code as *mut u8, bytes.len());
            std::ptr::write_volatile((data + SLOT) as *mut u32, USER_DS);
            let rx = libc::PROT_READ | libc::PROT_EXEC;
            ptrace_atf::require_eq!(libc::mprotect(code as *mut _, 4096, rx), 0, "mprotect RX");
        }
        Pages { code, data }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: unmapping our own pages; no reference into them remains.
        unsafe {
            libc::munmap(self.code as *mut _, 4096);
            libc::munmap(self.data as *mut _, 4096);
        }
    }
}

/// In the child: save RSP, far-return to compat mode at `code`, come back through the stub.
fn run_compat(pages: &Pages) {
    // SAFETY: the code saves RBX, RBP and RSP and restores them; every other general
    // register is declared clobbered (compat SYSCALL zeroes R8-R15 and upper halves).
    unsafe {
        std::arch::asm!(
            "push rbx",
            "push rbp",
            "lea rax, [rip + 2f]",
            "push rax",
            "mov [rdi], rsp",
            "push 0x23",
            "push rsi",
            ".byte 0x48, 0xcb", // retfq: to __USER32_CS:code
            "2:",
            "pop rbp",
            "pop rbx",
            inout("rdi") pages.data + SAVED_RSP => _,
            inout("rsi") pages.code => _,
            out("rax") _, out("rcx") _, out("rdx") _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            out("r12") _, out("r13") _, out("r14") _, out("r15") _,
        )
    }
}

/// What the tracee reports between its two SIGSTOPs.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Report {
    /// A SIGTRAP: si_code and CS.
    Trap(i32, u64),
    /// A syscall-entry stop: orig_rax and CS.
    Entry(u64, u64),
    /// A syscall-exit stop: rax.
    Exit(u64),
}

fn expected(after: After, pid: Pid) -> Vec<Report> {
    if after == After::Syscall {
        return vec![
            Report::Entry(COMPAT_GETPID, USER32_CS),
            Report::Exit(pid.as_raw() as u64),
        ];
    }
    let traps = expected_traps(after).into_iter();
    traps.map(|code| Report::Trap(code, USER32_CS)).collect()
}

/// Why this machine cannot run a compat-mode SYSCALL, if it cannot.
fn no_compat_syscall() -> Option<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let vendor = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("vendor_id"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    if vendor != "AuthenticAMD" && vendor != "HygonGenuine" {
        return Some(format!(
            "SYSCALL in compat mode is #UD on CPU vendor '{vendor}' (AMD and Hygon only)"
        ));
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let off = ["0", "n", "N", "off", "false"].map(|v| format!("ia32_emulation={v}"));
    cmdline
        .split_whitespace()
        .any(|w| off.iter().any(|o| o == w))
        .then(|| "ia32 emulation is disabled on the kernel command line".to_string())
}

fn pop_ss(tc: &Tc, after: After) {
    common::skip_under_emulator(
        tc,
        "a far return to compat mode and POP SS from a watched slot (QEMU TCG before 9.1 reads \
         a CPL 3 far return's stack as a supervisor access: with SMAP the guest kernel oopses; \
         and TCG does not hold back the #DB of MOV SS either, see movss.rs and popss.rs)",
    );
    let w = common::setup(tc);
    if after == After::Syscall
        && let Some(why) = no_compat_syscall()
    {
        tc.skip(why);
    }
    let taint_before = tainted();
    let pages = Pages::new(after);
    let slot = pages.data + SLOT;
    let child = traced_child(&w, || {
        run_compat(&pages);
        // The control: a plain read of the watched slot must still trap.
        // SAFETY: a volatile read of the mapped data page.
        unsafe { std::ptr::read_volatile(slot as *const u32) };
        raise_stop();
        EXIT_CODE
    });
    let pid = child.pid();
    dbregs::arm(pid, 0, slot, Cond::ReadWrite, Len::Four);
    require_eq!(dbregs::read(pid, 0), slot, "DR0 after POKEUSER");
    let dr7 = dbregs::dr7_global(0, Cond::ReadWrite, Len::Four);
    require_eq!(dbregs::read(pid, 7), dr7, "DR7 after POKEUSER");
    let mut in_syscall = false;
    let mut syscall_done = after != After::Syscall;
    if !syscall_done {
        ops::setoptions(pid, exit_kill_default() | Options::TRACESYSGOOD);
    }
    let resume = |pid, syscall_done: bool| {
        if syscall_done {
            cont(pid, 0)
        } else {
            ops::syscall(pid, 0)
        }
    };
    resume(pid, syscall_done);
    // Every report with DR6's Bn|BS bits at that stop.
    let mut reports: Vec<(Report, u64)> = Vec::new();
    loop {
        let st = w.wait(
            pid,
            "a SIGTRAP, a syscall stop or the tracee's SIGSTOP after POP SS",
        );
        let regs = sys::getregs(pid).ok();
        let dr6 = dbregs::read(pid, 6) & 0x400f;
        match st {
            Status::Stopped(libc::SIGSTOP) if !in_syscall => break,
            Status::Stopped(libc::SIGTRAP) if reports.len() < MAX_TRAPS => {
                let info = dbregs::trap_siginfo(pid);
                reports.push((Report::Trap(info.si_code, regs.map_or(0, |r| r.cs)), dr6));
                if after == After::Int1 {
                    skip_icebp_fault(pid);
                }
            }
            Status::SyscallStop if !in_syscall && reports.len() < MAX_TRAPS => {
                let r = ptrace_atf::require_ok!(regs, "PTRACE_GETREGS at syscall entry");
                reports.push((Report::Entry(r.orig_rax, r.cs), dr6));
                in_syscall = true;
            }
            Status::SyscallStop if in_syscall => {
                let mut r = ptrace_atf::require_ok!(regs, "PTRACE_GETREGS at syscall exit");
                reports.push((Report::Exit(r.rax), dr6));
                // Compat SYSCALL returns to the 32-bit vDSO's landing pad, which a 64-bit
                // process lacks: resume after the SYSCALL instruction instead.
                r.rip = pages.code + AFTER_END;
                ptrace_atf::require_ok!(sys::setregs(pid, r), "PTRACE_SETREGS at syscall exit");
                (in_syscall, syscall_done) = (false, true);
            }
            other => {
                if other.is_terminal() {
                    child.check(&w, Want::Stopped(libc::SIGSTOP), other);
                }
                let at = regs.map(|r| (r.cs, r.rip));
                ptrace_atf::fail!(
                    "after POP SS; {after:?}: {other} at (CS, RIP) {at:x?} after {reports:x?}"
                );
            }
        }
        resume(pid, syscall_done);
    }
    eprintln!("POP SS; {after:?}: reports (report, DR6 Bn|BS): {reports:x?}");
    let control = reports.pop();
    require_eq!(
        control,
        Some((
            Report::Trap(expect::HWBKPT_SI_CODE, USER_CS),
            dbregs::dr6_b(0)
        )),
        "the last report must be the control read's watchpoint hit in 64-bit mode \
         (TRAP_HWBKPT at __USER_CS, DR6 B0)"
    );
    let reports: Vec<Report> = reports.into_iter().map(|r| r.0).collect();
    require_eq!(
        reports,
        expected(after, pid),
        "stops of the tracee after POP SS; {after:?} in compat mode"
    );
    child.cont_to_exit(&w, EXIT_CODE);
    require_eq!(tainted(), taint_before, "/proc/sys/kernel/tainted");
}

pub fn cases() -> Vec<TestCase> {
    [
        (After::Int3, "dbregs_cve_2018_8897_pop_ss_int3", "INT3"),
        (
            After::Syscall,
            "dbregs_cve_2018_8897_pop_ss_syscall",
            "SYSCALL",
        ),
        (After::Int1, "dbregs_cve_2018_8897_pop_ss_int1", "INT1"),
    ]
    .into_iter()
    .map(|(after, name, insn)| {
        TestCase::new(name)
            .descr(&format!(
                "POP SS in compat mode from a DR0-watched stack slot followed by {}: the \
                 tracee reports exactly what that instruction gives, the watchpoint still \
                 fires on a later read, the tracee exits and the kernel does not taint \
                 (CVE-2018-8897)",
                insn
            ))
            .timeout(15)
            .body(move |tc| pop_ss(tc, after))
    })
    .collect()
}
