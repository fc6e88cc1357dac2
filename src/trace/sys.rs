//! Thin typed wrappers over ptrace(2): the one place that calls `libc::ptrace` directly.
//!
//! Signals are raw `i32` numbers (0 means "no signal") so that scenarios can inject real-time
//! or deliberately invalid signal numbers, which nix's `Signal` cannot express.

use std::ffi::{c_long, c_ulong, c_void};
use std::ptr;

use nix::errno::Errno;
use nix::unistd::Pid;

pub use super::event::{Options, PtraceEvent};

/// Issues any ptrace request and returns the raw result (escape hatch for invalid requests).
///
/// # Safety
/// `addr` and `data` must be valid for what `request` does with them.
pub unsafe fn raw(
    request: u32,
    pid: Pid,
    addr: *mut c_void,
    data: *mut c_void,
) -> nix::Result<c_long> {
    Errno::clear();
    // SAFETY: forwarded to the caller's contract.
    let ret = unsafe { libc::ptrace(request, pid.as_raw(), addr, data) };
    if ret == -1 && Errno::last_raw() != 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// A request whose arguments are plain integers.
fn plain(request: u32, pid: Pid, addr: usize, data: usize) -> nix::Result<c_long> {
    // SAFETY: integer arguments are never dereferenced by these requests.
    unsafe { raw(request, pid, addr as *mut c_void, data as *mut c_void) }
}

fn unit(r: nix::Result<c_long>) -> nix::Result<()> {
    r.map(drop)
}

/// PTRACE_TRACEME: make the calling process a tracee of its parent. Inline, because a
/// freshly forked child runs it: its code then sits in a page the child already faulted in.
#[inline(always)]
pub fn traceme() -> nix::Result<()> {
    // SAFETY: PTRACE_TRACEME takes no pointers.
    match unsafe { libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) } {
        -1 => Err(nix::errno::Errno::last()),
        _ => Ok(()),
    }
}

/// PTRACE_ATTACH: attach to `pid` and send it SIGSTOP.
pub fn attach(pid: Pid) -> nix::Result<()> {
    nix::sys::ptrace::attach(pid)
}

/// PTRACE_SEIZE: attach to `pid` without stopping it, setting `options`.
pub fn seize(pid: Pid, options: Options) -> nix::Result<()> {
    unit(plain(libc::PTRACE_SEIZE, pid, 0, options.0 as usize))
}

/// PTRACE_INTERRUPT: stop a seized tracee (reported as PTRACE_EVENT_STOP).
pub fn interrupt(pid: Pid) -> nix::Result<()> {
    nix::sys::ptrace::interrupt(pid)
}

/// PTRACE_LISTEN: let a seized tracee in group stop wait for SIGCONT while staying traced.
pub fn listen(pid: Pid) -> nix::Result<()> {
    unit(plain(libc::PTRACE_LISTEN, pid, 0, 0))
}

/// PTRACE_KILL: the deprecated kill request.
pub fn kill(pid: Pid) -> nix::Result<()> {
    nix::sys::ptrace::kill(pid)
}

/// PTRACE_CONT, delivering signal `sig` (0 for none).
pub fn cont(pid: Pid, sig: i32) -> nix::Result<()> {
    unit(plain(libc::PTRACE_CONT, pid, 0, sig as usize))
}

/// PTRACE_SYSCALL: continue to the next syscall entry or exit, delivering `sig`.
pub fn syscall(pid: Pid, sig: i32) -> nix::Result<()> {
    unit(plain(libc::PTRACE_SYSCALL, pid, 0, sig as usize))
}

/// PTRACE_SINGLESTEP: execute one instruction, delivering `sig`.
pub fn singlestep(pid: Pid, sig: i32) -> nix::Result<()> {
    unit(plain(libc::PTRACE_SINGLESTEP, pid, 0, sig as usize))
}

/// PTRACE_SYSEMU: continue to the next syscall entry, which will not be executed.
pub fn sysemu(pid: Pid, sig: i32) -> nix::Result<()> {
    unit(plain(libc::PTRACE_SYSEMU, pid, 0, sig as usize))
}

/// PTRACE_SYSEMU_SINGLESTEP: like sysemu, but also stop after one instruction.
pub fn sysemu_singlestep(pid: Pid, sig: i32) -> nix::Result<()> {
    unit(plain(libc::PTRACE_SYSEMU_SINGLESTEP, pid, 0, sig as usize))
}

/// PTRACE_DETACH, delivering `sig` on resumption.
pub fn detach(pid: Pid, sig: i32) -> nix::Result<()> {
    unit(plain(libc::PTRACE_DETACH, pid, 0, sig as usize))
}

/// PTRACE_SETOPTIONS.
pub fn setoptions(pid: Pid, options: Options) -> nix::Result<()> {
    unit(plain(libc::PTRACE_SETOPTIONS, pid, 0, options.0 as usize))
}

/// PTRACE_GETEVENTMSG: the message of the last ptrace event (new pid, exit status, ...).
pub fn geteventmsg(pid: Pid) -> nix::Result<c_ulong> {
    let mut msg: c_ulong = 0;
    // SAFETY: data points to a c_ulong the kernel fills.
    unsafe {
        raw(
            libc::PTRACE_GETEVENTMSG,
            pid,
            ptr::null_mut(),
            (&raw mut msg).cast(),
        )
    }?;
    Ok(msg)
}

/// PTRACE_GETSIGINFO: the siginfo of the signal that caused the current stop.
pub fn getsiginfo(pid: Pid) -> nix::Result<libc::siginfo_t> {
    nix::sys::ptrace::getsiginfo(pid)
}

/// PTRACE_SETSIGINFO: replace the siginfo of the signal that caused the current stop.
pub fn setsiginfo(pid: Pid, info: &libc::siginfo_t) -> nix::Result<()> {
    nix::sys::ptrace::setsiginfo(pid, info)
}

/// PTRACE_PEEKSIGINFO: copy pending signals from `offset` into `out`; returns how many.
pub fn peeksiginfo(
    pid: Pid,
    offset: u64,
    shared: bool,
    out: &mut [libc::siginfo_t],
) -> nix::Result<usize> {
    let mut args = libc::ptrace_peeksiginfo_args {
        off: offset,
        flags: if shared { 1 } else { 0 },
        nr: out.len() as i32,
    };
    // SAFETY: addr is the args struct, data an array of args.nr siginfo_t.
    let n = unsafe {
        raw(
            libc::PTRACE_PEEKSIGINFO,
            pid,
            (&raw mut args).cast(),
            out.as_mut_ptr().cast(),
        )
    }?;
    Ok(n as usize)
}

/// PTRACE_GETSIGMASK: the tracee's blocked-signal mask (bit n-1 for signal n).
pub fn getsigmask(pid: Pid) -> nix::Result<u64> {
    let mut mask: u64 = 0;
    // SAFETY: addr is the mask size, data an 8-byte buffer.
    unsafe {
        raw(
            libc::PTRACE_GETSIGMASK,
            pid,
            8 as *mut c_void,
            (&raw mut mask).cast(),
        )
    }?;
    Ok(mask)
}

/// PTRACE_SETSIGMASK: set the tracee's blocked-signal mask.
pub fn setsigmask(pid: Pid, mask: u64) -> nix::Result<()> {
    let mut mask = mask;
    // SAFETY: addr is the mask size, data an 8-byte buffer.
    unit(unsafe {
        raw(
            libc::PTRACE_SETSIGMASK,
            pid,
            8 as *mut c_void,
            (&raw mut mask).cast(),
        )
    })
}

/// PTRACE_GET_SYSCALL_INFO into `buf`; returns the size the kernel wanted to write.
pub fn get_syscall_info(pid: Pid, buf: &mut [u8]) -> nix::Result<usize> {
    // SAFETY: addr is buf's size, data buf itself.
    let n = unsafe {
        raw(
            libc::PTRACE_GET_SYSCALL_INFO,
            pid,
            buf.len() as *mut c_void,
            buf.as_mut_ptr().cast(),
        )
    }?;
    Ok(n as usize)
}

/// PTRACE_PEEKUSER: read the word at `offset` in the tracee's `struct user`.
pub fn peekuser(pid: Pid, offset: usize) -> nix::Result<c_long> {
    plain(libc::PTRACE_PEEKUSER, pid, offset, 0)
}

/// PTRACE_POKEUSER: write the word at `offset` in the tracee's `struct user`.
pub fn pokeuser(pid: Pid, offset: usize, data: c_long) -> nix::Result<()> {
    unit(plain(libc::PTRACE_POKEUSER, pid, offset, data as usize))
}

/// PTRACE_PEEKDATA: read one word of tracee memory.
pub fn peekdata(pid: Pid, addr: usize) -> nix::Result<c_long> {
    plain(libc::PTRACE_PEEKDATA, pid, addr, 0)
}

/// PTRACE_POKEDATA: write one word of tracee memory.
pub fn pokedata(pid: Pid, addr: usize, data: c_long) -> nix::Result<()> {
    unit(plain(libc::PTRACE_POKEDATA, pid, addr, data as usize))
}

/// PTRACE_GETREGS: the general-purpose registers.
pub fn getregs(pid: Pid) -> nix::Result<libc::user_regs_struct> {
    nix::sys::ptrace::getregs(pid)
}

/// PTRACE_SETREGS: set the general-purpose registers.
pub fn setregs(pid: Pid, regs: libc::user_regs_struct) -> nix::Result<()> {
    nix::sys::ptrace::setregs(pid, regs)
}

/// PTRACE_GETREGSET for note type `nt` into `buf`; returns the length the kernel wrote.
pub fn getregset(pid: Pid, nt: u32, buf: &mut [u8]) -> nix::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: data is an iovec describing buf.
    unsafe {
        raw(
            libc::PTRACE_GETREGSET,
            pid,
            nt as usize as *mut c_void,
            (&raw mut iov).cast(),
        )
    }?;
    Ok(iov.iov_len)
}

/// PTRACE_SETREGSET for note type `nt` from `buf`; returns the length the kernel consumed.
pub fn setregset(pid: Pid, nt: u32, buf: &mut [u8]) -> nix::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: data is an iovec describing buf.
    unsafe {
        raw(
            libc::PTRACE_SETREGSET,
            pid,
            nt as usize as *mut c_void,
            (&raw mut iov).cast(),
        )
    }?;
    Ok(iov.iov_len)
}

/// PTRACE_PEEKTEXT: read one word of tracee memory (the same access as PEEKDATA on Linux).
pub fn peektext(pid: Pid, addr: usize) -> nix::Result<c_long> {
    plain(libc::PTRACE_PEEKTEXT, pid, addr, 0)
}

/// PTRACE_POKETEXT: write one word of tracee memory, even into read-only text (FOLL_FORCE).
pub fn poketext(pid: Pid, addr: usize, data: c_long) -> nix::Result<()> {
    unit(plain(libc::PTRACE_POKETEXT, pid, addr, data as usize))
}

/// PTRACE_GETFPREGS: the legacy FXSAVE area (x86_64 `user_fpregs_struct`).
#[cfg(target_arch = "x86_64")]
pub fn getfpregs(pid: Pid) -> nix::Result<libc::user_fpregs_struct> {
    // SAFETY: plain data the kernel fills.
    let mut fp: libc::user_fpregs_struct = unsafe { std::mem::zeroed() };
    // SAFETY: data points to a user_fpregs_struct.
    unsafe {
        raw(
            libc::PTRACE_GETFPREGS,
            pid,
            ptr::null_mut(),
            (&raw mut fp).cast(),
        )
    }?;
    Ok(fp)
}

/// PTRACE_SETFPREGS: set the legacy FXSAVE area.
#[cfg(target_arch = "x86_64")]
pub fn setfpregs(pid: Pid, fp: &libc::user_fpregs_struct) -> nix::Result<()> {
    let mut fp = *fp;
    // SAFETY: data points to a user_fpregs_struct the kernel reads.
    unit(unsafe {
        raw(
            libc::PTRACE_SETFPREGS,
            pid,
            ptr::null_mut(),
            (&raw mut fp).cast(),
        )
    })
}
