//! `ptrace-atf xfail`: the expected-failure ledger. Lists every case that expects a failure,
//! in two kinds: a kernel bug (`X-bug`: fixed later or to be fixed) and a documented
//! deviation (`X-deviation`: the kernel deliberately differs from the standard the case
//! asserts); and, from a kyua results database, which still fail as expected, which now pass
//! (to re-examine) and which failed in another way.

use ptrace_atf::kyua::{RESULTS_SQL, XFAIL_REFS_SQL, XfailKind, db_exec, xfail_refs};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit statuses of `ptrace-atf xfail`.
pub const XFAIL_EXIT_CODES: &str = "\
Exit status:
  0  no expected failure needs a look (each still fails as expected, was skipped or was not
     run in the database read), or no database to read
  1  an expected failure now passes, failed in another way, or a case expects a failure
     without an X-bug or X-deviation reference
  2  usage error (bad option; a --results-file that does not exist)
  3  the test programs are missing
  4  kyua could not read the database (kyua is needed for that)

Without --results-file, the database read is that of the last whole-suite run of
`ptrace-atf test` (under kyua, in BIN_DIR/ptrace-atf-tests): a run of some cases only never
takes its place; pass its database with --results-file to read it.";

/// Options of `ptrace-atf xfail`.
#[derive(clap::Args)]
pub struct Args {
    /// A kyua results database (default: that of the last whole-suite run of
    /// `ptrace-atf test`).
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
    NotRun,
    Undeclared,
}

impl Fate {
    fn title(self) -> &'static str {
        match self {
            Fate::StillFails => "still fail as expected",
            Fate::NowPasses => "NOW PASS: re-examine the bug, then drop the expectation",
            Fate::OtherFailure => "failed in another way",
            Fate::Skipped => "skipped",
            Fate::NotRun => "not run (not in this database)",
            Fate::Undeclared => "expected failures without an X-bug or X-deviation reference",
        }
    }
}

/// Classifies one result of a case (`declared`: it carries X-bug or X-deviation).
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

/// The database of the last whole-suite run of `ptrace-atf test` in its default tree.
fn last_full_run(bins: &Path) -> Option<PathBuf> {
    let record = bins.join("ptrace-atf-tests").join(crate::LAST_FULL_RUN);
    let text = std::fs::read_to_string(record).ok()?;
    let db = PathBuf::from(text.trim());
    db.is_file().then_some(db)
}

/// A file's modification time as `YYYY-MM-DD HH:MM UTC`.
fn modified(path: &Path) -> String {
    let Ok(secs) = std::fs::metadata(path).and_then(|m| m.modified()).map(|t| {
        t.duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64
    }) else {
        return "date unknown".into();
    };
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// A case by its program (`area/program`) and name.
pub type CaseKey = (String, String);

/// One declared expected failure: its kind, reference and description.
pub struct Declared {
    pub kind: XfailKind,
    pub reference: String,
    pub descr: String,
}

/// Every expected failure the built programs declare, per installed program:
/// (`area/program`, case) -> what it declares. A case declaring both kinds is an error.
pub fn declared(bins: &Path) -> Result<BTreeMap<CaseKey, Declared>, String> {
    let catalog = crate::cases::catalog(bins)?;
    let mut out = BTreeMap::new();
    for c in &catalog {
        let refs: Vec<(XfailKind, &str)> = XfailKind::ALL
            .iter()
            .filter_map(|&(kind, prop)| Some((kind, c.listed.get(prop)?)))
            .collect();
        let Some(&(kind, reference)) = refs.first() else {
            continue;
        };
        if refs.len() > 1 {
            return Err(format!(
                "{}:{} declares both X-bug and X-deviation: a failure is one or the other",
                c.program_path(),
                c.listed.ident
            ));
        }
        out.insert(
            (c.program_path(), c.listed.ident.clone()),
            Declared {
                kind,
                reference: reference.to_string(),
                descr: c.listed.get("descr").unwrap_or("").to_string(),
            },
        );
    }
    Ok(out)
}

/// The heading of the declared list of one kind.
fn kind_heading(kind: XfailKind) -> &'static str {
    match kind {
        XfailKind::Bug => {
            "Kernel bugs (X-bug: fixed in a later kernel or to be fixed; when one passes, drop its expectation):"
        }
        XfailKind::Deviation => {
            "Documented deviations (X-deviation: the kernel deliberately differs from the standard the case asserts; not expected to change):"
        }
    }
}

/// Runs the command; see `XFAIL_EXIT_CODES`.
pub fn run(args: Args, bins: &Path) -> ExitCode {
    // A closed stdout (`| head`) ends the command quietly.
    // SAFETY: restores the default action of SIGPIPE (Rust starts with it ignored).
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    if let Some(f) = &args.results_file
        && !f.is_file()
    {
        return crate::fail(
            2,
            &format!("--results-file {}: no such results database", f.display()),
        );
    }
    let declared = match declared(bins) {
        Ok(d) => d,
        Err(e) => return crate::fail(3, &e),
    };
    print_declared(&declared);
    let (db, how) = match args.results_file {
        Some(db) => (db, "given with --results-file"),
        None => match last_full_run(bins) {
            Some(db) => (db, "the last whole-suite run of `ptrace-atf test`"),
            None => {
                println!(
                    "\nNo whole-suite run of `ptrace-atf test` recorded (a run of some cases is never read by default): run `ptrace-atf test`, or pass --results-file."
                );
                return ExitCode::SUCCESS;
            }
        },
    };
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
    let refs = match db_exec(&kyua, &db, XFAIL_REFS_SQL) {
        Ok(r) => xfail_refs(r),
        Err(e) => return crate::fail(4, &e),
    };
    let source = format!("{} ({how}, {})", db.display(), modified(&db));
    ExitCode::from(u8::from(print_ledger(&declared, refs, &rows, &source)))
}

/// Prints the expected failures the suite declares, by kind, once per base program.
pub fn print_declared(declared: &BTreeMap<CaseKey, Declared>) {
    println!("Expected failures declared by the suite:");
    for &(kind, _) in &XfailKind::ALL {
        println!("{}", kind_heading(kind));
        let mut shown = std::collections::BTreeSet::new();
        for ((prog, case), d) in declared.iter().filter(|(_, d)| d.kind == kind) {
            let base = ptrace_atf::suite::base_program(prog.rsplit('/').next().unwrap_or(prog));
            if shown.insert((base.to_string(), case.clone())) {
                println!(
                    "  {base}:{case} (under every waiter)  {}: {}\n      {}",
                    kind.word(),
                    d.reference,
                    d.descr
                );
            }
        }
        if shown.is_empty() {
            println!("  (none)");
        }
    }
}

/// Prints what became of each expected failure in a run's `rows` (program path, case,
/// result type, reason: kyua's database or a LAVA job's log), `refs` being the X-bug and
/// X-deviation values the run recorded. Returns whether one needs attention (now passes,
/// failed in another way, undeclared).
pub fn print_ledger(
    declared: &BTreeMap<CaseKey, Declared>,
    mut refs: BTreeMap<CaseKey, (XfailKind, String)>,
    rows: &[Vec<String>],
    source: &str,
) -> bool {
    for (key, d) in declared {
        refs.entry(key.clone())
            .or_insert_with(|| (d.kind, d.reference.clone()));
    }
    let label = |key: &CaseKey| {
        refs.get(key)
            .map_or("-".to_string(), |(k, r)| format!("{}: {r}", k.word()))
    };
    let mut by_fate: BTreeMap<Fate, Vec<String>> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in rows.iter().filter(|r| r.len() >= 3) {
        let key = (r[0].clone(), r[1].clone());
        let reason = r.get(3).map(String::as_str).unwrap_or("");
        if let Some(f) = classify(refs.contains_key(&key), &r[2], reason) {
            by_fate.entry(f).or_default().push(format!(
                "{}:{}  [{}]  {}: {reason}",
                r[0],
                r[1],
                label(&key),
                r[2]
            ));
        }
        seen.insert(key);
    }
    for key in refs.keys() {
        if !seen.contains(key) {
            by_fate.entry(Fate::NotRun).or_default().push(format!(
                "{}:{}  [{}]",
                key.0,
                key.1,
                label(key)
            ));
        }
    }
    println!("\nIn {source}:");
    if by_fate.is_empty() {
        println!("  no result of a case that expects a failure");
    }
    for (fate, cases) in &by_fate {
        println!("  {} ({}):", fate.title(), cases.len());
        for c in cases {
            println!("    {c}");
        }
    }
    by_fate
        .keys()
        .any(|f| matches!(f, Fate::NowPasses | Fate::OtherFailure | Fate::Undeclared))
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
    }
}
