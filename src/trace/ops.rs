//! The one helper set every area uses: checked tracer requests, the usual traced child, the
//! Yama/privilege question and the exit code of a tracee that did what it was asked.
//!
//! A request that fails here fails the case with one wording,
//! `pid <pid>: <REQUEST> with <signal> failed: <errno>`, located (`#[track_caller]`) at the
//! scenario's line that made the request. Use the raw `sys::*` call instead when the failure
//! is what the case asserts (`require_eq!(sys::cont(pid, 0), Err(Errno::ESRCH))`).
//!
//! These helpers panic: a panic is the toolkit's failure mechanism (it needs no ATF state, so
//! it works the same in a body, in a forked tracer and in a thread), and the runtime turns it
//! into `failed: file:line: message` with the caller's location.

use nix::unistd::Pid;

use super::event::Options;
use super::forkee::{Child, Forkee};
use super::status::sig_name;
use super::sys;
use super::topology;
use super::wait::Waiter;

/// The exit code of a tracee (or forker) that did what it was asked; any other code is a
/// failure the child reported.
pub const EXIT_CODE: i32 = 5;

/// A resuming request: the ptrace(2) request that restarts a stopped tracee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// PTRACE_CONT.
    Cont,
    /// PTRACE_SYSCALL.
    Syscall,
    /// PTRACE_SINGLESTEP.
    Step,
    /// PTRACE_DETACH.
    Detach,
}

impl Resume {
    /// The request's name, as the failure message prints it.
    pub fn name(self) -> &'static str {
        match self {
            Resume::Cont => "PTRACE_CONT",
            Resume::Syscall => "PTRACE_SYSCALL",
            Resume::Step => "PTRACE_SINGLESTEP",
            Resume::Detach => "PTRACE_DETACH",
        }
    }
}

/// Restarts `pid` with `how`, delivering `sig` (0: none); fails the case if the request fails.
#[track_caller]
pub fn resume(how: Resume, pid: Pid, sig: i32) {
    let r = match how {
        Resume::Cont => sys::cont(pid, sig),
        Resume::Syscall => sys::syscall(pid, sig),
        Resume::Step => sys::singlestep(pid, sig),
        Resume::Detach => sys::detach(pid, sig),
    };
    if let Err(e) = r {
        panic!("{}", request_failed(how.name(), pid, sig, e));
    }
}

/// The one wording of a failed resuming request.
fn request_failed(request: &str, pid: Pid, sig: i32, e: nix::errno::Errno) -> String {
    let with = if sig == 0 {
        "no signal".to_string()
    } else {
        sig_name(sig).to_string()
    };
    format!("pid {pid}: {request} with {with} failed: {e}")
}

/// PTRACE_CONT delivering `sig` (0: none).
#[track_caller]
pub fn cont(pid: Pid, sig: i32) {
    resume(Resume::Cont, pid, sig);
}

/// PTRACE_SYSCALL delivering `sig` (0: none).
#[track_caller]
pub fn syscall(pid: Pid, sig: i32) {
    resume(Resume::Syscall, pid, sig);
}

/// PTRACE_SINGLESTEP delivering `sig` (0: none).
#[track_caller]
pub fn step(pid: Pid, sig: i32) {
    resume(Resume::Step, pid, sig);
}

/// PTRACE_DETACH delivering `sig` (0: none).
#[track_caller]
pub fn detach(pid: Pid, sig: i32) {
    resume(Resume::Detach, pid, sig);
}

/// PTRACE_KILL.
#[track_caller]
pub fn kill(pid: Pid) {
    if let Err(e) = sys::kill(pid) {
        panic!("pid {pid}: PTRACE_KILL failed: {e}");
    }
}

/// PTRACE_SETOPTIONS.
#[track_caller]
pub fn setoptions(pid: Pid, options: Options) {
    if let Err(e) = sys::setoptions(pid, options) {
        panic!("pid {pid}: PTRACE_SETOPTIONS({options}) failed: {e}");
    }
}

/// The usual tracee: a forked child that calls PTRACE_TRACEME, raises SIGSTOP and then runs
/// `f`; this waits for that first stop and sets PTRACE_O_EXITKILL, so the child dies with
/// the tracer whatever the case does.
#[track_caller]
pub fn traced_child<F: FnOnce() -> i32>(w: &Waiter, f: F) -> Child {
    traced_child_with(w, Options::NONE, f)
}

/// `traced_child` with `options` set at the first stop besides PTRACE_O_EXITKILL.
#[track_caller]
pub fn traced_child_with<F: FnOnce() -> i32>(w: &Waiter, options: Options, f: F) -> Child {
    let child = Forkee::traceme(f);
    child.expect_stopped(w, libc::SIGSTOP);
    setoptions(child.pid(), options | Options::EXITKILL);
    child
}

/// Why Yama forbids this process to PTRACE_ATTACH (or PTRACE_SEIZE) a process that is not
/// its descendant, or even its own child, or None when it may. Scope 1 allows it because the
/// tracee can name its tracer with PR_SET_PTRACER; scope 2 needs CAP_SYS_PTRACE (root here);
/// scope 3 forbids every attach. Skip with this reason (`harness::require_attach_allowed`).
pub fn attach_refusal() -> Option<String> {
    topology::unrelated_attach_refusal()
}
