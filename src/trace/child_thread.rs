//! Threads of a forked child (a tracee): plain pthread_create(3) with a C-ABI body, never
//! `std::thread`.
//!
//! A tracer program is multi-threaded (the ATF watchdog starts a thread beside every body),
//! and fork(2) copies only the forking thread: a lock another thread held at that moment
//! stays held in the child forever. glibc resets its own locks in the child (malloc, the
//! thread-stack cache, the loader), but Rust's are not: every `std::thread` start and exit
//! takes a process-wide mutex (the stack-overflow handler's thread-info map), so a child
//! whose fork caught the watchdog thread starting blocks its own new thread in futex_wait
//! before the thread runs a single line of the scenario. That is how
//! `exec_event_msg_former_tid` timed out once in a few hundred runs under QEMU (the thread
//! that was to exec sat in `futex_wait_queue`), and how a plain program that forks while
//! another thread starts threads hangs once in about a thousand forks on any kernel.

use std::ffi::c_void;

use crate::child_require;

/// A thread body for `spawn`: the C ABI pthreads calls.
pub type ThreadFn = extern "C" fn(*mut c_void) -> *mut c_void;

/// Stack size of every tracee thread: small, so that 100 threads start fast.
const STACK: usize = 128 * 1024;

/// Starts a thread running `f(arg)` (pthread_create with a small stack); in a forked child,
/// failing with `child_fail!` when the thread cannot be created.
pub fn spawn(f: ThreadFn, arg: usize) -> libc::pthread_t {
    // SAFETY: attr and t are locals initialised by the calls; f has the C ABI pthreads wants.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setstacksize(&mut attr, STACK);
        let mut t: libc::pthread_t = 0;
        let rc = libc::pthread_create(&mut t, &attr, f, arg as *mut c_void);
        libc::pthread_attr_destroy(&mut attr);
        child_require!(rc == 0, "pthread_create failed: error {}", rc);
        t
    }
}

/// pthread_join, requiring success.
pub fn join(t: libc::pthread_t) {
    // SAFETY: t came from spawn and is joined once.
    let rc = unsafe { libc::pthread_join(t, std::ptr::null_mut()) };
    child_require!(rc == 0, "pthread_join failed: error {}", rc);
}
