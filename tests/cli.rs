//! The `ptrace-atf` command's workflows: install layout, the direct driver, `loop` and
//! `xfail` on real runs.

use std::path::{Path, PathBuf};
use std::process::Command;

const ME: &str = env!("CARGO_BIN_EXE_ptrace-atf");

fn bin_dir() -> PathBuf {
    Path::new(ME).parent().unwrap().to_path_buf()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(ME).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn kyua() -> Option<PathBuf> {
    ptrace_atf::kyua::find()
}

#[test]
fn install_lays_out_a_tree_kyua_can_list() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("t");
    let bins = bin_dir();
    let (code, _, err) = run(&[
        "--bin-dir",
        bins.to_str().unwrap(),
        "install",
        tree.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    for a in ptrace_atf::suite::AREAS {
        let dir = tree.join(a.dir);
        assert!(dir.join("Kyuafile").is_file() && dir.join("Atffile").is_file());
        for w in ptrace_atf::suite::WAITERS {
            assert!(
                dir.join(format!("{}_{w}", a.program)).is_file(),
                "{}/{}_{w}",
                a.dir,
                a.program
            );
        }
    }
    assert!(tree.join("Kyuafile").is_file() && tree.join("Atffile").is_file());
    let Some(kyua) = kyua() else { return };
    let out = Command::new(kyua)
        .arg("list")
        .current_dir(&tree)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kyua list: {text}");
    assert!(
        !text.contains("__test_cases_list__"),
        "a program's listing broke:\n{text}"
    );
    assert!(text.contains("fork/t_fork_pidfd:"), "{text}");
}

#[test]
fn direct_driver_runs_a_filtered_program() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = run(&[
        "test",
        "--direct",
        "--tree",
        tmp.path().join("t").to_str().unwrap(),
        "fork/t_fork_wait4:traceme_stop_exit",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("fork/t_fork_wait4:traceme_stop_exit  ->  passed"),
        "{out}"
    );
    assert!(out.contains("1/1 passed (0 failed)"), "{out}");
}

#[test]
fn loop_counts_iterations_and_reports_the_failing_one() {
    let (code, out, err) = run(&["loop", "t_fork_wait4:traceme_stop_exit", "-n", "200"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("200 iterations, 0 failed"), "{out}");
    let (code, out, _) = run(&[
        "loop",
        "fork/t_fork:traceme_stop_exit",
        "-n",
        "5",
        "--until-fail",
        "-v",
        "waiter=nosuch",
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains("iteration 1: failed: unknown waiter 'nosuch'"),
        "{out}"
    );
    assert!(out.contains("1 iterations, 1 failed"), "{out}");
    let (code, _, err) = run(&["loop", "t_fork:nosuch"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["loop", "t_fork:x", "--cpu", "a"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn xfail_sorts_a_real_run() {
    let Some(kyua) = kyua() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_BIN_EXE_atf-fixture"));
    std::fs::copy(fixture, tmp.path().join("fixture")).unwrap();
    // Every fixture case declares a bug, so the ledger has all three fates.
    std::fs::write(
        tmp.path().join("Kyuafile"),
        "syntax(2)\ntest_suite(\"x\")\natf_test_program{name=\"fixture\", [\"custom.bug\"]=\"PR 1\"}\n",
    )
    .unwrap();
    let db = tmp.path().join("r.db");
    let st = Command::new(kyua)
        .args(["test", &format!("--results-file={}", db.display())])
        .args([
            "fixture:xfail_fatal",
            "fixture:xfail_none",
            "fixture:require",
        ])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(db.is_file(), "{st:?}");
    let (code, out, err) = run(&["xfail", "--results-file", db.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    let section = |title: &str| {
        let start = out
            .find(title)
            .unwrap_or_else(|| panic!("no '{title}' in {out}"));
        out[start..].lines().nth(1).unwrap_or("").to_string()
    };
    assert!(
        section("still fail as expected").contains("fixture:xfail_fatal"),
        "{out}"
    );
    assert!(section("NOW PASS").contains("fixture:xfail_none"), "{out}");
    assert!(
        section("failed in another way").contains("fixture:require"),
        "{out}"
    );
    let (code, _, err) = run(&["xfail", "--results-file", "/nonexistent.db"]);
    assert_eq!(code, 3, "{err}");
}
