//! `x86_{fpregs,xstate}_fpu_*`: the x87 stack (st0-7) and control word through
//! GETFPREGS/SETFPREGS and NT_X86_XSTATE; `x86_xstate_zmm_*`: AVX-512 zmm0-31 through
//! NT_X86_XSTATE; `x86_64_regs1`: GETREGS at a SIGSTOP stop shows the tracee's registers.

use std::arch::global_asm;
use std::mem::offset_of;

use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::netbsd::SameName;
use ptrace_atf::trace::regs;
use ptrace_atf::{child_require, harness, require_eq};

use crate::common::{EXIT_CODE, tracee};

global_asm!(
    ".text",
    ".p2align 4",
    ".globl ptrace_atf_fpu_probe",
    "ptrace_atf_fpu_probe:",
    "fnstcw word ptr [rdi + 276]",
    "fninit",
    "fldcw word ptr [rdi + 128]",
    // Pushed last to first, so that st(i) holds input[i] at the trap.
    "fld tbyte ptr [rdi + 112]",
    "fld tbyte ptr [rdi + 96]",
    "fld tbyte ptr [rdi + 80]",
    "fld tbyte ptr [rdi + 64]",
    "fld tbyte ptr [rdi + 48]",
    "fld tbyte ptr [rdi + 32]",
    "fld tbyte ptr [rdi + 16]",
    "fld tbyte ptr [rdi + 0]",
    "int3",
    ".globl ptrace_atf_fpu_probe_trap",
    "ptrace_atf_fpu_probe_trap:",
    "fnstcw word ptr [rdi + 272]",
    "fnstsw word ptr [rdi + 274]",
    "fstp tbyte ptr [rdi + 144]",
    "fstp tbyte ptr [rdi + 160]",
    "fstp tbyte ptr [rdi + 176]",
    "fstp tbyte ptr [rdi + 192]",
    "fstp tbyte ptr [rdi + 208]",
    "fstp tbyte ptr [rdi + 224]",
    "fstp tbyte ptr [rdi + 240]",
    "fstp tbyte ptr [rdi + 256]",
    "fldcw word ptr [rdi + 276]",
    "ret",
    ".p2align 4",
    ".globl ptrace_atf_zmm_probe",
    "ptrace_atf_zmm_probe:",
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "vmovdqu64 zmm\\n, zmmword ptr [rdi + 64*\\n]",
    ".endr",
    "int3",
    ".globl ptrace_atf_zmm_probe_trap",
    "ptrace_atf_zmm_probe_trap:",
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "vmovdqu64 zmmword ptr [rdi + 2048 + 64*\\n], zmm\\n",
    ".endr",
    "vzeroupper",
    "ret",
    ".p2align 4",
    ".globl ptrace_atf_regs1_stop",
    "ptrace_atf_regs1_stop:",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "mov r12, [rsi]",
    "mov r13, [rsi + 8]",
    "mov r14, [rsi + 16]",
    "mov r15, [rsi + 24]",
    "mov esi, 19",
    "mov eax, 62",
    "syscall",
    ".globl ptrace_atf_regs1_stop_pc",
    "ptrace_atf_regs1_stop_pc:",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "ret",
);

unsafe extern "C" {
    fn ptrace_atf_fpu_probe(block: *mut FpuBlock);
    fn ptrace_atf_fpu_probe_trap();
    fn ptrace_atf_zmm_probe(block: *mut ZmmBlock);
    fn ptrace_atf_zmm_probe_trap();
    fn ptrace_atf_regs1_stop(pid: i32, values: *const [u64; 4]) -> i64;
    fn ptrace_atf_regs1_stop_pc();
}

/// In/out block of the x87 probe (offsets used by the assembly above).
#[repr(C)]
struct FpuBlock {
    /// st0..st7 (80 bits each in 16-byte slots), loaded before the trap.
    input: [[u8; 16]; 8],
    /// Control word loaded before the trap.
    cw_in: u16,
    _pad: [u16; 7],
    /// st0..st7 stored (popped) after the trap.
    output: [[u8; 16]; 8],
    /// Control and status words stored after the trap.
    cw_out: u16,
    sw_out: u16,
    /// The caller's control word, restored before returning.
    cw_saved: u16,
}

const _: () = assert!(offset_of!(FpuBlock, cw_in) == 128);
const _: () = assert!(offset_of!(FpuBlock, output) == 144);
const _: () = assert!(offset_of!(FpuBlock, cw_out) == 272);
const _: () = assert!(offset_of!(FpuBlock, cw_saved) == 276);

/// In/out block of the AVX-512 probe: zmm0..zmm31 in, then out.
#[repr(C, align(64))]
struct ZmmBlock {
    input: [[u8; 64]; 32],
    output: [[u8; 64]; 32],
}

/// Control words: every exception masked (and reserved bit 6 set, as FNINIT leaves it);
/// precision 64 bits; rounding toward zero before the trap, down after a write.
const CW_OLD: u16 = 0x0f7f;
const CW_NEW: u16 = 0x077f;

/// st(i) as 10 bytes (in a 16-byte slot): a normal 80-bit value (integer bit set).
fn st_value(i: usize, new: bool) -> [u8; 16] {
    let salt = if new { 29 } else { 3 };
    let mant = 0x0123_4567_89ab_cdefu64.rotate_left((8 * i + salt) as u32) | 1 << 63;
    let exp = (0x3fff - 20 + 5 * i as u16 + salt as u16) | if i % 2 == 1 { 0x8000 } else { 0 };
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&mant.to_le_bytes());
    b[8..10].copy_from_slice(&exp.to_le_bytes());
    b
}

fn zmm_value(i: usize, new: bool) -> [u8; 64] {
    let salt: u8 = if new { 0x3c } else { 0xc5 };
    std::array::from_fn(|j| ((i * 64 + j) as u8).wrapping_mul(11) ^ salt)
}

/// The four values the regs1 tracee holds in r12..r15 at its stop.
const REGS1: [u64; 4] = [
    0x1212_3434_5656_7878,
    0x8765_4321_0fed_cba9,
    0xfeed_face_cafe_beef,
    0x0102_0304_0506_0708,
];

const USER_CS: u64 = 0x33;
const USER_SS: u64 = 0x2b;

/// The x87 cases: (name, through NT_X86_XSTATE rather than GETFPREGS, write rather than
/// read).
const FPU: &[(&str, bool, bool)] = &[
    ("x86_fpregs_fpu_read", false, false),
    ("x86_fpregs_fpu_write", false, true),
    ("x86_xstate_fpu_read", true, false),
    ("x86_xstate_fpu_write", true, true),
];

/// The AVX-512 cases: (name, write rather than read).
const ZMM: &[(&str, bool)] = &[
    ("x86_xstate_zmm_read", false),
    ("x86_xstate_zmm_write", true),
];

pub fn cases() -> Vec<TestCase> {
    let mut out = Vec::new();
    for &(name, xstate, write) in FPU {
        let req = if xstate {
            "GETREGSET/SETREGSET NT_X86_XSTATE (FXSAVE region)"
        } else {
            "GETFPREGS/SETFPREGS"
        };
        let descr = if write {
            format!(
                "st0-7 and the x87 control word set with {req} at an int3 stop are what the tracee stores"
            )
        } else {
            format!(
                "st0-7 and the control word the tracee loaded are what {req} reads at its int3 stop, with TOP 0 and all 8 tags valid"
            )
        };
        out.push(
            TestCase::new(name)
                .descr(&descr)
                .timeout(15)
                .netbsd_same_name()
                .body(move |tc| fpu(tc, xstate, write)),
        );
    }
    for &(name, write) in ZMM {
        let descr = if write {
            "zmm0-31 set with SETREGSET NT_X86_XSTATE at an int3 stop are what the tracee stores"
        } else {
            "zmm0-31 the tracee loaded are what GETREGSET NT_X86_XSTATE reads at its int3 stop"
        };
        out.push(
            TestCase::new(name)
                .descr(descr)
                .timeout(15)
                .netbsd_same_name()
                .body(move |tc| zmm(tc, write)),
        );
    }
    out.push(
        TestCase::new("x86_64_regs1")
            .descr("GETREGS at the SIGSTOP stop after the tracee's kill(2) shows the r12-r15 values it loaded, rip right after its syscall instruction and cs/ss 0x33/0x2b")
            .timeout(15)
            .netbsd_same_name()
            .body(regs1),
    );
    out
}

fn fpu(tc: &Tc, xstate: bool, write: bool) {
    let w = harness::waiter(tc);
    let child = tracee(&w, libc::SIGTRAP, move || {
        let mut b = FpuBlock {
            input: std::array::from_fn(|i| st_value(i, false)),
            cw_in: CW_OLD,
            _pad: [0; 7],
            output: [[0; 16]; 8],
            cw_out: 0,
            sw_out: 0,
            cw_saved: 0,
        };
        // SAFETY: the probe touches only the block and the x87 state, which it leaves
        // empty with the caller's control word.
        unsafe { ptrace_atf_fpu_probe(&mut b) };
        for i in 0..8 {
            let (got, want) = (&b.output[i][..10], &st_value(i, write)[..10]);
            child_require!(
                got == want,
                "st{} after the stop is {:02x?}, want {:02x?}",
                i,
                got,
                want
            );
        }
        let want_cw = if write { CW_NEW } else { CW_OLD };
        child_require!(
            b.cw_out == want_cw,
            "control word after the stop is {:#06x}, want {:#06x}",
            b.cw_out,
            want_cw
        );
        EXIT_CODE
    });
    let pid = child.pid();
    require_eq!(
        regs::get(pid).rip,
        ptrace_atf_fpu_probe_trap as *const () as u64,
        "rip at the int3 stop"
    );
    let mut area = if xstate {
        regs::get_xstate(pid)
    } else {
        regs::fp_bytes(&regs::get_fp(pid))
    };
    if write {
        for i in 0..8 {
            let o = regs::FXSAVE_ST + 16 * i;
            area[o..o + 10].copy_from_slice(&st_value(i, true)[..10]);
        }
        area[FXSAVE_FCW..FXSAVE_FCW + 2].copy_from_slice(&CW_NEW.to_le_bytes());
        if xstate {
            // XSTATE_BV bit 0: the x87 state is present, not in its init configuration.
            let bv = regs::le64(&area, regs::XSAVE_HEADER);
            regs::put_le64(&mut area, regs::XSAVE_HEADER, bv | 1);
            regs::set_xstate(pid, &area);
        } else {
            regs::set_fp(pid, &regs::fp_from_bytes(&area));
        }
    } else {
        for i in 0..8 {
            let o = regs::FXSAVE_ST + 16 * i;
            require_eq!(
                area[o..o + 10],
                st_value(i, false)[..10],
                "st{} (mantissa, sign/exponent; little-endian)",
                i
            );
        }
        let word = |o: usize| u16::from_le_bytes([area[o], area[o + 1]]);
        require_eq!(word(FXSAVE_FCW), CW_OLD, "control word");
        require_eq!(
            (word(FXSAVE_FSW) >> 11) & 7,
            0,
            "status word TOP after 8 pushes"
        );
        require_eq!(word(FXSAVE_FSW) & 0x3f, 0, "status word exception flags");
        require_eq!(
            area[FXSAVE_FTW],
            0xff,
            "abridged tag word (8 valid registers)"
        );
    }
    child.cont_to_exit(&w, EXIT_CODE);
}

/// Offsets of the control word, status word and abridged tag in the FXSAVE area.
const FXSAVE_FCW: usize = 0;
const FXSAVE_FSW: usize = 2;
const FXSAVE_FTW: usize = 4;

/// Where zmm `i`'s 16-byte pieces live in the standard-format XSAVE area: (offset in the
/// area, offset in the register) for each piece.
fn zmm_pieces(i: usize) -> Vec<(usize, usize)> {
    if i >= 16 {
        // Hi16_ZMM (component 7): zmm16..31 whole, 64 bytes each.
        let base = regs::xstate_offset(7) + 64 * (i - 16);
        return (0..4).map(|k| (base + 16 * k, 16 * k)).collect();
    }
    let hi256 = regs::xstate_offset(6) + 32 * i;
    vec![
        (regs::FXSAVE_XMM + 16 * i, 0),
        (regs::xstate_offset(2) + 16 * i, 16),
        (hi256, 32),
        (hi256 + 16, 48),
    ]
}

fn zmm(tc: &Tc, write: bool) {
    if !regs::has_avx512f() {
        tc.skip("AVX-512F is not supported by the CPU (or not enabled by the kernel)");
    }
    let w = harness::waiter(tc);
    let child = tracee(&w, libc::SIGTRAP, move || {
        let mut b = ZmmBlock {
            input: std::array::from_fn(|i| zmm_value(i, false)),
            output: [[0; 64]; 32],
        };
        // SAFETY: the probe touches only the block and caller-saved vector registers.
        unsafe { ptrace_atf_zmm_probe(&mut b) };
        for i in 0..32 {
            child_require!(
                b.output[i] == zmm_value(i, write),
                "zmm{} after the stop is {:02x?}, want {:02x?}",
                i,
                &b.output[i][..16],
                &zmm_value(i, write)[..16]
            );
        }
        EXIT_CODE
    });
    let pid = child.pid();
    require_eq!(
        regs::get(pid).rip,
        ptrace_atf_zmm_probe_trap as *const () as u64,
        "rip at the int3 stop"
    );
    let mut area = regs::get_xstate(pid);
    for i in 0..32 {
        let (old, new) = (zmm_value(i, false), zmm_value(i, true));
        for (ao, ro) in zmm_pieces(i) {
            if write {
                area[ao..ao + 16].copy_from_slice(&new[ro..ro + 16]);
            } else {
                require_eq!(
                    area[ao..ao + 16],
                    old[ro..ro + 16],
                    "zmm{} bytes {}..",
                    i,
                    ro
                );
            }
        }
    }
    if write {
        // SSE, YMM_Hi128, ZMM_Hi256 and Hi16_ZMM present, so the kernel loads them.
        let bv = regs::le64(&area, regs::XSAVE_HEADER);
        regs::put_le64(&mut area, regs::XSAVE_HEADER, bv | 0b1100_0110);
        regs::set_xstate(pid, &area);
    }
    child.cont_to_exit(&w, EXIT_CODE);
}

fn regs1(tc: &Tc) {
    let w = harness::waiter(tc);
    let child = tracee(&w, libc::SIGSTOP, || {
        // SAFETY: the routine saves and restores r12-r15 and makes one kill(2) syscall.
        let r = unsafe { ptrace_atf_regs1_stop(libc::getpid(), &REGS1) };
        child_require!(r == 0, "kill(2) returned {}", r);
        EXIT_CODE
    });
    let r = regs::get(child.pid());
    require_eq!(r.rip, ptrace_atf_regs1_stop_pc as *const () as u64, "rip");
    for (i, (got, name)) in [
        (r.r12, "r12"),
        (r.r13, "r13"),
        (r.r14, "r14"),
        (r.r15, "r15"),
    ]
    .into_iter()
    .enumerate()
    {
        require_eq!(got, REGS1[i], "{}", name);
    }
    require_eq!(r.cs, USER_CS, "cs");
    require_eq!(r.ss, USER_SS, "ss");
    child.cont_to_exit(&w, EXIT_CODE);
}
