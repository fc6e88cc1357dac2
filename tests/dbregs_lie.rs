//! t_dbregs_x86 under `-v dbregs_lie=...`: a sample of cases, one or more per family, must
//! fail (never skip, never pass) when the toolkit makes the debug registers misbehave, so a
//! kernel that broke them cannot pass the area. The only cases allowed to pass under a lie are
//! those that never make the lying call, listed in `UNTOUCHED` with the reason: single-step
//! cases neither read nor write a debug register and must not depend on them.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_t_dbregs_x86");

const LIES: [&str; 3] = ["write_ignored", "read_zero", "wrong_si_code"];

/// The sample: every family of the program (print, preserve, trap_variable and its negative
/// form, trap_code, dont_inherit, the pins, steps, DR6, concurrent threads, the stress loops,
/// the CVE-2018-8897 forms).
const SAMPLE: [&str; 19] = [
    "dbregs_print",
    "dbregs_preserve_dr1",
    "dbregs_preserve_dr1_yield",
    "dbregs_preserve_dr3_continued",
    "dbregs_dr2_trap_variable_readwrite_read_2bytes",
    "dbregs_dr3_notrap_variable_writeonly_read_8bytes",
    "dbregs_dr0_trap_code",
    "dbregs_dr1_dont_inherit_lwp",
    "dbregs_dr2_dont_inherit_execve",
    "dbregs_dr0_second_write_takes_effect_armed",
    "dbregs_dr0_kernel_address_refused_armed",
    "dbregs_dr7_refuses_misaligned_4bytes",
    "step3",
    "step_signalmasked",
    "dbregs_dr6_after_step_and_hit",
    "thread_concurrent_bp_wp",
    "dbregs_trap_variable_stress",
    "dbregs_trap_variable_stress_one_tracee",
    "dbregs_cve_2018_8897_mov_ss_int3",
];

/// (lie, case, why the case never makes the lying call): it must pass under that lie.
const UNTOUCHED: [(&str, &str, &str); 12] = [
    (
        "write_ignored",
        "dbregs_print",
        "reads a fresh tracee, writes nothing",
    ),
    ("write_ignored", "step3", "steps, writes no debug register"),
    (
        "write_ignored",
        "step_signalmasked",
        "steps, writes no debug register",
    ),
    ("read_zero", "step3", "steps, reads no debug register"),
    (
        "read_zero",
        "step_signalmasked",
        "steps, reads no debug register",
    ),
    ("wrong_si_code", "dbregs_print", "takes no debug trap"),
    (
        "wrong_si_code",
        "dbregs_preserve_dr1",
        "takes no debug trap",
    ),
    (
        "wrong_si_code",
        "dbregs_preserve_dr1_yield",
        "takes no debug trap",
    ),
    (
        "wrong_si_code",
        "dbregs_preserve_dr3_continued",
        "takes no debug trap",
    ),
    (
        "wrong_si_code",
        "dbregs_dr1_dont_inherit_lwp",
        "the new thread's write must not trap: no debug trap",
    ),
    (
        "wrong_si_code",
        "dbregs_dr2_dont_inherit_execve",
        "takes no debug trap",
    ),
    (
        "wrong_si_code",
        "dbregs_dr7_refuses_misaligned_4bytes",
        "takes no debug trap",
    ),
];

/// Runs one case and returns its result line.
fn run(case: &str, lie: Option<&str>) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let result = dir.path().join("result");
    let mut cmd = Command::new(BIN);
    cmd.arg("-r")
        .arg(&result)
        .args(["-v", "waiter=waitpid", "-v", "iterations=3"]);
    if let Some(lie) = lie {
        cmd.args(["-v", &format!("dbregs_lie={lie}")]);
    }
    let out = cmd.arg(case).output().expect("run t_dbregs_x86");
    read_result(&result).unwrap_or_else(|| {
        panic!(
            "{case} (lie {lie:?}) wrote no result: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn read_result(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.lines().next()?.to_string())
}

fn untouched(lie: &str, case: &str) -> Option<&'static str> {
    UNTOUCHED
        .iter()
        .find(|(l, c, _)| *l == lie && *c == case)
        .map(|(_, _, why)| *why)
}

#[test]
fn every_sampled_case_fails_under_every_lie() {
    let mut wrong = Vec::new();
    for case in SAMPLE {
        let honest = run(case, None);
        if honest.starts_with("skipped") {
            // This machine cannot run it (no firing watchpoints under a hypervisor, an
            // emulator's limit): the lie cannot be judged, and must not change the verdict.
            for lie in LIES {
                let got = run(case, Some(lie));
                if got != honest {
                    wrong.push(format!("{case} lie={lie}: {got} (honest run: {honest})"));
                }
            }
            eprintln!("{case}: {honest}: not judged here");
            continue;
        }
        if honest != "passed" {
            wrong.push(format!("{case} honest run: {honest}"));
            continue;
        }
        for lie in LIES {
            let got = run(case, Some(lie));
            let ok = match untouched(lie, case) {
                Some(_) => got == "passed",
                None => got.starts_with("failed"),
            };
            if !ok {
                let want = untouched(lie, case)
                    .map_or("failed".to_string(), |why| format!("passed ({why})"));
                wrong.push(format!("{case} lie={lie}: want {want}, got {got}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
