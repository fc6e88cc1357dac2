//! `ptrace-atf xfail`: the expected-failure ledger. Lists every case that declares a bug
//! (`X-bug`), and, from a kyua results database, which still fail as expected, which now
//! pass (to re-examine) and which failed in another way.

use ptrace_atf::kyua::{BUGS_SQL, RESULTS_SQL, db_exec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// Options of `ptrace-atf xfail`.
#[derive(clap::Args)]
pub struct Args {
    /// A kyua results database (default: the latest run of `ptrace-atf test`).
    #[arg(long, value_name = "FILE")]
    pub results_file: Option<PathBuf>,
}

/// What became of one expected failure in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fate {
    StillFails,
    NowPasses,
    OtherFailure,
    Skipped,
    Undeclared,
}

impl Fate {
    fn title(self) -> &'static str {
        match self {
            Fate::StillFails => "still fail as expected",
            Fate::NowPasses => "NOW PASS: re-examine the bug, then drop the expectation",
            Fate::OtherFailure => "failed in another way",
            Fate::Skipped => "skipped",
            Fate::Undeclared => "expected failures without an X-bug reference",
        }
    }
}

/// Classifies one result of a case (`declared`: it carries X-bug).
pub fn classify(declared: bool, result_type: &str, reason: &str) -> Option<Fate> {
    let now_passes = reason.contains("was expecting a failure but none were raised")
        || reason.contains("was expecting a failure but got a pass instead");
    match (declared, result_type) {
        (false, "expected_failure") => Some(Fate::Undeclared),
        (false, _) => None,
        (true, "expected_failure") => Some(Fate::StillFails),
        (true, "passed") => Some(Fate::NowPasses),
        (true, "failed") if now_passes => Some(Fate::NowPasses),
        (true, "skipped") => Some(Fate::Skipped),
        (true, _) => Some(Fate::OtherFailure),
    }
}

/// kyua's store id for a Kyuafile directory: the absolute path with `/` as `_`.
fn store_prefix(tree: &Path) -> String {
    let abs = tree.display().to_string();
    format!("results.{}.", abs.trim_start_matches('/').replace('/', "_"))
}

/// The newest results database of the tree `ptrace-atf test` installs.
fn latest_db(bins: &Path) -> Option<PathBuf> {
    let home = std::env::var("HOME").ok()?;
    let store = Path::new(&home).join(".kyua/store");
    let prefix = store_prefix(&bins.join("ptrace-atf-tests"));
    std::fs::read_dir(&store)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".db"))
        })
        .max()
}

/// Prints the declared expected failures of the built programs.
fn print_declared(bins: &Path) {
    println!("Expected failures declared by the suite (X-bug):");
    let mut any = false;
    for a in ptrace_atf::suite::AREAS {
        let Ok(out) = Command::new(bins.join(a.program)).arg("-l").output() else {
            continue;
        };
        let Ok(cases) = ptrace_atf::atf::listing::parse(&String::from_utf8_lossy(&out.stdout))
        else {
            continue;
        };
        for c in cases.iter().filter(|c| c.get("X-bug").is_some()) {
            any = true;
            println!(
                "  {}:{}  bug: {}\n      {}",
                a.program,
                c.ident,
                c.get("X-bug").unwrap_or(""),
                c.get("descr").unwrap_or("")
            );
        }
    }
    if !any {
        println!("  (none)");
    }
}

/// Runs the command: 0 when no expected failure needs attention, 1 otherwise.
pub fn run(args: Args, bins: &Path) -> ExitCode {
    print_declared(bins);
    let db = match args.results_file.or_else(|| latest_db(bins)) {
        Some(db) => db,
        None => {
            println!(
                "\nNo kyua results found for this suite: run `ptrace-atf test` first, or pass --results-file."
            );
            return ExitCode::SUCCESS;
        }
    };
    if !db.is_file() {
        return crate::fail(3, &format!("no results database at {}", db.display()));
    }
    let Some(kyua) = crate::kyua::find() else {
        return crate::fail(
            4,
            "kyua is not installed (apt-get install kyua): it reads the database",
        );
    };
    let rows = match db_exec(&kyua, &db, RESULTS_SQL) {
        Ok(r) => r,
        Err(e) => return crate::fail(4, &e),
    };
    let bugs: BTreeMap<(String, String), String> = match db_exec(&kyua, &db, BUGS_SQL) {
        Ok(r) => r
            .into_iter()
            .filter(|r| r.len() >= 3)
            .map(|r| ((r[0].clone(), r[1].clone()), r[2].clone()))
            .collect(),
        Err(e) => return crate::fail(4, &e),
    };
    let mut by_fate: BTreeMap<Fate, Vec<String>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.len() >= 3) {
        let key = (r[0].clone(), r[1].clone());
        let reason = r.get(3).map(String::as_str).unwrap_or("");
        if let Some(f) = classify(bugs.contains_key(&key), &r[2], reason) {
            let bug = bugs.get(&key).map(String::as_str).unwrap_or("-");
            by_fate
                .entry(f)
                .or_default()
                .push(format!("{}:{}  [{bug}]  {}: {reason}", r[0], r[1], r[2]));
        }
    }
    println!("\nIn {}:", db.display());
    if by_fate.is_empty() {
        println!("  no case declares an expected failure");
    }
    for (fate, cases) in &by_fate {
        println!("  {} ({}):", fate.title(), cases.len());
        for c in cases {
            println!("    {c}");
        }
    }
    let attention = by_fate
        .keys()
        .any(|f| matches!(f, Fate::NowPasses | Fate::OtherFailure | Fate::Undeclared));
    ExitCode::from(u8::from(attention))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fates() {
        assert_eq!(
            classify(true, "expected_failure", "bug: x"),
            Some(Fate::StillFails)
        );
        assert_eq!(
            classify(
                true,
                "failed",
                "Test case was expecting a failure but none were raised"
            ),
            Some(Fate::NowPasses)
        );
        assert_eq!(classify(true, "passed", "NULL"), Some(Fate::NowPasses));
        assert_eq!(
            classify(true, "broken", "timed out"),
            Some(Fate::OtherFailure)
        );
        assert_eq!(classify(true, "failed", "x != y"), Some(Fate::OtherFailure));
        assert_eq!(
            classify(false, "expected_failure", "r"),
            Some(Fate::Undeclared)
        );
        assert_eq!(classify(false, "failed", "r"), None);
        assert_eq!(
            store_prefix(Path::new("/work/main/target/release/ptrace-atf-tests")),
            "results.work_main_target_release_ptrace-atf-tests."
        );
    }
}
