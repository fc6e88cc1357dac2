//! Linux-only fork-event behaviour: exit signals and PTRACE_EVENT_CLONE, the unordered pair
//! of reports at a creation event, a traced clone grandchild reaped with __WALL, the tracer's
//! death under PTRACE_O_EXITKILL, and PTRACE_EVENT_EXEC's former-tid message.

use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::harness;
use ptrace_atf::trace::spawn::child_waitpid;
use ptrace_atf::trace::topology::{Channel, become_subreaper};
use ptrace_atf::trace::{Forkee, Options, PtraceEvent, Status, Waiter, Want, expect, probe, proc};
use ptrace_atf::trace::{child_thread, ops};
use ptrace_atf::{child_fail, child_require_eq};

use crate::common::{EXIT_CODE, How, cont, forker_body, setoptions};
use crate::matrix;

/// Exit-signal cases: (name, clone3 flags, exit signal, options, what is promised).
const EXIT_SIGNAL_CASES: &[(&str, u64, i32, Options)] = &[
    ("clone3_exitsig_none_traceclone", 0, 0, Options::TRACECLONE),
    (
        "clone3_exitsig_sigusr1_traceclone",
        0,
        libc::SIGUSR1,
        Options::TRACECLONE,
    ),
    ("clone3_exitsig_none_tracefork", 0, 0, Options::TRACEFORK),
    (
        "clone3_exitsig_sigchld_traceclone",
        0,
        libc::SIGCHLD,
        Options::TRACECLONE,
    ),
    (
        "clone3_vfork_exitsig_none_tracevfork",
        libc::CLONE_VFORK as u64,
        0,
        Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
    ),
];

/// Waits (any child) for `pid` and asserts `want`.
#[track_caller]
fn next_is(w: &Waiter, pid: Pid, want: Want) {
    let (got_pid, st) = w.wait_any(ptrace_atf::trace::want::Awaited(want));
    ptrace_atf::require_eq!(got_pid, pid, "{}", format!("the pid reporting next ({st})"));
    w.check(pid, want, st);
}

/// fork under TRACEFORK, repeated `iterations` times (default 10): the forker's event and
/// the child's first stop may come in either order and both must come.
/// The minimal fork-trace-exit scenario (the loop-rate figure's case): a PTRACE_TRACEME
/// child stops itself, is continued, exits 5; nothing is left to wait for.
fn stop_exit(tc: &Tc) {
    let w = harness::waiter(tc);
    let child = Forkee::traceme(|| EXIT_CODE);
    child.expect_stopped(&w, expect::AUTO_ATTACH_FIRST_STOP);
    child.cont_to_exit(&w, EXIT_CODE);
}

fn any_order(tc: &Tc) {
    let w = harness::waiter(tc);
    let n = tc.config_u64("iterations", 10);
    for _ in 0..n {
        let f = ops::traced_child_with(&w, Options::TRACEFORK, || forker_body(How::Fork));
        cont(f.pid(), 0);
        let (g, _child_first) = w.expect_creation(f.pid(), PtraceEvent::Fork);
        cont(g, 0);
        cont(f.pid(), 0);
        next_is(&w, g, Want::Exited(0));
        next_is(&w, f.pid(), Want::Stopped(libc::SIGCHLD));
        cont(f.pid(), 0);
        next_is(&w, f.pid(), Want::Exited(EXIT_CODE));
    }
    w.expect_no_children();
}

/// The forker of `grandchild_wall`: a clone child with no exit signal is invisible to
/// waitpid without __WALL/__WCLONE, and reaped with __WALL once the tracer released it.
fn clone_child_forker() -> i32 {
    let how = How::Clone3(0, 0);
    let g = match how.create() {
        Ok(g) => g,
        Err(e) => child_fail!("clone3 failed: {e}"),
    };
    match child_waitpid(g, 0) {
        Err(e) => child_require_eq!(e, nix::errno::Errno::ECHILD),
        Ok(st) => child_fail!("waitpid({g}, 0) of a clone child returned {st}, not ECHILD"),
    }
    match child_waitpid(g, libc::__WALL) {
        Ok(st) => child_require_eq!(st, Status::Exited(how.forkee_exit())),
        Err(e) => child_fail!("waitpid({g}, __WALL) failed: {e}"),
    }
    EXIT_CODE
}

/// A traced grandchild that is a clone child (exit signal 0): the tracer reaps it (under
/// the wait() waiter without __WALL, which a traced child does not need since Linux 4.7),
/// then its parent reaps it with __WALL.
fn grandchild_wall(tc: &Tc) {
    let w = harness::waiter(tc);
    let f = ops::traced_child_with(&w, Options::TRACECLONE, clone_child_forker);
    cont(f.pid(), 0);
    let (g, _) = w.expect_creation(f.pid(), PtraceEvent::Clone);
    ptrace_atf::require_eq!(proc::ppid(g), f.pid(), "the grandchild's parent");
    cont(g, 0);
    cont(f.pid(), 0);
    next_is(&w, g, Want::Exited(15));
    let (pid, st) = w.wait_any("the forker's exit");
    ptrace_atf::require_eq!(pid, f.pid(), "the pid reporting next");
    f.check(&w, Want::Exited(EXIT_CODE), st);
    w.expect_no_children();
}

/// The tracer dies with its tracee stopped at a fork event and the auto-attached child at
/// its first stop: PTRACE_O_EXITKILL (inherited by the child) kills both.
fn exitkill(tc: &Tc) {
    let w = harness::waiter(tc);
    harness::require_pid_waiter(tc, &w);
    become_subreaper();
    let pids = Channel::new();
    let tracer = Forkee::spawn(|| {
        let f = ops::traced_child_with(&w, Options::TRACEFORK, || forker_body(How::Fork));
        cont(f.pid(), 0);
        let g = Pid::from_raw(f.expect_event(&w, PtraceEvent::Fork) as i32);
        w.expect_stopped(g, expect::AUTO_ATTACH_FIRST_STOP);
        pids.send_pid(f.pid());
        pids.send_pid(g);
        0
    });
    tracer.expect_exited(&w, 0);
    let f = pids.recv_pid("the tracee's pid");
    let g = pids.recv_pid("the auto-attached child's pid");
    // Orphaned to us (a subreaper): the tracee when its tracer died, its child when it died.
    w.expect_signaled(f, libc::SIGKILL, false);
    w.expect_signaled(g, libc::SIGKILL, false);
    w.expect_no_children();
}

/// exec under TRACEEXEC from the only thread (message: the pid) or from a second thread
/// (TRACECLONE too): the event is reported under the leader's pid with the exec'ing
/// thread's former tid as its message, and only one thread is left.
/// execv("/bin/true"); in a forked child, fails the child if it returns.
fn exec_true() -> ! {
    let argv = [c"true".as_ptr(), std::ptr::null()];
    // SAFETY: NUL-terminated path and argv.
    unsafe { libc::execv(c"/bin/true".as_ptr(), argv.as_ptr()) };
    child_fail!("execv(/bin/true) failed: {}", nix::errno::Errno::last())
}

extern "C" fn exec_true_thread(_: *mut std::ffi::c_void) -> *mut std::ffi::c_void {
    exec_true()
}

fn exec_tid(tc: &Tc, threaded: bool) {
    let w = harness::waiter(tc);
    if threaded {
        harness::require_pid_waiter(tc, &w);
        if let Err(why) = probe::waiter_names_threads(w.kind()) {
            tc.skip(why);
        }
    }
    let f = Forkee::traceme(move || {
        if threaded {
            // A pthread, not std::thread: see child_thread.
            child_thread::spawn(exec_true_thread, 0);
            loop {
                // SAFETY: pause has no arguments; the exec kills this thread.
                unsafe { libc::pause() };
            }
        }
        exec_true()
    });
    f.expect_stopped(&w, libc::SIGSTOP);
    let mut options = Options::TRACEEXEC | Options::EXITKILL;
    if threaded {
        options |= Options::TRACECLONE;
    }
    setoptions(f.pid(), options);
    cont(f.pid(), 0);
    let mut former = f.pid();
    if threaded {
        let t = Pid::from_raw(f.expect_event(&w, PtraceEvent::Clone) as i32);
        w.expect_stopped(t, expect::AUTO_ATTACH_FIRST_STOP);
        // The leader first: once resumed, the thread's exec kills the leader, and a leader
        // still in its event stop could no longer be resumed (ESRCH).
        cont(f.pid(), 0);
        cont(t, 0);
        former = t;
    }
    let msg = f.expect_event(&w, PtraceEvent::Exec);
    ptrace_atf::require_eq!(
        msg,
        former.as_raw() as u64,
        "PTRACE_EVENT_EXEC's message (the former tid)"
    );
    ptrace_atf::require_eq!(proc::threads(f.pid()), vec![f.pid()], "threads after exec");
    f.cont_to_exit(&w, 0);
}

type Body = fn(&Tc);

const OTHER_CASES: &[(&str, &str, Body)] = &[
    (
        "traceme_stop_exit",
        "A PTRACE_TRACEME child that stops itself with SIGSTOP is continued and exits 5; then wait fails with ECHILD (the minimal fork-trace-exit case)",
        stop_exit,
    ),
    (
        "fork_event_and_child_stop_any_order",
        "fork under TRACEFORK, 10 times (config: iterations): the forker's PTRACE_EVENT_FORK and the child's first SIGSTOP arrive in either order, both arrive, and the event names the stopped child",
        any_order,
    ),
    (
        "traced_clone_grandchild_reaped_wall",
        "A clone child with no exit signal, auto-attached by TRACECLONE: its tracer (grandparent) reaps it, without __WALL under wait(); its parent gets ECHILD without __WALL and reaps it with __WALL",
        grandchild_wall,
    ),
    (
        "exitkill_tracer_death_kills_tracees",
        "A tracer exits while its tracee is stopped at PTRACE_EVENT_FORK and the auto-attached child at its first stop: PTRACE_O_EXITKILL (inherited by the child) kills both",
        exitkill,
    ),
    (
        "exec_event_msg_pid",
        "exec under PTRACE_O_TRACEEXEC from a single-threaded tracee: PTRACE_EVENT_EXEC with its pid as the message",
        |tc| exec_tid(tc, false),
    ),
    (
        "exec_event_msg_former_tid",
        "exec from a non-leader thread under TRACEEXEC|TRACECLONE: PTRACE_EVENT_EXEC is reported under the leader's pid with the thread's former tid as the message; one thread is left",
        |tc| exec_tid(tc, true),
    ),
];

pub fn cases() -> Vec<TestCase> {
    let mut out = Vec::new();
    for &(name, flags, sig, options) in EXIT_SIGNAL_CASES {
        let how = How::Clone3(flags, sig);
        let descr = format!(
            "clone3(flags {flags:#x}, exit_signal {}) traced with {options}: {}",
            ptrace_atf::trace::sig_name(sig),
            matrix::promise(&crate::common::Plan::new(how, options))
        );
        out.push(
            TestCase::new(name)
                .descr(&descr)
                .timeout(20)
                .body(move |tc| matrix::scenario(tc, how, options, false)),
        );
    }
    for &(name, descr, body) in OTHER_CASES {
        let mut tc = TestCase::new(name).descr(descr).timeout(20);
        if name.starts_with("exec") {
            tc = tc.require_progs(&["/bin/true"]);
        }
        out.push(tc.body(body));
    }
    out
}
