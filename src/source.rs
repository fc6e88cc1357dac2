//! Where a case is written: every case name appears once, literally (`"name"`), in its
//! area's sources (a table row or a `TestCase::new`), which `cargo test --test case_names`
//! enforces. This finds that line in the source tree the programs were built from, for
//! `ptrace-atf list --where` and for that test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The source tree the programs were built from (it may be gone on an installed machine).
pub fn tree() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `"word"` (lowercase letters, digits and `_`) in `tests/<area>/*.rs`, with the
/// places (`tests/<area>/file.rs`, line) it is written at.
pub fn literals(area_dir: &str) -> std::io::Result<BTreeMap<String, Vec<(PathBuf, usize)>>> {
    let dir = tree().join("tests").join(area_dir);
    let mut out: BTreeMap<String, Vec<(PathBuf, usize)>> = BTreeMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path)?;
        let shown = Path::new("tests")
            .join(area_dir)
            .join(path.file_name().unwrap_or_default());
        for (n, line) in text.lines().enumerate() {
            for (i, piece) in line.split('"').enumerate() {
                if i % 2 == 1 && is_word(piece) {
                    out.entry(piece.to_string())
                        .or_default()
                        .push((shown.clone(), n + 1));
                }
            }
        }
    }
    Ok(out)
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_name_is_found_at_its_line() {
        let fork = literals("fork").expect("the source tree is here");
        let places = fork.get("vfork2").expect("vfork2 is a literal row");
        assert_eq!(places.len(), 1, "{places:?}");
        let (file, line) = &places[0];
        let text = std::fs::read_to_string(tree().join(file)).unwrap();
        let row = text.lines().nth(line - 1).unwrap();
        assert!(row.contains("\"vfork2\""), "{file:?}:{line}: {row}");
    }
}
