//! kyua end to end: install the suite into a temporary tree, run the real kyua over it,
//! read the results back from kyua's database, and check every case's result is the one it
//! declares (expected failures carry `X-bug` or `X-deviation`; nothing is broken or failed). Also checks every
//! program's listing with kyua's parser and the documented errors of bad invocations.

use ptrace_atf::atf::listing;
use ptrace_atf::kyua::XfailKind;
use ptrace_atf::suite::{AREAS, WAITERS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_ptrace-atf"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn kyua() -> Option<PathBuf> {
    let found = ptrace_atf::kyua::find();
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "kyua is not installed, and CI must run the kyua end-to-end test"
        );
        eprintln!(
            "!!! SKIPPED: kyua is not installed (apt-get install kyua); end-to-end test not run"
        );
    }
    found
}

fn db_exec(kyua: &Path, db: &Path, sql: &str) -> Vec<Vec<String>> {
    ptrace_atf::kyua::db_exec(kyua, db, sql).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn whole_suite_under_kyua_gives_the_declared_results() {
    let Some(kyua) = kyua() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // kyua runs require.user=unprivileged cases as nobody: the tree must be reachable.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let tree = tmp.path().join("tree");
    let st = Command::new(env!("CARGO_BIN_EXE_ptrace-atf"))
        .arg("--bin-dir")
        .arg(bin_dir())
        .arg("install")
        .arg(&tree)
        .status()
        .unwrap();
    assert!(st.success());
    let db = tmp.path().join("results.db");
    let mut cmd = Command::new(&kyua);
    cmd.arg("--variable=parallelism=2");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        cmd.arg("--variable=unprivileged_user=nobody");
    }
    let out = cmd
        .arg("test")
        .arg(format!("--kyuafile={}", tree.join("Kyuafile").display()))
        .arg(format!("--results-file={}", db.display()))
        .current_dir(&tree)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows = db_exec(&kyua, &db, ptrace_atf::kyua::RESULTS_SQL);
    let xfails =
        ptrace_atf::kyua::xfail_refs(db_exec(&kyua, &db, ptrace_atf::kyua::XFAIL_REFS_SQL));
    let mut bad = Vec::new();
    for r in &rows {
        let key = (r[0].clone(), r[1].clone());
        let declared_xfail = xfails.contains_key(&key);
        let ok = match r[2].as_str() {
            "passed" => !declared_xfail,
            // A skip names a missing capability, whether or not the case declares a bug.
            "skipped" => !r[3].to_lowercase().contains("not implemented"),
            "expected_failure" => declared_xfail,
            _ => false,
        };
        if !ok {
            bad.push(format!("{}:{} -> {}: {}", r[0], r[1], r[2], r[3]));
        }
    }
    assert!(
        bad.is_empty(),
        "unexpected results:\n{}\n\nkyua said:\n{stdout}",
        bad.join("\n")
    );
    for a in AREAS {
        for w in WAITERS {
            let prog = format!("{}/{}_{w}", a.dir, a.program);
            assert!(
                rows.iter().any(|r| r[0] == prog),
                "{prog} ran no case under kyua"
            );
        }
    }
    assert!(out.status.success(), "kyua test failed:\n{stdout}");
    check_junit(&kyua, &db, &rows, &xfails);
}

/// `kyua report-junit` of the real run parses as XML and carries every case, with the
/// X-netbsd and X-bug metadata in its output.
fn check_junit(
    kyua: &Path,
    db: &Path,
    rows: &[Vec<String>],
    xfails: &BTreeMap<(String, String), (XfailKind, String)>,
) {
    let xml_path = db.with_extension("xml");
    let st = Command::new(kyua)
        .arg("report-junit")
        .arg(format!("--results-file={}", db.display()))
        .arg(format!("--output={}", xml_path.display()))
        .status()
        .unwrap();
    assert!(st.success(), "kyua report-junit failed");
    let bytes = std::fs::read(&xml_path).unwrap();
    // kyua declares iso-8859-1; each byte is one character.
    let text: String = bytes.iter().map(|&b| b as char).collect();
    let text = text.replacen("encoding=\"iso-8859-1\"", "encoding=\"UTF-8\"", 1);
    let doc = roxmltree::Document::parse(&text).expect("JUnit output is well-formed XML");
    let cases: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), rows.len(), "JUnit has one testcase per result");
    let names: std::collections::BTreeSet<(String, String)> = cases
        .iter()
        .map(|n| {
            let cls = n.attribute("classname").unwrap_or("").replace('.', "/");
            (cls, n.attribute("name").unwrap_or("").to_string())
        })
        .collect();
    for r in rows {
        let (prog, case) = (r[0].replace('.', "/"), r[1].clone());
        assert!(
            names.contains(&(prog.clone(), case.clone())),
            "{prog}:{case} missing from JUnit"
        );
    }
    assert!(
        text.contains("custom.netbsd = "),
        "X-netbsd metadata missing from JUnit"
    );
    for (kind, prop) in XfailKind::ALL {
        if xfails.values().any(|(k, _)| *k == kind) {
            let kyua_name = format!("custom.{} = ", kind.word());
            assert!(
                text.contains(&kyua_name),
                "{prop} metadata missing from JUnit"
            );
        }
    }
}

#[test]
fn every_program_lists_what_kyua_accepts() {
    for a in AREAS {
        let exe = bin_dir().join(a.program);
        let out = Command::new(&exe).arg("-l").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", a.program);
        assert!(out.stderr.is_empty(), "{} -l wrote to stderr", a.program);
        let text = String::from_utf8(out.stdout).unwrap();
        let cases = listing::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", a.program));
        for c in &cases {
            let t: u64 = c.get("timeout").expect("explicit timeout").parse().unwrap();
            assert!(
                (1..300).contains(&t),
                "{}:{} timeout {t}",
                a.program,
                c.ident
            );
            assert!(
                c.get("descr").is_some_and(|d| !d.is_empty()),
                "{}:{} has no descr",
                a.program,
                c.ident
            );
        }
    }
}

fn run(exe: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(exe).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_invocations_give_documented_messages_and_codes() {
    for a in AREAS {
        let exe = bin_dir().join(a.program);
        let exe = exe.to_str().unwrap();
        let p = a.program;
        let see = format!("{p}: See atf-test-program(1) for usage details.\n");
        for (args, msg) in [
            (&[][..], "Must provide a test case name".to_string()),
            (&["nosuch"][..], "Unknown test case `nosuch'".to_string()),
            (&["-Z"][..], "Unknown option -Z.".to_string()),
            (
                &["-v", "x", "y"][..],
                "-v requires an argument of the form var=value".into(),
            ),
        ] {
            let (code, out, err) = run(exe, args);
            assert_eq!(code, Some(1), "{p} {args:?}");
            assert!(out.is_empty(), "{p} {args:?} wrote to stdout");
            assert_eq!(err, format!("{p}: ERROR: {msg}\n{see}"), "{p} {args:?}");
        }
    }
    let me = env!("CARGO_BIN_EXE_ptrace-atf");
    let (code, _, err) = run(me, &["bogus"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = run(me, &["test", "-j", "0"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = run(me, &["--bin-dir", "/nonexistent", "test"]);
    assert_eq!(code, Some(3));
    assert!(err.contains("/nonexistent/t_fork not found"), "{err}");
    let (code, _, err) = run(me, &["--bin-dir", "/nonexistent", "install", "/tmp/x"]);
    assert_eq!(code, Some(3), "{err}");
    let (code, out, _) = run(me, &["--help"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("Exit status:"));
}
