//! Shared scaffolding: a stopped PTRACE_TRACEME tracee and its orderly end.

use ptrace_atf::trace::{Child, Forkee, Options, Waiter, mem, sys};

pub use ptrace_atf::trace::ops::EXIT_CODE;

/// Forks a tracee that calls PTRACE_TRACEME, runs `setup`, raises SIGSTOP and, once
/// resumed, runs `after` (whose return value is its exit code). Returns it stopped, with
/// PTRACE_O_EXITKILL set.
pub fn stopped_tracee<S: FnOnce(), A: FnOnce() -> i32>(w: &Waiter, setup: S, after: A) -> Child {
    let child = Forkee::spawn(move || {
        if let Err(e) = sys::traceme() {
            ptrace_atf::child_fail!("PTRACE_TRACEME failed: {e}");
        }
        setup();
        // SAFETY: raise is async-signal-safe.
        ptrace_atf::child_require!(unsafe { libc::raise(libc::SIGSTOP) } == 0);
        after()
    });
    child.expect_stopped(w, libc::SIGSTOP);
    if let Err(e) = sys::setoptions(child.pid(), Options::EXITKILL) {
        ptrace_atf::fail!(
            "pid {}: PTRACE_SETOPTIONS(EXITKILL) failed: {e}",
            child.pid()
        );
    }
    child
}

pub use ptrace_atf::trace::mem::page_size;

/// An anonymous read-write mapping of one page followed by an unmapped page: the address
/// `base + page_size()` is guaranteed invalid in this process and in any child forked later.
pub struct GuardedPage {
    /// Start of the mapped page.
    pub base: usize,
}

impl GuardedPage {
    /// Maps two pages and unmaps the second.
    #[track_caller]
    pub fn new() -> GuardedPage {
        let page = page_size();
        let p =
            mem::map_two_pages().unwrap_or_else(|_| ptrace_atf::fail!("mmap of two pages failed"));
        // SAFETY: the second page of our own mapping.
        let r = unsafe { libc::munmap(p.cast::<u8>().add(page).cast(), page) };
        ptrace_atf::require_eq!(r, 0, "munmap of the guard page failed");
        GuardedPage { base: p as usize }
    }

    /// One past the last mapped byte.
    pub fn end(&self) -> usize {
        self.base + page_size()
    }
}

impl Drop for GuardedPage {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.base as *mut libc::c_void, page_size()) };
    }
}

/// In a forked child: fills `len` bytes at `addr` with `byte`.
pub fn child_fill(addr: usize, len: usize, byte: u8) {
    // SAFETY: the caller passes a mapping of at least len bytes it owns.
    unsafe { std::ptr::write_bytes(addr as *mut u8, byte, len) };
}
