//! Tracee-side helpers: run in a forked child (and its threads), so they are plain syscalls
//! and pthread calls with no std locks; failures go through `child_require!`.

use std::cell::UnsafeCell;
use std::fmt::Write as _;
use std::mem::MaybeUninit;

use ptrace_atf::child_require;
use ptrace_atf::trace::forkee::StackBuf;

pub use ptrace_atf::trace::child_thread::{ThreadFn, join, spawn};

/// arch_prctl code reading fs_base (asm/prctl.h).
const ARCH_GET_FS: libc::c_long = 0x1003;

/// The calling thread's id.
pub fn gettid() -> i32 {
    // SAFETY: no arguments.
    unsafe { libc::gettid() }
}

/// Sends `sig` to the calling thread with tgkill(2) (no glibc mask games, unlike raise).
pub fn tgkill_self(sig: i32) {
    // SAFETY: plain syscall with integer arguments.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid(),
            libc::gettid(),
            sig as libc::c_long,
        )
    };
    child_require!(rc == 0, "tgkill(self, {}) failed", sig);
}

/// The calling thread's fs_base (its TLS pointer), from arch_prctl(ARCH_GET_FS).
pub fn fs_base() -> u64 {
    let mut base: u64 = 0;
    // SAFETY: ARCH_GET_FS writes one u64 to the pointer.
    let rc = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_GET_FS, &mut base as *mut u64) };
    child_require!(rc == 0, "arch_prctl(ARCH_GET_FS) failed");
    base
}

/// The name a thread gives itself: `thread <tid>` (fits the 15-byte comm).
pub fn thread_name(tid: i32) -> String {
    format!("thread {tid}")
}

/// Names the calling thread `thread <tid>` with prctl(PR_SET_NAME).
pub fn name_self() {
    let mut buf = StackBuf::new();
    let _ = write!(buf, "thread {}\0", gettid());
    // SAFETY: buf holds a NUL-terminated name of at most 16 bytes.
    let rc = unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_bytes().as_ptr()) };
    child_require!(rc == 0, "prctl(PR_SET_NAME) failed");
}

/// Sets the calling thread's signal mask to exactly `{sig}`.
pub fn block_only(sig: i32) {
    // SAFETY: set is a local sigset_t initialised by sigemptyset.
    let rc = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut())
    };
    child_require!(rc == 0, "pthread_sigmask failed: error {}", rc);
}

/// Adds `sig` to the calling thread's blocked signals.
pub fn block(sig: i32) {
    // SAFETY: as in block_only.
    let rc = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut())
    };
    child_require!(rc == 0, "pthread_sigmask failed: error {}", rc);
}

/// Installs `handler` (a function address, SIG_IGN or SIG_DFL) for `sig`, no flags.
pub fn set_handler(sig: i32, handler: libc::sighandler_t) {
    // SAFETY: sa is a zeroed sigaction with an empty mask.
    let rc = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut())
    };
    child_require!(rc == 0, "sigaction({}) failed", sig);
}

/// Sleeps in pause(2) forever (the tracer kills the process).
pub fn pause_forever() -> ! {
    loop {
        // SAFETY: pause has no arguments.
        unsafe { libc::pause() };
    }
}

/// A pthread barrier in static storage for a tracee's threads: the tracee `init`s it once,
/// before it starts them, and each thread `wait`s, blocked (a futex) until all have come.
/// Threads that must wait for each other block here, never spin: 100 threads spinning on
/// sched_yield on an emulated 2-CPU machine starved the tracer for over a minute, and a
/// traced spin makes an unbounded number of syscall stops.
pub struct Barrier(UnsafeCell<MaybeUninit<libc::pthread_barrier_t>>);

// SAFETY: the barrier is initialised before any thread that uses it exists, and pthread
// barriers are made to be waited on by many threads at once.
unsafe impl Sync for Barrier {}

impl Barrier {
    /// An uninitialised barrier.
    pub const fn new() -> Barrier {
        Barrier(UnsafeCell::new(MaybeUninit::uninit()))
    }

    /// Sets it up for `n` threads (in the tracee, before they start).
    pub fn init(&self, n: u32) {
        // SAFETY: no thread uses the barrier yet; its storage is static.
        let rc = unsafe { libc::pthread_barrier_init(self.0.get().cast(), std::ptr::null(), n) };
        child_require!(rc == 0, "pthread_barrier_init failed: error {}", rc);
    }

    /// Blocks until `n` threads have come.
    pub fn wait(&self) {
        // SAFETY: `init` ran before this thread started.
        unsafe { libc::pthread_barrier_wait(self.0.get().cast()) };
    }
}

/// Yields the CPU once.
pub fn yield_now() {
    // SAFETY: no arguments.
    unsafe { libc::sched_yield() };
}
