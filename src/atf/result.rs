//! Test results: the one-line result file a body writes, and kyua's reading of it.

use std::fmt;

/// The result a test case body reports in its result file (atf-c 0.21's set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestResult {
    Passed,
    Failed(String),
    Skipped(String),
    Broken(String),
    ExpectedFailure(String),
    ExpectedDeath(String),
    ExpectedTimeout(String),
    /// `expected_exit(N)`, or any exit code when `None`.
    ExpectedExit(Option<i32>, String),
    /// `expected_signal(N)`, or any signal when `None`.
    ExpectedSignal(Option<i32>, String),
}

/// Makes a reason kyua can parse: one line, never empty. atf-c writes whatever it is given,
/// and kyua calls an empty or multi-line reason broken; this runtime is stricter (see
/// `strict.rs`).
pub fn one_line(reason: &str) -> String {
    let trimmed = reason.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return "(empty reason)".to_string();
    }
    trimmed.replace('\r', "\\r").replace('\n', "\\n")
}

impl TestResult {
    /// The status word as it appears in the result file.
    pub fn word(&self) -> &'static str {
        match self {
            TestResult::Passed => "passed",
            TestResult::Failed(_) => "failed",
            TestResult::Skipped(_) => "skipped",
            TestResult::Broken(_) => "broken",
            TestResult::ExpectedFailure(_) => "expected_failure",
            TestResult::ExpectedDeath(_) => "expected_death",
            TestResult::ExpectedTimeout(_) => "expected_timeout",
            TestResult::ExpectedExit(..) => "expected_exit",
            TestResult::ExpectedSignal(..) => "expected_signal",
        }
    }

    /// The reason, if this result carries one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            TestResult::Passed => None,
            TestResult::Failed(r)
            | TestResult::Skipped(r)
            | TestResult::Broken(r)
            | TestResult::ExpectedFailure(r)
            | TestResult::ExpectedDeath(r)
            | TestResult::ExpectedTimeout(r)
            | TestResult::ExpectedExit(_, r)
            | TestResult::ExpectedSignal(_, r) => Some(r),
        }
    }

    /// The exact bytes of the result file: one line with its newline.
    pub fn to_line(&self) -> String {
        let arg = match self {
            TestResult::ExpectedExit(Some(n), _) | TestResult::ExpectedSignal(Some(n), _) => {
                format!("({n})")
            }
            _ => String::new(),
        };
        match self.reason() {
            None => format!("{}\n", self.word()),
            Some(r) => format!("{}{}: {}\n", self.word(), arg, one_line(r)),
        }
    }

    /// The exit status a body ends with after writing this result itself.
    pub fn exit_code(&self) -> i32 {
        match self {
            TestResult::Failed(_) | TestResult::Broken(_) => 1,
            _ => 0,
        }
    }

    /// True for the results kyua counts as good: passed, skipped, any expected_*.
    pub fn is_good(&self) -> bool {
        !matches!(self, TestResult::Failed(_) | TestResult::Broken(_))
    }

    /// Parses a result file the way kyua 0.13 does (engine/atf_result.cpp). The error is
    /// the message kyua reports as `broken: <message>`.
    pub fn parse(content: &str) -> Result<TestResult, String> {
        let Some(body) = content.strip_suffix('\n') else {
            return Err("Empty test result or no new line".into());
        };
        if body.contains('\n') {
            return Err(format!(
                "Test result contains multiple lines: {}",
                content.replace('\n', "<<NEWLINE>>")
            ));
        }
        let word_len = body
            .bytes()
            .take_while(|b| b.is_ascii_lowercase() || *b == b'_')
            .count();
        let (word, rest) = body.split_at(word_len);
        let plain_reason = |rest: &str| -> Result<String, String> {
            match rest.strip_prefix(": ") {
                Some(r) if !r.is_empty() => Ok(r.to_string()),
                _ => Err(format!("{word} must be followed by ': <reason>'")),
            }
        };
        let arg_reason = |rest: &str| -> Result<(Option<i32>, String), String> {
            if let Some(inner) = rest.strip_prefix('(') {
                let close = inner.find(')');
                let (num, after) = match close {
                    Some(i) => (&inner[..i], &inner[i + 1..]),
                    None => (inner, ""),
                };
                let n: i32 = num
                    .parse()
                    .ok()
                    .filter(|_| close.is_some() && after.len() >= 2)
                    .filter(|_| !num.starts_with(['+', ' ']))
                    .ok_or_else(|| {
                        format!("Invalid integer argument '{num}' to '{word}' test case result")
                    })?;
                Ok((Some(n), after[2..].to_string()))
            } else if rest.len() >= 2 {
                Ok((None, rest[2..].to_string()))
            } else {
                Err(format!("{word} must be followed by ': <reason>'"))
            }
        };
        Ok(match word {
            "passed" if rest.is_empty() => TestResult::Passed,
            "passed" => return Err("passed cannot have a reason".into()),
            "failed" => TestResult::Failed(plain_reason(rest)?),
            "skipped" => TestResult::Skipped(plain_reason(rest)?),
            "broken" => TestResult::Broken(plain_reason(rest)?),
            "expected_failure" => TestResult::ExpectedFailure(plain_reason(rest)?),
            "expected_death" => TestResult::ExpectedDeath(plain_reason(rest)?),
            "expected_timeout" => TestResult::ExpectedTimeout(plain_reason(rest)?),
            "expected_exit" => {
                let (n, r) = arg_reason(rest)?;
                TestResult::ExpectedExit(n, r)
            }
            "expected_signal" => {
                let (n, r) = arg_reason(rest)?;
                TestResult::ExpectedSignal(n, r)
            }
            other => return Err(format!("Unknown test result '{other}'")),
        })
    }
}

impl fmt::Display for TestResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_line().trim_end_matches('\n'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(TestResult::Passed, "passed\n")]
    #[case(TestResult::Failed("boom 42".into()), "failed: boom 42\n")]
    #[case(TestResult::Skipped("no dbregs".into()), "skipped: no dbregs\n")]
    #[case(TestResult::ExpectedExit(Some(3), "exits 3".into()), "expected_exit(3): exits 3\n")]
    #[case(TestResult::ExpectedExit(None, "any".into()), "expected_exit: any\n")]
    #[case(TestResult::ExpectedSignal(Some(6), "aborts".into()), "expected_signal(6): aborts\n")]
    #[case(TestResult::Failed(String::new()), "failed: (empty reason)\n")]
    #[case(TestResult::Failed("a\nb".into()), "failed: a\\nb\n")]
    #[case(
        TestResult::ExpectedExit(None, String::new()),
        "expected_exit: (empty reason)\n"
    )]
    fn lines_are_exact_and_parse_back(#[case] r: TestResult, #[case] line: &str) {
        assert_eq!(r.to_line(), line);
        let back = TestResult::parse(line).unwrap();
        assert_eq!(back.to_line(), line);
    }

    #[rstest]
    #[case("passed", "Empty test result or no new line")]
    #[case("", "Empty test result or no new line")]
    #[case(
        "passed\n\n",
        "Test result contains multiple lines: passed<<NEWLINE>><<NEWLINE>>"
    )]
    #[case("passed: yay\n", "passed cannot have a reason")]
    #[case("passed\r\n", "passed cannot have a reason")]
    #[case("Passed\n", "Unknown test result ''")]
    #[case("exploded: x\n", "Unknown test result 'exploded'")]
    #[case("failed\n", "failed must be followed by ': <reason>'")]
    #[case("failed:bad\n", "failed must be followed by ': <reason>'")]
    #[case("failed: \n", "failed must be followed by ': <reason>'")]
    #[case(
        "expected_exit(x): r\n",
        "Invalid integer argument 'x' to 'expected_exit' test case result"
    )]
    #[case(
        "expected_exit(5)\n",
        "Invalid integer argument '5' to 'expected_exit' test case result"
    )]
    fn kyua_rejections(#[case] content: &str, #[case] msg: &str) {
        assert_eq!(TestResult::parse(content), Err(msg.to_string()));
    }
}
