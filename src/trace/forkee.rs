//! `Forkee`: fork a child that runs a closure, and report its failed assertions to the parent.
//!
//! In the child only async-signal-safe work is allowed: `child_require!` formats into a stack
//! buffer, writes it with write(2) to a pipe inherited from the parent and `_exit`s with
//! `CHILD_FAILED_CODE`; the parent's `Child::expect_*` turns that into
//! `child <pid> failed: <file>:<line>: <message>`.

use std::ffi::c_ulong;
use std::fmt::{self, Write as _};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::unistd::Pid;

use super::deadline;
use super::status::Status;
use super::sys::{self, PtraceEvent};
use super::wait::Waiter;
use super::want::Want;

/// Exit code of a child whose assertion failed or whose closure panicked.
pub const CHILD_FAILED_CODE: i32 = 213;

/// The write end of the report pipe, in a forked child; -1 elsewhere.
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);

/// A fixed-size, truncating text buffer on the stack (no allocation).
pub struct StackBuf {
    buf: [u8; 512],
    len: usize,
}

impl StackBuf {
    /// An empty buffer.
    pub const fn new() -> StackBuf {
        StackBuf {
            buf: [0; 512],
            len: 0,
        }
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Default for StackBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                break;
            }
            // Failure reasons are one line: newlines become spaces.
            self.buf[self.len] = if b == b'\n' { b' ' } else { b };
            self.len += 1;
        }
        Ok(())
    }
}

/// Writes `bytes` to the report pipe, if this process is a forked child.
fn report(bytes: &[u8]) {
    let fd = REPORT_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) of a valid buffer; a failed write is ignored (nothing to do).
        unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    }
}

/// Reports a failed child-side assertion and `_exit`s with `CHILD_FAILED_CODE`.
#[doc(hidden)]
pub fn child_fail(file: &str, line: u32, args: fmt::Arguments<'_>) -> ! {
    let mut buf = StackBuf::new();
    let _ = write!(buf, "{file}:{line}: {args}");
    report(buf.as_bytes());
    // SAFETY: _exit never returns and runs no atexit handlers.
    unsafe { libc::_exit(CHILD_FAILED_CODE) }
}

/// In a forked child: fail with a formatted message (see `child_require!`).
#[macro_export]
macro_rules! child_fail {
    ($($arg:tt)+) => {
        $crate::trace::forkee::child_fail(file!(), line!(), format_args!($($arg)+))
    };
}

/// In a forked child: assert `cond`, else report `file:line: message` and `_exit(213)`.
#[macro_export]
macro_rules! child_require {
    ($cond:expr $(,)?) => {
        if !$cond {
            $crate::child_fail!("requirement failed: {}", stringify!($cond));
        }
    };
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            $crate::child_fail!($($arg)+);
        }
    };
}

/// In a forked child: assert `a == b`, printing both sides on failure.
#[macro_export]
macro_rules! child_require_eq {
    ($a:expr, $b:expr $(,)?) => {
        match (&$a, &$b) {
            (a, b) => {
                if *a != *b {
                    $crate::child_fail!(
                        "{} == {} failed: {:?} != {:?}",
                        stringify!($a),
                        stringify!($b),
                        a,
                        b
                    );
                }
            }
        }
    };
}

/// Spawns forked children that run closures.
pub struct Forkee;

impl Forkee {
    /// Forks; the child runs `f` and `_exit`s with its return value.
    #[track_caller]
    pub fn spawn<F: FnOnce() -> i32>(f: F) -> Child {
        let (r, w) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
            Ok(p) => p,
            Err(e) => panic!("pipe2 for a forkee failed: {e}"),
        };
        if let Err(e) = fcntl(r.as_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)) {
            panic!("fcntl(O_NONBLOCK) for a forkee pipe failed: {e}");
        }
        // SAFETY: the child only runs `f` and then _exits; see run_child.
        match unsafe { libc::fork() } {
            -1 => panic!("fork failed: {}", nix::errno::Errno::last()),
            0 => {
                drop(r);
                run_child(w, f)
            }
            pid => Child {
                pid: Pid::from_raw(pid),
                report: r,
            },
        }
    }

    /// Forks a child that calls PTRACE_TRACEME, raises SIGSTOP, then runs `f`.
    #[track_caller]
    pub fn traceme<F: FnOnce() -> i32>(f: F) -> Child {
        Self::spawn(move || {
            if let Err(e) = sys::traceme() {
                crate::child_fail!("PTRACE_TRACEME failed: {e}");
            }
            // SAFETY: raise is async-signal-safe.
            if unsafe { libc::raise(libc::SIGSTOP) } != 0 {
                crate::child_fail!("raise(SIGSTOP) failed");
            }
            f()
        })
    }
}

fn run_child<F: FnOnce() -> i32>(w: OwnedFd, f: F) -> ! {
    // SAFETY: resetting a disposition in the single-threaded child.
    unsafe { libc::signal(libc::SIGALRM, libc::SIG_DFL) };
    deadline::after_fork_in_child();
    REPORT_FD.store(w.as_raw_fd(), Ordering::Relaxed);
    std::mem::forget(w);
    let code = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(code) => code,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(non-string payload)");
            let mut buf = StackBuf::new();
            let _ = write!(buf, "panicked: {msg}");
            report(buf.as_bytes());
            CHILD_FAILED_CODE
        }
    };
    // SAFETY: _exit never returns; the child must not unwind into the parent's code.
    unsafe { libc::_exit(code) }
}

/// A forked child: its pid and the read end of its report pipe.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    report: OwnedFd,
}

impl Child {
    /// The child's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// What the child reported before failing, if anything (never blocks).
    pub fn failure(&self) -> Option<String> {
        let mut out = Vec::new();
        let mut buf = [0u8; 512];
        while let Ok(n @ 1..) = nix::unistd::read(&self.report, &mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        (!out.is_empty()).then(|| String::from_utf8_lossy(&out).replace('\n', " "))
    }

    /// Panics with the child's own message if it reported one, else with the mismatch.
    #[track_caller]
    pub fn check(&self, waiter: &Waiter, want: Want, got: Status) {
        if want.matches(&got) {
            return;
        }
        if let Some(msg) = self.failure() {
            panic!("child {} failed: {msg}", self.pid);
        }
        waiter.check(self.pid, want, got);
    }

    /// Waits for the child and asserts the result is `want`.
    #[track_caller]
    pub fn expect(&self, waiter: &Waiter, want: Want) -> Status {
        let got = waiter.wait(self.pid, super::want::Awaited(want));
        self.check(waiter, want, got);
        got
    }

    /// Waits for a stop of the child by `sig`.
    #[track_caller]
    pub fn expect_stopped(&self, waiter: &Waiter, sig: i32) {
        self.expect(waiter, Want::Stopped(sig));
    }

    /// Waits for the child to exit with `code`.
    #[track_caller]
    pub fn expect_exited(&self, waiter: &Waiter, code: i32) {
        self.expect(waiter, Want::Exited(code));
    }

    /// Waits for the child to be killed by `sig`, with a core dump iff `core`.
    #[track_caller]
    pub fn expect_signaled(&self, waiter: &Waiter, sig: i32, core: bool) {
        self.expect(waiter, Want::Signaled { sig, core });
    }

    /// Waits for ptrace event `event` of the child; returns its PTRACE_GETEVENTMSG value.
    #[track_caller]
    pub fn expect_event(&self, waiter: &Waiter, event: PtraceEvent) -> c_ulong {
        self.expect(waiter, Want::Event(event));
        waiter.event_msg(self.pid, event)
    }

    /// Waits for a syscall stop of the child.
    #[track_caller]
    pub fn expect_syscall_stop(&self, waiter: &Waiter) {
        self.expect(waiter, Want::SyscallStop);
    }

    /// Resumes the stopped child with PTRACE_CONT (no signal), waits for it to exit with
    /// `code`, then asserts the waiter has no child left (ECHILD).
    #[track_caller]
    pub fn cont_to_exit(&self, waiter: &Waiter, code: i32) {
        if let Err(e) = sys::cont(self.pid, 0) {
            panic!("pid {}: PTRACE_CONT failed: {e}", self.pid);
        }
        self.expect_exited(waiter, code);
        waiter.expect_no_children();
    }
}
