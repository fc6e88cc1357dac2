//! Readers of /proc/PID (and /proc/PID/task/TID): state, parent, tracer, signal masks, threads.
//!
//! The typed readers panic (with the path and error) when the file cannot be read; the
//! `try_*` and `*_field` forms return None instead, for processes that may be gone.

use std::fs;
use std::io;

use nix::unistd::Pid;

fn task_dir(pid: Pid, tid: Option<Pid>) -> String {
    match tid {
        Some(tid) => format!("/proc/{pid}/task/{tid}"),
        None => format!("/proc/{pid}"),
    }
}

/// The fields of a stat file after `comm`: index 0 is the state, 1 the ppid, ...
fn stat_fields(dir: &str) -> io::Result<Vec<String>> {
    let text = fs::read_to_string(format!("{dir}/stat"))?;
    // comm may contain spaces and parentheses: it ends at the last ')'.
    let rest = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no ')' in stat"))?;
    Ok(rest.split_whitespace().map(str::to_string).collect())
}

#[track_caller]
fn stat_field(dir: &str, index: usize) -> String {
    match stat_fields(dir) {
        Ok(f) if f.len() > index => f[index].clone(),
        Ok(_) => panic!("{dir}/stat: too few fields"),
        Err(e) => panic!("reading {dir}/stat: {e}"),
    }
}

/// The state letter of `pid` (R, S, D, T, t, Z, X...), from /proc/PID/stat.
#[track_caller]
pub fn state(pid: Pid) -> char {
    stat_field(&task_dir(pid, None), 0)
        .chars()
        .next()
        .unwrap_or('?')
}

/// The state letter of thread `tid` of `pid`.
#[track_caller]
pub fn task_state(pid: Pid, tid: Pid) -> char {
    stat_field(&task_dir(pid, Some(tid)), 0)
        .chars()
        .next()
        .unwrap_or('?')
}

/// The state letter of `pid`, or None if it cannot be read (the process is gone).
pub fn try_state(pid: Pid) -> Option<char> {
    stat_fields(&task_dir(pid, None))
        .ok()?
        .first()?
        .chars()
        .next()
}

/// The parent pid of `pid`, from /proc/PID/stat.
#[track_caller]
pub fn ppid(pid: Pid) -> Pid {
    let dir = task_dir(pid, None);
    let field = stat_field(&dir, 1);
    match field.parse() {
        Ok(p) => Pid::from_raw(p),
        Err(_) => panic!("{dir}/stat: bad ppid '{field}'"),
    }
}

/// The value of field `name` in `dir`/status (text after the colon, trimmed).
fn status_value(dir: &str, name: &str) -> Option<String> {
    let text = fs::read_to_string(format!("{dir}/status")).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == name).then(|| v.trim().to_string())
    })
}

/// The value of field `name` in /proc/PID/status, or None if the process or field is absent.
pub fn status_field(pid: Pid, name: &str) -> Option<String> {
    status_value(&task_dir(pid, None), name)
}

/// The value of field `name` in /proc/PID/task/TID/status, or None if absent.
pub fn task_status_field(pid: Pid, tid: Pid, name: &str) -> Option<String> {
    status_value(&task_dir(pid, Some(tid)), name)
}

#[track_caller]
fn required(dir: &str, name: &str) -> String {
    match status_value(dir, name) {
        Some(v) => v,
        None => panic!("{dir}/status: cannot read field {name}"),
    }
}

#[track_caller]
fn decimal(dir: &str, name: &str) -> i32 {
    let v = required(dir, name);
    v.parse()
        .unwrap_or_else(|_| panic!("{dir}/status: bad {name} '{v}'"))
}

#[track_caller]
fn hex_mask(dir: &str, name: &str) -> u64 {
    let v = required(dir, name);
    u64::from_str_radix(&v, 16).unwrap_or_else(|_| panic!("{dir}/status: bad {name} '{v}'"))
}

/// The tracer of `pid` (TracerPid), 0 when untraced.
#[track_caller]
pub fn tracer_pid(pid: Pid) -> i32 {
    decimal(&task_dir(pid, None), "TracerPid")
}

/// The tracer of thread `tid` of `pid`, 0 when untraced.
#[track_caller]
pub fn task_tracer_pid(pid: Pid, tid: Pid) -> i32 {
    decimal(&task_dir(pid, Some(tid)), "TracerPid")
}

/// Blocked signals of `pid`'s main thread (SigBlk; bit n-1 for signal n).
#[track_caller]
pub fn sig_blocked(pid: Pid) -> u64 {
    hex_mask(&task_dir(pid, None), "SigBlk")
}

/// Blocked signals of thread `tid` of `pid` (SigBlk).
#[track_caller]
pub fn task_sig_blocked(pid: Pid, tid: Pid) -> u64 {
    hex_mask(&task_dir(pid, Some(tid)), "SigBlk")
}

/// Ignored signals of `pid` (SigIgn).
#[track_caller]
pub fn sig_ignored(pid: Pid) -> u64 {
    hex_mask(&task_dir(pid, None), "SigIgn")
}

/// Signals `pid` has handlers for (SigCgt).
#[track_caller]
pub fn sig_caught(pid: Pid) -> u64 {
    hex_mask(&task_dir(pid, None), "SigCgt")
}

/// Signals pending for the whole process `pid` (ShdPnd).
#[track_caller]
pub fn sig_pending_shared(pid: Pid) -> u64 {
    hex_mask(&task_dir(pid, None), "ShdPnd")
}

/// Signals pending for thread `tid` of `pid` only (SigPnd).
#[track_caller]
pub fn task_sig_pending(pid: Pid, tid: Pid) -> u64 {
    hex_mask(&task_dir(pid, Some(tid)), "SigPnd")
}

/// The bit of signal `sig` in a /proc signal mask.
pub const fn sig_bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// The thread ids of `pid` (/proc/PID/task), sorted.
#[track_caller]
pub fn threads(pid: Pid) -> Vec<Pid> {
    let dir = format!("/proc/{pid}/task");
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => panic!("reading {dir}: {e}"),
    };
    let mut tids: Vec<Pid> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .map(Pid::from_raw)
        .collect();
    tids.sort();
    tids
}

/// What `pid`'s threads are doing now, for a timeout message: `662 Z, 663 D in de_thread`
/// (state letter, and the kernel function a sleeping thread waits in), or `gone`.
pub fn tasks_summary(pid: Pid) -> String {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return "gone".to_string();
    };
    let mut tids: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort();
    let parts: Vec<String> = tids
        .iter()
        .map(|tid| {
            let dir = format!("/proc/{pid}/task/{tid}");
            let state = stat_fields(&dir)
                .ok()
                .and_then(|f| f.first().cloned())
                .unwrap_or_else(|| "?".into());
            match fs::read_to_string(format!("{dir}/wchan")) {
                Ok(w) if !w.is_empty() && w != "0" => format!("{tid} {state} in {w}"),
                _ => format!("{tid} {state}"),
            }
        })
        .collect();
    if parts.is_empty() {
        "gone".to_string()
    } else {
        parts.join(", ")
    }
}

/// The live processes of session `sid` (not zombies: nothing is left of them to kill or
/// report but the exit status), in pid order.
pub fn session_members(sid: i32) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid| {
            stat_fields(&format!("/proc/{pid}")).is_ok_and(|f| {
                f.first().is_some_and(|s| s != "Z")
                    && f.get(3).and_then(|s| s.parse::<i32>().ok()) == Some(sid)
            })
        })
        .collect();
    pids.sort();
    pids
}

/// Every process of session `sid` (a looping program and what it started), one line per
/// process (`1234 t_fork: 1234 S in do_wait, traced by -`) followed by the first kernel-stack
/// frames of each thread when /proc lets us read them (root): what a hung iteration is doing.
pub fn session_report(sid: i32) -> Vec<String> {
    let mut out = Vec::new();
    for pid in session_members(sid) {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let tracer = tracer_of(&format!("/proc/{pid}"));
        out.push(format!(
            "{pid} {}: {}, traced by {tracer}",
            comm.trim(),
            tasks_summary(Pid::from_raw(pid))
        ));
        let tids = fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| {
                let mut t: Vec<i32> = d
                    .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect();
                t.sort();
                t
            })
            .unwrap_or_default();
        for tid in tids {
            let Ok(stack) = fs::read_to_string(format!("/proc/{pid}/task/{tid}/stack")) else {
                continue;
            };
            let frames: Vec<&str> = stack
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .map(|f| f.split('+').next().unwrap_or(f))
                .take(STACK_FRAMES)
                .collect();
            if !frames.is_empty() {
                out.push(format!("    {tid} kernel stack: {}", frames.join(" < ")));
            }
        }
    }
    out
}

/// Kernel-stack frames `session_report` shows per thread.
const STACK_FRAMES: usize = 6;

/// TracerPid of the process at `dir`, `-` for none or unreadable.
fn tracer_of(dir: &str) -> String {
    fs::read_to_string(format!("{dir}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("TracerPid:"))
                .map(|v| v.trim().to_string())
        })
        .filter(|v| v != "0")
        .unwrap_or_else(|| "-".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_report_lists_this_session() {
        let sid = nix::unistd::getsid(None).unwrap().as_raw();
        let me = std::process::id();
        let lines = session_report(sid);
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{me} "))),
            "{me} not in {lines:?}"
        );
        assert!(session_report(-7).is_empty());
    }

    #[test]
    fn reads_self() {
        let me = nix::unistd::getpid();
        assert!("RS".contains(state(me)));
        assert_eq!(ppid(me), nix::unistd::getppid());
        assert_eq!(tracer_pid(me), 0);
        assert!(threads(me).contains(&me));
        assert_eq!(task_state(me, nix::unistd::gettid()), 'R');
        assert!(status_field(me, "Name").is_some());
        assert_eq!(status_field(me, "NoSuchField"), None);
        let _ = (sig_blocked(me), sig_ignored(me), sig_caught(me));
        assert_eq!(sig_bit(libc::SIGHUP), 1);
    }
}
