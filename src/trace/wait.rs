//! `Waiter`: every wait of a scenario goes through one of the wait(2) family, with a deadline.
//!
//! Flags: waiters that take options always pass `__WALL` (clone children and threads are
//! waitable) and `WUNTRACED` (`WSTOPPED` for waitid), so group stops of children that are
//! not traced are reported the same way by every waiter; ptrace stops need neither.
//! `WCONTINUED` is added only by `Waiter::with_continued`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::unistd::Pid;

use super::deadline::{self, TimedOut};
use super::probe;
use super::status::Status;
pub use super::waiter_kind::WaiterKind;

/// The default deadline of every wait.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

unsafe extern "C" {
    fn wait3(status: *mut libc::c_int, options: libc::c_int, ru: *mut libc::rusage) -> libc::pid_t;
}

/// One wait(2)-family member plus a deadline; see the module documentation for flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    kind: WaiterKind,
    deadline: Duration,
    continued: bool,
}

/// Whom one wait call is for.
#[derive(Clone, Copy)]
enum Target {
    Pid(Pid),
    Any,
    Pidfd(libc::c_int),
}

/// What one successful wait call returned.
#[derive(Clone, Copy)]
pub(crate) struct Reply {
    pub pid: Pid,
    pub status: Status,
    pub rusage: Option<libc::rusage>,
}

/// Opens a pidfd for `pid`; for a thread that is not a thread-group leader (pidfd_open
/// answers EINVAL or, on newer kernels, ENOENT) with PIDFD_THREAD when this kernel has it
/// (Linux 6.9, probed), else the first error.
pub fn pidfd_open(pid: Pid) -> nix::Result<OwnedFd> {
    match probe::pidfd_open_flags(pid, 0) {
        Err(e @ (Errno::EINVAL | Errno::ENOENT)) => match probe::pidfd_thread() {
            Ok(()) => probe::pidfd_open_flags(pid, probe::PIDFD_THREAD),
            Err(_) => Err(e),
        },
        r => r,
    }
}

impl Waiter {
    /// A waiter of `kind` with the default 10 s deadline.
    pub const fn new(kind: WaiterKind) -> Waiter {
        Waiter {
            kind,
            deadline: DEFAULT_DEADLINE,
            continued: false,
        }
    }

    /// The same waiter with another deadline.
    pub const fn with_deadline(self, deadline: Duration) -> Waiter {
        Waiter { deadline, ..self }
    }

    /// The same waiter, also reporting SIGCONT resumptions (WCONTINUED) when it takes options.
    pub const fn with_continued(self, continued: bool) -> Waiter {
        Waiter { continued, ..self }
    }

    /// Chooses the waiter: the `waiter` config value wins, else the program-name suffix,
    /// else waitpid.
    pub fn from_env(config_waiter: Option<&str>, argv0: &str) -> Result<Waiter, String> {
        let kind = match config_waiter {
            Some(name) => WaiterKind::from_name(name).ok_or_else(|| {
                format!(
                    "unknown waiter '{name}' (valid: {})",
                    super::waiter_kind::valid_names()
                )
            })?,
            None => WaiterKind::from_program_name(argv0).unwrap_or(WaiterKind::Waitpid),
        };
        Ok(Waiter::new(kind))
    }

    /// Which member of the family this is.
    pub const fn kind(&self) -> WaiterKind {
        self.kind
    }

    /// How long one wait may block: the waiter's deadline times the slow-kernel factor
    /// (`atf::timescale`).
    pub fn deadline(&self) -> Duration {
        crate::atf::timescale::scaled(self.deadline)
    }

    /// The waiter's tag for failure messages: `(waiter waitpid)`.
    pub(crate) fn tag(&self) -> String {
        format!("(waiter {})", self.kind.name())
    }

    fn status_flags(&self, nohang: bool) -> libc::c_int {
        let mut f = libc::__WALL | libc::WUNTRACED;
        if self.continued {
            f |= libc::WCONTINUED;
        }
        if nohang {
            f |= libc::WNOHANG;
        }
        f
    }

    fn waitid_flags(&self, nohang: bool) -> libc::c_int {
        let mut f = libc::__WALL | libc::WEXITED | libc::WSTOPPED;
        if self.continued {
            f |= libc::WCONTINUED;
        }
        if nohang {
            f |= libc::WNOHANG;
        }
        f
    }

    /// One call of the family, no retry; Ok(None) when WNOHANG found nothing.
    fn once(&self, target: Target, nohang: bool) -> nix::Result<Option<Reply>> {
        let mut raw: libc::c_int = 0;
        // SAFETY: rusage is plain data.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let pid_arg = match target {
            Target::Pid(p) => p.as_raw(),
            _ => -1,
        };
        let pid = match self.kind {
            // SAFETY: a pointer to a local status word.
            WaiterKind::Wait => unsafe { libc::wait(&mut raw) },
            // SAFETY: pointers to a local status word and rusage.
            WaiterKind::Wait3 => unsafe { wait3(&mut raw, self.status_flags(nohang), &mut ru) },
            // SAFETY: pointers to a local status word and rusage.
            WaiterKind::Wait4 => unsafe {
                libc::wait4(pid_arg, &mut raw, self.status_flags(nohang), &mut ru)
            },
            // SAFETY: a pointer to a local status word.
            WaiterKind::Waitpid => unsafe {
                libc::waitpid(pid_arg, &mut raw, self.status_flags(nohang))
            },
            WaiterKind::Waitid | WaiterKind::Pidfd => return self.once_waitid(target, nohang),
        };
        let pid = Errno::result(pid)?;
        if pid == 0 {
            return Ok(None);
        }
        Ok(Some(Reply {
            pid: Pid::from_raw(pid),
            status: Status::from_raw(raw),
            rusage: self.kind.gives_rusage().then_some(ru),
        }))
    }

    fn once_waitid(&self, target: Target, nohang: bool) -> nix::Result<Option<Reply>> {
        let (idtype, id) = match target {
            Target::Pid(p) => (libc::P_PID, p.as_raw() as libc::id_t),
            Target::Any => (libc::P_ALL, 0),
            Target::Pidfd(fd) => (libc::P_PIDFD, fd as libc::id_t),
        };
        // SAFETY: siginfo is plain data; zeroed so si_pid == 0 means "nothing" under WNOHANG.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: info is a valid siginfo_t to fill.
        let r = unsafe { libc::waitid(idtype, id, &mut info, self.waitid_flags(nohang)) };
        Errno::result(r)?;
        Ok(Status::from_siginfo(&info).map(|status| Reply {
            // SAFETY: waitid filled the SIGCHLD fields.
            pid: Pid::from_raw(unsafe { info.si_pid() }),
            status,
            rusage: None,
        }))
    }

    /// Prepares the target for `pid` (opening a pidfd for the Pidfd kind).
    #[track_caller]
    fn target_for(&self, pid: Pid) -> (Target, Option<OwnedFd>) {
        match self.kind {
            WaiterKind::Pidfd => match pidfd_open(pid) {
                Ok(fd) => (Target::Pidfd(fd.as_raw_fd()), Some(fd)),
                Err(e) => {
                    let why = match probe::pidfd_thread() {
                        Err(m) if matches!(e, Errno::EINVAL | Errno::ENOENT) => {
                            format!(" (if {pid} is not a thread-group leader: that {m})")
                        }
                        _ => String::new(),
                    };
                    panic!("pid {pid}: pidfd_open failed with {e}{why} {}", self.tag())
                }
            },
            _ => (Target::Pid(pid), None),
        }
    }

    /// Blocks for the next report from `pid`; `what` names the awaited event for messages (it
    /// is formatted only when a message needs it).
    #[track_caller]
    pub fn wait(&self, pid: Pid, what: impl std::fmt::Display) -> Status {
        self.wait_rusage(pid, what).0
    }

    /// Like `wait`, also returning the rusage for waiters that give one.
    #[track_caller]
    pub fn wait_rusage(
        &self,
        pid: Pid,
        what: impl std::fmt::Display,
    ) -> (Status, Option<libc::rusage>) {
        let (target, _fd) = self.target_for(pid);
        let call = self.kind.call_name();
        let reply = match deadline::blocking(self.deadline(), || self.once(target, false)) {
            Err(TimedOut) => panic!(
                "timed out after {} waiting for {what} from pid {pid} {} (its threads now: {})",
                deadline::human(self.deadline()),
                self.tag(),
                super::proc::tasks_summary(pid)
            ),
            Ok(Err(e)) => panic!(
                "pid {pid}: {call} failed with {e} while waiting for {what} {}",
                self.tag()
            ),
            Ok(Ok(None)) => panic!(
                "pid {pid}: blocking {call} reported nothing while waiting for {what} {}",
                self.tag()
            ),
            Ok(Ok(Some(r))) => r,
        };
        if reply.pid != pid {
            panic!(
                "pid {pid}: waiting for {what}, {call} returned pid {} {} instead {}",
                reply.pid,
                reply.status,
                self.tag()
            );
        }
        (reply.status, reply.rusage)
    }

    /// Blocks for the next report from any child or tracee.
    #[track_caller]
    pub fn wait_any(&self, what: impl std::fmt::Display) -> (Pid, Status) {
        let call = self.kind.call_name();
        match deadline::blocking(self.deadline(), || self.once(Target::Any, false)) {
            Err(TimedOut) => panic!(
                "timed out after {} waiting for {what} from any child {}",
                deadline::human(self.deadline()),
                self.tag()
            ),
            Ok(Err(e)) => panic!(
                "{call} failed with {e} while waiting for {what} {}",
                self.tag()
            ),
            Ok(Ok(None)) => panic!(
                "blocking {call} reported nothing while waiting for {what} {}",
                self.tag()
            ),
            Ok(Ok(Some(r))) => (r.pid, r.status),
        }
    }

    /// One wait for any child or tracee (polling when `nohang`), without a deadline or
    /// retry: for tools (`ptrace-atf truss`) that wait as long as the traced program runs and
    /// handle EINTR and ECHILD themselves. Ok(None): WNOHANG found nothing.
    pub fn wait_any_once(&self, nohang: bool) -> nix::Result<Option<(Pid, Status)>> {
        Ok(self.once(Target::Any, nohang)?.map(|r| (r.pid, r.status)))
    }

    /// Polls `pid` with WNOHANG; panics for the Wait kind, which takes no options.
    #[track_caller]
    pub fn try_wait(&self, pid: Pid) -> Option<Status> {
        if !self.kind.takes_options() {
            panic!("try_wait: wait(2) cannot poll (no WNOHANG) {}", self.tag());
        }
        let (target, _fd) = self.target_for(pid);
        let call = self.kind.call_name();
        let reply = loop {
            match self.once(target, true) {
                Err(Errno::EINTR) => continue,
                Err(e) => panic!(
                    "pid {pid}: {call} with WNOHANG failed with {e} {}",
                    self.tag()
                ),
                Ok(r) => break r?,
            }
        };
        if reply.pid != pid {
            panic!(
                "pid {pid}: polling, {call} returned pid {} {} instead {}",
                reply.pid,
                reply.status,
                self.tag()
            );
        }
        Some(reply.status)
    }

    /// Asserts that a final wait fails with ECHILD (no child or tracee is left).
    #[track_caller]
    pub fn expect_no_children(&self) {
        let call = self.kind.call_name();
        let nohang = self.kind.takes_options();
        let reply = if nohang {
            // A poll cannot block: no deadline to arm.
            loop {
                match self.once(Target::Any, true) {
                    Err(Errno::EINTR) => continue,
                    other => break Ok(other),
                }
            }
        } else {
            deadline::blocking(self.deadline(), || self.once(Target::Any, false))
        };
        let got = match reply {
            Ok(Err(Errno::ECHILD)) => return,
            Err(TimedOut) => format!(
                "{call} still blocked after {}: a child is still alive",
                deadline::human(self.deadline())
            ),
            Ok(Ok(None)) => format!("{call} with WNOHANG returned 0: a child is still alive"),
            Ok(Ok(Some(r))) => format!("pid {} {}", r.pid, r.status),
            Ok(Err(e)) => format!("{call} failed with {e}"),
        };
        panic!(
            "expected no children left (ECHILD), got {got} {}",
            self.tag()
        );
    }
}
