//! Building and starting the looping program: its `PTRACE_ATF_LOOP` spec, its command line
//! and environment, what its process does between fork and exec, the busy threads of
//! --load, and the end of it all.

use super::Args;
use super::args::CpuList;
use crate::cases::Case;
use crate::direct::Settings;
use crate::signals;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// The uid and gid the case runs as: the unprivileged user's, for a
/// `require.user: unprivileged` case when the command runs as root.
pub(super) fn run_as(case: &Case, settings: &Settings) -> Option<(u32, u32)> {
    match (case.listed.get("require.user"), &settings.unprivileged) {
        (Some("unprivileged"), Some((_, uid, gid))) => Some((*uid, *gid)),
        _ => None,
    }
}

/// The file the program stores the iteration in progress in, writable by the user it runs as.
pub(super) fn counter_file(user: Option<(u32, u32)>) -> Result<tempfile::NamedTempFile, String> {
    let counter =
        tempfile::NamedTempFile::new().map_err(|e| format!("cannot create a counter file: {e}"))?;
    if let Some((uid, gid)) = user
        && let Err(e) = std::os::unix::fs::chown(counter.path(), Some(uid), Some(gid))
    {
        return Err(format!("cannot hand the counter file over: {e}"));
    }
    Ok(counter)
}

/// The value of `PTRACE_ATF_LOOP` (see `ptrace_atf::atf::repeat::Spec`).
fn spec(args: &Args, iterations: Option<u64>, counter: &Path) -> String {
    let mut spec = format!("counter={}", counter.display());
    if let Some(n) = iterations {
        spec.push_str(&format!(",n={n}"));
    }
    if let Some(d) = args.duration {
        spec.push_str(&format!(",duration={d}"));
    }
    if args.until_fail {
        spec.push_str(",until_fail");
    }
    if args.fork {
        spec.push_str(",fork");
    }
    spec
}

/// The looping program's command: the case's program running the case's body in a loop,
/// its stdout (the loop's reports) piped to this command.
pub(super) fn command(
    exe: &Path,
    case: &Case,
    args: &Args,
    settings: &Settings,
    iterations: Option<u64>,
    counter: &Path,
) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg(format!("-vwaiter={}", case.waiter()));
    for (k, v) in &args.vars {
        cmd.arg(format!("-v{k}={v}"));
    }
    if let Some((name, ..)) = &settings.unprivileged {
        cmd.arg(format!("-vunprivileged-user={name}"));
    }
    cmd.arg(&case.listed.ident)
        .env("PTRACE_ATF_LOOP", spec(args, iterations, counter))
        .env("GLIBC_TUNABLES", tunables())
        .env("__RUNNING_INSIDE_ATF_RUN", "internal-yes-value")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    before_exec(&mut cmd, run_as(case, settings), args.cpu.clone());
    cmd
}

/// What the program's process does between fork and exec: a session of its own, the user it
/// runs as, death with this command, no inherited fds, the CPUs of --cpu.
fn before_exec(cmd: &mut Command, user: Option<(u32, u32)>, cpus: Option<CpuList>) {
    let parent = std::process::id() as i32;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Its own session, as kyua runs a program: the command kills it as a group.
            libc::setsid();
            if let Some((uid, gid)) = user
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            // Dies with the command even if the command is SIGKILLed (set after setuid,
            // which clears it); the command may have died before this point.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            crate::direct::no_inherited_fds();
            if let Some(cpus) = &cpus {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                for &c in cpus.cpus() {
                    libc::CPU_SET(c, &mut set);
                }
                if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// glibc's malloc tunables for a looping program: no per-thread cache, so that the case table
/// the program drops before its first iteration goes back to the kernel instead of being held
/// in cached chunks spread over the heap; every fork(2) of an iteration then copies that many
/// fewer page-table entries (about 3% of the minimal case's iteration time). The user's own
/// tunables, if any, come first.
fn tunables() -> String {
    const NO_TCACHE: &str = "glibc.malloc.tcache_count=0";
    match std::env::var("GLIBC_TUNABLES") {
        Ok(t) if !t.is_empty() => format!("{t}:{NO_TCACHE}"),
        _ => NO_TCACHE.to_string(),
    }
}

/// The looping program, running, and the busy threads of --load beside it.
pub(super) struct Running {
    pub child: Child,
    pid: i32,
    /// The guard that kills the program's session if this command dies (`guard`).
    guard: Option<Child>,
    stop: Arc<AtomicBool>,
    load: Vec<JoinHandle<()>>,
}

impl Running {
    /// Catches interrupts (see `signals`), starts `load` busy threads, then the program; from
    /// then on an interrupt kills the program's whole session at once (its tracees with it).
    pub(super) fn start(mut cmd: Command, load: usize) -> std::io::Result<Running> {
        signals::install();
        let stop = Arc::new(AtomicBool::new(false));
        let load = start_load(load, &stop);
        let child = cmd.spawn()?;
        let pid = child.id() as i32;
        signals::forward(-pid, libc::SIGKILL);
        let guard = super::guard::start(pid);
        Ok(Running {
            child,
            pid,
            guard,
            stop,
            load,
        })
    }

    /// The program's session (it calls setsid(2) before exec).
    pub(super) fn session(&self) -> i32 {
        self.pid
    }

    /// Waits for the program (killing its session first when `kill`), then ends whatever it
    /// left and the busy threads.
    pub(super) fn end(mut self, kill: bool) -> std::io::Result<ExitStatus> {
        if kill {
            // SAFETY: kill(2) of the program's session (its process group).
            unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        }
        let status = self.child.wait();
        signals::forward_none();
        // The guard goes first, so that it never acts on a session that has ended (whose
        // number a new session could take).
        if let Some(mut g) = self.guard.take() {
            let _ = g.kill();
            let _ = g.wait();
        }
        // Whatever the program left (a tracee that changed its process group, an orphan) is
        // ended too: this command is their subreaper.
        signals::end_all();
        self.stop.store(true, Ordering::Relaxed);
        for t in self.load {
            let _ = t.join();
        }
        status
    }
}

fn start_load(k: usize, stop: &Arc<AtomicBool>) -> Vec<JoinHandle<()>> {
    (0..k)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..10_000 {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                }
            })
        })
        .collect()
}
