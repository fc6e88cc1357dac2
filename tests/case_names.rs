//! Every case name is written once, literally, where the case is registered (a table row or a
//! `TestCase::new("...")`), so `grep -rn '"vfork2"' tests` lands on the row that says what the
//! case does (and `ptrace-atf list --where` can print it). This lists every program (`-l`)
//! and counts each name as `"name"` in tests/<area>/*.rs (`ptrace_atf::source`).

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

#[test]
fn every_case_name_is_written_once() {
    let mut wrong = Vec::new();
    for a in AREAS {
        let literals = ptrace_atf::source::literals(a.dir).unwrap();
        let prog = bin_dir().join(a.program);
        let o = Command::new(&prog).arg("-l").output().unwrap();
        assert!(o.status.success(), "{} -l failed", prog.display());
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            let Some(name) = line.strip_prefix("ident: ") else {
                continue;
            };
            let n = literals.get(name).map_or(0, Vec::len);
            let ok = if ALSO_WORDS.contains(&name) {
                n >= 1
            } else {
                n == 1
            };
            if !ok {
                let why = if n == 0 {
                    "is built with format!: write it literally in its row"
                } else {
                    "is written more than once: keep the registration only"
                };
                wrong.push(format!("{}:{name} (\"{name}\" {n} times) {why}", a.program));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} case name(s) not written exactly once:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
