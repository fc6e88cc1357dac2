//! A function whose machine code is known byte for byte, for transfers aimed at text:
//! `movabs rax, IMM; ret`, so a write over the immediate changes what it returns.

use std::arch::global_asm;

global_asm!(
    ".text",
    ".p2align 4",
    ".globl ptrace_atf_bt_text_target",
    ".type ptrace_atf_bt_text_target, @function",
    "ptrace_atf_bt_text_target:",
    "movabs rax, 0x1122334455667788",
    "ret",
    ".size ptrace_atf_bt_text_target, . - ptrace_atf_bt_text_target",
);

unsafe extern "C" {
    fn ptrace_atf_bt_text_target() -> u64;
}

/// The value the unmodified function returns.
pub const ORIGINAL: u64 = 0x1122_3344_5566_7788;

/// Offset of the 8-byte immediate in the function's code (after the 0x48 0xb8 opcode).
pub const IMM_OFFSET: usize = 2;

/// The function's address (the same in the tracer and in a forked tracee).
pub fn address() -> usize {
    ptrace_atf_bt_text_target as *const () as usize
}

/// Calls the function: ORIGINAL unless its immediate was rewritten in this process.
pub fn call() -> u64 {
    // SAFETY: a leaf function following the C ABI that only sets rax.
    unsafe { ptrace_atf_bt_text_target() }
}

/// The first `len` code bytes of the function, as this process sees them.
pub fn own_bytes(len: usize) -> Vec<u8> {
    // SAFETY: the function's code is readable text of at least 11 bytes, and the read
    // may run past it into other readable text of the same segment.
    unsafe { std::slice::from_raw_parts(address() as *const u8, len).to_vec() }
}

/// What the function returns after its immediate's first `n` bytes become `new`'s.
pub fn patched(new: u64, n: usize) -> u64 {
    let mut imm = ORIGINAL.to_le_bytes();
    imm[..n].copy_from_slice(&new.to_le_bytes()[..n]);
    u64::from_le_bytes(imm)
}
