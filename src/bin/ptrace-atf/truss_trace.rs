//! The tracing loop of `ptrace-atf truss`: seize, follow threads (and forks), pair entries
//! with exits through `SyscallAccount`, time each syscall, and detach cleanly on request.
//!
//! Every tracee is seized (PTRACE_SEIZE; auto-attached children inherit it), so a running
//! tracee can be stopped with PTRACE_INTERRUPT for a clean detach. Waiting is race-free with
//! SIGINT: SIGCHLD and the stop signals are blocked, the loop drains reports with WNOHANG and
//! sleeps in sigsuspend(2), which atomically unblocks them.
//!
//! An interrupt (SIGINT, SIGTERM, SIGHUP) of a `-p` trace detaches. Of a command truss
//! started, it is what strace users expect: the signal is passed on to every traced process
//! (unless it came from the terminal, which sent it to the whole foreground process group
//! already) and tracing goes on until they end; a second interrupt kills them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::unistd::Pid;
use ptrace_atf::trace::syscall_account::{self, SyscallAccount, SyscallStop};
use ptrace_atf::trace::{Options, PtraceEvent, Status, Waiter, WaiterKind, proc, sys};

/// Interrupts (SIGINT/SIGTERM/SIGHUP) received so far.
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);
/// The last interrupt's signal.
static LAST_SIGNAL: AtomicI32 = AtomicI32::new(0);
/// Whether the last interrupt came from the terminal (it reached the tracees too).
static FROM_TTY: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(sig: i32, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let tty = !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL;
    FROM_TTY.store(tty, Ordering::SeqCst);
    LAST_SIGNAL.store(sig, Ordering::SeqCst);
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

fn interrupted() -> bool {
    INTERRUPTS.load(Ordering::SeqCst) > 0
}

extern "C" fn on_child(_sig: i32) {}

const STOP_SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Installs the handlers and blocks SIGCHLD and the stop signals (see the module docs);
/// returns the mask sigsuspend waits with.
fn install_signals() -> libc::sigset_t {
    // SAFETY: sigaction/sigprocmask on locals; the handlers only store to an atomic.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        type Handler = extern "C" fn(i32, *mut libc::siginfo_t, *mut libc::c_void);
        for (sig, h) in STOP_SIGNALS
            .iter()
            .map(|&s| (s, on_interrupt as Handler as usize))
            .chain([(libc::SIGCHLD, on_child as extern "C" fn(i32) as usize)])
        {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = h;
            if sig != libc::SIGCHLD {
                sa.sa_flags = libc::SA_SIGINFO;
            }
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
            libc::sigaddset(&mut block, sig);
        }
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, &block, &mut old);
        for &sig in STOP_SIGNALS.iter().chain(&[libc::SIGCHLD]) {
            libc::sigdelset(&mut old, sig);
        }
        old
    }
}

/// What the tracer followed and counted.
pub struct Tracer {
    waiter: Waiter,
    options: Options,
    /// Tids being traced.
    tracees: HashSet<Pid>,
    /// Tids traced so far (threads and processes).
    pub threads_seen: usize,
    /// Processes followed (the first one plus forks under -f).
    pub processes_seen: usize,
    /// Per tid: the syscall it is in and since when (entry stop time).
    in_syscall: HashMap<Pid, (u64, Instant)>,
    /// Entry/exit pairing and per-syscall counts.
    pub account: SyscallAccount,
    /// Time spent in each syscall (entry stop to exit stop).
    pub seconds: BTreeMap<u64, Duration>,
    /// The first process followed.
    pub main: Pid,
    /// How the first process ended, if it did while traced.
    pub main_status: Option<Status>,
    /// Whether the loop ended by detaching (Ctrl-C) rather than by the tracees' exit.
    pub detached: bool,
    /// Whether the launched command's SIGSTOP is still to come.
    launch_stop: bool,
    /// Whether truss started the command (an interrupt is passed on, not a detach).
    launched: bool,
    /// Interrupts acted on so far.
    interrupts_handled: usize,
    wait_mask: libc::sigset_t,
}

impl Tracer {
    /// A tracer for the process `main`, not yet attached.
    pub fn new(main: Pid, follow_forks: bool, exit_kill: bool) -> Tracer {
        let mut options = Options::TRACESYSGOOD | Options::TRACECLONE | Options::TRACEEXEC;
        if follow_forks {
            options |= Options::TRACEFORK | Options::TRACEVFORK;
        }
        if exit_kill {
            options |= Options::EXITKILL;
        }
        Tracer {
            waiter: Waiter::new(WaiterKind::Waitpid),
            options,
            tracees: HashSet::new(),
            threads_seen: 0,
            processes_seen: 1,
            in_syscall: HashMap::new(),
            account: SyscallAccount::new(),
            seconds: BTreeMap::new(),
            main,
            main_status: None,
            detached: false,
            launch_stop: false,
            launched: exit_kill,
            interrupts_handled: 0,
            wait_mask: install_signals(),
        }
    }

    /// Seizes every thread of `main` and stops each with PTRACE_INTERRUPT; `mid_flight`
    /// marks them as attached inside a syscall (their first stop may be an exit).
    pub fn attach(&mut self, mid_flight: bool) -> Result<(), String> {
        let task = format!("/proc/{}/task", self.main);
        // Threads may appear while we attach: repeat until a pass finds nothing new.
        loop {
            let tids: Vec<Pid> = std::fs::read_dir(&task)
                .map_err(|e| format!("reading {task}: {e}"))?
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .map(Pid::from_raw)
                .filter(|t| !self.tracees.contains(t))
                .collect();
            if tids.is_empty() {
                return Ok(());
            }
            for tid in tids {
                match sys::seize(tid, self.options) {
                    Ok(()) => {}
                    Err(Errno::ESRCH) => continue,
                    // A thread created by a thread already seized: auto-attached to us.
                    Err(Errno::EPERM)
                        if proc::task_status_field(self.main, tid, "TracerPid")
                            == Some(nix::unistd::getpid().to_string()) =>
                    {
                        self.add(tid);
                        continue;
                    }
                    Err(e) => return Err(format!("PTRACE_SEIZE of {tid} failed: {e}")),
                }
                let _ = sys::interrupt(tid);
                self.add(tid);
                if mid_flight {
                    self.account.on_attach(tid);
                }
            }
        }
    }

    /// Seizes the launched command, which then stops itself with SIGSTOP before its execve
    /// (that stop is where syscall tracing begins; the signal is not passed on).
    pub fn seize_launched(&mut self) -> Result<(), String> {
        sys::seize(self.main, self.options)
            .map_err(|e| format!("PTRACE_SEIZE of {} failed: {e}", self.main))?;
        self.launch_stop = true;
        self.add(self.main);
        Ok(())
    }

    fn add(&mut self, tid: Pid) {
        if self.tracees.insert(tid) {
            self.threads_seen += 1;
        }
    }

    fn resume(&self, tid: Pid, sig: i32) {
        // ESRCH: the tracee died meanwhile (SIGKILL, exit_group): its exit report follows.
        let _ = sys::syscall(tid, sig);
    }

    /// Acts on a new interrupt of a launched command: the first is passed on to every traced
    /// process (unless the terminal sent it to them already), a later one kills them.
    fn on_interrupts(&mut self) {
        let n = INTERRUPTS.load(Ordering::SeqCst);
        if n == self.interrupts_handled {
            return;
        }
        let first = self.interrupts_handled == 0;
        self.interrupts_handled = n;
        let sig = if first && n == 1 {
            if FROM_TTY.load(Ordering::SeqCst) {
                return;
            }
            LAST_SIGNAL.load(Ordering::SeqCst)
        } else {
            libc::SIGKILL
        };
        for &tid in &self.tracees {
            // SAFETY: kill(2) of a process we trace (a thread's id names its process).
            unsafe { libc::kill(tid.as_raw(), sig) };
        }
    }

    /// The next report, waiting in sigsuspend; None once interrupted (`-p`) or when nothing
    /// is left.
    fn next(&mut self) -> Option<(Pid, Status)> {
        loop {
            if self.launched {
                self.on_interrupts();
            } else if interrupted() {
                return None;
            }
            if self.tracees.is_empty() {
                return None;
            }
            match self.waiter.wait_any_once(true) {
                Ok(Some(r)) => return Some(r),
                Ok(None) => {
                    // SAFETY: waits for a signal with SIGCHLD and the stop signals unblocked.
                    unsafe { libc::sigsuspend(&self.wait_mask) };
                }
                Err(Errno::EINTR) => {}
                Err(_) => {
                    // ECHILD: nothing left to wait for.
                    self.tracees.clear();
                    return None;
                }
            }
        }
    }

    /// Follows the tracees until they are all gone or a stop signal arrives.
    pub fn run(&mut self) {
        while let Some((tid, status)) = self.next() {
            self.handle(tid, status);
        }
        if !self.launched && interrupted() && !self.tracees.is_empty() {
            self.detach_all();
        }
    }

    fn on_syscall_stop(&mut self, tid: Pid) {
        let Ok(stop) = syscall_account::read_stop(tid) else {
            return;
        };
        match stop {
            SyscallStop::Entry { nr } => {
                self.in_syscall.insert(tid, (nr, Instant::now()));
            }
            SyscallStop::Exit { .. } => {
                if let Some((nr, since)) = self.in_syscall.remove(&tid) {
                    *self.seconds.entry(nr).or_default() += since.elapsed();
                }
            }
            SyscallStop::Other => {}
        }
        self.account.on_stop(tid, stop);
    }

    fn gone(&mut self, tid: Pid, status: Status) {
        self.account.on_thread_exit(tid);
        self.in_syscall.remove(&tid);
        self.tracees.remove(&tid);
        if tid == self.main {
            self.main_status = Some(status);
        }
    }

    fn handle(&mut self, tid: Pid, status: Status) {
        if !self.tracees.contains(&tid) && !status.is_terminal() {
            // A new child reporting before its parent's fork/clone event.
            self.add(tid);
        }
        match status {
            Status::SyscallStop => {
                self.on_syscall_stop(tid);
                self.resume(tid, 0);
            }
            Status::Event { event, sig } => {
                match event {
                    PtraceEvent::Clone | PtraceEvent::Fork | PtraceEvent::Vfork => {
                        if let Ok(new) = sys::geteventmsg(tid) {
                            if event != PtraceEvent::Clone {
                                self.processes_seen += 1;
                            }
                            self.add(Pid::from_raw(new as i32));
                        }
                    }
                    PtraceEvent::Exec => {
                        if let Ok(former) = sys::geteventmsg(tid) {
                            let former = Pid::from_raw(former as i32);
                            self.account.on_exec(tid, former);
                            if former != tid {
                                self.tracees.remove(&former);
                                if let Some(s) = self.in_syscall.remove(&former) {
                                    self.in_syscall.insert(tid, s);
                                }
                            }
                        }
                    }
                    PtraceEvent::Stop if sig != libc::SIGTRAP => {
                        // A group stop: stay stopped until SIGCONT, still traced.
                        let _ = sys::listen(tid);
                        return;
                    }
                    _ => {}
                }
                self.resume(tid, 0);
            }
            Status::Stopped(sig) => {
                // The launched command's own SIGSTOP (see `seize_launched`) is not passed on.
                let sig = if sig == libc::SIGSTOP && tid == self.main && self.launch_stop {
                    self.launch_stop = false;
                    0
                } else {
                    sig
                };
                self.resume(tid, sig);
            }
            Status::Exited(_) | Status::Signaled { .. } => self.gone(tid, status),
            Status::Continued | Status::Unknown(_) => {}
        }
    }

    /// Stops every tracee with PTRACE_INTERRUPT and detaches it, passing on a signal it was
    /// about to receive; syscall stops met on the way are still counted.
    fn detach_all(&mut self) {
        self.detached = true;
        for &tid in &self.tracees {
            let _ = sys::interrupt(tid);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.tracees.is_empty() && Instant::now() < deadline {
            let (tid, status) = match self.waiter.wait_any_once(true) {
                Ok(Some(r)) => r,
                Ok(None) => {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                Err(Errno::EINTR) => continue,
                Err(_) => break,
            };
            let sig = match status {
                Status::SyscallStop => {
                    self.on_syscall_stop(tid);
                    0
                }
                Status::Stopped(sig) => sig,
                Status::Event { .. } => 0,
                Status::Exited(_) | Status::Signaled { .. } => {
                    self.gone(tid, status);
                    continue;
                }
                Status::Continued | Status::Unknown(_) => continue,
            };
            let _ = sys::detach(tid, sig);
            self.tracees.remove(&tid);
        }
    }

    /// Tids still traced (after a detach that timed out) or still inside a syscall.
    pub fn leftovers(&self) -> (usize, usize) {
        (self.tracees.len(), self.in_syscall.len())
    }
}
