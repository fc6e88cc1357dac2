//! Register access: general-purpose registers (GETREGS/SETREGS, PEEKUSER), the legacy FP
//! area (GETFPREGS/SETFPREGS) and the XSAVE area (GETREGSET/SETREGSET NT_X86_XSTATE).
//! The typed helpers panic with the pid and the error; `sys` has the raw requests.

use std::mem::offset_of;

use nix::errno::Errno;
use nix::unistd::Pid;

use super::sys;

/// Note type of the x86 XSAVE register set (not in libc).
pub const NT_X86_XSTATE: u32 = 0x202;

/// Offset of the XSAVE header (xstate_bv at +0, xcomp_bv at +8) in the XSAVE area.
pub const XSAVE_HEADER: usize = 512;
/// Offset of the x87/MMX registers (8 slots of 16 bytes) in the FXSAVE/XSAVE area.
pub const FXSAVE_ST: usize = 32;
/// Offset of XMM0..XMM15 (16 bytes each) in the FXSAVE/XSAVE area.
pub const FXSAVE_XMM: usize = 160;
/// Offset of MXCSR in the FXSAVE/XSAVE area.
pub const FXSAVE_MXCSR: usize = 24;

/// The general-purpose registers of a stopped tracee.
#[track_caller]
pub fn get(pid: Pid) -> libc::user_regs_struct {
    sys::getregs(pid).unwrap_or_else(|e| panic!("pid {pid}: PTRACE_GETREGS failed: {e}"))
}

/// Sets the general-purpose registers of a stopped tracee.
#[track_caller]
pub fn set(pid: Pid, regs: libc::user_regs_struct) {
    sys::setregs(pid, regs).unwrap_or_else(|e| panic!("pid {pid}: PTRACE_SETREGS failed: {e}"))
}

/// The `struct user` offset of general register field `field_offset` (an
/// `offset_of!(libc::user_regs_struct, rip)`), for PEEKUSER/POKEUSER.
pub const fn user_offset(field_offset: usize) -> usize {
    offset_of!(libc::user, regs) + field_offset
}

/// Offset of rip in `struct user`.
pub const USER_RIP: usize = user_offset(offset_of!(libc::user_regs_struct, rip));
/// Offset of rax in `struct user`.
pub const USER_RAX: usize = user_offset(offset_of!(libc::user_regs_struct, rax));

/// The legacy FXSAVE area of a stopped tracee (PTRACE_GETFPREGS).
#[track_caller]
pub fn get_fp(pid: Pid) -> libc::user_fpregs_struct {
    sys::getfpregs(pid).unwrap_or_else(|e| panic!("pid {pid}: PTRACE_GETFPREGS failed: {e}"))
}

/// Sets the legacy FXSAVE area (PTRACE_SETFPREGS).
#[track_caller]
pub fn set_fp(pid: Pid, fp: &libc::user_fpregs_struct) {
    sys::setfpregs(pid, fp).unwrap_or_else(|e| panic!("pid {pid}: PTRACE_SETFPREGS failed: {e}"))
}

/// The FXSAVE area as bytes (512 of them).
pub fn fp_bytes(fp: &libc::user_fpregs_struct) -> Vec<u8> {
    let p = (fp as *const libc::user_fpregs_struct).cast::<u8>();
    // SAFETY: plain data of exactly this size.
    unsafe { std::slice::from_raw_parts(p, std::mem::size_of::<libc::user_fpregs_struct>()) }
        .to_vec()
}

/// Builds an FXSAVE area from 512 bytes.
pub fn fp_from_bytes(bytes: &[u8]) -> libc::user_fpregs_struct {
    assert_eq!(bytes.len(), std::mem::size_of::<libc::user_fpregs_struct>());
    // SAFETY: plain data of exactly this size; read_unaligned copes with any alignment.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) }
}

/// The size of the XSAVE area this CPU and kernel use (CPUID 0xD.0 EBX: enabled features).
pub fn xstate_size() -> usize {
    // CPUID leaf 0xD exists on every CPU with XSAVE (all x86_64 Linux runs on).
    let r = std::arch::x86_64::__cpuid_count(0xd, 0);
    r.ebx as usize
}

/// The offset of a state component (2 = YMM_Hi128, 5..7 = AVX-512) in the standard XSAVE
/// format (CPUID 0xD.n EBX).
pub fn xstate_offset(component: u32) -> usize {
    let r = std::arch::x86_64::__cpuid_count(0xd, component);
    r.ebx as usize
}

/// PTRACE_GETREGSET NT_X86_XSTATE: the XSAVE area, as long as the kernel wrote.
pub fn try_get_xstate(pid: Pid) -> nix::Result<Vec<u8>> {
    let mut buf = vec![0u8; xstate_size().max(4096)];
    let n = sys::getregset(pid, NT_X86_XSTATE, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// The XSAVE area of a stopped tracee, panicking on failure.
#[track_caller]
pub fn get_xstate(pid: Pid) -> Vec<u8> {
    try_get_xstate(pid)
        .unwrap_or_else(|e| panic!("pid {pid}: PTRACE_GETREGSET(NT_X86_XSTATE) failed: {e}"))
}

/// PTRACE_SETREGSET NT_X86_XSTATE.
pub fn try_set_xstate(pid: Pid, area: &[u8]) -> nix::Result<usize> {
    let mut buf = area.to_vec();
    sys::setregset(pid, NT_X86_XSTATE, &mut buf)
}

/// Sets the XSAVE area of a stopped tracee, panicking on failure.
#[track_caller]
pub fn set_xstate(pid: Pid, area: &[u8]) {
    if let Err(e) = try_set_xstate(pid, area) {
        panic!("pid {pid}: PTRACE_SETREGSET(NT_X86_XSTATE) failed: {e}");
    }
}

/// Reads a little-endian u64 at `off` of a register area.
pub fn le64(area: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&area[off..off + 8]);
    u64::from_le_bytes(b)
}

/// Writes a little-endian u64 at `off` of a register area.
pub fn put_le64(area: &mut [u8], off: usize, v: u64) {
    area[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// Whether the CPU and OS support AVX (YMM state saved by XSAVE).
pub fn has_avx() -> bool {
    std::arch::is_x86_feature_detected!("avx")
}

/// Whether the CPU and OS support AVX-512F.
pub fn has_avx512f() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// Whether the kernel lets user space use RDGSBASE and friends (AT_HWCAP2 bit 1).
pub fn has_fsgsbase() -> bool {
    // SAFETY: getauxval has no preconditions.
    unsafe { libc::getauxval(libc::AT_HWCAP2) & 2 != 0 }
}

/// /proc/sys/kernel/tainted, or None when unreadable.
pub fn kernel_taint() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/kernel/tainted")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// PEEKUSER of a general register (offset from `user_offset`), panicking on failure.
#[track_caller]
pub fn peek_user(pid: Pid, offset: usize) -> u64 {
    match sys::peekuser(pid, offset) {
        Ok(v) => v as u64,
        Err(e) => panic!("pid {pid}: PTRACE_PEEKUSER at {offset} failed: {e}"),
    }
}

/// POKEUSER of a general register, returning the raw result.
pub fn poke_user(pid: Pid, offset: usize, value: u64) -> Result<(), Errno> {
    sys::pokeuser(pid, offset, value as libc::c_long)
}
