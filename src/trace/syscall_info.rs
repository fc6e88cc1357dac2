//! PTRACE_GET_SYSCALL_INFO (Linux 5.3) and PTRACE_SET_SYSCALL_INFO (Linux 6.16), typed.
//!
//! The kernel's `struct ptrace_syscall_info` (88 bytes on every 64-bit ABI):
//!
//! ```text
//!  0  u8  op            PTRACE_SYSCALL_INFO_{NONE,ENTRY,EXIT,SECCOMP}
//!  1  u8  reserved      must be 0 for SET (was pad[0] before 6.16)
//!  2  u16 flags         must be 0 for SET (was pad[1..3] before 6.16)
//!  4  u32 arch          AUDIT_ARCH_*
//!  8  u64 instruction_pointer
//! 16  u64 stack_pointer
//! 24  entry:   u64 nr, u64 args[6]                  (size 80)
//! 24  exit:    s64 rval, u8 is_error                (size 33)
//! 24  seccomp: u64 nr, u64 args[6], u32 ret_data    (size 84)
//! ```
//!
//! GET returns the number of bytes the kernel had for the current op (24 for NONE, 80 for
//! ENTRY, 33 for EXIT, 84 for SECCOMP) and copies at most the buffer's size.
//!
//! The op is not "what kind of stop is this" but what the kernel can tell from the stop's
//! siginfo: a syscall stop reports ENTRY or EXIT only when its si_code is SIGTRAP|0x80, that
//! is under PTRACE_O_TRACESYSGOOD; otherwise it is NONE.

use std::ffi::c_void;
use std::fmt;

use nix::errno::Errno;
use nix::unistd::Pid;

use super::sys;

/// PTRACE_SET_SYSCALL_INFO (0x4212).
pub const PTRACE_SET_SYSCALL_INFO: u32 = libc::PTRACE_SET_SYSCALL_INFO;
/// AUDIT_ARCH_X86_64: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// AUDIT_ARCH_I386: EM_386 | __AUDIT_ARCH_LE.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// The size of the whole struct (what SET requires at least).
pub const STRUCT_SIZE: usize = 88;
/// Offset of the op-specific union (the size GET returns for NONE).
pub const HEADER_SIZE: usize = 24;

/// The `op` field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    /// PTRACE_SYSCALL_INFO_NONE (0): not a syscall stop the kernel can describe.
    None,
    /// PTRACE_SYSCALL_INFO_ENTRY (1).
    Entry,
    /// PTRACE_SYSCALL_INFO_EXIT (2).
    Exit,
    /// PTRACE_SYSCALL_INFO_SECCOMP (3).
    Seccomp,
    /// Any other value.
    Unknown(u8),
}

impl Op {
    /// Every known op.
    pub const ALL: [Op; 4] = [Op::None, Op::Entry, Op::Exit, Op::Seccomp];

    /// The op for its raw number.
    pub fn from_raw(raw: u8) -> Op {
        match raw {
            0 => Op::None,
            1 => Op::Entry,
            2 => Op::Exit,
            3 => Op::Seccomp,
            n => Op::Unknown(n),
        }
    }

    /// The raw number.
    pub fn raw(self) -> u8 {
        match self {
            Op::None => 0,
            Op::Entry => 1,
            Op::Exit => 2,
            Op::Seccomp => 3,
            Op::Unknown(n) => n,
        }
    }

    /// The number of bytes PTRACE_GET_SYSCALL_INFO returns for this op.
    pub fn size(self) -> usize {
        match self {
            Op::Entry => HEADER_SIZE + 8 + 48,
            Op::Exit => HEADER_SIZE + 8 + 1,
            Op::Seccomp => HEADER_SIZE + 8 + 48 + 4,
            Op::None | Op::Unknown(_) => HEADER_SIZE,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::None => f.write_str("PTRACE_SYSCALL_INFO_NONE"),
            Op::Entry => f.write_str("PTRACE_SYSCALL_INFO_ENTRY"),
            Op::Exit => f.write_str("PTRACE_SYSCALL_INFO_EXIT"),
            Op::Seccomp => f.write_str("PTRACE_SYSCALL_INFO_SECCOMP"),
            Op::Unknown(n) => write!(f, "PTRACE_SYSCALL_INFO_{n}?"),
        }
    }
}

/// A decoded `struct ptrace_syscall_info`. Fields the op does not define are zero.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SyscallInfo {
    /// The op (raw; see [`SyscallInfo::op`]).
    pub op_raw: u8,
    /// The `reserved` byte (0 from the kernel).
    pub reserved: u8,
    /// The `flags` field (0 from the kernel).
    pub flags: u16,
    /// AUDIT_ARCH_* of the syscall ABI.
    pub arch: u32,
    /// The user instruction pointer.
    pub instruction_pointer: u64,
    /// The user stack pointer.
    pub stack_pointer: u64,
    /// ENTRY/SECCOMP: the syscall number.
    pub nr: u64,
    /// ENTRY/SECCOMP: the six arguments.
    pub args: [u64; 6],
    /// EXIT: the return value (negative errno when `is_error`).
    pub rval: i64,
    /// EXIT: whether `rval` is an error.
    pub is_error: u8,
    /// SECCOMP: SECCOMP_RET_DATA of the filter's return value.
    pub ret_data: u32,
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().unwrap())
}

impl SyscallInfo {
    /// The op.
    pub fn op(&self) -> Op {
        Op::from_raw(self.op_raw)
    }

    /// Decodes a buffer the kernel filled; fields outside the op's part are left 0.
    pub fn decode(buf: &[u8; STRUCT_SIZE]) -> SyscallInfo {
        let b = &buf[..];
        let mut i = SyscallInfo {
            op_raw: b[0],
            reserved: b[1],
            flags: u16::from_ne_bytes([b[2], b[3]]),
            arch: u32::from_ne_bytes(b[4..8].try_into().unwrap()),
            instruction_pointer: u64_at(b, 8),
            stack_pointer: u64_at(b, 16),
            ..SyscallInfo::default()
        };
        match i.op() {
            Op::Entry | Op::Seccomp => {
                i.nr = u64_at(b, 24);
                for (k, a) in i.args.iter_mut().enumerate() {
                    *a = u64_at(b, 32 + 8 * k);
                }
                if i.op() == Op::Seccomp {
                    i.ret_data = u32::from_ne_bytes(b[80..84].try_into().unwrap());
                }
            }
            Op::Exit => {
                i.rval = u64_at(b, 24) as i64;
                i.is_error = b[32];
            }
            Op::None | Op::Unknown(_) => {}
        }
        i
    }

    /// Encodes into the kernel layout (op-specific fields by `op`).
    pub fn encode(&self) -> [u8; STRUCT_SIZE] {
        let mut b = [0u8; STRUCT_SIZE];
        b[0] = self.op_raw;
        b[1] = self.reserved;
        b[2..4].copy_from_slice(&self.flags.to_ne_bytes());
        b[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        b[8..16].copy_from_slice(&self.instruction_pointer.to_ne_bytes());
        b[16..24].copy_from_slice(&self.stack_pointer.to_ne_bytes());
        match self.op() {
            Op::Entry | Op::Seccomp => {
                b[24..32].copy_from_slice(&self.nr.to_ne_bytes());
                for (k, a) in self.args.iter().enumerate() {
                    b[32 + 8 * k..40 + 8 * k].copy_from_slice(&a.to_ne_bytes());
                }
                if self.op() == Op::Seccomp {
                    b[80..84].copy_from_slice(&self.ret_data.to_ne_bytes());
                }
            }
            Op::Exit => {
                b[24..32].copy_from_slice(&self.rval.to_ne_bytes());
                b[32] = self.is_error;
            }
            Op::None | Op::Unknown(_) => {}
        }
        b
    }

    /// The syscall number, signed (-1 means "skip").
    pub fn nr_signed(&self) -> i64 {
        self.nr as i64
    }
}

impl fmt::Display for SyscallInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{op={} arch={:#x} ip={:#x} sp={:#x}",
            self.op(),
            self.arch,
            self.instruction_pointer,
            self.stack_pointer
        )?;
        match self.op() {
            Op::Entry | Op::Seccomp => {
                write!(f, " nr={} args=[", self.nr as i64)?;
                for (k, a) in self.args.iter().enumerate() {
                    write!(f, "{}{a:#x}", if k > 0 { ", " } else { "" })?;
                }
                f.write_str("]")?;
                if self.op() == Op::Seccomp {
                    write!(f, " ret_data={:#x}", self.ret_data)?;
                }
            }
            Op::Exit => write!(f, " rval={} is_error={}", self.rval, self.is_error)?,
            _ => {}
        }
        f.write_str("}")
    }
}

/// PTRACE_GET_SYSCALL_INFO with a full-size buffer: the decoded info and the size returned.
pub fn get(pid: Pid) -> nix::Result<(SyscallInfo, usize)> {
    let mut buf = [0u8; STRUCT_SIZE];
    let n = sys::get_syscall_info(pid, &mut buf)?;
    Ok((SyscallInfo::decode(&buf), n))
}

/// PTRACE_GET_SYSCALL_INFO telling the kernel the buffer has `size` bytes, into a buffer of
/// `size + slack` bytes pre-filled with `fill` (to see that nothing past `size` is written);
/// returns the whole buffer and the size the kernel returned.
pub fn get_raw(pid: Pid, size: usize, slack: usize, fill: u8) -> nix::Result<(Vec<u8>, usize)> {
    let mut buf = vec![fill; size + slack];
    // SAFETY: addr is `size`, at most the buffer's length; data the buffer.
    let n = unsafe {
        sys::raw(
            libc::PTRACE_GET_SYSCALL_INFO,
            pid,
            size as *mut c_void,
            buf.as_mut_ptr().cast(),
        )
    }?;
    Ok((buf, n as usize))
}

/// PTRACE_GET_SYSCALL_INFO that panics on error, naming the pid.
#[track_caller]
pub fn expect_get(pid: Pid) -> (SyscallInfo, usize) {
    match get(pid) {
        Ok(r) => r,
        Err(e) => panic!("pid {pid}: PTRACE_GET_SYSCALL_INFO failed with {e}"),
    }
}

/// PTRACE_SET_SYSCALL_INFO with `info` encoded, passing `size` as the user size.
pub fn set_sized(pid: Pid, info: &SyscallInfo, size: usize) -> nix::Result<()> {
    let mut buf = info.encode();
    // SAFETY: addr is the size the kernel may read, data the encoded struct (88 bytes; the
    // kernel reads at most sizeof(struct ptrace_syscall_info) = 88 whatever `size` says).
    unsafe {
        sys::raw(
            PTRACE_SET_SYSCALL_INFO,
            pid,
            size as *mut c_void,
            buf.as_mut_ptr().cast(),
        )
    }
    .map(drop)
}

/// PTRACE_SET_SYSCALL_INFO with the full struct.
pub fn set(pid: Pid, info: &SyscallInfo) -> nix::Result<()> {
    set_sized(pid, info, STRUCT_SIZE)
}

/// Whether this kernel has PTRACE_SET_SYSCALL_INFO, judged on a stopped tracee: an unknown
/// request fails with EIO, a known one with an invalid struct (op 0xff) with EINVAL.
pub fn have_set(pid: Pid) -> bool {
    let probe = SyscallInfo {
        op_raw: 0xff,
        ..SyscallInfo::default()
    };
    !matches!(set(pid, &probe), Err(Errno::EIO))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn sizes_match_the_kernel_layout() {
        assert_eq!(Op::None.size(), 24);
        assert_eq!(Op::Entry.size(), 80);
        assert_eq!(Op::Exit.size(), 33);
        assert_eq!(Op::Seccomp.size(), 84);
    }

    #[test]
    fn encode_decode_round_trip() {
        let i = SyscallInfo {
            op_raw: 3,
            arch: AUDIT_ARCH_X86_64,
            instruction_pointer: 0x1234,
            stack_pointer: 0x5678,
            nr: 39,
            args: [1, 2, 3, 4, 5, u64::MAX],
            ret_data: 0xbeef,
            ..SyscallInfo::default()
        };
        assert_eq!(SyscallInfo::decode(&i.encode()), i);
        let e = SyscallInfo {
            op_raw: 2,
            rval: -38,
            is_error: 1,
            ..SyscallInfo::default()
        };
        assert_eq!(SyscallInfo::decode(&e.encode()), e);
    }
}
