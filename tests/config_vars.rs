//! `suite::CONFIG_VARS` names exactly the configuration variables the suite's code reads
//! (through `config(`, `config_u64(`, `config_or(`, the time-scale variable and kyua's two
//! engine variables; a name read any other way escapes this check):
//! `ptrace-atf -v NAME=...` warns about any other name, so a variable read but not listed
//! would draw a false warning, and one listed but no longer read would hide a typo.

use ptrace_atf::suite::CONFIG_VARS;
use std::collections::BTreeSet;
use std::path::Path;

/// Every `"name"` passed to a config read (`config(`, `config_u64(`, `config_or(`) in `dir`.
fn read_names(dir: &Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            // The atf conformance fixture mirrors atf-c's own tests, not the suite.
            if !p.ends_with("conformance") {
                read_names(&p, out);
            }
            continue;
        }
        if p.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for call in ["config(\"", "config_u64(\"", "config_or(\""] {
            for (i, _) in text.match_indices(call) {
                let rest = &text[i + call.len()..];
                let name = &rest[..rest.find('"').unwrap()];
                out.insert(name.to_string());
            }
        }
    }
}

#[test]
fn the_listed_variables_are_the_ones_read() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut read = BTreeSet::new();
    read_names(&root.join("src"), &mut read);
    read_names(&root.join("tests"), &mut read);
    read.insert(ptrace_atf::atf::timescale::CONFIG.to_string());
    // kyua's engine variables: `test` hands them to kyua's engine, not to the cases.
    let kyua = std::fs::read_to_string(root.join("src/bin/ptrace-atf/kyua.rs")).unwrap();
    for engine in ["architecture", "platform"] {
        assert!(
            kyua.contains(&format!("\"{engine}\"")),
            "kyua.rs handles {engine}"
        );
        read.insert(engine.to_string());
    }
    let listed: BTreeSet<String> = CONFIG_VARS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        listed, read,
        "suite::CONFIG_VARS (left) against the names read (right)"
    );
}
