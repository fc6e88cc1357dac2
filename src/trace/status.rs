//! Typed wait statuses, built from a wait(2) status word or a waitid(2) siginfo.

use std::fmt;

use super::sys::PtraceEvent;

/// What a wait reported about one process.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    /// Exited normally with this code.
    Exited(i32),
    /// Killed by a signal, possibly dumping core.
    Signaled {
        /// The signal number.
        sig: i32,
        /// Whether a core dump was reported.
        core: bool,
    },
    /// Stopped by a signal: a signal-delivery stop or a (non-seized) group stop.
    Stopped(i32),
    /// A ptrace event stop (status>>16 != 0), including PTRACE_EVENT_STOP.
    Event {
        /// The signal part of the stop (SIGTRAP, or the stop signal for PTRACE_EVENT_STOP).
        sig: i32,
        /// The event.
        event: PtraceEvent,
    },
    /// A syscall entry or exit stop under PTRACE_O_TRACESYSGOOD (SIGTRAP|0x80).
    SyscallStop,
    /// Resumed by SIGCONT (reported only with WCONTINUED).
    Continued,
    /// A status word this module cannot decode (kept raw so a failure can print it).
    Unknown(i32),
}

const SYSGOOD_TRAP: i32 = libc::SIGTRAP | 0x80;

impl Status {
    /// Decodes a status word as returned by waitpid/wait4/wait3/wait.
    pub fn from_raw(raw: i32) -> Status {
        let low = raw & 0x7f;
        if raw == 0xffff {
            Status::Continued
        } else if low == 0 {
            Status::Exited((raw >> 8) & 0xff)
        } else if raw & 0xff == 0x7f {
            Self::from_stop_code((raw >> 8) & 0xffff, raw)
        } else if low != 0x7f && raw >> 16 == 0 && raw & 0xff00 == 0 {
            Status::Signaled {
                sig: low,
                core: raw & 0x80 != 0,
            }
        } else {
            Status::Unknown(raw)
        }
    }

    /// Decodes a ptrace/group-stop exit code (signal | event << 8) as found in status>>8.
    fn from_stop_code(code: i32, raw: i32) -> Status {
        let sig = code & 0xff;
        let event = code >> 8;
        if event != 0 {
            match PtraceEvent::from_raw(event) {
                Some(event) => Status::Event { sig, event },
                None => Status::Unknown(raw),
            }
        } else if sig == SYSGOOD_TRAP {
            Status::SyscallStop
        } else {
            Status::Stopped(sig)
        }
    }

    /// Decodes the siginfo filled by waitid(2); None if si_pid is 0 (WNOHANG, nothing ready).
    pub fn from_siginfo(info: &libc::siginfo_t) -> Option<Status> {
        // SAFETY: waitid fills the SIGCHLD fields of the union.
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if pid == 0 {
            return None;
        }
        Some(match info.si_code {
            libc::CLD_EXITED => Status::Exited(status),
            libc::CLD_KILLED => Status::Signaled {
                sig: status,
                core: false,
            },
            libc::CLD_DUMPED => Status::Signaled {
                sig: status,
                core: true,
            },
            // For ptrace stops the kernel puts the whole exit code (signal | event << 8)
            // in si_status, so events survive waitid.
            libc::CLD_STOPPED | libc::CLD_TRAPPED => {
                Self::from_stop_code(status, (status << 8) | 0x7f)
            }
            libc::CLD_CONTINUED => Status::Continued,
            code => Status::Unknown((code << 16) | (status & 0xffff)),
        })
    }

    /// Whether the process is gone (exited or killed): the wait reaped it.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Status::Exited(_) | Status::Signaled { .. })
    }

    /// Whether the process is in some stop (signal, event or syscall stop).
    pub fn is_stop(&self) -> bool {
        matches!(
            self,
            Status::Stopped(_) | Status::Event { .. } | Status::SyscallStop
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Status::Exited(code) => write!(f, "exited with code {code}"),
            Status::Signaled { sig, core } => {
                write!(f, "killed by {}", sig_name(sig))?;
                if core {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
            Status::Stopped(sig) => write!(f, "stopped by {}", sig_name(sig)),
            Status::Event { sig, event } => {
                write!(f, "stopped at {event} ({})", sig_name(sig))
            }
            Status::SyscallStop => f.write_str("stopped at a syscall stop (SIGTRAP|0x80)"),
            Status::Continued => f.write_str("continued"),
            Status::Unknown(raw) => write!(f, "undecodable status {raw:#x}"),
        }
    }
}

const NAMES: [&str; 32] = [
    "0",
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// The name of signal `sig`: `SIGSTOP`, `SIGRTMIN+3`, `SIGTRAP|0x80`, or `signal N`.
pub fn sig_name(sig: i32) -> String {
    let rtmin = libc::SIGRTMIN();
    let rtmax = libc::SIGRTMAX();
    match sig {
        0 => "no signal (0)".to_string(),
        1..=31 => NAMES[sig as usize].to_string(),
        SYSGOOD_TRAP => "SIGTRAP|0x80".to_string(),
        s if s == rtmax => "SIGRTMAX".to_string(),
        s if s >= rtmin && s < rtmax => {
            if s == rtmin {
                "SIGRTMIN".to_string()
            } else {
                format!("SIGRTMIN+{}", s - rtmin)
            }
        }
        s if (32..rtmin).contains(&s) => format!("SIG{s}"),
        s => format!("signal {s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_kind() {
        assert_eq!(Status::from_raw(5 << 8), Status::Exited(5));
        assert_eq!(Status::from_raw(0), Status::Exited(0));
        assert_eq!(
            Status::from_raw(libc::SIGKILL),
            Status::Signaled {
                sig: libc::SIGKILL,
                core: false
            }
        );
        assert_eq!(
            Status::from_raw(libc::SIGSEGV | 0x80),
            Status::Signaled {
                sig: libc::SIGSEGV,
                core: true
            }
        );
        assert_eq!(
            Status::from_raw((libc::SIGSTOP << 8) | 0x7f),
            Status::Stopped(libc::SIGSTOP)
        );
        let fork = (libc::SIGTRAP | (libc::PTRACE_EVENT_FORK << 8)) << 8 | 0x7f;
        assert_eq!(
            Status::from_raw(fork),
            Status::Event {
                sig: libc::SIGTRAP,
                event: PtraceEvent::Fork
            }
        );
        let stop = (libc::SIGSTOP | (libc::PTRACE_EVENT_STOP << 8)) << 8 | 0x7f;
        assert_eq!(
            Status::from_raw(stop),
            Status::Event {
                sig: libc::SIGSTOP,
                event: PtraceEvent::Stop
            }
        );
        assert_eq!(
            Status::from_raw(((libc::SIGTRAP | 0x80) << 8) | 0x7f),
            Status::SyscallStop
        );
        assert_eq!(Status::from_raw(0xffff), Status::Continued);
        assert_eq!(
            Status::from_raw((99 << 16) | 0x57f),
            Status::Unknown(0x63057f)
        );
    }

    #[test]
    fn displays_human_forms() {
        assert_eq!(Status::Exited(5).to_string(), "exited with code 5");
        let killed = Status::Signaled {
            sig: libc::SIGKILL,
            core: true,
        };
        assert_eq!(killed.to_string(), "killed by SIGKILL (core dumped)");
        assert_eq!(Status::Stopped(19).to_string(), "stopped by SIGSTOP");
        let ev = Status::Event {
            sig: libc::SIGTRAP,
            event: PtraceEvent::Fork,
        };
        assert_eq!(ev.to_string(), "stopped at PTRACE_EVENT_FORK (SIGTRAP)");
        assert_eq!(
            Status::SyscallStop.to_string(),
            "stopped at a syscall stop (SIGTRAP|0x80)"
        );
        assert_eq!(Status::Continued.to_string(), "continued");
    }

    #[test]
    fn names_signals() {
        assert_eq!(sig_name(libc::SIGSTOP), "SIGSTOP");
        assert_eq!(sig_name(libc::SIGSYS), "SIGSYS");
        assert_eq!(sig_name(libc::SIGRTMIN() + 3), "SIGRTMIN+3");
        assert_eq!(sig_name(libc::SIGRTMAX()), "SIGRTMAX");
        assert_eq!(sig_name(32), "SIG32");
        assert_eq!(sig_name(200), "signal 200");
    }
}
