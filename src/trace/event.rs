//! Ptrace options (PTRACE_O_*) and the events they enable (PTRACE_EVENT_*).

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// A set of PTRACE_O_* options, as passed to PTRACE_SETOPTIONS or PTRACE_SEIZE.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Options(pub i32);

impl Options {
    /// No option.
    pub const NONE: Options = Options(0);
    /// PTRACE_O_TRACESYSGOOD: syscall stops report SIGTRAP|0x80.
    pub const TRACESYSGOOD: Options = Options(libc::PTRACE_O_TRACESYSGOOD);
    /// PTRACE_O_TRACEFORK: stop at fork and auto-attach the child.
    pub const TRACEFORK: Options = Options(libc::PTRACE_O_TRACEFORK);
    /// PTRACE_O_TRACEVFORK: stop at vfork and auto-attach the child.
    pub const TRACEVFORK: Options = Options(libc::PTRACE_O_TRACEVFORK);
    /// PTRACE_O_TRACECLONE: stop at clone and auto-attach the child.
    pub const TRACECLONE: Options = Options(libc::PTRACE_O_TRACECLONE);
    /// PTRACE_O_TRACEEXEC: stop at a successful execve.
    pub const TRACEEXEC: Options = Options(libc::PTRACE_O_TRACEEXEC);
    /// PTRACE_O_TRACEVFORKDONE: stop when a vfork child releases its parent.
    pub const TRACEVFORKDONE: Options = Options(libc::PTRACE_O_TRACEVFORKDONE);
    /// PTRACE_O_TRACEEXIT: stop just before exit.
    pub const TRACEEXIT: Options = Options(libc::PTRACE_O_TRACEEXIT);
    /// PTRACE_O_TRACESECCOMP: stop when a seccomp filter returns SECCOMP_RET_TRACE.
    pub const TRACESECCOMP: Options = Options(libc::PTRACE_O_TRACESECCOMP);
    /// PTRACE_O_EXITKILL: SIGKILL the tracee if the tracer exits.
    pub const EXITKILL: Options = Options(libc::PTRACE_O_EXITKILL);
    /// PTRACE_O_SUSPEND_SECCOMP: suspend the tracee's seccomp protections.
    pub const SUSPEND_SECCOMP: Options = Options(libc::PTRACE_O_SUSPEND_SECCOMP);

    const NAMES: [(Options, &'static str); 10] = [
        (Self::TRACESYSGOOD, "TRACESYSGOOD"),
        (Self::TRACEFORK, "TRACEFORK"),
        (Self::TRACEVFORK, "TRACEVFORK"),
        (Self::TRACECLONE, "TRACECLONE"),
        (Self::TRACEEXEC, "TRACEEXEC"),
        (Self::TRACEVFORKDONE, "TRACEVFORKDONE"),
        (Self::TRACEEXIT, "TRACEEXIT"),
        (Self::TRACESECCOMP, "TRACESECCOMP"),
        (Self::EXITKILL, "EXITKILL"),
        (Self::SUSPEND_SECCOMP, "SUSPEND_SECCOMP"),
    ];

    /// The raw bit mask.
    pub const fn bits(self) -> i32 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Options) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Options {
    type Output = Options;
    fn bitor(self, rhs: Options) -> Options {
        Options(self.0 | rhs.0)
    }
}

impl BitOrAssign for Options {
    fn bitor_assign(&mut self, rhs: Options) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0");
        }
        let mut rest = self.0;
        let mut first = true;
        for (opt, name) in Self::NAMES {
            if self.contains(opt) {
                if !first {
                    f.write_str("|")?;
                }
                write!(f, "PTRACE_O_{name}")?;
                rest &= !opt.0;
                first = false;
            }
        }
        if rest != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "{rest:#x}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A ptrace event, as reported in bits 16..24 of a wait status.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PtraceEvent {
    /// PTRACE_EVENT_FORK.
    Fork,
    /// PTRACE_EVENT_VFORK.
    Vfork,
    /// PTRACE_EVENT_CLONE.
    Clone,
    /// PTRACE_EVENT_EXEC.
    Exec,
    /// PTRACE_EVENT_VFORK_DONE.
    VforkDone,
    /// PTRACE_EVENT_EXIT.
    Exit,
    /// PTRACE_EVENT_SECCOMP.
    Seccomp,
    /// PTRACE_EVENT_STOP (group stop or PTRACE_INTERRUPT stop of a seized tracee).
    Stop,
}

impl PtraceEvent {
    /// Every event, in kernel numbering order.
    pub const ALL: [PtraceEvent; 8] = [
        PtraceEvent::Fork,
        PtraceEvent::Vfork,
        PtraceEvent::Clone,
        PtraceEvent::Exec,
        PtraceEvent::VforkDone,
        PtraceEvent::Exit,
        PtraceEvent::Seccomp,
        PtraceEvent::Stop,
    ];

    /// The event for a PTRACE_EVENT_* number, if it is one.
    pub fn from_raw(raw: i32) -> Option<PtraceEvent> {
        Self::ALL.into_iter().find(|e| e.raw() == raw)
    }

    /// The PTRACE_EVENT_* number.
    pub const fn raw(self) -> i32 {
        match self {
            PtraceEvent::Fork => libc::PTRACE_EVENT_FORK,
            PtraceEvent::Vfork => libc::PTRACE_EVENT_VFORK,
            PtraceEvent::Clone => libc::PTRACE_EVENT_CLONE,
            PtraceEvent::Exec => libc::PTRACE_EVENT_EXEC,
            PtraceEvent::VforkDone => libc::PTRACE_EVENT_VFORK_DONE,
            PtraceEvent::Exit => libc::PTRACE_EVENT_EXIT,
            PtraceEvent::Seccomp => libc::PTRACE_EVENT_SECCOMP,
            PtraceEvent::Stop => libc::PTRACE_EVENT_STOP,
        }
    }

    /// The C name, e.g. `PTRACE_EVENT_FORK`.
    pub const fn name(self) -> &'static str {
        match self {
            PtraceEvent::Fork => "PTRACE_EVENT_FORK",
            PtraceEvent::Vfork => "PTRACE_EVENT_VFORK",
            PtraceEvent::Clone => "PTRACE_EVENT_CLONE",
            PtraceEvent::Exec => "PTRACE_EVENT_EXEC",
            PtraceEvent::VforkDone => "PTRACE_EVENT_VFORK_DONE",
            PtraceEvent::Exit => "PTRACE_EVENT_EXIT",
            PtraceEvent::Seccomp => "PTRACE_EVENT_SECCOMP",
            PtraceEvent::Stop => "PTRACE_EVENT_STOP",
        }
    }

    /// The option that enables this event (None for Stop, which PTRACE_SEIZE enables).
    pub const fn option(self) -> Option<Options> {
        match self {
            PtraceEvent::Fork => Some(Options::TRACEFORK),
            PtraceEvent::Vfork => Some(Options::TRACEVFORK),
            PtraceEvent::Clone => Some(Options::TRACECLONE),
            PtraceEvent::Exec => Some(Options::TRACEEXEC),
            PtraceEvent::VforkDone => Some(Options::TRACEVFORKDONE),
            PtraceEvent::Exit => Some(Options::TRACEEXIT),
            PtraceEvent::Seccomp => Some(Options::TRACESECCOMP),
            PtraceEvent::Stop => None,
        }
    }
}

impl fmt::Display for PtraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
