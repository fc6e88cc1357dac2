//! thread_concurrent_*: 50 threads per kind hit an execute breakpoint (DR0), a write
//! watchpoint (DR1) and/or signal themselves, all at once after a barrier; the tracer arms
//! DR0/DR1 on every new thread at its first stop and must see each event exactly once per
//! thread. NetBSD skips these (PR kern/54960); here they run.

use ptrace_atf::netbsd::SameName;
use std::cell::{Cell, UnsafeCell};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::c_void;
use std::mem::MaybeUninit;

use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::dbregs::{self, Cond, Len};
use ptrace_atf::trace::ops;
use ptrace_atf::trace::{Options, PtraceEvent, Status, Want, child_thread, expect, sys};
use ptrace_atf::{child_fail, child_require_eq, harness, require, require_eq};

use crate::common::{self, EXIT_CODE, cont, traced_child, watched};

const THREADS: usize = 50;

/// What the tracer does with a thread's signal.
#[derive(Clone, Copy, PartialEq)]
enum Handling {
    /// The tracer discards it.
    Discard,
    /// The tracer passes it back; the tracee ignores it.
    SigIgn,
    /// The tracer passes it back; a handler counts it in a thread-local.
    Handler,
}

struct Barrier(UnsafeCell<MaybeUninit<libc::pthread_barrier_t>>);
// SAFETY: used only inside the forked child, through pthread calls.
unsafe impl Sync for Barrier {}
static BARRIER: Barrier = Barrier(UnsafeCell::new(MaybeUninit::uninit()));

fn barrier() -> *mut libc::pthread_barrier_t {
    BARRIER.0.get().cast()
}

thread_local! {
    static HANDLED: Cell<u32> = const { Cell::new(0) };
}

extern "C" fn count_signal(_: libc::c_int) {
    HANDLED.with(|h| h.set(h.get() + 1));
}

extern "C" fn sig_thread(arg: *mut c_void) -> *mut c_void {
    // SAFETY: the barrier was initialised before any thread started.
    unsafe { libc::pthread_barrier_wait(barrier()) };
    // SAFETY: gettid and pthread_kill on the calling thread.
    let sig = expect::concurrent_signal(unsafe { libc::gettid() });
    // SAFETY: pthread_kill of the calling thread.
    if unsafe { libc::pthread_kill(libc::pthread_self(), sig) } != 0 {
        child_fail!("pthread_kill failed");
    }
    if arg as usize == Handling::Handler as usize {
        child_require_eq!(HANDLED.with(Cell::get), 1);
    }
    std::ptr::null_mut()
}

extern "C" fn bp_thread(_: *mut c_void) -> *mut c_void {
    // SAFETY: the barrier was initialised before any thread started.
    unsafe { libc::pthread_barrier_wait(barrier()) };
    common::call_bp_target();
    std::ptr::null_mut()
}

extern "C" fn wp_thread(_: *mut c_void) -> *mut c_void {
    // SAFETY: the barrier was initialised before any thread started.
    unsafe { libc::pthread_barrier_wait(barrier()) };
    common::access(watched(0), Len::Four, true);
    std::ptr::null_mut()
}

/// One variant: which kinds of threads run and how signals are handled.
struct Variant {
    name: &'static str,
    bp: bool,
    sig: bool,
    wp: bool,
    handling: Handling,
}

/// The child: handlers, barrier, the threads of each kind, join, exit 5.
fn child_main(bp: bool, sig: bool, wp: bool, handling: Handling) -> i32 {
    // SAFETY: plain libc calls in the forked child; thread functions use only the barrier,
    // pthread_kill, a const thread-local and volatile memory accesses.
    unsafe {
        if sig && handling != Handling::Discard {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = if handling == Handling::SigIgn {
                libc::SIG_IGN
            } else {
                count_signal as *const () as usize
            };
            libc::sigemptyset(&mut sa.sa_mask);
            for s in expect::CONCURRENT_SIGNALS {
                if libc::sigaction(s, &sa, std::ptr::null_mut()) != 0 {
                    child_fail!("sigaction({s}) failed");
                }
            }
        }
        let kinds: Vec<child_thread::ThreadFn> = [
            (sig, sig_thread as child_thread::ThreadFn),
            (bp, bp_thread),
            (wp, wp_thread),
        ]
        .into_iter()
        .filter_map(|(on, f)| on.then_some(f))
        .collect();
        let total = (kinds.len() * THREADS) as u32;
        if libc::pthread_barrier_init(barrier(), std::ptr::null(), total) != 0 {
            child_fail!("pthread_barrier_init failed");
        }
        let mut threads = Vec::with_capacity(total as usize);
        for f in kinds {
            for _ in 0..THREADS {
                threads.push(child_thread::spawn(f, handling as usize));
            }
        }
        threads.into_iter().for_each(child_thread::join);
    }
    EXIT_CODE
}

/// Per-thread event counts the tracer keeps.
#[derive(Default)]
struct Seen {
    started: BTreeSet<i32>,
    clones: BTreeSet<i32>,
    exited: BTreeSet<i32>,
    bp: BTreeMap<i32, u32>,
    wp: BTreeMap<i32, u32>,
    sig: BTreeMap<i32, u32>,
}

/// Arms DR0 (execute bp_target) and DR1 (write the watched word) on a new thread.
fn arm_thread(tid: Pid) {
    dbregs::arm(tid, 0, common::bp_target_addr(), Cond::Exec, Len::One);
    dbregs::arm(tid, 1, watched(0), Cond::Write, Len::Four);
}

/// Handles one report of a thread other than the exit of the leader; returns the signal
/// to resume it with.
fn on_stop(v: &Variant, seen: &mut Seen, tid: Pid, st: Status) -> i32 {
    let t = tid.as_raw();
    match st {
        Status::Exited(code) => {
            // A thread reaped after the leader's exit_group shows the group's exit code.
            require!(
                code == 0 || code == EXIT_CODE,
                "thread {t} exited with {code}"
            );
            require!(seen.exited.insert(t), "thread {t} exited twice");
            return -1;
        }
        Status::Event {
            event: PtraceEvent::Clone,
            ..
        } => {
            let new = ptrace_atf::require_ok!(sys::geteventmsg(tid), "PTRACE_GETEVENTMSG") as i32;
            require!(
                seen.clones.insert(new),
                "clone event for {new} reported twice"
            );
        }
        Status::Stopped(libc::SIGSTOP) if !seen.started.contains(&t) => {
            seen.started.insert(t);
            arm_thread(tid);
        }
        Status::Stopped(libc::SIGTRAP) => {
            let dr6 = dbregs::read(tid, 6);
            let slot = if dr6 & dbregs::dr6_b(0) != 0 { 0 } else { 1 };
            common::check_hw_trap(tid, slot);
            let map = if slot == 0 {
                &mut seen.bp
            } else {
                &mut seen.wp
            };
            *map.entry(t).or_default() += 1;
        }
        Status::Stopped(sig) => {
            let info = dbregs::trap_siginfo(tid);
            require_eq!(info.si_signo, sig, "si_signo vs WSTOPSIG of thread {t}");
            require_eq!(sig, expect::concurrent_signal(t), "signal of thread {t}");
            require_eq!(
                info.si_code,
                expect::RAISE_SI_CODE,
                "si_code of thread {t}'s signal"
            );
            *seen.sig.entry(t).or_default() += 1;
            return if v.handling == Handling::Discard {
                0
            } else {
                sig
            };
        }
        other => ptrace_atf::fail!("thread {t}: unexpected {other}"),
    }
    0
}

#[track_caller]
fn check_once(kind: &str, on: bool, counts: &BTreeMap<i32, u32>) {
    let want = if on { THREADS } else { 0 };
    require_eq!(
        counts.len(),
        want,
        "threads that reported a {kind}: {counts:?}"
    );
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    require!(
        twice.is_empty(),
        "{kind} reported more than once: {twice:?}"
    );
}

fn concurrent(tc: &Tc, v: &Variant) {
    let w = common::setup(tc);
    harness::require_waiter_options(tc, &w);
    let (bp, sig, wp, handling) = (v.bp, v.sig, v.wp, v.handling);
    let child = traced_child(&w, move || child_main(bp, sig, wp, handling));
    let pid = child.pid();
    ops::setoptions(pid, Options::EXITKILL | Options::TRACECLONE);
    common::cont(pid, 0);
    let mut seen = Seen::default();
    loop {
        let (tid, st) = w.wait_any("a thread event, trap, signal or exit");
        if tid == pid && st.is_terminal() {
            child.check(&w, Want::Exited(EXIT_CODE), st);
            break;
        }
        let resume = on_stop(v, &mut seen, tid, st);
        if resume >= 0 {
            cont(tid, resume);
        }
    }
    let total = THREADS * [bp, sig, wp].iter().filter(|b| **b).count();
    require_eq!(seen.clones.len(), total, "clone events");
    require_eq!(
        seen.started,
        seen.clones,
        "threads that stopped first vs clone events"
    );
    require_eq!(
        seen.exited,
        seen.clones,
        "threads that exited vs clone events"
    );
    check_once("breakpoint", bp, &seen.bp);
    check_once("watchpoint", wp, &seen.wp);
    check_once("signal", sig, &seen.sig);
    w.expect_no_children();
}

#[rustfmt::skip]
const VARIANTS: [Variant; 12] = {
    use Handling::*;
    const fn v(name: &'static str, bp: bool, sig: bool, wp: bool, handling: Handling) -> Variant {
        Variant {
            name,
            bp,
            sig,
            wp,
            handling,
        }
    }
    [
        // name                                   bp     sig    wp     handling
        v("thread_concurrent_breakpoints",        true,  false, false, Discard),
        v("thread_concurrent_watchpoints",        false, false, true,  Discard),
        v("thread_concurrent_bp_wp",              true,  false, true,  Discard),
        v("thread_concurrent_bp_sig",             true,  true,  false, Discard),
        v("thread_concurrent_bp_sig_sig_ign",     true,  true,  false, SigIgn),
        v("thread_concurrent_bp_sig_handler",     true,  true,  false, Handler),
        v("thread_concurrent_wp_sig",             false, true,  true,  Discard),
        v("thread_concurrent_wp_sig_sig_ign",     false, true,  true,  SigIgn),
        v("thread_concurrent_wp_sig_handler",     false, true,  true,  Handler),
        v("thread_concurrent_bp_wp_sig",          true,  true,  true,  Discard),
        v("thread_concurrent_bp_wp_sig_sig_ign",  true,  true,  true,  SigIgn),
        v("thread_concurrent_bp_wp_sig_handler",  true,  true,  true,  Handler),
    ]
};

pub fn cases() -> Vec<TestCase> {
    VARIANTS
        .iter()
        .map(|v| {
            let name = v.name;
            let mut kinds = Vec::new();
            if v.bp {
                kinds.push("an execute breakpoint (DR0)");
            }
            if v.wp {
                kinds.push("a write watchpoint (DR1)");
            }
            if v.sig {
                kinds.push(match v.handling {
                    Handling::Discard => "a signal the tracer discards",
                    Handling::SigIgn => "a signal passed back to SIG_IGN",
                    Handling::Handler => "a signal passed back to a handler",
                });
            }
            TestCase::new(name)
                .descr(&format!(
                    "{THREADS} threads per kind hit {} concurrently; each event is reported \
                     exactly once per thread",
                    kinds.join(", ")
                ))
                .timeout(30)
                .netbsd_same_name()
                .body(move |tc| concurrent(tc, v))
        })
        .collect()
}
