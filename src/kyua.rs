//! Finding kyua and reading its results databases (`kyua db-exec`), shared by the command
//! and the project's tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every case's program, name, result type and reason.
pub const RESULTS_SQL: &str = "SELECT tp.relative_path, tc.name, tr.result_type, tr.result_reason \
     FROM test_programs tp JOIN test_cases tc USING (test_program_id) \
     JOIN test_results tr USING (test_case_id)";

/// Every case's program, name and X-bug value (set by the case or, as a default, by its
/// Kyuafile entry).
pub const BUGS_SQL: &str = "SELECT tp.relative_path, tc.name, m.property_value \
     FROM test_programs tp JOIN test_cases tc USING (test_program_id) \
     JOIN metadatas m ON m.metadata_id IN (tc.metadata_id, tp.metadata_id) \
     WHERE m.property_name = 'custom.bug'";

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
