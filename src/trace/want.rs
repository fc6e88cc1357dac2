//! Typed expectations on wait results: wait, then compare, printing both sides on mismatch.

use std::ffi::c_ulong;
use std::fmt;

use nix::unistd::Pid;

use super::status::{Status, sig_name};
use super::sys::{self, PtraceEvent};
use super::wait::Waiter;

/// A `Want` described as the awaited event, formatted only when a message needs it.
pub struct Awaited(pub Want);

impl fmt::Display for Awaited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.awaited())
    }
}

/// The status a scenario expects from its next wait.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Want {
    /// A signal-delivery or group stop by this signal.
    Stopped(i32),
    /// A normal exit with this code.
    Exited(i32),
    /// Death by this signal, with or without a core dump.
    Signaled {
        /// The signal number.
        sig: i32,
        /// Whether a core dump must be reported.
        core: bool,
    },
    /// A ptrace event stop with SIGTRAP (PTRACE_EVENT_STOP: any signal).
    Event(PtraceEvent),
    /// A PTRACE_EVENT_STOP carrying this signal (group stop of a seized tracee).
    EventStop(i32),
    /// A syscall stop (SIGTRAP|0x80).
    SyscallStop,
}

impl Want {
    /// Whether `status` is what was wanted.
    pub fn matches(&self, status: &Status) -> bool {
        match (*self, *status) {
            (Want::Stopped(a), Status::Stopped(b)) => a == b,
            (Want::Exited(a), Status::Exited(b)) => a == b,
            (Want::Signaled { sig, core }, Status::Signaled { sig: s, core: c }) => {
                sig == s && core == c
            }
            (Want::Event(PtraceEvent::Stop), Status::Event { event, .. }) => {
                event == PtraceEvent::Stop
            }
            (Want::Event(e), Status::Event { sig, event }) => e == event && sig == libc::SIGTRAP,
            (Want::EventStop(s), Status::Event { sig, event }) => {
                event == PtraceEvent::Stop && sig == s
            }
            (Want::SyscallStop, Status::SyscallStop) => true,
            _ => false,
        }
    }

    /// The awaited event in words, for timeout messages: `a stop by SIGSTOP`.
    pub fn awaited(&self) -> String {
        match *self {
            Want::Stopped(sig) => format!("a stop by {}", sig_name(sig)),
            Want::Exited(code) => format!("an exit with code {code}"),
            Want::Signaled { sig, .. } => format!("a death by {}", sig_name(sig)),
            Want::Event(e) => e.name().to_string(),
            Want::EventStop(sig) => format!("PTRACE_EVENT_STOP ({})", sig_name(sig)),
            Want::SyscallStop => "a syscall stop".to_string(),
        }
    }
}

impl fmt::Display for Want {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Want::Stopped(sig) => write!(f, "{}", Status::Stopped(sig)),
            Want::Exited(code) => write!(f, "{}", Status::Exited(code)),
            Want::Signaled { sig, core } => write!(f, "{}", Status::Signaled { sig, core }),
            Want::Event(PtraceEvent::Stop) => f.write_str("stopped at PTRACE_EVENT_STOP"),
            Want::Event(event) => write!(
                f,
                "{}",
                Status::Event {
                    sig: libc::SIGTRAP,
                    event
                }
            ),
            Want::EventStop(sig) => write!(
                f,
                "{}",
                Status::Event {
                    sig,
                    event: PtraceEvent::Stop
                }
            ),
            Want::SyscallStop => write!(f, "{}", Status::SyscallStop),
        }
    }
}

impl Waiter {
    /// Panics unless `got` is `want`: `pid N: expected X, got Y (waiter W)`.
    #[track_caller]
    pub fn check(&self, pid: Pid, want: Want, got: Status) {
        if !want.matches(&got) {
            panic!("pid {pid}: expected {want}, got {got} {}", self.tag());
        }
    }

    /// Waits for `pid` and asserts the result is `want`; returns the status.
    #[track_caller]
    pub fn expect(&self, pid: Pid, want: Want) -> Status {
        let got = self.wait(pid, Awaited(want));
        self.check(pid, want, got);
        got
    }

    /// Waits for a signal-delivery or group stop of `pid` by `sig`.
    #[track_caller]
    pub fn expect_stopped(&self, pid: Pid, sig: i32) {
        self.expect(pid, Want::Stopped(sig));
    }

    /// Waits for `pid` to exit with `code`.
    #[track_caller]
    pub fn expect_exited(&self, pid: Pid, code: i32) {
        self.expect(pid, Want::Exited(code));
    }

    /// Waits for `pid` to be killed by `sig`, with a core dump iff `core`.
    #[track_caller]
    pub fn expect_signaled(&self, pid: Pid, sig: i32, core: bool) {
        self.expect(pid, Want::Signaled { sig, core });
    }

    /// Waits for the ptrace event `event` of `pid`; returns its PTRACE_GETEVENTMSG value.
    #[track_caller]
    pub fn expect_event(&self, pid: Pid, event: PtraceEvent) -> c_ulong {
        self.expect(pid, Want::Event(event));
        self.event_msg(pid, event)
    }

    /// Waits for a PTRACE_EVENT_STOP of `pid` carrying `sig`.
    #[track_caller]
    pub fn expect_event_stop(&self, pid: Pid, sig: i32) {
        self.expect(pid, Want::EventStop(sig));
    }

    /// Waits for a syscall stop (SIGTRAP|0x80) of `pid`.
    #[track_caller]
    pub fn expect_syscall_stop(&self, pid: Pid) {
        self.expect(pid, Want::SyscallStop);
    }

    /// Waits (any child) for creation event `ev` of `forker` and the new task's first stop
    /// (`AUTO_ATTACH_FIRST_STOP`), which the kernel may report in either order, and both
    /// must come; the stopped task must be the one the event names. Returns the new task and
    /// whether its stop came first. The one way to meet a new thread or child under every
    /// waiter: waiting for the forker alone would take the new task's stop, under a waiter
    /// that cannot name a pid, for a wrong answer.
    #[track_caller]
    pub fn expect_creation(&self, forker: Pid, ev: PtraceEvent) -> (Pid, bool) {
        let first_stop = Want::Stopped(super::expect::AUTO_ATTACH_FIRST_STOP);
        let (mut named, mut stopped, mut new_first) = (None, None, false);
        while named.is_none() || stopped.is_none() {
            let (pid, st) = self.wait_any(format_args!(
                "{ev} of {forker} or the new task's first stop"
            ));
            if pid == forker {
                if named.is_some() {
                    panic!("pid {forker}: a second report {st} before the new task's stop");
                }
                self.check(pid, Want::Event(ev), st);
                named = Some(Pid::from_raw(self.event_msg(pid, ev) as i32));
            } else {
                if stopped.is_some() {
                    panic!("pid {pid}: unexpected report {st} before {ev} of {forker}");
                }
                self.check(pid, first_stop, st);
                new_first = named.is_none();
                stopped = Some(pid);
            }
        }
        if stopped != named {
            panic!("{ev} of {forker} names {named:?}, but the task that stopped is {stopped:?}");
        }
        (stopped.unwrap_or(forker), new_first)
    }

    /// PTRACE_GETEVENTMSG after `event`, panicking if the request fails.
    #[track_caller]
    pub fn event_msg(&self, pid: Pid, event: PtraceEvent) -> c_ulong {
        match sys::geteventmsg(pid) {
            Ok(msg) => msg,
            Err(e) => panic!("pid {pid}: PTRACE_GETEVENTMSG after {event} failed with {e}"),
        }
    }
}
