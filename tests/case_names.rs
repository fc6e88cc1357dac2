//! Every case name is written once, literally, where the case is registered (a table row or a
//! `TestCase::new("...")`), so `grep -rn '"vfork2"' tests` lands on the row that says what the
//! case does. This lists every program (`-l`) and counts each name as `"name"` in
//! tests/<area>/*.rs. Names still built with `format!` are listed in
//! tests/case_names_pending.txt; that list may only shrink.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use ptrace_atf::suite::AREAS;

/// Names that are also ordinary words of the sources (a label, a variant's suffix): they must
/// appear, but may appear more than once.
const ALSO_WORDS: &[&str] = &["syscall"];

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_ptrace-atf"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// How often each `"word"` (lowercase, digits, `_`) occurs in tests/<area>/*.rs.
fn literal_counts() -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for a in AREAS {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join(a.dir);
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, piece) in text.split('"').enumerate() {
                let word = i % 2 == 1
                    && !piece.is_empty()
                    && piece
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if word {
                    *counts.entry(piece.to_string()).or_default() += 1;
                }
            }
        }
    }
    counts
}

#[test]
fn every_case_name_is_written_once() {
    let counts = literal_counts();
    let pending: BTreeSet<String> = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/case_names_pending.txt"),
    )
    .unwrap()
    .lines()
    .filter(|l| !l.starts_with('#') && !l.is_empty())
    .map(str::to_string)
    .collect();
    let mut wrong = Vec::new();
    let mut listed = BTreeSet::new();
    for a in AREAS {
        let prog = bin_dir().join(a.program);
        let o = Command::new(&prog).arg("-l").output().unwrap();
        assert!(o.status.success(), "{} -l failed", prog.display());
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            let Some(name) = line.strip_prefix("ident: ") else {
                continue;
            };
            listed.insert(name.to_string());
            let n = counts.get(name).copied().unwrap_or(0);
            let ok = if pending.contains(name) {
                n == 0
            } else if ALSO_WORDS.contains(&name) {
                n >= 1
            } else {
                n == 1
            };
            if !ok {
                let why = if pending.contains(name) {
                    "is literal now: remove it from tests/case_names_pending.txt"
                } else if n == 0 {
                    "is built with format!: write it literally in its row"
                } else {
                    "is written more than once: keep the registration only"
                };
                wrong.push(format!("{}:{name} (\"{name}\" {n} times) {why}", a.program));
            }
        }
    }
    for name in pending.difference(&listed) {
        wrong.push(format!(
            "{name}: in tests/case_names_pending.txt but no program lists it"
        ));
    }
    assert!(
        wrong.is_empty(),
        "{} case name(s) not written exactly once:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
