//! Monitors: watchers of something outside a case (the kernel's health) across every body.
//! A problem a monitor reports fails the case whatever the body's own result was: a case
//! during which the machine broke proves nothing, even when its checks passed.

use super::result::TestResult;

/// Watches one body at a time.
pub trait Monitor {
    /// Called just before a body starts (also before every loop iteration).
    fn begin(&mut self);
    /// Called after the body and the teardown; `Err` is the one-line reason the case fails
    /// for. Anything longer (a log excerpt) goes to stderr here.
    fn end(&mut self) -> Result<(), String>;
}

/// The result a case ends with when its monitor found `problem`: failed, naming the problem
/// and what the body itself said.
pub fn overrule(problem: &str, own: &TestResult) -> TestResult {
    TestResult::Failed(format!("{problem} (the case's own result: {own})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overruling_keeps_the_cases_own_result_in_the_reason() {
        let r = overrule(
            "the kernel logged 'Oops: 0001 [#1]'",
            &TestResult::ExpectedFailure("known bug".into()),
        );
        assert_eq!(
            r,
            TestResult::Failed(
                "the kernel logged 'Oops: 0001 [#1]' (the case's own result: expected_failure: known bug)"
                    .into()
            )
        );
    }
}
