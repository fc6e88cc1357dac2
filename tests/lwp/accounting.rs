//! Missed-event accounting: threads make thousands of syscalls under PTRACE_SYSCALL, and
//! every entry stop must be paired with its exit stop per thread (`SyscallAccount`), every
//! thread's creation and exit reported once, and the syscall counts exact.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::unistd::Pid;
use ptrace_atf::atf::Tc;
use ptrace_atf::trace::syscall_account::{self, SyscallAccount, nr};
use ptrace_atf::trace::{Forkee, Options, PtraceEvent, Status, Want, sys};
use ptrace_atf::{harness, require, require_eq};

use crate::group::{self, resume_syscall};
use crate::tracee;

const GETPPID: u64 = libc::SYS_getppid as u64;

/// How the tracee's threads live while traced.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    /// `threads` threads, each making `syscalls` getppid calls, joined.
    Steady,
    /// 4 rounds of `threads` threads, each making `syscalls`/4 calls: threads are created
    /// and exit throughout the trace.
    Churn,
    /// `threads` threads loop on getppid; one of them execs /bin/true once they made
    /// `threads * syscalls` calls together.
    ExecFromThread,
}

const ROUNDS: u64 = 4;

/// One accounting case.
pub struct Accounting {
    pub name: &'static str,
    pub shape: Shape,
    pub descr: &'static str,
}

pub const ACCOUNTING: [Accounting; 3] = [
    Accounting {
        name: "syscall_accounting_threads",
        shape: Shape::Steady,
        descr: "Threads (config threads, default 8) each make thousands of getppid calls \
                (config syscalls, default 2000) under PTRACE_SYSCALL: every entry stop is paired \
                with its exit stop per thread, no event is missed, counts are exact, and each \
                thread's creation and PTRACE_EVENT_EXIT are reported once",
    },
    Accounting {
        name: "syscall_accounting_thread_churn",
        shape: Shape::Churn,
        descr: "Like syscall_accounting_threads, with threads created and exiting in 4 rounds \
                during the trace: no entry or exit stop is missed and every thread's creation, \
                exit event and death are reported once",
    },
    Accounting {
        name: "syscall_accounting_exec_from_thread",
        shape: Shape::ExecFromThread,
        descr: "Threads loop on getppid under PTRACE_SYSCALL and one of them execs: execve's \
                exit stop comes under the leader's tid after PTRACE_EVENT_EXEC, the killed \
                threads' syscalls end unfinished, and no entry or exit stop is missed",
    },
];

/// getppid calls per thread (tracee side).
static PER_THREAD: AtomicU64 = AtomicU64::new(0);

fn getppid() {
    // SAFETY: no arguments.
    unsafe { libc::syscall(libc::SYS_getppid) };
}

extern "C" fn steady_body(_: *mut libc::c_void) -> *mut libc::c_void {
    for _ in 0..PER_THREAD.load(Ordering::SeqCst) {
        getppid();
    }
    std::ptr::null_mut()
}

/// getppid calls made by all threads together (tracee side, ExecFromThread).
static TOTAL: AtomicU64 = AtomicU64::new(0);

/// Threads of the ExecFromThread shape that have started (tracee side).
static STARTED: tracee::Barrier = tracee::Barrier::new();

/// Waits (blocked on the barrier, a few traced syscalls at most) until every thread has started,
/// then loops on getppid; the thread whose call is number `threads * syscalls` overall execs
/// (whichever it is: a tracer waiting for any tid may serve some threads more than others).
/// Without the wait, a loaded machine let the exec come before the last threads were
/// created. (A sched_yield spin here made an unbounded number of traced syscalls: under
/// TCG on 6.1 the case ran past its timeout.)
extern "C" fn exec_body(threads: *mut libc::c_void) -> *mut libc::c_void {
    let target = threads as u64 * PER_THREAD.load(Ordering::SeqCst);
    STARTED.wait();
    loop {
        getppid();
        if TOTAL.fetch_add(1, Ordering::SeqCst) + 1 == target {
            let argv = [c"/bin/true".as_ptr(), std::ptr::null()];
            // SAFETY: NUL-terminated path and argv.
            unsafe { libc::execv(argv[0], argv.as_ptr()) };
            ptrace_atf::child_fail!("execv(/bin/true) failed");
        }
    }
}

/// Rounds of threads and syscalls per thread for `shape`.
fn plan(shape: Shape, syscalls: u64) -> (u64, u64) {
    match shape {
        Shape::Churn => (ROUNDS, syscalls / ROUNDS),
        Shape::Steady => (1, syscalls),
        Shape::ExecFromThread => (1, syscalls / ROUNDS),
    }
}

fn run_tracee(shape: Shape, threads: usize, syscalls: u64) -> i32 {
    let (rounds, per) = plan(shape, syscalls);
    let body: tracee::ThreadFn = match shape {
        Shape::ExecFromThread => exec_body,
        _ => steady_body,
    };
    PER_THREAD.store(per, Ordering::SeqCst);
    if shape == Shape::ExecFromThread {
        STARTED.init(threads as u32);
    }
    for _ in 0..rounds {
        let ts: Vec<_> = (0..threads).map(|_| tracee::spawn(body, threads)).collect();
        ts.into_iter().for_each(tracee::join);
    }
    0
}

/// The accounting scenario.
pub fn accounting(tc: &Tc, v: &Accounting) {
    let w = harness::waiter(tc);
    let threads = tc.config_u64("threads", 8).max(1) as usize;
    let syscalls = tc.config_u64("syscalls", 2000).max(ROUNDS);
    let shape = v.shape;
    let child = Forkee::traceme(move || run_tracee(shape, threads, syscalls));
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    let opts = Options::EXITKILL
        | Options::TRACESYSGOOD
        | Options::TRACECLONE
        | Options::TRACEEXIT
        | Options::TRACEEXEC;
    group::set_options(pid, opts);
    resume_syscall(pid, 0);

    let mut acc = SyscallAccount::new();
    let (mut created, mut started, mut exit_events, mut reaped) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    let mut execs = Vec::new();
    let mut killed_in_stop = 0u32;
    loop {
        let (tid, st) = w.wait_any("a syscall stop, thread event or the tracee's exit");
        match st {
            Status::SyscallStop => match syscall_account::read_stop(tid) {
                Ok(stop) => acc.on_stop(tid, stop),
                // SIGKILLed (by the exec) since the wait: its death is still reported.
                Err(Errno::ESRCH) if shape == Shape::ExecFromThread => {
                    killed_in_stop += 1;
                    continue;
                }
                Err(e) => ptrace_atf::fail!("reading the syscall stop of tid {tid}: {e}"),
            },
            Status::Event { event, .. } => match event {
                PtraceEvent::Clone => {
                    created.insert(Pid::from_raw(w.event_msg(tid, event) as i32));
                }
                PtraceEvent::Exit => {
                    require!(
                        exit_events.insert(tid),
                        "tid {} reported PTRACE_EVENT_EXIT twice",
                        tid
                    );
                    acc.on_thread_exit(tid);
                }
                PtraceEvent::Exec => {
                    let former = Pid::from_raw(w.event_msg(tid, event) as i32);
                    acc.on_exec(tid, former);
                    // The new image's exit is a new PTRACE_EVENT_EXIT under the same pid.
                    exit_events.remove(&tid);
                    execs.push((tid, former));
                }
                _ => ptrace_atf::fail!("tid {tid}: unexpected {st}"),
            },
            Status::Stopped(libc::SIGSTOP) if tid != pid && started.insert(tid) => {}
            _ if tid == pid && st.is_terminal() => {
                acc.on_thread_exit(pid);
                child.check(&w, Want::Exited(0), st);
                break;
            }
            _ if tid != pid && st.is_terminal() => {
                require!(reaped.insert(tid), "tid {} reported dead twice", tid);
                acc.on_thread_exit(tid);
                continue;
            }
            _ => ptrace_atf::fail!("tid {tid}: unexpected {st}"),
        }
        match sys::syscall(tid, 0) {
            Err(Errno::ESRCH) if shape == Shape::ExecFromThread => killed_in_stop += 1,
            r => r.unwrap_or_else(|e| ptrace_atf::fail!("PTRACE_SYSCALL of tid {tid} failed: {e}")),
        }
    }
    w.expect_no_children();
    if shape != Shape::ExecFromThread {
        require_eq!(killed_in_stop, 0);
    }

    if !acc.is_clean() {
        // The whole table goes to stderr (kept by kyua); the reason names the misses.
        eprint!("{acc}");
    }
    require!(
        acc.is_clean(),
        "missed syscall stops per syscall: {}",
        acc.missed_report()
    );
    require_eq!(acc.pending(), vec![], "threads left inside a syscall");
    let (rounds, per) = plan(shape, syscalls);
    let rounds = rounds as usize;
    require_eq!(
        created.len(),
        threads * rounds,
        "threads reported by PTRACE_EVENT_CLONE"
    );
    if shape == Shape::ExecFromThread {
        // A thread the exec kills before it first runs never reports its initial stop.
        require!(
            started.is_subset(&created),
            "initial stops {:?} of threads not created {:?}",
            started,
            created
        );
    } else {
        require_eq!(
            &started,
            &created,
            "threads with an initial stop vs threads created"
        );
    }
    let mut dead = reaped.clone();
    dead.insert(pid);
    for (_, former) in &execs {
        // The exec'ing thread became the leader: it never dies under its own tid.
        dead.insert(*former);
    }
    let mut all = created.clone();
    all.insert(pid);
    require_eq!(
        &dead,
        &all,
        "threads reported dead (reaped, or replaced by the exec)"
    );
    let exec_event = shape == Shape::ExecFromThread;
    match shape {
        Shape::Steady | Shape::Churn => {
            let calls = (threads * rounds) as u64 * per;
            let g = acc.get(GETPPID);
            require_eq!(
                (g.calls, g.exits),
                (calls, calls),
                "getppid entries and exits"
            );
            require_eq!(
                acc.get(nr::EXIT).no_return,
                (threads * rounds) as u64,
                "threads' exit calls"
            );
            require_eq!(acc.get(nr::EXIT_GROUP).no_return, 1, "exit_group calls");
            let unfinished: u64 = acc.counts().values().map(|c| c.unfinished).sum();
            require_eq!(
                unfinished,
                0,
                "syscalls cut short though every thread was joined"
            );
            require_eq!(exit_events, all, "threads reporting PTRACE_EVENT_EXIT");
        }
        Shape::ExecFromThread => {
            require_eq!(execs.len(), 1, "PTRACE_EVENT_EXEC reports");
            let (leader, former) = execs[0];
            require_eq!(leader, pid, "PTRACE_EVENT_EXEC reported under");
            require!(
                created.contains(&former),
                "the exec'ing tid {} was never created",
                former
            );
            let e = acc.get(nr::EXECVE);
            require_eq!(
                (e.calls, e.exits, e.errors),
                (1, 1, 0),
                "execve entries, paired exits, errors"
            );
            require_eq!(
                acc.get(nr::EXIT_GROUP).no_return,
                1,
                "exit_group of /bin/true"
            );
        }
    }
    require_eq!(!execs.is_empty(), exec_event, "exec events: {:?}", execs);
}
