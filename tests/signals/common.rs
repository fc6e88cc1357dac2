//! Helpers shared by the t_signals scenarios: NetBSD's numbered families as tables,
//! child-side signal setup (plain syscalls only), checked ptrace requests and a pipe channel.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::child_fail;
use ptrace_atf::trace::sig_name;

pub use ptrace_atf::trace::ops::{EXIT_CODE, cont};

/// In a child: `sigaction(sig, handler)`; `handler` is SIG_IGN, SIG_DFL or a function.
pub fn child_sigaction(sig: i32, handler: libc::sighandler_t, flags: i32) {
    // SAFETY: sigaction with a zeroed, then filled, struct.
    let r = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = flags;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut())
    };
    if r != 0 {
        child_fail!("sigaction({}) failed", sig_name(sig));
    }
}

/// In a child: ignore `sig` (SIG_IGN).
pub fn child_ignore(sig: i32) {
    child_sigaction(sig, libc::SIG_IGN, 0);
}

/// In a child: block `sig` in the calling thread.
pub fn child_block(sig: i32) {
    // SAFETY: sigset manipulation on a local, then sigprocmask.
    let r = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut())
    };
    if r != 0 {
        child_fail!("blocking {} failed", sig_name(sig));
    }
}

/// In a child: whether `sig` is pending for the calling thread or the process.
pub fn child_pending(sig: i32) -> bool {
    // SAFETY: sigpending fills a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        if libc::sigpending(&mut set) != 0 {
            child_fail!("sigpending failed");
        }
        libc::sigismember(&set, sig) == 1
    }
}

/// In a child: raise `sig`, failing the child if raise itself fails.
pub fn child_raise(sig: i32) {
    // SAFETY: raise is async-signal-safe.
    if unsafe { libc::raise(sig) } != 0 {
        child_fail!("raise({}) failed", sig_name(sig));
    }
}

/// A one-way pipe carrying single bytes, with a deadline on the reading side.
pub struct Chan {
    r: OwnedFd,
    w: OwnedFd,
}

impl Chan {
    /// A new pipe (inherited by children forked after it).
    #[track_caller]
    pub fn new() -> Chan {
        let (r, w) = ptrace_atf::require_ok!(nix::unistd::pipe(), "pipe failed");
        Chan { r, w }
    }

    /// Writes one byte (child or parent side); whether it was written.
    pub fn send(&self, b: u8) -> bool {
        nix::unistd::write(&self.w, &[b]).is_ok_and(|n| n == 1)
    }

    /// Reads one byte, waiting at most `limit`; None on timeout or end of file.
    pub fn recv(&self, limit: Duration) -> Option<u8> {
        recv_byte(&self.r, limit)
    }

    /// In a child: blocks (no deadline: the parent's wait has one) until a byte arrives.
    pub fn child_recv(&self) -> u8 {
        let mut buf = [0u8; 1];
        loop {
            match nix::unistd::read(&self.r, &mut buf) {
                Ok(1) => return buf[0],
                Err(nix::errno::Errno::EINTR) => continue,
                _ => child_fail!("reading the parent's go-ahead failed"),
            }
        }
    }

    /// Closes the writing end in this process (so that `recv` sees end of file once every
    /// other writer is gone).
    pub fn close_writer(self) -> Reader {
        Reader(self.r)
    }
}

/// The reading end of a `Chan` whose writing end this process closed.
pub struct Reader(OwnedFd);

impl Reader {
    /// Reads one byte, waiting at most `limit`; None on timeout or end of file.
    pub fn recv(&self, limit: Duration) -> Option<u8> {
        recv_byte(&self.0, limit)
    }
}

fn recv_byte(fd: &OwnedFd, limit: Duration) -> Option<u8> {
    let ms = limit.as_millis().min(i32::MAX as u128) as i32;
    loop {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) => return None,
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
    let mut buf = [0u8; 1];
    match nix::unistd::read(fd, &mut buf) {
        Ok(1) => Some(buf[0]),
        _ => None,
    }
}

/// Forks a child that calls PTRACE_TRACEME and then runs `f` (no SIGSTOP of its own, unlike
/// `Forkee::traceme`: the scenarios choose what to raise and when).
#[track_caller]
pub fn traced_child<F: FnOnce() -> i32>(f: F) -> ptrace_atf::trace::Child {
    ptrace_atf::trace::Forkee::spawn(move || {
        if let Err(e) = ptrace_atf::trace::sys::traceme() {
            child_fail!("PTRACE_TRACEME failed: {e}");
        }
        f()
    })
}

/// In a tracee: let any process attach (Yama scope 1); harmless without Yama.
pub fn child_allow_any_tracer() {
    // SAFETY: prctl with integer arguments; EINVAL without Yama is fine.
    unsafe { libc::prctl(libc::PR_SET_PTRACER, libc::PR_SET_PTRACER_ANY, 0, 0, 0) };
}

/// NetBSD's numbered family as rows `("{family}N", signal)` (the signal NetBSD's case N
/// raises or sends): one case per row, described by `descr(sig)`, with a 15 s timeout and
/// X-netbsd naming the case, whose body is `body(tc, sig)`.
pub fn numbered_family<B: Fn(&Tc, i32) + Copy + 'static>(
    rows: &[(&'static str, i32)],
    descr: impl Fn(i32) -> String,
    body: B,
) -> Vec<TestCase> {
    rows.iter()
        .map(|&(name, sig)| {
            TestCase::new(name)
                .descr(&descr(sig))
                .timeout(15)
                .netbsd(&ptrace_atf::netbsd::id_in("t_ptrace_signal_wait.h", name))
                .body(move |tc| body(tc, sig))
        })
        .collect()
}
