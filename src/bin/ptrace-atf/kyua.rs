//! Running the installed tree under kyua, and finding kyua.

use crate::signals;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

pub use ptrace_atf::kyua::find;

/// What a kyua run gave.
pub struct Run {
    pub status: i32,
    pub database: Option<String>,
}

/// Whether kyua can write its results database at `path`, checked before anything runs by
/// doing it: an existing file is opened for writing (not truncated), a new one is created
/// and removed again.
pub fn check_results_file(path: &Path) -> Result<(), String> {
    let shown = path.display();
    if path.is_dir() {
        return Err(format!("--results-file {shown}: is a directory"));
    }
    let probe = if path.exists() {
        std::fs::OpenOptions::new().write(true).open(path).map(drop)
    } else {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|_| std::fs::remove_file(path))
    };
    probe.map_err(|e| format!("--results-file {shown}: cannot be written: {e}"))
}

/// Runs `kyua test` over `tree` (its Kyuafile), streaming kyua's output.
pub fn test(
    kyua: &Path,
    tree: &Path,
    filters: &[String],
    vars: &BTreeMap<String, String>,
    unprivileged: Option<&str>,
    parallelism: usize,
    results: Option<&Path>,
) -> Result<Run, String> {
    let mut cmd = Command::new(kyua);
    cmd.arg(format!("--variable=parallelism={}", parallelism.max(1)));
    if let Some(u) = unprivileged {
        cmd.arg(format!("--variable=unprivileged_user={u}"));
    }
    for (k, v) in vars {
        if k == "architecture" || k == "platform" {
            cmd.arg(format!("--variable={k}={v}"));
        } else {
            cmd.arg(format!(
                "--variable=test_suites.{}.{k}={v}",
                ptrace_atf::suite::SUITE
            ));
        }
    }
    cmd.arg("test")
        .arg(format!("--kyuafile={}", tree.join("Kyuafile").display()));
    if let Some(r) = results {
        cmd.arg(format!("--results-file={}", r.display()));
    }
    cmd.args(filters).current_dir(tree).stdout(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", kyua.display()))?;
    let pid = child.id() as i32;
    // kyua ends its running cases itself on SIGINT/SIGTERM/SIGHUP: pass ours on.
    signals::forward(pid, 0);
    let mut database = None;
    let lines = signals::lines(child.stdout.take().expect("piped"));
    let mut stop_sent: Option<Instant> = None;
    let status = loop {
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if let Some(db) = line.strip_prefix("Results saved to ") {
                    database = Some(db.trim().to_string());
                }
                signals::say(&line);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // kyua closed its output: it is ending.
                break child.wait().map_err(|e| format!("waiting for kyua: {e}"))?;
            }
        }
        if let Some(st) = child
            .try_wait()
            .map_err(|e| format!("waiting for kyua: {e}"))?
        {
            // Lines still in the pipe are kyua's last words.
            while let Ok(line) = lines.recv_timeout(Duration::from_millis(50)) {
                signals::say(&line);
            }
            break st;
        }
        match (signals::caught(), stop_sent) {
            (Some(sig), None) => {
                if sig == libc::SIGPIPE {
                    // SAFETY: kill(2) of our own child.
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                }
                stop_sent = Some(Instant::now());
            }
            (Some(_), Some(t)) if t.elapsed() > Duration::from_secs(10) => {
                // kyua did not end its cases in time: the command's sweep ends them.
                let _ = child.kill();
            }
            _ => {}
        }
    };
    signals::forward_none();
    Ok(Run {
        status: status.code().unwrap_or(-1),
        database,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_results_file_is_checked_before_the_run() {
        let t = tempfile::tempdir().unwrap();
        let new = t.path().join("new.db");
        assert_eq!(check_results_file(&new), Ok(()));
        assert!(!new.exists(), "the probe leaves nothing");
        std::fs::write(&new, "").unwrap();
        assert_eq!(
            check_results_file(&new),
            Ok(()),
            "kyua writes into an empty file"
        );
        let e = check_results_file(t.path()).unwrap_err();
        assert!(e.ends_with("is a directory"), "{e}");
        let e = check_results_file(&t.path().join("no/such/dir/x.db")).unwrap_err();
        assert!(e.contains("No such file or directory"), "{e}");
        let e = check_results_file(&new.join("x.db")).unwrap_err();
        assert!(
            e.contains("is not a directory") || e.contains("Not a directory"),
            "{e}"
        );
    }
}
