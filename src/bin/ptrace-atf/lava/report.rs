//! The results bridge: a LAVA job's log read back into the per-case results `test` and
//! `vm` give (kyua's result types and reasons), checked against what LAVA recorded.
//!
//! LAVA records pass/fail/skip per test case (`results` records); the guest prints each
//! case's kyua line just before reporting it (`target` records starting with
//! `RESULT_MARK`), which keeps what LAVA cannot hold: expected_failure vs passed, broken
//! vs failed, the reason.

use super::guest::{HEALTH_CASE, RESULT_MARK, RUN_CASE, lava_name};
use super::log::Record;
use crate::vm::results::{self, CaseResult, Kind};
use std::collections::BTreeMap;

/// LAVA's word for a kyua result type.
pub fn lava_word(k: Kind) -> &'static str {
    match k {
        Kind::Passed | Kind::ExpectedFailure => "pass",
        Kind::Skipped => "skip",
        Kind::Failed | Kind::Broken => "fail",
    }
}

/// A LAVA test case as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub suite: String,
    pub case: String,
    pub result: String,
}

/// What a job's log says.
#[derive(Debug, Default)]
pub struct Bridge {
    /// Every ATF case, by `area/program:case`.
    pub cases: BTreeMap<String, CaseResult>,
    /// Disagreements between LAVA's records and the kyua lines, one sentence each.
    pub mismatches: Vec<String>,
    /// The `kernel-health` and `suite-run` cases (None: not recorded).
    pub health: Option<String>,
    pub run: Option<String>,
    /// The guest's health lines (`ptrace-atf-lava: kernel health...` and the log excerpt).
    pub health_lines: Vec<String>,
    /// LAVA's own `lava/job` result and its error message.
    pub job: Option<(String, String)>,
    /// The kernel the guest ran (from the guest's first line).
    pub kernel: Option<String>,
    /// The console's kernel trouble (oops, BUG, warning, panic), each with the case that
    /// had started last (`vm`'s console scan).
    pub console: crate::vm::console::Scan,
    /// LAVA's own records of a boot attempt that failed (`boot-image-retry failed: 1 of 3
    /// attempts. 'Connection closed'`), in order.
    pub boot_retries: Vec<String>,
}

/// `area/program:case` for a LAVA name `program.case` (area from the suite's table).
fn id_of(name: &str) -> Option<String> {
    let (prog, case) = name.split_once('.')?;
    let base = ptrace_atf::suite::base_program(prog);
    let area = ptrace_atf::suite::AREAS
        .iter()
        .find(|a| a.program == base)?
        .dir;
    Some(format!("{area}/{prog}:{case}"))
}

/// LAVA's error record of a failed attempt of the boot action it retries (`failure_retry`
/// on the boot: the top-level action of a QEMU image boot is `boot-image-retry`).
fn is_boot_retry(msg: &str) -> bool {
    msg.split_once(" failed: ")
        .is_some_and(|(action, rest)| action == "boot-image-retry" && rest.contains(" attempts"))
}

/// Reads a job's records.
pub fn bridge(records: &[Record]) -> Bridge {
    let mut b = Bridge::default();
    let mut lines: BTreeMap<String, CaseResult> = BTreeMap::new();
    let mut recorded: Vec<Recorded> = Vec::new();
    // The console as the guest printed it, without the suite's and the script's own lines
    // (a case's reason may quote the kernel log).
    let mut console = String::new();
    for r in records {
        if r.lvl == "target"
            && let Some(msg) = r.msg.str()
            && !msg.contains("  ->  ")
            && !msg.contains("ptrace-atf-lava: ")
        {
            console.push_str(msg);
            console.push('\n');
        }
        if r.lvl == "error"
            && let Some(msg) = r.msg.str()
            && is_boot_retry(msg)
        {
            b.boot_retries.push(msg.to_string());
        }
        match r.lvl.as_str() {
            "target" => {
                let Some(msg) = r.msg.str() else { continue };
                if let Some(line) = msg.split_once(RESULT_MARK).map(|(_, l)| l)
                    && let Some(c) = results::parse_line(line.trim_end())
                {
                    lines.insert(c.id.clone(), c);
                } else if let Some(p) = msg.find("ptrace-atf-lava: ") {
                    let rest = &msg[p..];
                    if rest.starts_with("ptrace-atf-lava: kernel health")
                        || rest.starts_with("ptrace-atf-lava:   ")
                        || rest.contains("already tainted")
                    {
                        b.health_lines.push(rest.to_string());
                    } else if let Some(k) = rest.strip_prefix("ptrace-atf-lava: kernel ")
                        && b.kernel.is_none()
                    {
                        b.kernel = k.split(',').next().map(str::to_string);
                    }
                }
            }
            "results" => {
                let (Some(suite), Some(case), Some(result)) = (
                    r.msg.field("definition"),
                    r.msg.field("case"),
                    r.msg.field("result"),
                ) else {
                    continue;
                };
                if suite == "lava" {
                    if case == "job" {
                        b.job = Some((
                            result.to_string(),
                            r.msg.field("error_msg").unwrap_or("").to_string(),
                        ));
                    }
                    continue;
                }
                recorded.push(Recorded {
                    suite: suite.to_string(),
                    case: case.to_string(),
                    result: result.to_string(),
                });
            }
            _ => {}
        }
    }
    b.console = crate::vm::console::scan(&console);
    let by_name: BTreeMap<String, &CaseResult> = lines
        .values()
        .filter_map(|c| Some((lava_name(&c.id)?, c)))
        .collect();
    let mut named = std::collections::BTreeSet::new();
    for rec in &recorded {
        if rec.case == HEALTH_CASE {
            b.health = Some(rec.result.clone());
            continue;
        }
        if rec.case == RUN_CASE {
            b.run = Some(rec.result.clone());
            continue;
        }
        named.insert(rec.case.clone());
        match by_name.get(&rec.case) {
            Some(c) => {
                if lava_word(c.kind) != rec.result {
                    b.mismatches.push(format!(
                        "{}: LAVA recorded {}, the suite said {}",
                        c.id,
                        rec.result,
                        c.kind.name()
                    ));
                }
                b.cases.insert(c.id.clone(), (*c).clone());
            }
            None => {
                let Some(id) = id_of(&rec.case) else {
                    b.mismatches.push(format!(
                        "{}/{}: a LAVA test case that is no ATF case of this suite ({})",
                        rec.suite, rec.case, rec.result
                    ));
                    continue;
                };
                let kind = match rec.result.as_str() {
                    "pass" => Kind::Passed,
                    "skip" => Kind::Skipped,
                    _ => Kind::Failed,
                };
                b.cases.insert(
                    id.clone(),
                    CaseResult {
                        id,
                        kind,
                        reason: format!(
                            "LAVA recorded {} (no kyua line for it in the log)",
                            rec.result
                        ),
                    },
                );
            }
        }
    }
    for (name, c) in &by_name {
        if !named.contains(name) {
            b.mismatches.push(format!(
                "{}: the suite said {}, LAVA recorded nothing",
                c.id,
                c.kind.name()
            ));
            b.cases.insert(c.id.clone(), (*c).clone());
        }
    }
    b
}

impl Bridge {
    /// Rows for the expected-failure ledger: program path, case, result type, reason.
    pub fn ledger_rows(&self) -> Vec<Vec<String>> {
        self.cases
            .values()
            .filter_map(|c| {
                let (prog, case) = c.id.split_once(':')?;
                Some(vec![
                    prog.to_string(),
                    case.to_string(),
                    c.kind.name().to_string(),
                    c.reason.clone(),
                ])
            })
            .collect()
    }

    /// The first kernel report of a boot attempt that panicked before any case started,
    /// when LAVA then booted again (`failure_retry`) and the suite ran to its end: a note,
    /// not a failure, as `vm` treats a boot-time panic under TCG.
    pub fn boot_panic(&self) -> Option<&crate::vm::console::Trouble> {
        let p = self.console.panic.as_ref()?;
        let ran = self.run.as_deref() == Some("pass") && !self.cases.is_empty();
        // Every panic in the log came before the first case started: none is the run's.
        let first_start = self.console.starts.first().map_or(usize::MAX, |s| s.0);
        let all_before = self
            .console
            .troubles
            .iter()
            .filter(|t| t.text.starts_with("Kernel panic"))
            .all(|t| t.line < first_start);
        (ran && all_before && !self.boot_retries.is_empty())
            .then(|| self.console.troubles.first().unwrap_or(p))
    }

    /// Whether the job is good: LAVA's job passed, every case is good, the suite ran to
    /// its end, the kernel stayed healthy, and LAVA agrees with the suite.
    pub fn bad_reasons(&self) -> Vec<String> {
        let mut why = Vec::new();
        match &self.job {
            Some((r, _)) if r == "pass" => {}
            Some((r, e)) => why.push(format!("LAVA's job result is {r}: {e}")),
            None => why.push("the log has no job result (an incomplete log?)".into()),
        }
        let c = results::Counts::of(self.cases.values());
        if c.bad() > 0 {
            why.push(format!("{} failed, {} broken", c.failed, c.broken));
        }
        if self.cases.is_empty() {
            why.push("no ATF case was reported".into());
        }
        if self.run.as_deref() != Some("pass") {
            why.push(format!(
                "{RUN_CASE}: {}",
                self.run.as_deref().unwrap_or("not recorded")
            ));
        }
        if self.health.as_deref() != Some("pass") {
            why.push(format!(
                "{HEALTH_CASE}: {}",
                self.health.as_deref().unwrap_or("not recorded")
            ));
        }
        if let Some(p) = &self.console.panic
            && self.boot_panic().is_none()
        {
            why.push(format!(
                "the kernel panicked (last case started: {})",
                p.last_started.as_deref().unwrap_or("none")
            ));
        }
        if !self.mismatches.is_empty() {
            why.push(format!(
                "{} disagreements between LAVA and the suite",
                self.mismatches.len()
            ));
        }
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lava::log::parse;

    const LOG: &str = r#"{"dt": "1", "lvl": "target", "msg": "ptrace-atf-lava: kernel 6.12.117+deb12-cloud-amd64, 2 CPUs, tainted 0 at start"}
{"dt": "1", "lvl": "target", "msg": "ptrace-atf-lava: result zombie/t_zombie_waitpid:a  ->  passed  [0.010s]"}
{"dt": "1", "lvl": "results", "msg": {"case": "t_zombie_waitpid.a", "definition": "0_ptrace-atf", "result": "pass"}}
{"dt": "1", "lvl": "target", "msg": "ptrace-atf-lava: result zombie/t_zombie_waitpid:b  ->  expected_failure: bug 7: x  [0.2s]"}
{"dt": "1", "lvl": "results", "msg": {"case": "t_zombie_waitpid.b", "definition": "0_ptrace-atf", "result": "pass"}}
{"dt": "1", "lvl": "target", "msg": "ptrace-atf-lava: result zombie/t_zombie_waitpid:c  ->  broken: timed out  [9s]"}
{"dt": "1", "lvl": "results", "msg": {"case": "t_zombie_waitpid.c", "definition": "0_ptrace-atf", "result": "pass"}}
{"dt": "1", "lvl": "results", "msg": {"case": "t_fork_wait4.fork1", "definition": "0_ptrace-atf", "result": "skip"}}
{"dt": "1", "lvl": "target", "msg": "ptrace-atf-lava: result zombie/t_zombie_waitpid:d  ->  skipped: no  [0.1s]"}
{"dt": "1", "lvl": "target", "msg": "ptrace-atf-lava: kernel health: tainted 0 -> 512; kernel log during the run:"}
{"dt": "1", "lvl": "target", "msg": "ptrace-atf-lava:   [ 1.0] WARNING: at x"}
{"dt": "1", "lvl": "results", "msg": {"case": "suite-run", "definition": "0_ptrace-atf", "result": "pass"}}
{"dt": "1", "lvl": "results", "msg": {"case": "kernel-health", "definition": "0_ptrace-atf", "result": "fail"}}
{"dt": "1", "lvl": "target", "msg": "[    3.1] ptrace-atf-vm: start zombie/t_zombie_waitpid:d"}
{"dt": "1", "lvl": "target", "msg": "[    3.2] WARNING: CPU: 1 PID: 7 at kernel/x.c:1 f+0x1/0x2"}
{"dt": "1", "lvl": "results", "msg": {"case": "job", "definition": "lava", "result": "pass"}}
"#;

    #[test]
    fn the_log_gives_kyua_types_reasons_and_disagreements() {
        let b = bridge(&parse(LOG).0);
        assert_eq!(b.kernel.as_deref(), Some("6.12.117+deb12-cloud-amd64"));
        assert_eq!(b.cases.len(), 5);
        let k = |id: &str| b.cases[id].kind;
        assert_eq!(k("zombie/t_zombie_waitpid:a"), Kind::Passed);
        assert_eq!(k("zombie/t_zombie_waitpid:b"), Kind::ExpectedFailure);
        assert_eq!(b.cases["zombie/t_zombie_waitpid:b"].reason, "bug 7: x");
        assert_eq!(k("zombie/t_zombie_waitpid:c"), Kind::Broken);
        assert_eq!(k("fork/t_fork_wait4:fork1"), Kind::Skipped);
        assert_eq!(k("zombie/t_zombie_waitpid:d"), Kind::Skipped);
        assert_eq!(
            b.mismatches,
            vec![
                "zombie/t_zombie_waitpid:c: LAVA recorded pass, the suite said broken",
                "zombie/t_zombie_waitpid:d: the suite said skipped, LAVA recorded nothing",
            ]
        );
        assert_eq!(b.health.as_deref(), Some("fail"));
        assert_eq!(b.run.as_deref(), Some("pass"));
        assert_eq!(b.health_lines.len(), 2);
        assert_eq!(b.job, Some(("pass".into(), String::new())));
        assert_eq!(b.console.troubles.len(), 1, "{:?}", b.console);
        assert_eq!(
            b.console.troubles[0].last_started.as_deref(),
            Some("zombie/t_zombie_waitpid:d")
        );
        assert!(b.console.panic.is_none());
        let why = b.bad_reasons();
        assert!(why.iter().any(|w| w == "0 failed, 1 broken"), "{why:?}");
        assert!(why.iter().any(|w| w == "kernel-health: fail"), "{why:?}");
        let rows = b.ledger_rows();
        assert!(rows.contains(&vec![
            "zombie/t_zombie_waitpid".to_string(),
            "b".into(),
            "expected_failure".into(),
            "bug 7: x".into()
        ]));
    }

    const BOOT_PANIC: &str = r#"{"dt": "1", "lvl": "target", "msg": "[    1.9] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI"}
{"dt": "1", "lvl": "target", "msg": "[    1.9] Kernel panic - not syncing: Fatal exception in interrupt"}
"#;
    const RETRY: &str = r#"{"dt": "1", "lvl": "error", "msg": "auto-login-action failed: 1 of 3 attempts. 'Connection closed'"}
{"dt": "1", "lvl": "error", "msg": "boot-image-retry failed: 1 of 3 attempts. 'Connection closed'"}
{"dt": "1", "lvl": "warning", "msg": "Retrying: 2 boot-image-retry (timeout 00:03:00)"}
"#;
    const A_RUN: &str = r#"{"dt": "1", "lvl": "target", "msg": "[    3.1] ptrace-atf-vm: start zombie/t_zombie_waitpid:a"}
{"dt": "1", "lvl": "target", "msg": "ptrace-atf-lava: result zombie/t_zombie_waitpid:a  ->  passed  [0.010s]"}
{"dt": "1", "lvl": "results", "msg": {"case": "t_zombie_waitpid.a", "definition": "0_ptrace-atf", "result": "pass"}}
{"dt": "1", "lvl": "results", "msg": {"case": "suite-run", "definition": "0_ptrace-atf", "result": "pass"}}
{"dt": "1", "lvl": "results", "msg": {"case": "kernel-health", "definition": "0_ptrace-atf", "result": "pass"}}
{"dt": "1", "lvl": "results", "msg": {"case": "job", "definition": "lava", "result": "pass"}}
"#;

    #[test]
    fn a_boot_attempt_that_panicked_before_the_suite_is_a_note_once_a_retry_ran_it() {
        let b = bridge(&parse(&format!("{BOOT_PANIC}{RETRY}{A_RUN}")).0);
        assert_eq!(
            b.boot_retries,
            ["boot-image-retry failed: 1 of 3 attempts. 'Connection closed'"]
        );
        let t = b.boot_panic().expect("the retried boot's panic");
        assert!(t.text.starts_with("Oops: int3"), "{t:?}");
        assert_eq!(b.bad_reasons(), Vec::<String>::new());
        // Otherwise the panic is the run's failure, naming the case that had started.
        let lost = A_RUN.replace(
            r#""case": "suite-run", "definition": "0_ptrace-atf", "result": "pass""#,
            r#""case": "suite-run", "definition": "0_ptrace-atf", "result": "fail""#,
        );
        let again = "{\"dt\": \"1\", \"lvl\": \"target\", \"msg\": \"[    9.0] Kernel panic - not syncing: again\"}\n";
        let rows: &[(&str, String, &str)] = &[
            (
                "no retry record (a job that does not retry)",
                format!("{BOOT_PANIC}{A_RUN}"),
                "none",
            ),
            (
                "no later boot ran the suite to its end",
                format!("{BOOT_PANIC}{RETRY}{lost}"),
                "none",
            ),
            (
                "a second panic once the suite had started",
                format!("{BOOT_PANIC}{RETRY}{A_RUN}{again}"),
                "none",
            ),
            (
                "the only panic came after a case started",
                format!("{RETRY}{A_RUN}{BOOT_PANIC}"),
                "zombie/t_zombie_waitpid:a",
            ),
        ];
        for (what, log, last) in rows {
            let b = bridge(&parse(log).0);
            assert!(b.boot_panic().is_none(), "{what}");
            let want = format!("the kernel panicked (last case started: {last})");
            assert!(
                b.bad_reasons().contains(&want),
                "{what}: {:?}",
                b.bad_reasons()
            );
        }
    }

    #[test]
    fn lava_words() {
        assert_eq!(lava_word(Kind::ExpectedFailure), "pass");
        assert_eq!(lava_word(Kind::Broken), "fail");
        assert_eq!(lava_word(Kind::Skipped), "skip");
        assert_eq!(
            id_of("t_dbregs_x86_pidfd.x").as_deref(),
            Some("dbregs_x86/t_dbregs_x86_pidfd:x")
        );
        assert_eq!(id_of("nope.x"), None);
    }
}
