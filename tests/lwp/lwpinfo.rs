//! The thread list and per-thread properties as Linux shows them (NetBSD's PT_LWPINFO and
//! PT_LWPSTATUS): /proc/PID/task, which tid a stop belongs to, SigBlk and
//! PTRACE_GETSIGMASK, /proc/PID/task/TID/comm, and fs_base in the registers.

use ptrace_atf::atf::timescale::scaled;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use ptrace_atf::atf::Tc;
use ptrace_atf::trace::{Forkee, Options, PtraceEvent, Status, expect, proc, sys};
use ptrace_atf::{harness, require, require_eq};

use crate::group::{self, cont, siginfo};
use crate::tracee;

/// At most this many extra threads (NetBSD's lwpinfo0..3).
const MAX_THREADS: usize = 3;

/// The signal thread slot `i` (0: the leader) blocks, alone.
const SIGMASKS: [i32; MAX_THREADS + 1] =
    [libc::SIGXCPU, libc::SIGPIPE, libc::SIGALRM, libc::SIGURG];

/// What the case checks besides the thread list and which thread took the signal.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Property {
    /// Only the list and the signalled thread.
    None,
    /// Each thread's blocked signals (SigBlk and PTRACE_GETSIGMASK).
    Sigmask,
    /// Each thread's name (comm).
    Name,
    /// Each thread's TLS pointer (fs_base).
    Private,
}

/// One traceme_lwpinfo case: NetBSD's name, extra threads and the property checked.
pub struct LwpInfo {
    pub name: &'static str,
    pub threads: usize,
    pub property: Property,
}

impl LwpInfo {
    /// The case's description.
    pub fn descr(&self) -> String {
        let what = match self.property {
            Property::None => "",
            Property::Sigmask => ", and each thread's blocked signals (SigBlk, PTRACE_GETSIGMASK)",
            Property::Name => ", and each thread's name (/proc/PID/task/TID/comm)",
            Property::Private => ", and each thread's TLS pointer (fs_base in the registers)",
        };
        format!(
            "A PTRACE_TRACEME tracee shows 1 thread at its first stop, then {} threads after \
             spawning {}; only the leader took the SIGINT it raised{what}",
            self.threads + 1,
            self.threads
        )
    }
}

/// Every traceme_lwpinfo case (0..3 extra threads times 4 property sets), in listing order.
pub const LWPINFO: &[LwpInfo] = &[
    LwpInfo {
        name: "traceme_lwpinfo0",
        threads: 0,
        property: Property::None,
    },
    LwpInfo {
        name: "traceme_lwpinfo1",
        threads: 1,
        property: Property::None,
    },
    LwpInfo {
        name: "traceme_lwpinfo2",
        threads: 2,
        property: Property::None,
    },
    LwpInfo {
        name: "traceme_lwpinfo3",
        threads: 3,
        property: Property::None,
    },
    LwpInfo {
        name: "traceme_lwpinfo0_lwpstatus_pl_sigmask",
        threads: 0,
        property: Property::Sigmask,
    },
    LwpInfo {
        name: "traceme_lwpinfo1_lwpstatus_pl_sigmask",
        threads: 1,
        property: Property::Sigmask,
    },
    LwpInfo {
        name: "traceme_lwpinfo2_lwpstatus_pl_sigmask",
        threads: 2,
        property: Property::Sigmask,
    },
    LwpInfo {
        name: "traceme_lwpinfo3_lwpstatus_pl_sigmask",
        threads: 3,
        property: Property::Sigmask,
    },
    LwpInfo {
        name: "traceme_lwpinfo0_lwpstatus_pl_name",
        threads: 0,
        property: Property::Name,
    },
    LwpInfo {
        name: "traceme_lwpinfo1_lwpstatus_pl_name",
        threads: 1,
        property: Property::Name,
    },
    LwpInfo {
        name: "traceme_lwpinfo2_lwpstatus_pl_name",
        threads: 2,
        property: Property::Name,
    },
    LwpInfo {
        name: "traceme_lwpinfo3_lwpstatus_pl_name",
        threads: 3,
        property: Property::Name,
    },
    LwpInfo {
        name: "traceme_lwpinfo0_lwpstatus_pl_private",
        threads: 0,
        property: Property::Private,
    },
    LwpInfo {
        name: "traceme_lwpinfo1_lwpstatus_pl_private",
        threads: 1,
        property: Property::Private,
    },
    LwpInfo {
        name: "traceme_lwpinfo2_lwpstatus_pl_private",
        threads: 2,
        property: Property::Private,
    },
    LwpInfo {
        name: "traceme_lwpinfo3_lwpstatus_pl_private",
        threads: 3,
        property: Property::Private,
    },
];

/// The attach_lwpinfo cases: (name, threads besides the leader).
pub const ATTACH_LWPINFO: &[(&str, usize)] = &[
    ("attach_lwpinfo0", 0),
    ("attach_lwpinfo1", 1),
    ("attach_lwpinfo2", 2),
    ("attach_lwpinfo3", 3),
];

/// Slot i: tid and fs_base of thread i (0: the leader), written by the thread itself.
static TIDS: [AtomicU64; MAX_THREADS + 1] = [const { AtomicU64::new(0) }; MAX_THREADS + 1];
static TLS: [AtomicU64; MAX_THREADS + 1] = [const { AtomicU64::new(0) }; MAX_THREADS + 1];
static READY: AtomicUsize = AtomicUsize::new(0);
/// Set by the attaching tracer through PTRACE_POKEDATA: the leader may raise SIGINT.
static GO: AtomicU64 = AtomicU64::new(0);

/// Records the calling thread in `slot`, sets its mask to SIGMASKS[slot], and names it
/// last (a named thread is set up: the attaching tracer waits for every name).
fn setup_thread(slot: usize) {
    TIDS[slot].store(tracee::gettid() as u64, Ordering::SeqCst);
    TLS[slot].store(tracee::fs_base(), Ordering::SeqCst);
    tracee::block_only(SIGMASKS[slot]);
    tracee::name_self();
}

/// Whether thread `tid` of `pid` has named itself (is set up).
fn named(pid: Pid, tid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
        .is_ok_and(|c| c.trim_end() == tracee::thread_name(tid.as_raw()))
}

extern "C" fn lwpinfo_body(arg: *mut libc::c_void) -> *mut libc::c_void {
    setup_thread(arg as usize);
    READY.fetch_add(1, Ordering::SeqCst);
    tracee::pause_forever()
}

/// The tracee: set up the leader, spawn `threads` set-up threads, wait for them (and for
/// GO when `wait_go`), then send the leader SIGINT.
fn lwpinfo_tracee(threads: usize, wait_go: bool) -> ! {
    setup_thread(0);
    for slot in 1..=threads {
        tracee::spawn(lwpinfo_body, slot);
    }
    while READY.load(Ordering::SeqCst) < threads || (wait_go && GO.load(Ordering::SeqCst) == 0) {
        tracee::yield_now();
    }
    tracee::tgkill_self(libc::SIGINT);
    tracee::pause_forever()
}

/// Checks the property of every thread `tids` (all in a ptrace stop) of `pid`.
fn check_threads(pid: Pid, through: Pid, threads: usize, property: Property) {
    let slots: Vec<(Pid, u64)> = (0..=threads)
        .map(|i| {
            let tid = Pid::from_raw(group::peek(through, &TIDS[i]) as i32);
            (tid, group::peek(through, &TLS[i]))
        })
        .collect();
    let recorded: BTreeSet<Pid> = slots.iter().map(|s| s.0).collect();
    require_eq!(
        proc::threads(pid),
        recorded.iter().copied().collect::<Vec<_>>(),
        "/proc/{}/task vs the tids the threads recorded",
        pid
    );
    for (slot, &(tid, tls)) in slots.iter().enumerate() {
        match property {
            Property::None => {}
            Property::Sigmask => {
                let want = proc::sig_bit(SIGMASKS[slot]);
                require_eq!(
                    proc::task_sig_blocked(pid, tid),
                    want,
                    "SigBlk of tid {}",
                    tid
                );
                let got = sys::getsigmask(tid).unwrap_or_else(|e| {
                    ptrace_atf::fail!("PTRACE_GETSIGMASK of {tid} failed: {e}")
                });
                require_eq!(got, want, "PTRACE_GETSIGMASK of tid {}", tid);
            }
            Property::Name => {
                let path = format!("/proc/{pid}/task/{tid}/comm");
                let comm = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| ptrace_atf::fail!("reading {path}: {e}"));
                require_eq!(
                    comm.trim_end(),
                    tracee::thread_name(tid.as_raw()),
                    "{}",
                    path
                );
            }
            Property::Private => {
                let regs = sys::getregs(tid)
                    .unwrap_or_else(|e| ptrace_atf::fail!("PTRACE_GETREGS of {tid} failed: {e}"));
                require!(tls != 0, "thread {} recorded no TLS pointer", tid);
                require_eq!(regs.fs_base, tls, "fs_base of tid {}", tid);
            }
        }
    }
    if property == Property::Private {
        let distinct: BTreeSet<u64> = slots.iter().map(|s| s.1).collect();
        require_eq!(
            distinct.len(),
            slots.len(),
            "distinct TLS pointers: {:?}",
            slots
        );
    }
}

/// Stops each running traced thread with a thread-directed SIGSTOP and waits for its stop.
fn stop_each(w: &ptrace_atf::trace::Waiter, pid: Pid, tids: &BTreeSet<Pid>) {
    for &tid in tids {
        group::tgkill(pid, tid, libc::SIGSTOP);
        let (got, st) = w.wait_any("the SIGSTOP stop of a running thread");
        require_eq!(
            (got, st),
            (tid, Status::Stopped(libc::SIGSTOP)),
            "stopping tid {}",
            tid
        );
    }
}

/// The traceme_lwpinfo scenario.
pub fn traceme_lwpinfo(tc: &Tc, v: &LwpInfo) {
    let w = harness::waiter(tc);
    let threads = v.threads;
    let child = Forkee::traceme(move || lwpinfo_tracee(threads, false));
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    require_eq!(proc::threads(pid), vec![pid], "threads at the first stop");
    require_eq!(siginfo(pid).si_signo, libc::SIGSTOP);
    group::set_options(pid, Options::EXITKILL | Options::TRACECLONE);
    cont(pid, 0);

    let mut created = BTreeSet::new();
    loop {
        let (tid, st) = w.wait_any("thread creation, then the leader's SIGINT");
        match st {
            Status::Event {
                event: PtraceEvent::Clone,
                ..
            } => {
                created.insert(group::new_thread(&w, tid));
                cont(tid, 0);
            }
            Status::Stopped(libc::SIGSTOP) if tid != pid => cont(tid, 0),
            Status::Stopped(libc::SIGINT) => {
                require_eq!(tid, pid, "the thread that took SIGINT");
                break;
            }
            _ => child.check(&w, ptrace_atf::trace::Want::Stopped(libc::SIGINT), st),
        }
    }
    let si = siginfo(pid);
    require_eq!(si.si_signo, libc::SIGINT);
    require_eq!(si.si_code, expect::RAISE_SI_CODE);
    require_eq!(
        created.len(),
        threads,
        "threads reported by PTRACE_EVENT_CLONE"
    );
    stop_each(&w, pid, &created);
    for &tid in &created {
        require_eq!(
            siginfo(tid).si_signo,
            libc::SIGSTOP,
            "tid {} took no SIGINT",
            tid
        );
    }
    check_threads(pid, pid, threads, v.property);
    group::kill_and_reap(&w, pid, &created);
}

/// The attach_lwpinfo scenario: attach every thread of a running process, one by one.
pub fn attach_lwpinfo(tc: &Tc, threads: usize) {
    ptrace_atf::harness::require_attach_allowed(tc);
    let w = harness::waiter(tc);
    let child = Forkee::spawn(move || lwpinfo_tracee(threads, true));
    let pid = child.pid();
    let start = Instant::now();
    loop {
        let tids = proc::threads(pid);
        if tids.len() == threads + 1 && tids.iter().all(|&t| named(pid, t)) {
            break;
        }
        require!(
            start.elapsed() < scaled(Duration::from_secs(10)),
            "the tracee never had {} set-up threads",
            threads + 1
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let tids: BTreeSet<Pid> = proc::threads(pid).into_iter().collect();
    for &tid in &tids {
        // PTRACE_ATTACH attaches one thread: the others are not traced until attached too.
        require_eq!(
            proc::task_tracer_pid(pid, tid),
            0,
            "TracerPid of tid {} before attaching it",
            tid
        );
        sys::attach(tid)
            .unwrap_or_else(|e| ptrace_atf::fail!("PTRACE_ATTACH of tid {tid} failed: {e}"));
        let (got, st) = w.wait_any("the attach stop");
        require_eq!(
            (got, st),
            (tid, Status::Stopped(expect::ATTACH_STOP_SIGNAL)),
            "attaching tid {}",
            tid
        );
        require_eq!(
            siginfo(tid).si_code,
            expect::ATTACH_STOP_SI_CODE,
            "si_code of tid {}'s attach stop",
            tid
        );
        require_eq!(
            proc::task_tracer_pid(pid, tid),
            std::process::id() as i32,
            "TracerPid of tid {}",
            tid
        );
        group::set_options(tid, Options::EXITKILL);
    }
    require_eq!(
        proc::threads(pid),
        tids.iter().copied().collect::<Vec<_>>(),
        "threads after attaching"
    );
    check_threads(pid, pid, threads, Property::None);

    group::poke(pid, &GO, 1);
    for &tid in &tids {
        cont(tid, 0);
    }
    let (got, st) = w.wait_any("the leader's SIGINT");
    require_eq!(
        (got, st),
        (pid, Status::Stopped(libc::SIGINT)),
        "the thread that took SIGINT"
    );
    let others: BTreeSet<Pid> = tids.iter().copied().filter(|t| *t != pid).collect();
    stop_each(&w, pid, &others);
    require_eq!(
        proc::threads(pid).len(),
        threads + 1,
        "threads at the SIGINT stop"
    );
    group::kill_and_reap(&w, pid, &others);
}
