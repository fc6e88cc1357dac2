//! A PTRACE_TRACEME child that execs (NetBSD traceme_exec, traceme_signal{masked,ignored}_exec
//! and the traceme_vfork_* forms). Linux reports a legacy exec as a plain SIGTRAP sent by
//! the tracee to itself (si_code SI_USER, si_pid the tracee; NetBSD: TRAP_EXEC): an ordinary
//! signal, so a blocked SIGTRAP holds it back, and the exec is then seen only through
//! PTRACE_O_TRACEEXEC.

use ptrace_atf::netbsd::SameName;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;

use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::harness;
use ptrace_atf::trace::proc::{sig_bit, sig_blocked, sig_ignored, status_field};
use ptrace_atf::trace::{Forkee, Options, PtraceEvent, clone_child, expect, siginfo, sys};
use ptrace_atf::{child_fail, require};

use crate::common::{SPAWN_PROG, cont, setoptions};

/// How SIGTRAP is set up before the exec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hide {
    None,
    Masked,
    Ignored,
}

/// Blocks or ignores SIGTRAP in the calling process. Async-signal-safe.
fn hide_sigtrap(hide: Hide) {
    // SAFETY: plain signal-mask and disposition syscalls.
    unsafe {
        match hide {
            Hide::None => {}
            Hide::Masked => {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGTRAP);
                libc::sigprocmask(libc::SIG_BLOCK, &set, ptr::null_mut());
            }
            Hide::Ignored => {
                libc::signal(libc::SIGTRAP, libc::SIG_IGN);
            }
        }
    }
}

const TRUE: &CStr = c"/bin/true";

/// What a vfork child needs, prepared by the parent (the child only reads it).
struct VforkExec {
    hide: Hide,
    argv: [*const c_char; 2],
    envp: [*const c_char; 1],
}

/// The vfork child: PTRACE_TRACEME, hide SIGTRAP, execve /bin/true; 127 if that fails.
extern "C" fn vfork_exec_child(arg: *mut c_void) -> c_int {
    // SAFETY: arg points to the parent's VforkExec, alive while the parent is suspended.
    let a = unsafe { &*(arg as *const VforkExec) };
    if sys::traceme().is_err() {
        return 126;
    }
    hide_sigtrap(a.hide);
    // SAFETY: NUL-terminated path, argv and envp.
    unsafe { libc::execve(TRUE.as_ptr(), a.argv.as_ptr(), a.envp.as_ptr()) };
    127
}

/// Starts the tracee: forked (TRACEME, hide, [raise SIGSTOP], exec) or vforked.
fn start(vfork: bool, hide: Hide, stop_first: bool) -> (Pid, Option<ptrace_atf::trace::Child>) {
    if vfork {
        let args = VforkExec {
            hide,
            argv: [c"true".as_ptr(), ptr::null()],
            envp: [ptr::null()],
        };
        let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
        // SAFETY: the child only makes syscalls and reads `args`, which outlives it (we are
        // suspended until it execs or exits).
        let pid =
            unsafe { clone_child(vfork_exec_child, (&raw const args).cast_mut().cast(), flags) };
        match pid {
            Ok(pid) => (pid, None),
            Err(e) => ptrace_atf::fail!("clone(CLONE_VM|CLONE_VFORK) failed: {e}"),
        }
    } else {
        let child = Forkee::spawn(move || {
            if let Err(e) = sys::traceme() {
                child_fail!("PTRACE_TRACEME failed: {e}");
            }
            hide_sigtrap(hide);
            if stop_first {
                // SAFETY: raise is async-signal-safe.
                unsafe { libc::raise(libc::SIGSTOP) };
            }
            // SAFETY: NUL-terminated path and argv.
            unsafe { libc::execv(TRUE.as_ptr(), [c"true".as_ptr(), ptr::null()].as_ptr()) };
            child_fail!("execv(/bin/true) failed: {}", nix::errno::Errno::last())
        });
        (child.pid(), Some(child))
    }
}

/// Asserts the tracee runs the new image.
#[track_caller]
fn check_image(pid: Pid) {
    ptrace_atf::require_eq!(
        status_field(pid, "Name").as_deref(),
        Some("true"),
        "the tracee's name after exec"
    );
}

/// Legacy exec stop: SIGTRAP from the tracee itself, masks as set up, then exit 0.
fn legacy_stop(tc: &Tc, vfork: bool, hide: Hide) {
    let w = harness::waiter(tc);
    let (pid, child) = start(vfork, hide, false);
    match &child {
        Some(c) => c.expect_stopped(&w, libc::SIGTRAP),
        None => w.expect_stopped(pid, libc::SIGTRAP),
    }
    let info = siginfo::expect_siginfo(pid, libc::SIGTRAP, expect::KILL_SI_CODE);
    // SAFETY: si_pid is plain data for an SI_USER signal.
    let si_pid = unsafe { info.si_pid() };
    ptrace_atf::require_eq!(
        si_pid,
        pid.as_raw(),
        "si_pid of the exec SIGTRAP (the tracee)"
    );
    check_image(pid);
    if hide == Hide::Ignored {
        let ign = sig_ignored(pid);
        require!(
            ign & sig_bit(libc::SIGTRAP) != 0,
            "SigIgn {ign:016x} lost SIGTRAP over exec"
        );
    }
    cont(pid, 0);
    w.expect_exited(pid, 0);
    w.expect_no_children();
}

/// Blocked SIGTRAP holds the legacy exec SIGTRAP back: no stop, the new image exits 0.
fn legacy_held(tc: &Tc, vfork: bool) {
    let w = harness::waiter(tc);
    let (pid, child) = start(vfork, Hide::Masked, false);
    match &child {
        Some(c) => c.expect_exited(&w, 0),
        None => w.expect_exited(pid, 0),
    }
    w.expect_no_children();
}

/// With SIGTRAP blocked, PTRACE_O_TRACEEXEC still reports the exec, mask unchanged.
fn event_stop(tc: &Tc) {
    let w = harness::waiter(tc);
    let (pid, child) = start(false, Hide::Masked, true);
    let child = child.expect("a forked tracee");
    child.expect_stopped(&w, libc::SIGSTOP);
    let blocked = sig_blocked(pid);
    require!(
        blocked & sig_bit(libc::SIGTRAP) != 0,
        "SigBlk {blocked:016x} lacks SIGTRAP"
    );
    setoptions(pid, Options::TRACEEXEC | Options::EXITKILL);
    cont(pid, 0);
    let msg = child.expect_event(&w, PtraceEvent::Exec);
    ptrace_atf::require_eq!(
        msg,
        pid.as_raw() as u64,
        "PTRACE_EVENT_EXEC's message (former tid)"
    );
    check_image(pid);
    ptrace_atf::require_eq!(
        format!("{:016x}", sig_blocked(pid)),
        format!("{blocked:016x}"),
        "SigBlk over exec"
    );
    child.cont_to_exit(&w, 0);
}

type Body = fn(&Tc);

const CASES: &[(&str, bool, &str, Body)] = &[
    (
        "traceme_exec",
        true,
        "A PTRACE_TRACEME child execs /bin/true: it stops with SIGTRAP (si_code SI_USER, si_pid itself), then exits 0",
        |tc| legacy_stop(tc, false, Hide::None),
    ),
    (
        "traceme_signalignored_exec",
        true,
        "As traceme_exec with SIGTRAP ignored: the exec SIGTRAP still stops the tracee; SigIgn keeps SIGTRAP",
        |tc| legacy_stop(tc, false, Hide::Ignored),
    ),
    (
        "traceme_signalmasked_exec",
        true,
        "A PTRACE_TRACEME child with SIGTRAP blocked execs under PTRACE_O_TRACEEXEC: PTRACE_EVENT_EXEC (message: its pid) is reported and SigBlk is unchanged",
        |tc| event_stop(tc),
    ),
    (
        "traceme_signalmasked_exec_legacy_held",
        false,
        "Without PTRACE_O_TRACEEXEC a blocked SIGTRAP holds back the legacy exec SIGTRAP: no stop, the new image exits 0",
        |tc| legacy_held(tc, false),
    ),
    (
        "traceme_vfork_exec",
        true,
        "A vfork child does PTRACE_TRACEME and execs /bin/true: SIGTRAP stop (SI_USER from itself), then exit 0",
        |tc| legacy_stop(tc, true, Hide::None),
    ),
    (
        "traceme_vfork_signalignored_exec",
        true,
        "As traceme_vfork_exec with SIGTRAP ignored: the exec SIGTRAP still stops it; SigIgn keeps SIGTRAP",
        |tc| legacy_stop(tc, true, Hide::Ignored),
    ),
    (
        "traceme_vfork_signalmasked_exec",
        true,
        "A vfork child with SIGTRAP blocked does PTRACE_TRACEME and execs: the legacy exec SIGTRAP is held back (no stop) and it exits 0",
        |tc| legacy_held(tc, true),
    ),
];

pub fn cases() -> Vec<TestCase> {
    CASES
        .iter()
        .map(|&(name, netbsd, descr, body)| {
            let mut tc = TestCase::new(name)
                .descr(descr)
                .timeout(15)
                .require_progs(&[SPAWN_PROG]);
            if netbsd {
                tc = tc.netbsd_same_name();
            }
            tc.body(body)
        })
        .collect()
}
