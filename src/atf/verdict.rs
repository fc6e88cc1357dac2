//! How kyua 0.13 judges a body from its result file and the way its process ended
//! (`atf_result::apply`). The direct driver and the loop driver use it, so a run without
//! kyua reports what kyua would.

use super::result::TestResult;

/// How a body's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    Exited(i32),
    Signaled {
        sig: i32,
        core: bool,
    },
    /// Killed by the driver's timer.
    TimedOut,
}

/// The final result kyua reports for a body (before cleanup).
pub fn judge(result_file: Option<&str>, end: Termination) -> TestResult {
    use Termination as T;
    use TestResult as R;
    let parsed = match (result_file, end) {
        (Some(c), _) => TestResult::parse(c),
        (None, T::TimedOut) => return R::Broken("Test case body timed out".into()),
        (None, T::Exited(c)) => {
            return R::Broken(format!("Premature exit; test case exited with code {c}"));
        }
        (None, T::Signaled { sig, core }) => {
            let dumped = if core { " (core dumped)" } else { "" };
            return R::Broken(format!(
                "Premature exit; test case received signal {sig}{dumped}"
            ));
        }
    };
    let r = match parsed {
        Ok(r) => r,
        Err(msg) => return R::Broken(msg),
    };
    if end == T::TimedOut {
        return match r {
            R::ExpectedTimeout(reason) => R::ExpectedFailure(reason),
            _ => R::Broken("Test case body timed out".into()),
        };
    }
    let how = |end: Termination| match end {
        T::Exited(c) => format!("exited with code {c}"),
        T::Signaled { sig, core } => {
            format!(
                "received signal {sig}{}",
                if core { " (core dumped)" } else { "" }
            )
        }
        T::TimedOut => "timed out".into(),
    };
    let success = |r: TestResult, what: &str| match end {
        T::Exited(0) => r,
        e => R::Broken(format!(
            "{what} should have reported success but {}",
            how(e)
        )),
    };
    match r {
        R::Passed => success(R::Passed, "Passed test case"),
        R::Skipped(s) => success(R::Skipped(s), "Skipped test case"),
        R::ExpectedFailure(s) => success(R::ExpectedFailure(s), "Expected failure"),
        R::Failed(s) => match end {
            T::Exited(1) => R::Failed(s),
            e => R::Broken(format!(
                "Failed test case should have reported failure but {}",
                how(e)
            )),
        },
        R::Broken(s) => R::Broken(s),
        R::ExpectedDeath(s) => R::ExpectedFailure(s),
        R::ExpectedTimeout(_) => R::Broken(format!("Expected timeout but {}", how(end))),
        R::ExpectedExit(code, s) => match end {
            T::Exited(c) if code.is_none_or(|n| n == c) => R::ExpectedFailure(s),
            T::Exited(c) => R::Failed(format!(
                "Test case expected to exit with code {} but got code {c}",
                code.unwrap_or(-1)
            )),
            e => R::Broken(format!("Expected clean exit but {}", how(e))),
        },
        R::ExpectedSignal(sig, s) => match end {
            T::Signaled { sig: got, .. } if sig.is_none_or(|n| n == got) => R::ExpectedFailure(s),
            T::Signaled { sig: got, .. } => R::Failed(format!(
                "Test case expected to receive signal {} but got {got}",
                sig.unwrap_or(-1)
            )),
            e => R::Broken(format!("Expected signal but {}", how(e))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Termination::*;
    use rstest::rstest;

    #[rstest]
    #[case(Some("passed\n"), Exited(0), "passed")]
    #[case(
        Some("passed\n"),
        Exited(1),
        "broken: Passed test case should have reported success but exited with code 1"
    )]
    #[case(Some("failed: x\n"), Exited(1), "failed: x")]
    #[case(
        Some("failed: x\n"),
        Exited(101),
        "broken: Failed test case should have reported failure but exited with code 101"
    )]
    #[case(Some("expected_exit(5): r\n"), Exited(5), "expected_failure: r")]
    #[case(
        Some("expected_exit(5): r\n"),
        Exited(6),
        "failed: Test case expected to exit with code 5 but got code 6"
    )]
    #[case(Some("expected_signal(6): r\n"), Signaled { sig: 15, core: false }, "failed: Test case expected to receive signal 6 but got 15")]
    #[case(
        Some("expected_signal: r\n"),
        Exited(0),
        "broken: Expected signal but exited with code 0"
    )]
    #[case(Some("expected_timeout: r\n"), TimedOut, "expected_failure: r")]
    #[case(
        Some("expected_timeout: r\n"),
        Exited(0),
        "broken: Expected timeout but exited with code 0"
    )]
    #[case(Some("passed\n"), TimedOut, "broken: Test case body timed out")]
    #[case(None, Signaled { sig: 6, core: true }, "broken: Premature exit; test case received signal 6 (core dumped)")]
    #[case(
        None,
        Exited(3),
        "broken: Premature exit; test case exited with code 3"
    )]
    #[case(Some("expected_death: d\n"), Signaled { sig: 9, core: false }, "expected_failure: d")]
    fn kyua_judgement(#[case] file: Option<&str>, #[case] end: Termination, #[case] want: &str) {
        assert_eq!(judge(file, end).to_string(), want);
    }
}
