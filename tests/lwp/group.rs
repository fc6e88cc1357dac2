//! Tracer-side helpers for multi-threaded tracees: every wait is a wait for any tracee
//! (threads need __WALL, which every options-taking waiter passes and the kernel implies
//! for traced children since 4.7, bf959931ddb8), so one loop serves every waiter.

use std::collections::BTreeSet;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
pub use ptrace_atf::trace::ops::{cont, setoptions as set_options, syscall as resume_syscall};
use ptrace_atf::trace::{PtraceEvent, Status, Waiter, sig_name, sys};

/// The tid of the thread created at `tid`'s PTRACE_EVENT_CLONE stop (its event message).
pub fn new_thread(w: &Waiter, tid: Pid) -> Pid {
    Pid::from_raw(w.event_msg(tid, PtraceEvent::Clone) as i32)
}

/// PTRACE_GETSIGINFO of `tid`, failing with the request's error.
#[track_caller]
pub fn siginfo(tid: Pid) -> libc::siginfo_t {
    sys::getsiginfo(tid)
        .unwrap_or_else(|e| ptrace_atf::fail!("PTRACE_GETSIGINFO of tid {tid} failed: {e}"))
}

/// Sends `sig` to thread `tid` of process `pid` with tgkill(2).
pub fn tgkill(pid: Pid, tid: Pid, sig: i32) {
    // SAFETY: plain syscall with integer arguments.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            pid.as_raw(),
            tid.as_raw(),
            sig as libc::c_long,
        )
    };
    if rc != 0 {
        ptrace_atf::fail!(
            "tgkill({pid}, {tid}, {}) failed: {}",
            sig_name(sig),
            nix::errno::Errno::last()
        );
    }
}

/// SIGKILLs the process `pid` and reaps it and its traced threads `tids`: PTRACE_EVENT_EXIT
/// stops are continued, each traced thread must end once, the leader last. Then ECHILD.
pub fn kill_and_reap(w: &Waiter, pid: Pid, tids: &BTreeSet<Pid>) {
    if let Err(e) = kill(pid, Signal::SIGKILL) {
        ptrace_atf::fail!("kill({pid}, SIGKILL) failed: {e}");
    }
    let mut ended = BTreeSet::new();
    loop {
        let (tid, st) = w.wait_any("the death of a killed tracee thread");
        match st {
            Status::Event {
                event: PtraceEvent::Exit,
                ..
            } => {
                // May fail if SIGKILL already took it past the stop.
                let _ = sys::cont(tid, 0);
            }
            s if s.is_terminal() => {
                if !ended.insert(tid) {
                    ptrace_atf::fail!("tid {tid} was reported dead twice ({s})");
                }
                if tid == pid {
                    if s != (Status::Signaled {
                        sig: libc::SIGKILL,
                        core: false,
                    }) {
                        ptrace_atf::fail!("pid {pid}: expected killed by SIGKILL, got {s}");
                    }
                    break;
                }
                if !tids.contains(&tid) {
                    ptrace_atf::fail!("untraced or unknown tid {tid} was reported dead ({s})");
                }
            }
            // A stop that raced with SIGKILL: let it go on to die.
            s if s.is_stop() => {
                let _ = sys::cont(tid, 0);
            }
            s => ptrace_atf::fail!("tid {tid}: unexpected {s} while reaping a killed tracee"),
        }
    }
    let missing: Vec<_> = tids.iter().filter(|t| !ended.contains(t)).collect();
    if !missing.is_empty() {
        ptrace_atf::fail!("traced threads {missing:?} of {pid} were never reported dead");
    }
    w.expect_no_children();
}

/// Reads one word of the tracee's memory at the address of `var` in our own image (the
/// forked child has the same layout), through a stopped thread `tid`.
#[track_caller]
pub fn peek<T>(tid: Pid, var: &T) -> u64 {
    let addr = var as *const T as usize;
    match sys::peekdata(tid, addr) {
        Ok(v) => v as u64,
        Err(e) => ptrace_atf::fail!("PTRACE_PEEKDATA of tid {tid} at {addr:#x} failed: {e}"),
    }
}

/// Writes one word into the tracee's copy of `var`, through a stopped thread `tid`.
#[track_caller]
pub fn poke<T>(tid: Pid, var: &T, value: u64) {
    let addr = var as *const T as usize;
    if let Err(e) = sys::pokedata(tid, addr, value as libc::c_long) {
        ptrace_atf::fail!("PTRACE_POKEDATA of tid {tid} at {addr:#x} failed: {e}");
    }
}
