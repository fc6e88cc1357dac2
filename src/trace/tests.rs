//! Tests of the toolkit against the real kernel. Every test that forks is `#[serial]`, so no
//! test's wait for any child steals another test's child.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serial_test::serial;

use super::*;

/// Runs `f`, which must panic, and returns its message.
fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Starts a test with no children left over from a failed earlier test.
fn fresh() {
    let _ = reap_all();
}

#[test]
#[serial]
fn traceme_child_under_every_waiter() {
    fresh();
    for kind in WaiterKind::all() {
        let w = Waiter::new(kind);
        let child = Forkee::traceme(|| 5);
        child.expect_stopped(&w, libc::SIGSTOP);
        sys::cont(child.pid(), 0).unwrap();
        child.expect_exited(&w, 5);
        w.expect_no_children();
    }
}

#[test]
#[serial]
fn try_wait_and_rusage() {
    fresh();
    for kind in WaiterKind::all().into_iter().filter(|k| k.takes_options()) {
        let w = Waiter::new(kind);
        let child = Forkee::traceme(|| 0);
        let pid = child.pid();
        w.expect_stopped(pid, libc::SIGSTOP);
        assert_eq!(w.try_wait(pid), None, "{kind}");
        sys::cont(pid, 0).unwrap();
        let (status, ru) = w.wait_rusage(pid, "the exit");
        assert_eq!(status, Status::Exited(0));
        assert_eq!(ru.is_some(), kind.gives_rusage(), "{kind}");
        w.expect_no_children();
    }
}

#[test]
#[serial]
fn mismatch_prints_both_sides() {
    fresh();
    let w = Waiter::new(WaiterKind::Waitpid);
    let child = Forkee::spawn(|| 1);
    let pid = child.pid();
    let msg = panic_message(|| w.expect_stopped(pid, libc::SIGSTOP));
    assert_eq!(
        msg,
        format!("pid {pid}: expected stopped by SIGSTOP, got exited with code 1 (waiter waitpid)")
    );
    w.expect_no_children();
}

#[test]
#[serial]
fn deadline_fires_with_the_awaited_event() {
    fresh();
    for kind in WaiterKind::all() {
        let w = Waiter::new(kind).with_deadline(Duration::from_millis(200));
        let child = Forkee::spawn(|| {
            std::thread::sleep(Duration::from_secs(30));
            0
        });
        let pid = child.pid();
        let msg = panic_message(|| {
            w.wait(pid, "the fork event of the parent");
        });
        let head = format!(
            "timed out after 200ms waiting for the fork event of the parent from pid {pid} \
             (waiter {kind}) (its threads now: {pid} S"
        );
        assert!(msg.starts_with(&head), "{msg}");
        kill(pid, Signal::SIGKILL).unwrap();
        child.expect_signaled(&w, libc::SIGKILL, false);
        w.expect_no_children();
    }
}

#[test]
#[serial]
fn child_require_failure_reaches_the_parent() {
    fresh();
    let w = Waiter::new(WaiterKind::Waitpid);
    let line = line!() + 2;
    let child = Forkee::spawn(|| {
        crate::child_require_eq!(1 + 1, 3);
        0
    });
    let pid = child.pid();
    let msg = panic_message(|| child.expect_exited(&w, 0));
    assert_eq!(
        msg,
        format!("child {pid} failed: src/trace/tests.rs:{line}: 1 + 1 == 3 failed: 2 != 3")
    );

    let child = Forkee::spawn(|| {
        crate::child_require!(false, "value was {}", 42);
        0
    });
    let msg = panic_message(|| child.expect_stopped(&w, libc::SIGSTOP));
    assert!(msg.ends_with(": value was 42"), "{msg}");

    let child = Forkee::spawn(|| panic!("boom"));
    let msg = panic_message(|| child.expect_exited(&w, 0));
    assert!(msg.ends_with("failed: panicked: boom"), "{msg}");

    // A thread of the child reports to the child's slot too.
    extern "C" fn thread_fails(_: *mut libc::c_void) -> *mut libc::c_void {
        crate::child_require!(false, "from a thread");
        std::ptr::null_mut()
    }
    let child = Forkee::spawn(|| {
        let mut t: libc::pthread_t = 0;
        // SAFETY: a thread running thread_fails, which _exits the process.
        unsafe {
            libc::pthread_create(&mut t, std::ptr::null(), thread_fails, std::ptr::null_mut());
            libc::pthread_join(t, std::ptr::null_mut());
        }
        0
    });
    let msg = panic_message(|| child.expect_exited(&w, 0));
    assert!(msg.ends_with(": from a thread"), "{msg}");

    // A grandchild forked with plain fork(2) from the child's thread reports to the child's
    // slot (UnrelatedTracer relies on it: its tracer is such a grandchild).
    let child = Forkee::spawn(|| {
        // SAFETY: the grandchild only fails (write + _exit).
        match unsafe { libc::fork() } {
            0 => {
                crate::child_require!(false, "from a grandchild");
                0
            }
            pid => {
                let mut st = 0;
                // SAFETY: waiting for our own child.
                unsafe { libc::waitpid(pid, &mut st, 0) };
                7
            }
        }
    });
    let msg = panic_message(|| child.expect_exited(&w, 0));
    assert!(msg.ends_with(": from a grandchild"), "{msg}");
    w.expect_no_children();
}

#[test]
#[serial]
fn vfork_exit_reports_the_vfork_event() {
    fresh();
    for kind in WaiterKind::all() {
        let w = Waiter::new(kind);
        let child = Forkee::traceme(|| {
            let gc = match vfork_exit(3) {
                Ok(gc) => gc,
                Err(e) => crate::child_fail!("vfork failed: {e}"),
            };
            let mut status = 0;
            // SAFETY: waitpid on our own child.
            let r = unsafe { libc::waitpid(gc.as_raw(), &mut status, 0) };
            crate::child_require_eq!(r, gc.as_raw());
            crate::child_require_eq!(Status::from_raw(status), Status::Exited(3));
            0
        });
        let pid = child.pid();
        child.expect_stopped(&w, libc::SIGSTOP);
        sys::setoptions(pid, Options::TRACEVFORK | exit_kill_default()).unwrap();
        sys::cont(pid, 0).unwrap();
        let gc = Pid::from_raw(child.expect_event(&w, PtraceEvent::Vfork) as i32);
        assert_eq!(proc::ppid(gc), pid);
        w.expect_stopped(gc, expect::AUTO_ATTACH_FIRST_STOP);
        sys::cont(gc, 0).unwrap();
        w.expect_exited(gc, 3);
        sys::cont(pid, 0).unwrap();
        // The grandchild's exit raised SIGCHLD in the tracee: a signal-delivery stop.
        child.expect_stopped(&w, libc::SIGCHLD);
        sys::cont(pid, libc::SIGCHLD).unwrap();
        child.expect_exited(&w, 0);
        w.expect_no_children();
    }
}

#[test]
#[serial]
fn vfork_exec_runs_the_program() {
    fresh();
    let w = Waiter::new(WaiterKind::Waitpid);
    let path = c"/bin/sh";
    let pid = vfork_exec(path, &[c"sh", c"-c", c"exit 7"], &[]).unwrap();
    w.expect_exited(pid, 7);
    let pid = vfork_exec(c"/nonexistent", &[c"x"], &[]).unwrap();
    w.expect_exited(pid, vfork::EXEC_FAILED_CODE);
    w.expect_no_children();
}

extern "C" fn clone_fn(arg: *mut libc::c_void) -> libc::c_int {
    arg as usize as libc::c_int
}

#[test]
#[serial]
fn clone_child_runs_and_exits() {
    fresh();
    let w = Waiter::new(WaiterKind::Waitid);
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
    // SAFETY: clone_fn only reads its integer argument.
    let pid = unsafe { clone_child(clone_fn, 9 as *mut libc::c_void, flags) }.unwrap();
    w.expect_exited(pid, 9);
    // Exit signal 0: a "clone" child, waitable only thanks to __WALL.
    // SAFETY: as above; without CLONE_VM the child has its own memory.
    let pid = unsafe { clone_child(clone_fn, 4 as *mut libc::c_void, libc::CLONE_VFORK) };
    let pid = pid.unwrap();
    w.expect_exited(pid, 4);
    w.expect_no_children();
}

#[test]
#[serial]
fn attach_stop_siginfo() {
    fresh();
    let w = Waiter::new(WaiterKind::Waitpid);
    let child = Forkee::spawn(|| {
        loop {
            // SAFETY: pause is async-signal-safe.
            unsafe { libc::pause() };
        }
    });
    let pid = child.pid();
    sys::attach(pid).unwrap();
    w.expect_stopped(pid, expect::ATTACH_STOP_SIGNAL);
    let info = sys::getsiginfo(pid).unwrap();
    assert_eq!(info.si_signo, libc::SIGSTOP);
    assert_eq!(info.si_code, expect::ATTACH_STOP_SI_CODE);
    assert_eq!(proc::tracer_pid(pid), nix::unistd::gettid().as_raw());
    assert_eq!(proc::state(pid), 't');
    let left = reap_all();
    assert_eq!(left.leaked, vec![pid.as_raw()]);
    w.expect_no_children();
}

#[test]
#[serial]
fn reap_all_reaps_a_leaked_stopped_tracee() {
    fresh();
    let w = Waiter::new(WaiterKind::Waitpid);
    assert!(reap_all().is_clean());
    let child = Forkee::traceme(|| 0);
    w.expect_stopped(child.pid(), libc::SIGSTOP);
    let zombie = Forkee::spawn(|| 0);
    while proc::try_state(zombie.pid()) != Some('Z') {
        std::thread::yield_now();
    }
    let left = reap_all();
    assert_eq!(left.leaked, vec![child.pid().as_raw()]);
    assert_eq!(left.zombies, vec![zombie.pid().as_raw()]);
    assert!(left.unreaped.is_empty());
    w.expect_no_children();
    assert!(reap_all().is_clean());
}

#[test]
fn waiter_from_env() {
    let w = Waiter::from_env(None, "/usr/tests/t_fork_wait4").unwrap();
    assert_eq!(w.kind(), WaiterKind::Wait4);
    let w = Waiter::from_env(Some("pidfd"), "t_fork_wait4").unwrap();
    assert_eq!(w.kind(), WaiterKind::Pidfd);
    assert_eq!(w.deadline(), DEFAULT_DEADLINE);
    let w = Waiter::from_env(None, "t_fork").unwrap();
    assert_eq!(w.kind(), WaiterKind::Waitpid);
    let err = Waiter::from_env(Some("bogus"), "t_fork").unwrap_err();
    assert_eq!(
        err,
        "unknown waiter 'bogus' (valid: wait, wait3, wait4, waitid, waitpid, pidfd)"
    );
}

#[test]
#[serial]
fn untraced_group_stop_and_continue() {
    fresh();
    for kind in WaiterKind::all().into_iter().filter(|k| k.takes_options()) {
        let w = Waiter::new(kind).with_continued(true);
        let child = Forkee::spawn(|| {
            // SAFETY: raise and pause are async-signal-safe.
            unsafe { libc::raise(libc::SIGSTOP) };
            // Stay alive: a zombie would be reported before its continuation.
            loop {
                // SAFETY: pause has no preconditions.
                unsafe { libc::pause() };
            }
        });
        child.expect_stopped(&w, libc::SIGSTOP);
        kill(child.pid(), Signal::SIGCONT).unwrap();
        assert_eq!(w.wait(child.pid(), "the continuation"), Status::Continued);
        kill(child.pid(), Signal::SIGKILL).unwrap();
        child.expect_signaled(&w, libc::SIGKILL, false);
        w.expect_no_children();
    }
}
