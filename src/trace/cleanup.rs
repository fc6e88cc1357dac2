//! End-of-case cleanup: kill and reap every child and tracee left behind, never hanging.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::deadline;
use super::sys::Options;

/// How long `reap_all` may spend reaping.
pub const REAP_DEADLINE: Duration = Duration::from_secs(5);

/// What `reap_all` found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Processes (our children, tracees, and their descendants) still alive: killed.
    pub leaked: Vec<i32>,
    /// Our children or tracees that were zombies nobody had reaped: reaped.
    pub zombies: Vec<i32>,
    /// Processes still not reaped when the deadline passed.
    pub unreaped: Vec<i32>,
}

impl Leftovers {
    /// Whether nothing was left behind.
    pub fn is_clean(&self) -> bool {
        self.leaked.is_empty() && self.zombies.is_empty() && self.unreaped.is_empty()
    }
}

impl fmt::Display for Leftovers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (name, pids) in [
            ("leaked (killed)", &self.leaked),
            ("unreaped zombies", &self.zombies),
            ("not reaped in time", &self.unreaped),
        ] {
            if !pids.is_empty() {
                parts.push(format!("{name}: {pids:?}"));
            }
        }
        if parts.is_empty() {
            f.write_str("nothing left behind")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

/// The options every tracee should get where the scenario allows: PTRACE_O_EXITKILL.
pub const fn exit_kill_default() -> Options {
    Options::EXITKILL
}

/// Whether we have any child or tracee at all (a waitid that consumes nothing).
fn have_children() -> bool {
    // SAFETY: siginfo is plain data filled by waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::__WALL | libc::WEXITED | libc::WSTOPPED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: valid pointer to a local siginfo.
    let r = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, flags) };
    !(r == -1 && Errno::last() == Errno::ECHILD)
}

struct ProcInfo {
    ppid: i32,
    tracer: i32,
    zombie: bool,
}

fn scan() -> HashMap<i32, ProcInfo> {
    let mut out = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(str::trim))
        };
        let num = |name: &str| field(name).and_then(|v| v.parse().ok()).unwrap_or(0);
        let zombie = field("State").is_some_and(|s| s.starts_with('Z'));
        out.insert(
            pid,
            ProcInfo {
                ppid: num("PPid"),
                tracer: num("TracerPid"),
                zombie,
            },
        );
    }
    out
}

/// Our children and tracees (direct), and the live descendants of those.
fn ours(procs: &HashMap<i32, ProcInfo>) -> (Vec<i32>, Vec<i32>) {
    let me = std::process::id() as i32;
    let tids: HashSet<i32> = fs::read_dir("/proc/self/task")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let mut direct: Vec<i32> = procs
        .iter()
        .filter(|(_, p)| p.ppid == me || (p.tracer != 0 && tids.contains(&p.tracer)))
        .map(|(&pid, _)| pid)
        .collect();
    direct.sort();
    let mut all: Vec<i32> = direct.clone();
    let mut i = 0;
    while i < all.len() {
        let parent = all[i];
        for (&pid, p) in procs {
            if p.ppid == parent && !all.contains(&pid) {
                all.push(pid);
            }
        }
        i += 1;
    }
    (direct, all)
}

/// Kills every child, tracee and descendant of them, and reaps until ECHILD (5 s at most).
pub fn reap_all() -> Leftovers {
    let mut left = Leftovers::default();
    if !have_children() {
        return left;
    }
    let procs = scan();
    let (direct, all) = ours(&procs);
    for &pid in &all {
        let zombie = procs.get(&pid).is_some_and(|p| p.zombie);
        if zombie {
            if direct.contains(&pid) {
                left.zombies.push(pid);
            }
        } else {
            left.leaked.push(pid);
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    let start = Instant::now();
    loop {
        let remaining =
            crate::atf::timescale::scaled(REAP_DEADLINE).saturating_sub(start.elapsed());
        let mut raw = 0;
        let r = deadline::blocking(remaining, || {
            // SAFETY: valid pointer to a local status word.
            Errno::result(unsafe { libc::waitpid(-1, &mut raw, libc::__WALL) })
        });
        match r {
            Ok(Err(Errno::ECHILD)) => break,
            Ok(Ok(pid)) => {
                if raw & 0xff == 0x7f {
                    // A stop on the way out (e.g. an event stop): make sure it dies.
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    let _ = super::sys::cont(Pid::from_raw(pid), 0);
                }
            }
            Ok(Err(_)) | Err(_) => {
                let (direct, _) = ours(&scan());
                left.unreaped = direct;
                break;
            }
        }
    }
    left.leaked.sort();
    left.zombies.sort();
    left
}
