//! Running the installed tree under kyua, and finding kyua.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

pub use ptrace_atf::kyua::find;

/// What a kyua run gave.
pub struct Run {
    pub status: i32,
    pub database: Option<String>,
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
    let mut database = None;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(db) = line.strip_prefix("Results saved to ") {
                database = Some(db.trim().to_string());
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for kyua: {e}"))?
        .code()
        .unwrap_or(-1);
    Ok(Run { status, database })
}
