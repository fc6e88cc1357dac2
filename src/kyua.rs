//! Finding kyua and reading its results databases (`kyua db-exec`), shared by the command
//! and the project's tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every case's program, name, result type and reason.
pub const RESULTS_SQL: &str = "SELECT tp.relative_path, tc.name, tr.result_type, tr.result_reason \
     FROM test_programs tp JOIN test_cases tc USING (test_program_id) \
     JOIN test_results tr USING (test_case_id)";

/// Every case's program, name, kind of expected failure (`custom.bug` for X-bug,
/// `custom.deviation` for X-deviation) and its reference (set by the case or, as a default,
/// by its Kyuafile entry).
pub const XFAIL_REFS_SQL: &str = "SELECT tp.relative_path, tc.name, m.property_name, m.property_value \
     FROM test_programs tp JOIN test_cases tc USING (test_program_id) \
     JOIN metadatas m ON m.metadata_id IN (tc.metadata_id, tp.metadata_id) \
     WHERE m.property_name IN ('custom.bug', 'custom.deviation')";

/// Why a case expects a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum XfailKind {
    /// `X-bug`: a kernel bug, fixed in a later kernel or to be fixed; the day the case
    /// passes, the expectation goes.
    Bug,
    /// `X-deviation`: a documented, deliberate difference from the standard the case
    /// asserts; it is not expected to change.
    Deviation,
}

impl XfailKind {
    /// The metadata property (`X-bug`, `X-deviation`) of each kind.
    pub const ALL: [(XfailKind, &'static str); 2] = [
        (XfailKind::Bug, "X-bug"),
        (XfailKind::Deviation, "X-deviation"),
    ];

    /// The kind named by a kyua property (`custom.bug`) or a listed one (`X-bug`).
    pub fn from_property(name: &str) -> Option<XfailKind> {
        match name {
            "custom.bug" | "X-bug" => Some(XfailKind::Bug),
            "custom.deviation" | "X-deviation" => Some(XfailKind::Deviation),
            _ => None,
        }
    }

    /// The word printed before a reference.
    pub fn word(self) -> &'static str {
        match self {
            XfailKind::Bug => "bug",
            XfailKind::Deviation => "deviation",
        }
    }
}

/// The rows of `XFAIL_REFS_SQL` as (program, case) -> (kind, reference).
pub fn xfail_refs(
    rows: Vec<Vec<String>>,
) -> std::collections::BTreeMap<(String, String), (XfailKind, String)> {
    rows.into_iter()
        .filter(|r| r.len() >= 4)
        .filter_map(|r| {
            let kind = XfailKind::from_property(&r[2])?;
            Some(((r[0].clone(), r[1].clone()), (kind, r[3].clone())))
        })
        .collect()
}

/// kyua's path, if it is in PATH.
pub fn find() -> Option<PathBuf> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join("kyua"))
        .find(|p| p.is_file())
}

/// Runs `sql` over the results database `db`; each row is split at its first three commas
/// (the last column, a reason, may hold more).
pub fn db_exec(kyua: &Path, db: &Path, sql: &str) -> Result<Vec<Vec<String>>, String> {
    let out = Command::new(kyua)
        .arg("db-exec")
        .arg(format!("--results-file={}", db.display()))
        .arg("--no-headers")
        .arg(sql)
        .output()
        .map_err(|e| format!("cannot run kyua: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "kyua db-exec failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.splitn(4, ',').map(String::from).collect())
        .collect())
}
