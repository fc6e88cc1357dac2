//! Per-thread signal stops: `thread_concurrent_signals*` (many threads signal themselves at
//! once) and `resume` (one thread held in its stop while the others run).

use ptrace_atf::atf::timescale::scaled;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use ptrace_atf::atf::Tc;
use ptrace_atf::trace::{Forkee, Options, PtraceEvent, Status, Want, expect, proc, sig_name};
use ptrace_atf::{child_require_eq, harness, require, require_eq};

use crate::group::{self, cont, siginfo};
use crate::tracee;

/// Threads of the `thread_concurrent_signals*` tracee.
pub const SIGNAL_THREADS: usize = 50;

/// What the tracer does with each reported signal.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Handling {
    /// Suppresses it (resumes with signal 0).
    Discard,
    /// Re-injects it; the tracee ignores it (SIG_IGN).
    SigIgn,
    /// Re-injects it into a handler, which counts it in a thread-local counter.
    Handler,
}

/// One `thread_concurrent_signals*` case.
pub struct Concurrent {
    pub name: &'static str,
    pub handling: Handling,
    pub descr: &'static str,
}

pub const CONCURRENT: [Concurrent; 3] = [
    Concurrent {
        name: "thread_concurrent_signals",
        handling: Handling::Discard,
        descr: "50 threads signal themselves at once: each signal is reported exactly once, by \
                the sending thread, with a matching siginfo; the tracer discards them",
    },
    Concurrent {
        name: "thread_concurrent_signals_sig_ign",
        handling: Handling::SigIgn,
        descr: "50 threads signal themselves at once while the signals are SIG_IGN: each is \
                still reported exactly once by the sending thread, then re-injected",
    },
    Concurrent {
        name: "thread_concurrent_signals_handler",
        handling: Handling::Handler,
        descr: "50 threads signal themselves at once: each signal is reported exactly once by \
                the sending thread and re-injected into a handler that runs once in that thread",
    },
];

static BARRIER: tracee::Barrier = tracee::Barrier::new();
static HANDLING: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static HANDLED: Cell<u32> = const { Cell::new(0) };
}

extern "C" fn count_signal(_sig: libc::c_int) {
    HANDLED.with(|h| h.set(h.get() + 1));
}

extern "C" fn signal_body(_: *mut libc::c_void) -> *mut libc::c_void {
    BARRIER.wait();
    tracee::tgkill_self(expect::concurrent_signal(tracee::gettid()));
    if HANDLING.load(Ordering::SeqCst) == Handling::Handler as usize {
        child_require_eq!(HANDLED.with(Cell::get), 1);
    }
    std::ptr::null_mut()
}

/// The `thread_concurrent_signals*` scenario.
pub fn concurrent_signals(tc: &Tc, v: &Concurrent) {
    let w = harness::waiter(tc);
    let handling = v.handling;
    let child = Forkee::traceme(move || {
        HANDLING.store(handling as usize, Ordering::SeqCst);
        let disposition = match handling {
            Handling::Discard => None,
            Handling::SigIgn => Some(libc::SIG_IGN),
            Handling::Handler => Some(count_signal as *const () as libc::sighandler_t),
        };
        for sig in disposition.map_or(&[][..], |_| &expect::CONCURRENT_SIGNALS[..]) {
            tracee::set_handler(*sig, disposition.unwrap_or(libc::SIG_DFL));
        }
        BARRIER.init(SIGNAL_THREADS as u32);
        let threads: Vec<_> = (0..SIGNAL_THREADS)
            .map(|_| tracee::spawn(signal_body, 0))
            .collect();
        threads.into_iter().for_each(tracee::join);
        5
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    group::set_options(pid, Options::EXITKILL | Options::TRACECLONE);
    cont(pid, 0);

    let mut created = BTreeSet::new();
    let mut started = BTreeSet::new();
    let mut signals: BTreeMap<Pid, u32> = BTreeMap::new();
    loop {
        let (tid, st) = w.wait_any("a thread's signal or the tracee's exit");
        match st {
            Status::Event {
                event: PtraceEvent::Clone,
                ..
            } => {
                created.insert(group::new_thread(&w, tid));
                cont(tid, 0);
            }
            Status::Stopped(libc::SIGSTOP) if tid != pid && started.insert(tid) => cont(tid, 0),
            Status::Stopped(sig) => {
                let si = siginfo(tid);
                require_eq!(si.si_signo, sig, "tid {}: siginfo vs wait status", tid);
                require_eq!(si.si_code, expect::RAISE_SI_CODE, "tid {}: si_code", tid);
                require_eq!(
                    sig_name(sig),
                    sig_name(expect::concurrent_signal(tid.as_raw())),
                    "tid {}: the signal this thread sent",
                    tid
                );
                *signals.entry(tid).or_default() += 1;
                cont(
                    tid,
                    if handling == Handling::Discard {
                        0
                    } else {
                        sig
                    },
                );
            }
            // A thread still exiting when the leader calls exit_group(5) is reaped with the
            // group's exit code (wait_task_zombie reports group_exit_code after a group exit).
            Status::Exited(0 | 5) if tid != pid => {}
            _ if tid == pid => {
                child.check(&w, Want::Exited(5), st);
                break;
            }
            _ => ptrace_atf::fail!("tid {tid}: unexpected {st}"),
        }
    }
    w.expect_no_children();
    require_eq!(created.len(), SIGNAL_THREADS, "threads reported created");
    let wrong: Vec<_> = created
        .iter()
        .map(|t| (*t, signals.get(t).copied().unwrap_or(0)))
        .filter(|(_, n)| *n != 1)
        .collect();
    require!(
        wrong.is_empty(),
        "threads whose signal was not reported exactly once (tid, times): {:?}",
        wrong
    );
    let stray: Vec<_> = signals.keys().filter(|t| !created.contains(t)).collect();
    require!(
        stray.is_empty(),
        "signal stops from threads not created: {:?}",
        stray
    );
}

static PROGRESS: AtomicU64 = AtomicU64::new(0);

extern "C" fn resume_body(_: *mut libc::c_void) -> *mut libc::c_void {
    tracee::tgkill_self(libc::SIGUSR1);
    tracee::tgkill_self(libc::SIGUSR2);
    tracee::pause_forever()
}

/// `resume`: a thread stops with SIGUSR1 and is held there while the leader keeps running
/// (its progress counter grows, nothing is reported); the leader is then interrupted with a
/// SIGSTOP and both are resumed; the held thread goes on to report SIGUSR2.
pub fn resume(tc: &Tc) {
    let w = harness::waiter(tc);
    let child = Forkee::traceme(|| {
        tracee::spawn(resume_body, 0);
        loop {
            PROGRESS.fetch_add(1, Ordering::SeqCst);
            std::hint::spin_loop();
        }
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    group::set_options(pid, Options::EXITKILL | Options::TRACECLONE);
    cont(pid, 0);

    let mut thread = None;
    let mut held = false;
    while !held {
        let (tid, st) = w.wait_any("the new thread's SIGUSR1");
        match st {
            Status::Event {
                event: PtraceEvent::Clone,
                ..
            } if tid == pid => {
                thread = Some(group::new_thread(&w, pid));
                cont(tid, 0);
            }
            Status::Stopped(libc::SIGSTOP) if tid != pid => cont(tid, 0),
            Status::Stopped(libc::SIGUSR1) if Some(tid) == thread => held = true,
            _ => ptrace_atf::fail!("tid {tid}: unexpected {st} before the SIGUSR1 stop"),
        }
    }
    let thread = thread.unwrap_or_else(|| ptrace_atf::fail!("no clone event"));

    // Held: the thread stays in its stop, the leader runs (seen through the held thread).
    let before = group::peek(thread, &PROGRESS);
    let start = Instant::now();
    while group::peek(thread, &PROGRESS) < before + 100 {
        require!(
            start.elapsed() < scaled(Duration::from_secs(5)),
            "the leader made no progress while tid {} was held",
            thread
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    require_eq!(
        proc::task_state(pid, thread),
        't',
        "state of the held thread"
    );
    if w.kind().takes_options() {
        require_eq!(w.try_wait(pid), None, "a report while one thread is held");
    }

    group::tgkill(pid, pid, libc::SIGSTOP);
    let (tid, st) = w.wait_any("the leader's SIGSTOP");
    require_eq!(
        (tid, st),
        (pid, Status::Stopped(libc::SIGSTOP)),
        "the interrupted leader"
    );
    require_eq!(
        siginfo(thread).si_signo,
        libc::SIGUSR1,
        "the held thread is still at its SIGUSR1"
    );
    cont(pid, 0);
    cont(thread, 0);
    let (tid, st) = w.wait_any("the resumed thread's SIGUSR2");
    require_eq!(
        (tid, st),
        (thread, Status::Stopped(libc::SIGUSR2)),
        "the resumed thread"
    );
    group::kill_and_reap(&w, pid, &BTreeSet::from([thread]));
}
