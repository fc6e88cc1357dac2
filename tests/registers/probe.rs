//! Probe routines in assembly: load known values into registers, trap with int3 so the
//! tracer can read or write them, then store the registers back to memory for the tracee
//! to check. The register lists are written out in full; the block layouts below match
//! the offsets the assembly uses.

use std::arch::global_asm;

global_asm!(
    ".text",
    ".p2align 4",
    ".globl ptrace_atf_gp_probe",
    "ptrace_atf_gp_probe:",
    "push rbx",
    "push rbp",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "push rdi",
    "mov [rdi + 128], rsp",
    "mov rax, [rdi + 0]",
    "mov rbx, [rdi + 8]",
    "mov rcx, [rdi + 16]",
    "mov rdx, [rdi + 24]",
    "mov rsi, [rdi + 32]",
    "mov rbp, [rdi + 48]",
    "mov r8, [rdi + 64]",
    "mov r9, [rdi + 72]",
    "mov r10, [rdi + 80]",
    "mov r11, [rdi + 88]",
    "mov r12, [rdi + 96]",
    "mov r13, [rdi + 104]",
    "mov r14, [rdi + 112]",
    "mov r15, [rdi + 120]",
    "mov rdi, [rdi + 40]",
    "int3",
    ".globl ptrace_atf_gp_probe_trap",
    "ptrace_atf_gp_probe_trap:",
    "push rdi",
    "mov rdi, [rsp + 8]",
    "mov [rdi + 136], rax",
    "mov [rdi + 144], rbx",
    "mov [rdi + 152], rcx",
    "mov [rdi + 160], rdx",
    "mov [rdi + 168], rsi",
    "mov [rdi + 184], rbp",
    "mov [rdi + 200], r8",
    "mov [rdi + 208], r9",
    "mov [rdi + 216], r10",
    "mov [rdi + 224], r11",
    "mov [rdi + 232], r12",
    "mov [rdi + 240], r13",
    "mov [rdi + 248], r14",
    "mov [rdi + 256], r15",
    "lea rax, [rsp + 8]",
    "mov [rdi + 192], rax",
    "pop rax",
    "mov [rdi + 176], rax",
    "pop rdi",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbp",
    "pop rbx",
    "ret",
    ".p2align 4",
    ".globl ptrace_atf_vec_probe",
    "ptrace_atf_vec_probe:",
    "movq mm0, [rdi + 0]",
    "movq mm1, [rdi + 8]",
    "movq mm2, [rdi + 16]",
    "movq mm3, [rdi + 24]",
    "movq mm4, [rdi + 32]",
    "movq mm5, [rdi + 40]",
    "movq mm6, [rdi + 48]",
    "movq mm7, [rdi + 56]",
    "test esi, esi",
    "jz 21f",
    "vmovdqu xmm0, [rdi + 64]",
    "vinsertf128 ymm0, ymm0, xmmword ptr [rdi + 320], 1",
    "vmovdqu xmm1, [rdi + 80]",
    "vinsertf128 ymm1, ymm1, xmmword ptr [rdi + 336], 1",
    "vmovdqu xmm2, [rdi + 96]",
    "vinsertf128 ymm2, ymm2, xmmword ptr [rdi + 352], 1",
    "vmovdqu xmm3, [rdi + 112]",
    "vinsertf128 ymm3, ymm3, xmmword ptr [rdi + 368], 1",
    "vmovdqu xmm4, [rdi + 128]",
    "vinsertf128 ymm4, ymm4, xmmword ptr [rdi + 384], 1",
    "vmovdqu xmm5, [rdi + 144]",
    "vinsertf128 ymm5, ymm5, xmmword ptr [rdi + 400], 1",
    "vmovdqu xmm6, [rdi + 160]",
    "vinsertf128 ymm6, ymm6, xmmword ptr [rdi + 416], 1",
    "vmovdqu xmm7, [rdi + 176]",
    "vinsertf128 ymm7, ymm7, xmmword ptr [rdi + 432], 1",
    "vmovdqu xmm8, [rdi + 192]",
    "vinsertf128 ymm8, ymm8, xmmword ptr [rdi + 448], 1",
    "vmovdqu xmm9, [rdi + 208]",
    "vinsertf128 ymm9, ymm9, xmmword ptr [rdi + 464], 1",
    "vmovdqu xmm10, [rdi + 224]",
    "vinsertf128 ymm10, ymm10, xmmword ptr [rdi + 480], 1",
    "vmovdqu xmm11, [rdi + 240]",
    "vinsertf128 ymm11, ymm11, xmmword ptr [rdi + 496], 1",
    "vmovdqu xmm12, [rdi + 256]",
    "vinsertf128 ymm12, ymm12, xmmword ptr [rdi + 512], 1",
    "vmovdqu xmm13, [rdi + 272]",
    "vinsertf128 ymm13, ymm13, xmmword ptr [rdi + 528], 1",
    "vmovdqu xmm14, [rdi + 288]",
    "vinsertf128 ymm14, ymm14, xmmword ptr [rdi + 544], 1",
    "vmovdqu xmm15, [rdi + 304]",
    "vinsertf128 ymm15, ymm15, xmmword ptr [rdi + 560], 1",
    "jmp 22f",
    "21:",
    "movdqu xmm0, [rdi + 64]",
    "movdqu xmm1, [rdi + 80]",
    "movdqu xmm2, [rdi + 96]",
    "movdqu xmm3, [rdi + 112]",
    "movdqu xmm4, [rdi + 128]",
    "movdqu xmm5, [rdi + 144]",
    "movdqu xmm6, [rdi + 160]",
    "movdqu xmm7, [rdi + 176]",
    "movdqu xmm8, [rdi + 192]",
    "movdqu xmm9, [rdi + 208]",
    "movdqu xmm10, [rdi + 224]",
    "movdqu xmm11, [rdi + 240]",
    "movdqu xmm12, [rdi + 256]",
    "movdqu xmm13, [rdi + 272]",
    "movdqu xmm14, [rdi + 288]",
    "movdqu xmm15, [rdi + 304]",
    "22:",
    "int3",
    ".globl ptrace_atf_vec_probe_trap",
    "ptrace_atf_vec_probe_trap:",
    "movq [rdi + 576], mm0",
    "movq [rdi + 584], mm1",
    "movq [rdi + 592], mm2",
    "movq [rdi + 600], mm3",
    "movq [rdi + 608], mm4",
    "movq [rdi + 616], mm5",
    "movq [rdi + 624], mm6",
    "movq [rdi + 632], mm7",
    "test esi, esi",
    "jz 23f",
    "vmovdqu xmmword ptr [rdi + 640], xmm0",
    "vextractf128 xmmword ptr [rdi + 896], ymm0, 1",
    "vmovdqu xmmword ptr [rdi + 656], xmm1",
    "vextractf128 xmmword ptr [rdi + 912], ymm1, 1",
    "vmovdqu xmmword ptr [rdi + 672], xmm2",
    "vextractf128 xmmword ptr [rdi + 928], ymm2, 1",
    "vmovdqu xmmword ptr [rdi + 688], xmm3",
    "vextractf128 xmmword ptr [rdi + 944], ymm3, 1",
    "vmovdqu xmmword ptr [rdi + 704], xmm4",
    "vextractf128 xmmword ptr [rdi + 960], ymm4, 1",
    "vmovdqu xmmword ptr [rdi + 720], xmm5",
    "vextractf128 xmmword ptr [rdi + 976], ymm5, 1",
    "vmovdqu xmmword ptr [rdi + 736], xmm6",
    "vextractf128 xmmword ptr [rdi + 992], ymm6, 1",
    "vmovdqu xmmword ptr [rdi + 752], xmm7",
    "vextractf128 xmmword ptr [rdi + 1008], ymm7, 1",
    "vmovdqu xmmword ptr [rdi + 768], xmm8",
    "vextractf128 xmmword ptr [rdi + 1024], ymm8, 1",
    "vmovdqu xmmword ptr [rdi + 784], xmm9",
    "vextractf128 xmmword ptr [rdi + 1040], ymm9, 1",
    "vmovdqu xmmword ptr [rdi + 800], xmm10",
    "vextractf128 xmmword ptr [rdi + 1056], ymm10, 1",
    "vmovdqu xmmword ptr [rdi + 816], xmm11",
    "vextractf128 xmmword ptr [rdi + 1072], ymm11, 1",
    "vmovdqu xmmword ptr [rdi + 832], xmm12",
    "vextractf128 xmmword ptr [rdi + 1088], ymm12, 1",
    "vmovdqu xmmword ptr [rdi + 848], xmm13",
    "vextractf128 xmmword ptr [rdi + 1104], ymm13, 1",
    "vmovdqu xmmword ptr [rdi + 864], xmm14",
    "vextractf128 xmmword ptr [rdi + 1120], ymm14, 1",
    "vmovdqu xmmword ptr [rdi + 880], xmm15",
    "vextractf128 xmmword ptr [rdi + 1136], ymm15, 1",
    "vzeroupper",
    "jmp 24f",
    "23:",
    "movdqu [rdi + 640], xmm0",
    "movdqu [rdi + 656], xmm1",
    "movdqu [rdi + 672], xmm2",
    "movdqu [rdi + 688], xmm3",
    "movdqu [rdi + 704], xmm4",
    "movdqu [rdi + 720], xmm5",
    "movdqu [rdi + 736], xmm6",
    "movdqu [rdi + 752], xmm7",
    "movdqu [rdi + 768], xmm8",
    "movdqu [rdi + 784], xmm9",
    "movdqu [rdi + 800], xmm10",
    "movdqu [rdi + 816], xmm11",
    "movdqu [rdi + 832], xmm12",
    "movdqu [rdi + 848], xmm13",
    "movdqu [rdi + 864], xmm14",
    "movdqu [rdi + 880], xmm15",
    "24:",
    "emms",
    "ret",
);

unsafe extern "C" {
    fn ptrace_atf_gp_probe(block: *mut GpBlock);
    fn ptrace_atf_gp_probe_trap();
    fn ptrace_atf_vec_probe(block: *mut VecBlock, avx: u32);
    fn ptrace_atf_vec_probe_trap();
}

/// General registers in probe order; index 7 (rsp) is never loaded, only recorded.
pub const GP_NAMES: [&str; 16] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];

/// In/out block of the general-register probe.
#[repr(C)]
pub struct GpBlock {
    /// Values loaded before the trap (GP_NAMES order).
    pub input: [u64; 16],
    /// rsp at the trap.
    pub rsp: u64,
    /// Values stored after the trap (index 7: rsp after the trap).
    pub output: [u64; 16],
}

/// In/out block of the vector probe: MMX, XMM and the upper YMM halves.
#[repr(C)]
pub struct VecBlock {
    /// Loaded before the trap.
    pub input: VecRegs,
    /// Stored after the trap.
    pub output: VecRegs,
}

/// mm0-7, xmm0-15, and the upper 128 bits of ymm0-15.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct VecRegs {
    /// mm0..mm7.
    pub mm: [u64; 8],
    /// xmm0..xmm15.
    pub xmm: [[u8; 16]; 16],
    /// ymm0..ymm15 bits 128..255.
    pub ymm_hi: [[u8; 16]; 16],
}

impl VecRegs {
    /// All zero.
    pub const ZERO: VecRegs = VecRegs {
        mm: [0; 8],
        xmm: [[0; 16]; 16],
        ymm_hi: [[0; 16]; 16],
    };
}

/// Runs the general-register probe (in the tracee): stops with SIGTRAP at the int3.
pub fn gp_probe(block: &mut GpBlock) {
    // SAFETY: the routine saves and restores every callee-saved register and only touches
    // the block.
    unsafe { ptrace_atf_gp_probe(block) }
}

/// The address right after the general probe's int3 (the rip of its SIGTRAP stop).
pub fn gp_trap_pc() -> u64 {
    ptrace_atf_gp_probe_trap as *const () as u64
}

/// Runs the vector probe (in the tracee), with the upper YMM halves when `avx`.
pub fn vec_probe(block: &mut VecBlock, avx: bool) {
    // SAFETY: the routine only clobbers caller-saved vector state and ends with emms and
    // vzeroupper; it touches only the block.
    unsafe { ptrace_atf_vec_probe(block, avx as u32) }
}

/// The address right after the vector probe's int3.
pub fn vec_trap_pc() -> u64 {
    ptrace_atf_vec_probe_trap as *const () as u64
}
