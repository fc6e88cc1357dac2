//! What the fork scenarios share: how the traced process (the forker) creates its child
//! (the forkee), which reports the kernel owes the tracer for that, and the tracer-side
//! walk through those reports.

use std::ffi::c_void;

use nix::unistd::Pid;
use ptrace_atf::atf::TestCase;
use ptrace_atf::trace::spawn::{self, child_waitpid, clone3_child, exit_with_arg};
use ptrace_atf::trace::{Child, Options, PtraceEvent, Status, Waiter, Want, expect, proc};
use ptrace_atf::{child_fail, child_require_eq};

pub use ptrace_atf::trace::ops::{EXIT_CODE, cont, setoptions};
/// The program posix_spawn runs (exits 0).
pub const SPAWN_PROG: &str = "/bin/true";

/// A fork case that keeps its NetBSD name: `name`, `descr`, the fork family's 20 s timeout,
/// `X-netbsd` from the name, and SPAWN_PROG required for posix_spawn variants.
pub fn netbsd_fork_case(name: &'static str, descr: &str, how: How) -> TestCase {
    use ptrace_atf::netbsd::SameName;
    require_spawn_prog(
        TestCase::new(name)
            .descr(descr)
            .timeout(20)
            .netbsd_same_name(),
        how,
    )
}

/// `tc`, requiring SPAWN_PROG when the variant creates its child with posix_spawn.
pub fn require_spawn_prog(tc: TestCase, how: How) -> TestCase {
    if how == How::Spawn {
        tc.require_progs(&[SPAWN_PROG])
    } else {
        tc
    }
}

/// How the forker creates the forkee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// fork(2); the forkee exits 0.
    Fork,
    /// vfork(2) (raw syscall); the forkee exits 0.
    Vfork,
    /// posix_spawn(3) of /bin/true (exit 0): glibc's clone(CLONE_VM|CLONE_VFORK), then exec.
    Spawn,
    /// clone(2) with these flags | SIGCHLD; the forkee exits 15.
    Clone(i32),
    /// clone3(2) with these flags and this exit signal; the forkee exits 15.
    Clone3(u64, i32),
}

impl How {
    /// The forkee's exit code.
    pub fn forkee_exit(self) -> i32 {
        match self {
            How::Fork | How::Vfork | How::Spawn => 0,
            How::Clone(_) | How::Clone3(..) => 15,
        }
    }

    fn flags(self) -> u64 {
        match self {
            How::Fork => 0,
            How::Vfork | How::Spawn => (libc::CLONE_VM | libc::CLONE_VFORK) as u64,
            How::Clone(f) => f as u64,
            How::Clone3(f, _) => f,
        }
    }

    /// The signal the forker gets when the forkee exits (0: none).
    pub fn exit_signal(self) -> i32 {
        match self {
            How::Clone3(_, sig) => sig,
            _ => libc::SIGCHLD,
        }
    }

    /// Whether the forker's parent side waits for the forkee to exec or exit.
    pub fn is_vfork(self) -> bool {
        self.flags() & libc::CLONE_VFORK as u64 != 0
    }

    /// Options the tracer adds for this way: posix_spawn's forkee execs, and its exec is
    /// reported as an event (a legacy exec SIGTRAP would depend on the signal mask).
    pub fn extra_options(self) -> Options {
        match self {
            How::Spawn => Options::TRACEEXEC | Options::EXITKILL,
            _ => Options::EXITKILL,
        }
    }

    /// In the forker: creates the forkee. Async-signal-safe except Spawn (which allocates).
    pub fn create(self) -> nix::Result<Pid> {
        let code = self.forkee_exit();
        let arg = code as usize as *mut c_void;
        match self {
            How::Fork => {
                // SAFETY: fork in a single-threaded forked child; the new child only exits.
                match unsafe { libc::fork() } {
                    -1 => Err(nix::errno::Errno::last()),
                    // SAFETY: _exit never returns.
                    0 => unsafe { libc::_exit(code) },
                    pid => Ok(Pid::from_raw(pid)),
                }
            }
            How::Vfork => ptrace_atf::trace::vfork_exit(code),
            How::Spawn => spawn::posix_spawn(c"/bin/true", &[c"true"]),
            // SAFETY: exit_with_arg only returns its argument.
            How::Clone(flags) => unsafe {
                ptrace_atf::trace::clone_child(exit_with_arg, arg, flags | libc::SIGCHLD)
            },
            // SAFETY: as above.
            How::Clone3(flags, sig) => unsafe { clone3_child(flags, sig, exit_with_arg, arg) },
        }
    }
}

/// The forker's body after its first stop: create the forkee, reap it (with __WALL), check
/// its exit code, and exit EXIT_CODE.
pub fn forker_body(how: How) -> i32 {
    let child = match how.create() {
        Ok(pid) => pid,
        Err(e) => child_fail!("creating the forkee ({how:?}) failed: {e}"),
    };
    match child_waitpid(child, libc::__WALL) {
        Ok(st) => child_require_eq!(st, Status::Exited(how.forkee_exit())),
        Err(e) => child_fail!("waitpid({child}) for the forkee failed: {e}"),
    }
    EXIT_CODE
}

/// The reports the kernel owes the tracer of the forker, by its clone rules: CLONE_VFORK
/// means a vfork event, else an exit signal other than SIGCHLD means a clone event, else a
/// fork event; reported (and the forkee auto-attached) only if its option is set and
/// CLONE_UNTRACED is not; VFORK_DONE whenever CLONE_VFORK and TRACEVFORKDONE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The creation event the forker stops at, if any.
    pub event: Option<PtraceEvent>,
    /// Whether the forker stops at PTRACE_EVENT_VFORK_DONE.
    pub vfork_done: bool,
    /// Whether the (traced) forkee reports PTRACE_EVENT_EXEC.
    pub exec: bool,
    /// The signal the forker stops with when its forkee has exited (None: no signal).
    pub exit_stop: Option<i32>,
}

impl Plan {
    /// The plan for `how` under `options`.
    pub fn new(how: How, options: Options) -> Plan {
        let flags = how.flags();
        let ev = if how.is_vfork() {
            PtraceEvent::Vfork
        } else if how.exit_signal() != libc::SIGCHLD {
            PtraceEvent::Clone
        } else {
            PtraceEvent::Fork
        };
        let untraced = flags & libc::CLONE_UNTRACED as u64 != 0;
        let traced = !untraced && ev.option().is_some_and(|o| options.contains(o));
        Plan {
            event: traced.then_some(ev),
            vfork_done: how.is_vfork() && options.contains(Options::TRACEVFORKDONE),
            exec: traced && how == How::Spawn,
            exit_stop: (how.exit_signal() != 0).then_some(how.exit_signal()),
        }
    }

    /// Whether the tracer has more than one process to wait for.
    pub fn two_tracees(&self) -> bool {
        self.event.is_some()
    }
}

/// A traced process the tracer waits for: a `Child` (whose own failure report wins) or a
/// bare pid (a process the tracer did not fork).
pub trait Traced {
    /// Its pid.
    fn id(&self) -> Pid;
    /// Waits for it and asserts the result.
    fn want(&self, w: &Waiter, want: Want) -> Status;
}

impl Traced for Child {
    fn id(&self) -> Pid {
        self.pid()
    }
    #[track_caller]
    fn want(&self, w: &Waiter, want: Want) -> Status {
        self.expect(w, want)
    }
}

impl Traced for Pid {
    fn id(&self) -> Pid {
        *self
    }
    #[track_caller]
    fn want(&self, w: &Waiter, want: Want) -> Status {
        w.expect(*self, want)
    }
}

/// Hooks a scenario runs at the stops of `follow`.
pub trait Checks {
    /// At the forker's creation event (the forkee is `child`).
    fn at_event(&self, _forker: Pid, _child: Pid) {}
    /// At the forkee's first stop.
    fn at_child_stop(&self, _child: Pid) {}
    /// At the forkee's exec event.
    fn at_child_exec(&self, _child: Pid) {}
    /// At the forker's VFORK_DONE stop.
    fn at_vfork_done(&self, _forker: Pid) {}
}

/// No extra checks.
pub struct NoChecks;
impl Checks for NoChecks {}

/// The tracer's walk, from the forker's first stop (already seen) to its exit: sets
/// `options`, resumes it and asserts every report `Plan` promises, in order per process,
/// and no other. Returns the forkee's pid when it was traced.
pub fn follow(
    w: &Waiter,
    forker: &dyn Traced,
    how: How,
    options: Options,
    checks: &dyn Checks,
) -> Option<Pid> {
    let f = forker.id();
    let plan = Plan::new(how, options);
    setoptions(f, options | how.extra_options());
    cont(f, 0);
    let mut child = None;
    if let Some(ev) = plan.event {
        forker.want(w, Want::Event(ev));
        let g = Pid::from_raw(w.event_msg(f, ev) as i32);
        checks.at_event(f, g);
        w.expect_stopped(g, expect::AUTO_ATTACH_FIRST_STOP);
        ptrace_atf::require_eq!(proc::ppid(g), f, "the forkee's parent");
        ptrace_atf::require_eq!(
            proc::tracer_pid(g),
            nix::unistd::getpid().as_raw(),
            "the forkee's TracerPid (auto-attached to the forker's tracer)"
        );
        checks.at_child_stop(g);
        cont(g, 0);
        cont(f, 0);
        if plan.exec {
            let msg = w.expect_event(g, PtraceEvent::Exec);
            ptrace_atf::require_eq!(
                msg,
                g.as_raw() as u64,
                "PTRACE_EVENT_EXEC's message (former tid)"
            );
            checks.at_child_exec(g);
            cont(g, 0);
        }
        child = Some(g);
    }
    if plan.vfork_done {
        forker.want(w, Want::Event(PtraceEvent::VforkDone));
        let msg = w.event_msg(f, PtraceEvent::VforkDone) as i32;
        match child {
            Some(g) => ptrace_atf::require_eq!(
                msg,
                g.as_raw(),
                "PTRACE_EVENT_VFORK_DONE's message (the forkee)"
            ),
            None => ptrace_atf::require!(
                msg > 0 && msg != f.as_raw(),
                "PTRACE_EVENT_VFORK_DONE's message {msg} is not a forkee pid"
            ),
        }
        checks.at_vfork_done(f);
        cont(f, 0);
    }
    if let Some(g) = child {
        w.expect_exited(g, how.forkee_exit());
    }
    if let Some(sig) = plan.exit_stop {
        forker.want(w, Want::Stopped(sig));
        cont(f, 0);
    }
    child
}
