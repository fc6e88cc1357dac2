//! Real vfork(2) and clone(2) children.
//!
//! A vfork child borrows the parent's memory and stack, so no Rust code may run in it: the
//! vfork helpers issue the syscall with inline assembly and the child path immediately
//! exits (or execs, then exits with 127 if execve fails) without touching memory.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;

use nix::errno::Errno;
use nix::unistd::Pid;

/// Exit code of a `vfork_exec` child whose execve failed.
pub const EXEC_FAILED_CODE: i32 = 127;

/// vfork(2); the child immediately calls exit_group(`code`). Returns the child's pid.
#[cfg(target_arch = "x86_64")]
pub fn vfork_exit(code: i32) -> nix::Result<Pid> {
    let ret: isize;
    // SAFETY: the child path only issues exit_group from registers and never returns;
    // the parent path sees vfork's result in rax; syscall clobbers rcx and r11.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            "2:",
            exit = const libc::SYS_exit_group,
            inlateout("rax") libc::SYS_vfork as isize => ret,
            in("rdi") code as isize,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    Errno::result(ret as i64).map(|pid| Pid::from_raw(pid as i32))
}

/// vfork(2); the child calls execve(`path`, `argv`, `envp`), then exit_group(127) if that
/// fails. Returns the child's pid.
#[cfg(target_arch = "x86_64")]
pub fn vfork_exec(path: &CStr, argv: &[&CStr], envp: &[&CStr]) -> nix::Result<Pid> {
    // Built in the parent, before vfork: the child only reads these.
    let argv: Vec<*const c_char> = argv
        .iter()
        .map(|s| s.as_ptr())
        .chain(Some(ptr::null()))
        .collect();
    let envp: Vec<*const c_char> = envp
        .iter()
        .map(|s| s.as_ptr())
        .chain(Some(ptr::null()))
        .collect();
    let ret: isize;
    // SAFETY: as in vfork_exit; rdi/rsi/rdx survive the vfork syscall and hold execve's
    // arguments, which stay alive until the parent resumes (after the child execs or exits).
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov eax, {execve}",
            "syscall",
            "mov edi, {failed}",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            "2:",
            execve = const libc::SYS_execve,
            failed = const EXEC_FAILED_CODE,
            exit = const libc::SYS_exit_group,
            inlateout("rax") libc::SYS_vfork as isize => ret,
            in("rdi") path.as_ptr(),
            in("rsi") argv.as_ptr(),
            in("rdx") envp.as_ptr(),
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    Errno::result(ret as i64).map(|pid| Pid::from_raw(pid as i32))
}

/// Stack size of `clone_child` children.
const CLONE_STACK: usize = 256 * 1024;

/// clone(2) via glibc with a fresh stack: the child runs `f(arg)` and exits with its result.
///
/// `flags` is the whole clone flags word, including the exit signal (e.g. `SIGCHLD`).
/// With CLONE_VM the child shares the parent's memory: `f` must be async-signal-safe.
/// The stack is freed on return unless the child may still run on it (CLONE_VM without
/// CLONE_VFORK), in which case it is leaked.
///
/// # Safety
/// `f(arg)` must be sound to run in the child under `flags`: with CLONE_VM it shares the
/// parent's memory (only async-signal-safe work; `arg` must stay valid while it runs).
pub unsafe fn clone_child(
    f: extern "C" fn(*mut c_void) -> c_int,
    arg: *mut c_void,
    flags: c_int,
) -> nix::Result<Pid> {
    let stack = map_stack(CLONE_STACK)?;
    // SAFETY: the stack top is inside the mapping and 16-byte aligned.
    let top = unsafe { stack.cast::<u8>().add(CLONE_STACK) }.cast::<c_void>();
    // SAFETY: the child runs f on its own stack; the caller vouches for f under `flags`.
    let pid = unsafe { libc::clone(f, top, flags, arg) };
    let result = Errno::result(pid).map(Pid::from_raw);
    release_stack(stack, CLONE_STACK, flags as u64, result.is_err());
    result
}

/// An anonymous private read-write mapping of `size` bytes (MAP_STACK) for a clone child's
/// stack; returns its lowest address.
pub(crate) fn map_stack(size: usize) -> nix::Result<*mut c_void> {
    // SAFETY: anonymous private mapping for the child's stack.
    let stack = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(Errno::last());
    }
    Ok(stack)
}

/// Unmaps a `map_stack` stack of `size` bytes after clone with clone flags `flags`, unless
/// the child may still run on it (the clone succeeded, `failed` is false, with CLONE_VM
/// but without CLONE_VFORK), in which case it is leaked.
pub(crate) fn release_stack(stack: *mut c_void, size: usize, flags: u64, failed: bool) {
    let vm = libc::CLONE_VM as u64;
    let vfork = libc::CLONE_VFORK as u64;
    let shared = flags & vm != 0 && flags & vfork == 0;
    if failed || !shared {
        // SAFETY: no child runs on this mapping any more.
        unsafe { libc::munmap(stack, size) };
    }
}
