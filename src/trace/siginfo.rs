//! Signal information for tracers: checked PTRACE_GETSIGINFO, queueing signals with a
//! value (rt_sigqueueinfo / rt_tgsigqueueinfo), and the raw forms of PTRACE_PEEKSIGINFO and
//! PTRACE_GET/SETSIGMASK that take deliberately bad arguments.

use std::ffi::{c_long, c_void};

use nix::errno::Errno;
use nix::unistd::Pid;

use super::status::sig_name;
use super::sys;

/// `si_signo=SIGX si_code=N si_errno=E` plus si_pid for a sent signal (si_code <= 0) or
/// si_addr for a fault (si_code > 0, where the union holds the address).
pub fn describe(info: &libc::siginfo_t) -> String {
    let head = format!(
        "si_signo={} si_code={} si_errno={}",
        sig_name(info.si_signo),
        info.si_code,
        info.si_errno
    );
    if info.si_code <= 0 {
        // SAFETY: a sent signal's siginfo carries si_pid.
        format!("{head} si_pid={}", unsafe { info.si_pid() })
    } else {
        // SAFETY: read as plain data; for faults it is the faulting address.
        format!("{head} si_addr={:#x}", unsafe { info.si_addr() } as usize)
    }
}

/// PTRACE_GETSIGINFO, asserting si_signo and si_code; returns the siginfo.
#[track_caller]
pub fn expect_siginfo(pid: Pid, signo: i32, code: i32) -> libc::siginfo_t {
    let info = match sys::getsiginfo(pid) {
        Ok(i) => i,
        Err(e) => panic!(
            "pid {pid}: PTRACE_GETSIGINFO failed with {e}, expected si_signo={} si_code={code}",
            sig_name(signo)
        ),
    };
    if info.si_signo != signo || info.si_code != code {
        panic!(
            "pid {pid}: expected si_signo={} si_code={code}, got {}",
            sig_name(signo),
            describe(&info)
        );
    }
    info
}

/// PTRACE_GETSIGINFO, asserting it fails with `errno` (e.g. EINVAL in a group-stop).
#[track_caller]
pub fn expect_getsiginfo_error(pid: Pid, errno: Errno) {
    match sys::getsiginfo(pid) {
        Err(e) if e == errno => {}
        Err(e) => panic!("pid {pid}: PTRACE_GETSIGINFO failed with {e}, expected {errno}"),
        Ok(info) => panic!(
            "pid {pid}: PTRACE_GETSIGINFO succeeded ({}), expected {errno}",
            describe(&info)
        ),
    }
}

fn queued_info(sig: i32, value: i32) -> libc::siginfo_t {
    // SAFETY: siginfo_t is plain data; zero is a valid starting point.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    info.si_signo = sig;
    info.si_code = libc::SI_QUEUE;
    // Layout of the _rt member on x86_64: si_pid, si_uid, then the sigval at offset 24.
    // SAFETY: writing plain integers inside the 128-byte siginfo.
    unsafe {
        let base = (&raw mut info).cast::<u8>();
        *base.add(16).cast::<i32>() = nix::unistd::getpid().as_raw();
        *base.add(20).cast::<u32>() = nix::unistd::getuid().as_raw();
        *base.add(24).cast::<i64>() = i64::from(value);
    }
    info
}

/// The sigval integer of a queued signal (si_int).
pub fn si_int(info: &libc::siginfo_t) -> i32 {
    // SAFETY: si_value reads the sigval of the _rt member as plain data.
    unsafe { info.si_value().sival_ptr as usize as i32 }
}

/// Queues `sig` with integer `value` (SI_QUEUE) to thread `tid` of process `tgid`.
pub fn queue_to_thread(tgid: Pid, tid: Pid, sig: i32, value: i32) -> nix::Result<()> {
    let mut info = queued_info(sig, value);
    // SAFETY: rt_tgsigqueueinfo reads a valid siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_tgsigqueueinfo,
            tgid.as_raw(),
            tid.as_raw(),
            sig,
            &raw mut info,
        )
    };
    Errno::result(r).map(drop)
}

/// Queues `sig` with integer `value` (SI_QUEUE) to process `pid` (shared queue).
pub fn queue_to_process(pid: Pid, sig: i32, value: i32) -> nix::Result<()> {
    let mut info = queued_info(sig, value);
    // SAFETY: rt_sigqueueinfo reads a valid siginfo.
    let r = unsafe { libc::syscall(libc::SYS_rt_sigqueueinfo, pid.as_raw(), sig, &raw mut info) };
    Errno::result(r).map(drop)
}

/// PTRACE_PEEKSIGINFO with explicit flags and a raw destination (for EINVAL/EFAULT paths).
///
/// # Safety
/// `buf` is handed to the kernel, which checks it; the caller must own any memory it names
/// that the kernel may write (`nr` siginfo_t at most).
pub unsafe fn peeksiginfo_raw(
    pid: Pid,
    offset: u64,
    flags: u32,
    nr: i32,
    buf: *mut libc::siginfo_t,
) -> nix::Result<c_long> {
    let mut args = libc::ptrace_peeksiginfo_args {
        off: offset,
        flags,
        nr,
    };
    // SAFETY: addr is the args struct; data is the caller's buffer.
    unsafe {
        sys::raw(
            libc::PTRACE_PEEKSIGINFO,
            pid,
            (&raw mut args).cast(),
            buf.cast(),
        )
    }
}

/// PTRACE_GETSIGMASK with an explicit size argument (the kernel wants 8).
pub fn getsigmask_sized(pid: Pid, size: usize) -> nix::Result<u64> {
    let mut mask: u64 = 0;
    // SAFETY: data is an 8-byte buffer; the kernel rejects other sizes before writing.
    unsafe {
        sys::raw(
            libc::PTRACE_GETSIGMASK,
            pid,
            size as *mut c_void,
            (&raw mut mask).cast(),
        )
    }?;
    Ok(mask)
}
