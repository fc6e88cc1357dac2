//! Ways a tracee creates a child that the scenarios need beyond fork(2) and vfork(2):
//! posix_spawn(3), clone3(2) on a fresh stack, and a child-side waitpid.
//!
//! Everything here may run in a forked child (no locks held across fork are taken; the
//! posix_spawn wrapper allocates, which glibc allows after fork).

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;

use nix::errno::Errno;
use nix::unistd::Pid;

use super::status::Status;
use super::vfork::{map_stack, release_stack};

/// posix_spawn(3) of `path` with `argv` and an empty environment; returns the new pid.
///
/// glibc implements it with clone(CLONE_VM|CLONE_VFORK) (or clone3), so a tracer sees a
/// vfork event, then the child's exec.
pub fn posix_spawn(path: &CStr, argv: &[&CStr]) -> nix::Result<Pid> {
    let argv: Vec<*mut c_char> = argv
        .iter()
        .map(|s| s.as_ptr().cast_mut())
        .chain(Some(ptr::null_mut()))
        .collect();
    let envp: [*mut c_char; 1] = [ptr::null_mut()];
    let mut pid: libc::pid_t = 0;
    // SAFETY: path, argv and envp are NUL-terminated and outlive the call; no file
    // actions or attributes.
    let r = unsafe {
        libc::posix_spawn(
            &mut pid,
            path.as_ptr(),
            ptr::null(),
            ptr::null(),
            argv.as_ptr(),
            envp.as_ptr(),
        )
    };
    if r == 0 {
        Ok(Pid::from_raw(pid))
    } else {
        Err(Errno::from_raw(r))
    }
}

/// `struct clone_args` as of Linux 5.5 (CLONE_ARGS_SIZE_VER0 = 64 bytes is the first 8).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CloneArgs {
    /// CLONE_* flags (no exit signal in the low byte: clone3 rejects that).
    pub flags: u64,
    /// Where to store a pidfd (CLONE_PIDFD).
    pub pidfd: u64,
    /// Where to store the child tid in the child (CLONE_CHILD_SETTID).
    pub child_tid: u64,
    /// Where to store the child tid in the parent (CLONE_PARENT_SETTID).
    pub parent_tid: u64,
    /// Signal sent to the parent when the child exits (0: none).
    pub exit_signal: u64,
    /// Lowest address of the child's stack (0: share the caller's stack pointer).
    pub stack: u64,
    /// Size of the child's stack.
    pub stack_size: u64,
    /// TLS for CLONE_SETTLS.
    pub tls: u64,
}

/// Stack size of `clone3_child` children.
const CLONE3_STACK: usize = 256 * 1024;

/// Issues clone3 with `args`; the child runs `f(arg)` on the stack in `args` and exits with
/// its result. Returns the raw syscall result (pid or -errno).
#[cfg(target_arch = "x86_64")]
unsafe fn clone3_raw(
    args: &CloneArgs,
    f: extern "C" fn(*mut c_void) -> c_int,
    arg: *mut c_void,
) -> isize {
    let ret: isize;
    // SAFETY: the child path starts on its own stack (set by the kernel from args), calls
    // f(arg) with a 16-byte aligned stack and exits with its result, never returning into
    // compiled code; the parent path sees the syscall result in rax.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, r13",
            "call r12",
            "mov edi, eax",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            "2:",
            exit = const libc::SYS_exit,
            inlateout("rax") libc::SYS_clone3 as isize => ret,
            in("rdi") args as *const CloneArgs,
            in("rsi") size_of::<CloneArgs>(),
            in("r12") f as usize,
            in("r13") arg,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    ret
}

/// clone3(2) with `flags` and `exit_signal` on a fresh stack: the child runs `f(arg)` and
/// exits with its result. Returns the child's pid or the clone3 error.
///
/// The stack is freed on return unless the child may still run on it (CLONE_VM without
/// CLONE_VFORK), in which case it is leaked.
///
/// # Safety
/// `f(arg)` must be sound in the child under `flags`: with CLONE_VM it shares the caller's
/// memory and thread pointer (only async-signal-safe work; `arg` must stay valid).
pub unsafe fn clone3_child(
    flags: u64,
    exit_signal: i32,
    f: extern "C" fn(*mut c_void) -> c_int,
    arg: *mut c_void,
) -> nix::Result<Pid> {
    let stack = map_stack(CLONE3_STACK)?;
    let args = CloneArgs {
        flags,
        exit_signal: exit_signal as u64,
        stack: stack as u64,
        stack_size: CLONE3_STACK as u64,
        ..CloneArgs::default()
    };
    // SAFETY: forwarded to the caller's contract.
    let ret = unsafe { clone3_raw(&args, f, arg) };
    let result = if ret < 0 {
        Err(Errno::from_raw(-ret as i32))
    } else {
        Ok(Pid::from_raw(ret as i32))
    };
    release_stack(stack, CLONE3_STACK, flags, result.is_err());
    result
}

/// A clone child function that exits with `arg` as its code.
pub extern "C" fn exit_with_arg(arg: *mut c_void) -> c_int {
    arg as usize as c_int
}

/// In a forked child (or anywhere): waitpid(`pid`, `flags`) retried on EINTR, decoded.
/// Async-signal-safe: no allocation, no deadline timer.
pub fn child_waitpid(pid: Pid, flags: c_int) -> nix::Result<Status> {
    let mut raw: c_int = 0;
    loop {
        // SAFETY: raw is a valid status word.
        let r = unsafe { libc::waitpid(pid.as_raw(), &mut raw, flags) };
        match Errno::result(r) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(_) => return Ok(Status::from_raw(raw)),
        }
    }
}
