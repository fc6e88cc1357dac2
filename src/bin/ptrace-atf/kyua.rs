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

/// Whether kyua can write its results database at `path` (absolute: kyua runs in the
/// tree), checked before anything runs by doing it: kyua writes only a new file or an empty
/// one, and SQLite puts its journal beside it, so a file is created (and removed) beside it,
/// and an existing one must be an empty regular file that opens for writing (not truncated).
pub fn check_results_file(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let refuse = |why: String| Err(format!("--results-file {shown}: {why}"));
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return refuse("is a directory".into()),
        Ok(m) if !m.is_file() => return refuse("is not a regular file".into()),
        Ok(m) if m.len() > 0 => {
            return refuse(format!(
                "exists and is not empty ({} bytes); kyua writes only a new or empty database",
                m.len()
            ));
        }
        Ok(_) => {
            if let Err(e) = std::fs::OpenOptions::new().write(true).open(path) {
                return refuse(format!("cannot be written: {e}"));
            }
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return refuse(e.to_string()),
        Err(_) => {}
    }
    let mut probe = path.as_os_str().to_owned();
    probe.push(format!(".ptrace-atf-probe-{}", std::process::id()));
    let probe = Path::new(&probe);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(probe);
            Ok(())
        }
        Err(e) => refuse(format!("cannot be written: {e}")),
    }
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
        assert_eq!(
            std::fs::read_dir(t.path()).unwrap().count(),
            0,
            "the probe leaves nothing"
        );
        std::fs::write(&new, "").unwrap();
        assert_eq!(
            check_results_file(&new),
            Ok(()),
            "kyua writes into an empty file"
        );
        let full = t.path().join("full.db");
        std::fs::write(&full, "a database").unwrap();
        let e = check_results_file(&full).unwrap_err();
        assert!(e.contains("exists and is not empty (10 bytes)"), "{e}");
        assert_eq!(std::fs::read_to_string(&full).unwrap(), "a database");
        let e = check_results_file(t.path()).unwrap_err();
        assert!(e.ends_with("is a directory"), "{e}");
        let e = check_results_file(&t.path().join("no/such/dir/x.db")).unwrap_err();
        assert!(e.contains("No such file or directory"), "{e}");
        let e = check_results_file(&new.join("x.db")).unwrap_err();
        assert!(e.contains("Not a directory"), "{e}");
        let e = check_results_file(Path::new("/proc/x.db")).unwrap_err();
        assert!(e.contains("cannot be written"), "{e}");
        let e = check_results_file(Path::new("/dev/null")).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
    }
}
