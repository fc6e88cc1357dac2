//! Thread create/exit events (`trace_thread_*`) and exec from a non-leader thread.

use std::collections::{BTreeMap, BTreeSet};

use nix::errno::Errno;
use nix::unistd::Pid;
use ptrace_atf::atf::Tc;
use ptrace_atf::trace::{Forkee, Options, PtraceEvent, Status, Want, expect, proc, sys};
use ptrace_atf::{harness, require, require_eq};

use crate::group::{self, cont, siginfo};
use crate::tracee;

/// Threads the `trace_thread_*` tracee creates and joins.
pub const TRACE_THREADS: usize = 100;

/// One `trace_thread_*` case: which events are traced, and whether SIGTRAP is blocked.
pub struct ThreadEvents {
    pub name: &'static str,
    pub create: bool,
    pub exit: bool,
    pub masked: bool,
}

/// The NetBSD table: no events, exit only, create only, both; the three with events again
/// with SIGTRAP blocked in the tracee.
pub const THREAD_EVENTS: [ThreadEvents; 7] = [
    ThreadEvents::new("trace_thread_nolwpevents", false, false, false),
    ThreadEvents::new("trace_thread_lwpexit", false, true, false),
    ThreadEvents::new("trace_thread_lwpcreate", true, false, false),
    ThreadEvents::new("trace_thread_lwpcreate_and_exit", true, true, false),
    ThreadEvents::new("trace_thread_lwpexit_masked_sigtrap", false, true, true),
    ThreadEvents::new("trace_thread_lwpcreate_masked_sigtrap", true, false, true),
    ThreadEvents::new(
        "trace_thread_lwpcreate_and_exit_masked_sigtrap",
        true,
        true,
        true,
    ),
];

impl ThreadEvents {
    const fn new(name: &'static str, create: bool, exit: bool, masked: bool) -> Self {
        ThreadEvents {
            name,
            create,
            exit,
            masked,
        }
    }

    /// The case's description.
    pub fn descr(&self) -> String {
        format!(
            "A tracee creates and joins {TRACE_THREADS} threads{}: with{} PTRACE_O_TRACECLONE \
             each is reported by exactly one PTRACE_EVENT_CLONE and one initial SIGSTOP, with{} \
             PTRACE_O_TRACEEXIT each traced thread (and the leader) reports exactly one \
             PTRACE_EVENT_EXIT and untraced threads report none",
            if self.masked {
                " with SIGTRAP blocked"
            } else {
                ""
            },
            if self.create { "" } else { "out" },
            if self.exit { "" } else { "out" },
        )
    }
}

static STARTED: tracee::Barrier = tracee::Barrier::new();

/// Every thread lives until all `TRACE_THREADS` have started.
extern "C" fn trace_threads_body(_: *mut libc::c_void) -> *mut libc::c_void {
    STARTED.wait();
    std::ptr::null_mut()
}

/// Counts per tid.
type Counts = BTreeMap<Pid, u32>;

fn bump(c: &mut Counts, tid: Pid) {
    *c.entry(tid).or_default() += 1;
}

fn not_once(c: &Counts) -> Vec<(Pid, u32)> {
    c.iter()
        .filter(|(_, n)| **n != 1)
        .map(|(t, n)| (*t, *n))
        .collect()
}

/// The `trace_thread_*` scenario.
pub fn trace_threads(tc: &Tc, v: &ThreadEvents) {
    let w = harness::waiter(tc);
    let masked = v.masked;
    let child = Forkee::traceme(move || {
        if masked {
            tracee::block(libc::SIGTRAP);
        }
        STARTED.init(TRACE_THREADS as u32);
        let threads: Vec<_> = (0..TRACE_THREADS)
            .map(|_| tracee::spawn(trace_threads_body, 0))
            .collect();
        threads.into_iter().for_each(tracee::join);
        0
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    let si = siginfo(pid);
    require_eq!(si.si_signo, libc::SIGSTOP);
    require_eq!(si.si_code, expect::RAISE_SI_CODE);

    let mut opts = Options::EXITKILL;
    if v.create {
        opts |= Options::TRACECLONE;
    }
    if v.exit {
        opts |= Options::TRACEEXIT;
    }
    group::set_options(pid, opts);
    cont(pid, 0);

    let (mut created, mut first_stops, mut exits, mut reaped) = Default::default();
    loop {
        let (tid, st) = w.wait_any("a thread event or the tracee's exit");
        match st {
            Status::Event {
                event: PtraceEvent::Clone,
                ..
            } => {
                let new = group::new_thread(&w, tid);
                bump(&mut created, new);
                cont(tid, 0);
            }
            Status::Event {
                event: PtraceEvent::Exit,
                ..
            } => {
                bump(&mut exits, tid);
                cont(tid, 0);
            }
            Status::Stopped(libc::SIGSTOP) if tid != pid => {
                bump(&mut first_stops, tid);
                cont(tid, 0);
            }
            Status::Exited(_) if tid != pid => {
                require_eq!(st, Status::Exited(0), "traced thread {} ended", tid);
                bump(&mut reaped, tid);
            }
            _ if tid == pid && st.is_terminal() => {
                child.check(&w, Want::Exited(0), st);
                break;
            }
            _ => ptrace_atf::fail!("tid {tid}: unexpected {st}"),
        }
    }
    w.expect_no_children();

    let n = |on: bool| if on { TRACE_THREADS } else { 0 };
    require_eq!(
        created.len(),
        n(v.create),
        "threads reported by PTRACE_EVENT_CLONE"
    );
    require!(
        not_once(&created).is_empty(),
        "threads created more than once: {:?}",
        not_once(&created)
    );
    require_eq!(
        first_stops.keys().collect::<Vec<_>>(),
        created.keys().collect::<Vec<_>>(),
        "threads with an initial SIGSTOP vs threads reported created"
    );
    require!(
        not_once(&first_stops).is_empty(),
        "initial stops not once: {:?}",
        not_once(&first_stops)
    );
    require_eq!(
        reaped.keys().collect::<Vec<_>>(),
        created.keys().collect::<Vec<_>>(),
        "traced threads reaped by the tracer vs threads reported created"
    );

    let traced_threads = n(v.create);
    let untraced = TRACE_THREADS - traced_threads;
    let want_exits = if v.exit {
        1 + traced_threads + untraced * usize::from(expect::UNTRACED_THREAD_EXIT_EVENT)
    } else {
        0
    };
    require_eq!(
        exits.len(),
        want_exits,
        "threads reporting PTRACE_EVENT_EXIT (leader included)"
    );
    require!(
        not_once(&exits).is_empty(),
        "PTRACE_EVENT_EXIT not once: {:?}",
        not_once(&exits)
    );
    if v.exit {
        require!(
            exits.contains_key(&pid),
            "the leader {} reported no PTRACE_EVENT_EXIT",
            pid
        );
        let stray: Vec<_> = exits
            .keys()
            .filter(|t| **t != pid && !created.contains_key(t))
            .collect();
        require!(
            stray.is_empty(),
            "PTRACE_EVENT_EXIT from threads never reported created: {:?}",
            stray
        );
    }
}

extern "C" fn exec_body(_: *mut libc::c_void) -> *mut libc::c_void {
    let argv = [c"/bin/true".as_ptr(), std::ptr::null()];
    // SAFETY: NUL-terminated path and argv; environ is the process's.
    unsafe { libc::execv(argv[0], argv.as_ptr()) };
    ptrace_atf::child_fail!("execv(/bin/true) failed");
}

/// `threads_and_exec`: a non-leader thread execs. The leader reports PTRACE_EVENT_EXIT with
/// status 0, the exec is reported under the leader's pid with the former tid as message, the
/// former tid is gone for ptrace and /proc, and neither it nor the old leader reports a death.
pub fn threads_and_exec(tc: &Tc) {
    let w = harness::waiter(tc);
    let child = Forkee::traceme(|| {
        tracee::spawn(exec_body, 0);
        tracee::pause_forever()
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    group::set_options(
        pid,
        Options::EXITKILL | Options::TRACECLONE | Options::TRACEEXIT | Options::TRACEEXEC,
    );
    cont(pid, 0);

    // The clone event and the new thread's first stop come in either order.
    let (mut thread, mut first_stop) = (None, false);
    while thread.is_none() || !first_stop {
        let (tid, st) = w.wait_any("PTRACE_EVENT_CLONE and the new thread's SIGSTOP");
        match st {
            Status::Event {
                event: PtraceEvent::Clone,
                ..
            } if tid == pid => {
                thread = Some(group::new_thread(&w, pid));
            }
            Status::Stopped(libc::SIGSTOP) if tid != pid => first_stop = true,
            _ => child.check(&w, Want::Event(PtraceEvent::Clone), st),
        }
        cont(tid, 0);
    }
    let thread = thread.unwrap_or_else(|| ptrace_atf::fail!("no clone event"));

    let (tid, st) = w.wait_any("the leader's PTRACE_EVENT_EXIT");
    require_eq!(
        (tid, st),
        (
            pid,
            Status::Event {
                sig: libc::SIGTRAP,
                event: PtraceEvent::Exit
            }
        ),
        "the leader must report its exit first"
    );
    require_eq!(
        w.event_msg(pid, PtraceEvent::Exit),
        0,
        "exit status of the leader killed by exec"
    );
    cont(pid, 0);

    let (tid, st) = w.wait_any("PTRACE_EVENT_EXEC under the leader's pid");
    require_eq!(
        (tid, st),
        (
            pid,
            Status::Event {
                sig: libc::SIGTRAP,
                event: PtraceEvent::Exec
            }
        ),
        "the exec must be reported under the leader's pid, with nothing else before it"
    );
    require_eq!(
        w.event_msg(pid, PtraceEvent::Exec) as i32,
        thread.as_raw(),
        "PTRACE_EVENT_EXEC message (the former tid)"
    );
    require_eq!(
        sys::geteventmsg(thread),
        Err(Errno::ESRCH),
        "ptrace on the stale tid {}",
        thread
    );
    require_eq!(proc::threads(pid), vec![pid], "threads after the exec");

    group::kill_and_reap(&w, pid, &BTreeSet::new());
}
