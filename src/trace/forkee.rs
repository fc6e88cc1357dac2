//! `Forkee`: fork a child that runs a closure, and report its failed assertions to the parent.
//!
//! In the child only async-signal-safe work is allowed: `child_require!` formats into a stack
//! buffer, appends it to the child's report slot (`report`: shared memory the parent claimed
//! before fork) and `_exit`s with `CHILD_FAILED_CODE`; the parent's `Child::expect_*` turns
//! that into `child <pid> failed: <file>:<line>: <message>`.
//!
//! The child-side failure family (a forked tracee's counterpart of `require!`/`fail!`):
//!
//! | macro | use |
//! |---|---|
//! | `child_require!(cond, "fmt", ..)` | a condition in the child |
//! | `child_require_eq!(got, want)` | equality in the child; prints both sides |
//! | `child_fail!("fmt", ..)` | an unconditional failure in the child |
//!
//! They allocate nothing and call only write(2) and `_exit`, so they are safe after fork(2)
//! of a multi-threaded process and in a vfork child; each reason is `file:line: message`.
//! A forked process that acts as a *tracer* (an unrelated debugger, a double fork) may use
//! the tracer family (`require!`, `fail!`) instead: there a failure unwinds with its text,
//! which the child's `run_child` reports the same way.
//!
//! Spawning is kept lean because `ptrace-atf loop` repeats it thousands of times a second:
//! no system call besides fork(2), and the child's own path (`run_child`) is inlined so that
//! it faults in few code pages and writes only to its stack and its TLS page, both of which
//! fork(2) has already made its own.

use std::ffi::c_ulong;
use std::fmt::{self, Write as _};
use std::panic::{AssertUnwindSafe, catch_unwind};

use nix::unistd::Pid;

use super::deadline;
use super::report::{self, ReportSlot};
use super::status::Status;
use super::sys::{self, PtraceEvent};
use super::wait::Waiter;
use super::want::Want;

/// Exit code of a child whose assertion failed or whose closure panicked.
pub const CHILD_FAILED_CODE: i32 = 213;

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

/// Reports a failed child-side assertion and `_exit`s with `CHILD_FAILED_CODE`.
#[doc(hidden)]
pub fn child_fail(file: &str, line: u32, args: fmt::Arguments<'_>) -> ! {
    let mut buf = StackBuf::new();
    let _ = write!(buf, "{file}:{line}: {args}");
    report::write(buf.as_bytes());
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
        let report = ReportSlot::claim();
        report::before_fork(report.as_ref());
        // SAFETY: the child only runs `f` and then _exits; see run_child.
        match unsafe { libc::fork() } {
            -1 => panic!("fork failed: {}", nix::errno::Errno::last()),
            0 => run_child(report.as_ref(), f),
            pid => {
                if let Some(slot) = &report {
                    slot.forked(pid);
                }
                Child {
                    pid: Pid::from_raw(pid),
                    report,
                }
            }
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

#[inline(always)]
fn run_child<F: FnOnce() -> i32>(report: Option<&ReportSlot>, f: F) -> ! {
    deadline::after_fork_in_child();
    report::adopt_in_child(report);
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
            report::write(buf.as_bytes());
            CHILD_FAILED_CODE
        }
    };
    // SAFETY: _exit never returns; the child must not unwind into the parent's code.
    unsafe { libc::_exit(code) }
}

/// A forked child: its pid and its report slot (None if every slot was taken: the child's
/// report then went to its stderr).
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    report: Option<ReportSlot>,
}

impl Child {
    /// The child's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// What the child reported before failing, if anything (never blocks).
    pub fn failure(&self) -> Option<String> {
        self.report.as_ref().and_then(ReportSlot::text)
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
