//! Per-case results as `ptrace-atf test` prints them (kyua's line format, which the direct
//! driver shares): `fork/t_fork_waitpid:fork1  ->  passed  [0.010s]`, and their counts.

use std::collections::BTreeMap;

/// A result type, as kyua names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Passed,
    Skipped,
    ExpectedFailure,
    Failed,
    Broken,
}

impl Kind {
    pub fn parse(word: &str) -> Option<Kind> {
        Some(match word {
            "passed" => Kind::Passed,
            "skipped" => Kind::Skipped,
            "expected_failure" => Kind::ExpectedFailure,
            "failed" => Kind::Failed,
            "broken" => Kind::Broken,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Passed => "passed",
            Kind::Skipped => "skipped",
            Kind::ExpectedFailure => "expected_failure",
            Kind::Failed => "failed",
            Kind::Broken => "broken",
        }
    }

    pub fn is_good(self) -> bool {
        !matches!(self, Kind::Failed | Kind::Broken)
    }
}

/// One case's result line.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// `area/program:case`.
    pub id: String,
    pub kind: Kind,
    /// The reason after the result type (empty for passed).
    pub reason: String,
}

/// Parses a result line; `None` for any other line.
pub fn parse_line(line: &str) -> Option<CaseResult> {
    let (id, rest) = line.split_once("  ->  ")?;
    if id.is_empty() || id.contains(char::is_whitespace) || !id.contains(':') {
        return None;
    }
    // The duration is the last `  [...]`.
    let body = match rest.rfind("  [") {
        Some(i) if rest.ends_with("s]") => &rest[..i],
        _ => rest,
    };
    let (word, reason) = match body.split_once(": ") {
        Some((w, r)) if Kind::parse(w).is_some() => (w, r),
        _ => (body.trim(), ""),
    };
    Some(CaseResult {
        id: id.to_string(),
        kind: Kind::parse(word)?,
        reason: reason.to_string(),
    })
}

/// Whether `id` names a case of one of the suite's installed programs
/// (`area/t_area_waiter:case`), not a fragment of one.
pub fn is_suite_id(id: &str) -> bool {
    let Some((prog, case)) = id.split_once(':') else {
        return false;
    };
    let Some((area, name)) = prog.split_once('/') else {
        return false;
    };
    !case.is_empty()
        && ptrace_atf::suite::AREAS
            .iter()
            .any(|a| a.dir == area && ptrace_atf::suite::base_program(name) == a.program)
}

/// Every result line among `lines`, by case id (a case reported twice keeps its last).
pub fn collect<'a>(lines: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, CaseResult> {
    lines
        .into_iter()
        .filter_map(parse_line)
        .map(|r| (r.id.clone(), r))
        .collect()
}

/// Result counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub passed: usize,
    pub skipped: usize,
    pub xfail: usize,
    pub failed: usize,
    pub broken: usize,
}

impl Counts {
    pub fn of<'a>(results: impl IntoIterator<Item = &'a CaseResult>) -> Counts {
        let mut c = Counts::default();
        for r in results {
            c.add(r.kind);
        }
        c
    }

    pub fn add(&mut self, k: Kind) {
        match k {
            Kind::Passed => self.passed += 1,
            Kind::Skipped => self.skipped += 1,
            Kind::ExpectedFailure => self.xfail += 1,
            Kind::Failed => self.failed += 1,
            Kind::Broken => self.broken += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.passed + self.skipped + self.xfail + self.failed + self.broken
    }

    pub fn bad(&self) -> usize {
        self.failed + self.broken
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cases: {} passed, {} skipped, {} expected failures, {} failed, {} broken",
            self.total(),
            self.passed,
            self.skipped,
            self.xfail,
            self.failed,
            self.broken
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kyua_and_direct_lines_parse() {
        let r = parse_line("fork/t_fork_waitpid:fork1  ->  passed  [0.010s]").unwrap();
        assert_eq!(
            (r.id.as_str(), r.kind, r.reason.as_str()),
            ("fork/t_fork_waitpid:fork1", Kind::Passed, "")
        );
        let r = parse_line(
            "dbregs_x86/t_dbregs_x86_wait:dbregs_dr0_kernel_address_refused  ->  failed: POKEUSER DR0=0x7ffffffff000: expected EINVAL, got Ok(())  [0.021s]",
        )
        .unwrap();
        assert_eq!(r.kind, Kind::Failed);
        assert_eq!(
            r.reason,
            "POKEUSER DR0=0x7ffffffff000: expected EINVAL, got Ok(())"
        );
        let r = parse_line(
            "signals/t_signals_wait:x  ->  expected_failure: a traced child is never auto-reaped: ok  [1.000s]",
        )
        .unwrap();
        assert_eq!(r.kind, Kind::ExpectedFailure);
        let r = parse_line("lwp/t_lwp_pidfd:__test_cases_list__  ->  broken: Test program did not exit cleanly  [0.000s]").unwrap();
        assert_eq!(r.kind, Kind::Broken);
    }

    #[test]
    fn other_lines_are_not_results() {
        for l in [
            "",
            "Results saved to /tmp/results.db",
            "4032/4032 passed (0 failed)",
            "--- fork/t_fork_wait:x stdout.txt:",
            "a  ->  passed  [0.1s]",
            "a:b  ->  exploded  [0.1s]",
        ] {
            assert_eq!(parse_line(l), None, "{l}");
        }
    }

    #[test]
    fn suite_ids_and_fragments() {
        assert!(is_suite_id("fork/t_fork_waitpid:fork1"));
        assert!(is_suite_id("dbregs_x86/t_dbregs_x86_pidfd:step1"));
        assert!(is_suite_id("lwp/t_lwp:x"));
        // What is left of a console line after a kernel message cut into it.
        assert!(!is_suite_id(
            "egs_x86_waitid:dbregs_cve_2018_8897_mov_ss_syscall"
        ));
        assert!(!is_suite_id("s_waitid:interrupt_without_seize"));
        assert!(!is_suite_id("fork/t_lwp_wait:x"));
        assert!(!is_suite_id("fork/t_fork_waitpid:"));
    }

    #[test]
    fn counts_add_up() {
        let lines = [
            "a/p:1  ->  passed  [0.1s]",
            "a/p:2  ->  skipped: no debug registers  [0.1s]",
            "a/p:3  ->  failed: boom  [0.1s]",
            "a/p:3  ->  failed: boom  [0.1s]",
            "a/p:4  ->  broken: Test case timed out  [300.0s]",
            "a/p:5  ->  expected_failure: known  [0.1s]",
            "noise",
        ];
        let all = collect(lines);
        let c = Counts::of(all.values());
        assert_eq!(
            c,
            Counts {
                passed: 1,
                skipped: 1,
                xfail: 1,
                failed: 1,
                broken: 1
            }
        );
        assert_eq!((c.total(), c.bad()), (5, 2));
    }
}
