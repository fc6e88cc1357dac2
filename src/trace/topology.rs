//! Process topologies beyond parent-traces-child: a tracer that is not an ancestor of its
//! tracee (forked twice, the middle process exits), one-word messages between processes,
//! and the Yama policy that decides whether such a tracer may attach.
//!
//! The calling process becomes a child subreaper (PR_SET_CHILD_SUBREAPER) so that the
//! orphaned tracer, and anything else orphaned below it, is reparented to it rather than to
//! PID 1: it can then check the tracer's exit and the end-of-case cleanup still sees every
//! process. The tracer is still neither the tracee's parent nor its ancestor.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::Pid;

use super::forkee::{Child, Forkee};
use super::status::Status;
use super::wait::Waiter;
use super::want::Want;

/// How long `Channel::recv` waits for a message.
pub const MESSAGE_DEADLINE: Duration = Duration::from_secs(10);

/// `MESSAGE_DEADLINE` times the slow-kernel factor (`atf::timescale`).
pub fn message_deadline() -> Duration {
    crate::atf::timescale::scaled(MESSAGE_DEADLINE)
}

/// /proc/sys/kernel/yama/ptrace_scope, or None when Yama is not built in.
pub fn yama_scope() -> Option<u32> {
    fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Why PTRACE_ATTACH by a non-ancestor would be refused here, or None if it is allowed.
/// Scope 1 is allowed because the tracee can name its tracer with PR_SET_PTRACER (and root
/// has CAP_SYS_PTRACE); scope 2 needs CAP_SYS_PTRACE (root); scope 3 forbids attaching.
pub fn unrelated_attach_refusal() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    match yama_scope() {
        None | Some(0) | Some(1) => None,
        Some(2) if root => None,
        Some(s) => Some(format!(
            "Yama ptrace_scope={s} forbids PTRACE_ATTACH by a non-ancestor{}",
            if s == 2 {
                " without CAP_SYS_PTRACE"
            } else {
                ""
            }
        )),
    }
}

/// In a tracee: let any process attach (PR_SET_PTRACER_ANY); harmless without Yama.
pub fn allow_any_tracer() {
    // SAFETY: prctl with integer arguments; failure (no Yama) is ignored on purpose.
    unsafe { libc::prctl(libc::PR_SET_PTRACER, libc::PR_SET_PTRACER_ANY, 0, 0, 0) };
}

/// Makes the calling process a child subreaper; panics if the kernel refuses.
#[track_caller]
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        panic!("prctl(PR_SET_CHILD_SUBREAPER) failed: {}", Errno::last());
    }
}

/// A pipe carrying 32-bit messages (pids, step numbers) from one process to another.
/// Create it before forking; both ends are inherited.
pub struct Channel {
    r: OwnedFd,
    w: OwnedFd,
}

impl Channel {
    /// A new pipe (close-on-exec).
    #[track_caller]
    pub fn new() -> Channel {
        match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
            Ok((r, w)) => Channel { r, w },
            Err(e) => panic!("pipe2 for a channel failed: {e}"),
        }
    }

    /// Sends `value` (one atomic 4-byte write).
    #[track_caller]
    pub fn send(&self, value: u32) {
        let bytes = value.to_ne_bytes();
        loop {
            match nix::unistd::write(&self.w, &bytes) {
                Err(Errno::EINTR) => continue,
                Ok(4) => return,
                Ok(n) => panic!("channel write of {value} was short ({n} bytes)"),
                Err(e) => panic!("channel write of {value} failed: {e}"),
            }
        }
    }

    /// Receives one value, waiting at most `MESSAGE_DEADLINE`; `what` names it for messages.
    #[track_caller]
    pub fn recv(&self, what: &str) -> u32 {
        let limit = message_deadline();
        match self.try_recv(what, limit) {
            Some(v) => v,
            None => panic!("timed out after {limit:?} waiting for message '{what}'"),
        }
    }

    /// Receives one value, or None if none started to arrive within `limit`.
    #[track_caller]
    pub fn try_recv(&self, what: &str, limit: Duration) -> Option<u32> {
        let start = Instant::now();
        let mut buf = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            let left = limit.saturating_sub(start.elapsed());
            if left.is_zero() && got == 0 {
                return None;
            }
            if start.elapsed() > limit + message_deadline() {
                panic!("message '{what}' stopped after {got} of 4 bytes");
            }
            let left = left.max(Duration::from_millis(1));
            let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32)
                .unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.r.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Err(Errno::EINTR) | Ok(0) => continue,
                Err(e) => panic!("poll for message '{what}' failed: {e}"),
                Ok(_) => {}
            }
            match nix::unistd::read(&self.r, &mut buf[got..]) {
                Err(Errno::EINTR) => continue,
                Ok(0) => panic!("channel closed while waiting for message '{what}'"),
                Ok(n) => got += n,
                Err(e) => panic!("reading message '{what}' failed: {e}"),
            }
        }
        Some(u32::from_ne_bytes(buf))
    }

    /// Sends a pid.
    #[track_caller]
    pub fn send_pid(&self, pid: Pid) {
        self.send(pid.as_raw() as u32);
    }

    /// Receives a pid.
    #[track_caller]
    pub fn recv_pid(&self, what: &str) -> Pid {
        Pid::from_raw(self.recv(what) as i32)
    }
}

impl Default for Channel {
    fn default() -> Self {
        Self::new()
    }
}

/// Exit code of the middle process of `UnrelatedTracer::spawn`.
pub const MIDDLE_EXIT: i32 = 10;

/// A process forked twice from the caller, whose middle process has exited: it is not an
/// ancestor of anything the caller forks, and (the caller being a subreaper) it is the
/// caller's child again, so the caller reaps it.
pub struct UnrelatedTracer {
    middle: Child,
    pid: Pid,
}

impl UnrelatedTracer {
    /// Makes the caller a subreaper, forks a middle process that forks the tracer running
    /// `f` (its result is the exit code) and exits `MIDDLE_EXIT`; reaps the middle process
    /// and checks the tracer was reparented to the caller.
    #[track_caller]
    pub fn spawn<F: FnOnce() -> i32>(w: &Waiter, f: F) -> UnrelatedTracer {
        become_subreaper();
        let pid_channel = Channel::new();
        let middle = Forkee::spawn(|| {
            // SAFETY: fork in a single-threaded forked child; the grandchild runs f.
            match unsafe { libc::fork() } {
                -1 => crate::child_fail!("fork of the tracer failed: {}", Errno::last()),
                0 => {
                    super::deadline::after_fork_in_child();
                    let code = f();
                    // SAFETY: _exit never returns.
                    unsafe { libc::_exit(code) }
                }
                pid => {
                    pid_channel.send(pid as u32);
                    MIDDLE_EXIT
                }
            }
        });
        middle.expect_exited(w, MIDDLE_EXIT);
        let pid = pid_channel.recv_pid("the tracer's pid");
        let me = nix::unistd::getpid();
        let parent = super::proc::ppid(pid);
        if parent != me {
            panic!("tracer {pid} was reparented to {parent}, not to the subreaper {me}");
        }
        UnrelatedTracer { middle, pid }
    }

    /// Receives a message from the tracer on `channel`, failing with the tracer's own
    /// report as soon as it has failed.
    #[track_caller]
    pub fn recv(&self, channel: &Channel, what: &str) -> u32 {
        let start = Instant::now();
        loop {
            if let Some(v) = channel.try_recv(what, Duration::from_millis(20)) {
                return v;
            }
            if let Some(msg) = self.middle.failure() {
                panic!("tracer {} failed: {msg}", self.pid);
            }
            let limit = message_deadline();
            if start.elapsed() >= limit {
                panic!(
                    "timed out after {limit:?} waiting for message '{what}' from tracer {}",
                    self.pid
                );
            }
        }
    }

    /// The tracer's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Waits for the tracer to exit with `code`; a failed tracer's own message wins.
    #[track_caller]
    pub fn expect_exited(&self, w: &Waiter, code: i32) {
        let want = Want::Exited(code);
        let got: Status = w.wait(self.pid, super::want::Awaited(want));
        if want.matches(&got) {
            return;
        }
        if let Some(msg) = self.middle.failure() {
            panic!("tracer {} failed: {msg}", self.pid);
        }
        w.check(self.pid, want, got);
    }
}
