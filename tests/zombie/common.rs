//! Shared helpers: waiting for a process state in /proc without reaping, and /proc scans.

use std::time::{Duration, Instant};

use nix::unistd::Pid;
use ptrace_atf::trace::proc;

/// How long a state may take to appear.
pub const STATE_DEADLINE: Duration = Duration::from_secs(10);

/// Polls /proc/PID/stat until the state letter is one of `states`; panics at the deadline.
#[track_caller]
pub fn await_state(pid: Pid, states: &str, what: &str) {
    let start = Instant::now();
    loop {
        let s = proc::try_state(pid);
        if s.is_some_and(|c| states.contains(c)) {
            return;
        }
        let limit = ptrace_atf::atf::timescale::scaled(STATE_DEADLINE);
        if start.elapsed() > limit {
            ptrace_atf::fail!("pid {pid} did not become {what} within {limit:?} (state {s:?})");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until `pid` is a zombie (state Z), without reaping it.
#[track_caller]
pub fn await_zombie(pid: Pid) {
    await_state(pid, "Z", "a zombie");
}

/// Waits until `pid` is stopped (state T), without waiting for it.
#[track_caller]
pub fn await_stopped(pid: Pid) {
    await_state(pid, "T", "stopped");
}

/// One readdir pass over /proc: the numeric entries in the order the kernel gave them.
pub fn proc_scan() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// How many times `pid` appears in one /proc scan.
pub fn appearances(scan: &[i32], pid: Pid) -> usize {
    scan.iter().filter(|&&p| p == pid.as_raw()).count()
}
