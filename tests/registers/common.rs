//! Shared scaffolding: tracees that stop at a known point.

use ptrace_atf::trace::{Child, Forkee, Options, Waiter, sys};

pub use ptrace_atf::trace::ops::EXIT_CODE;

/// Forks a PTRACE_TRACEME child running `f`, with PTRACE_O_EXITKILL set at its first stop
/// by `first_stop` (which the caller's `f` must produce).
#[track_caller]
pub fn tracee<F: FnOnce() -> i32>(w: &Waiter, first_stop: i32, f: F) -> Child {
    let child = Forkee::spawn(move || {
        if let Err(e) = sys::traceme() {
            ptrace_atf::child_fail!("PTRACE_TRACEME failed: {e}");
        }
        f()
    });
    child.expect_stopped(w, first_stop);
    ptrace_atf::trace::ops::setoptions(child.pid(), Options::EXITKILL);
    child
}

/// In the tracee: kill(getpid(), SIGSTOP) as a raw syscall, so that the SIGSTOP stop
/// comes right at that syscall's return; returns what the syscall returned (rax).
pub fn raw_sigstop() -> i64 {
    // SAFETY: plain syscalls with integer arguments.
    unsafe { libc::syscall(libc::SYS_kill, libc::getpid(), libc::SIGSTOP) }
}

/// Kills the stopped tracee with SIGKILL and reaps it.
#[track_caller]
pub fn kill(w: &Waiter, child: &Child) {
    if let Err(e) = nix::sys::signal::kill(child.pid(), nix::sys::signal::Signal::SIGKILL) {
        ptrace_atf::fail!("kill({}, SIGKILL) failed: {e}", child.pid());
    }
    child.expect_signaled(w, libc::SIGKILL, false);
    w.expect_no_children();
}

/// The executable mappings of `pid` as (start, end) pairs, from /proc/PID/maps.
pub fn exec_ranges(pid: nix::unistd::Pid) -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let range = f.next()?;
            let perms = f.next()?;
            if !perms.contains('x') {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            Some((
                u64::from_str_radix(a, 16).ok()?,
                u64::from_str_radix(b, 16).ok()?,
            ))
        })
        .collect()
}
