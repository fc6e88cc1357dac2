//! A vfork child that does PTRACE_TRACEME and then creates and reaps a grandchild (NetBSD
//! traceme_vfork_fork, traceme_vfork_vfork, traceme_vfork_clone{,_vm,_fs,_files,_vfork}).
//! No option is set, so the tracer only sees the child exit 5.
//!
//! Linux difference: the vfork child blocks SIGCHLD first. Its tracer is the vfork parent,
//! suspended until the child exits; a traced child stops at every signal, so the SIGCHLD of
//! the grandchild's exit would stop it for a tracer that cannot run (a deadlock by design).

use ptrace_atf::netbsd::SameName;
use std::ffi::{c_int, c_void};
use std::ptr;

use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::harness;
use ptrace_atf::trace::spawn::{child_waitpid, exit_with_arg};
use ptrace_atf::trace::{Status, clone_child, sys, vfork_exit};

const CHILD_EXIT: i32 = 5;
const GRANDCHILD_EXIT: i32 = 15;

/// How the vfork child creates the grandchild.
#[derive(Clone, Copy, Debug)]
enum Make {
    /// Raw fork(2): the vfork child shares our memory, so no glibc fork handlers.
    Fork,
    Vfork,
    Clone(c_int),
}

/// The vfork child; `arg` points to a `Make` in the suspended parent.
extern "C" fn vfork_child(arg: *mut c_void) -> c_int {
    // SAFETY: arg points to the parent's Make, alive while the parent is suspended.
    let make = unsafe { *(arg as *const Make) };
    if sys::traceme().is_err() {
        return 101;
    }
    // SAFETY: plain signal-mask syscall (see the module documentation).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, ptr::null_mut());
    }
    let code = GRANDCHILD_EXIT as usize as *mut c_void;
    let grandchild = match make {
        // SAFETY: raw fork; the grandchild has its own copy of memory and only exits.
        Make::Fork => match unsafe { libc::syscall(libc::SYS_fork) } {
            // SAFETY: _exit never returns.
            0 => unsafe { libc::_exit(GRANDCHILD_EXIT) },
            r => nix::errno::Errno::result(r).map(|p| Pid::from_raw(p as i32)),
        },
        Make::Vfork => vfork_exit(GRANDCHILD_EXIT),
        // SAFETY: exit_with_arg only returns its argument.
        Make::Clone(flags) => unsafe { clone_child(exit_with_arg, code, flags | libc::SIGCHLD) },
    };
    let Ok(grandchild) = grandchild else {
        return 102;
    };
    match child_waitpid(grandchild, libc::__WALL) {
        Ok(Status::Exited(GRANDCHILD_EXIT)) => CHILD_EXIT,
        Ok(_) => 103,
        Err(_) => 104,
    }
}

fn scenario(tc: &Tc, make: Make) {
    let w = harness::waiter(tc);
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
    // SAFETY: the child only makes syscalls and reads `make`, which outlives it.
    let child = unsafe { clone_child(vfork_child, (&raw const make).cast_mut().cast(), flags) };
    let child = child.unwrap_or_else(|e| ptrace_atf::fail!("vfork (clone) failed: {e}"));
    // 101: TRACEME failed, 102: creating the grandchild failed, 103: it did not exit 15,
    // 104: waitpid failed.
    w.expect_exited(child, CHILD_EXIT);
    w.expect_no_children();
}

const CASES: &[(&str, Make)] = &[
    ("traceme_vfork_fork", Make::Fork),
    ("traceme_vfork_vfork", Make::Vfork),
    ("traceme_vfork_clone", Make::Clone(0)),
    ("traceme_vfork_clone_vm", Make::Clone(libc::CLONE_VM)),
    ("traceme_vfork_clone_fs", Make::Clone(libc::CLONE_FS)),
    ("traceme_vfork_clone_files", Make::Clone(libc::CLONE_FILES)),
    ("traceme_vfork_clone_vfork", Make::Clone(libc::CLONE_VFORK)),
];

pub fn cases() -> Vec<TestCase> {
    CASES
        .iter()
        .map(|&(name, make)| {
            let descr = format!(
                "A vfork child does PTRACE_TRACEME, blocks SIGCHLD, creates a grandchild with \
                 {make:?} and reaps its exit 15; with no option set the tracer sees only the \
                 child exit 5"
            );
            TestCase::new(name)
                .descr(&descr)
                .timeout(15)
                .netbsd_same_name()
                .body(move |tc| scenario(tc, make))
        })
        .collect()
}
