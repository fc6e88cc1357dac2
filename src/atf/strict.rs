//! Where this runtime deliberately differs from atf-c 0.21: each difference is a place
//! where atf-c writes something kyua calls `broken` (or crashes), or where Rust has a
//! failure mode C lacks. The conformance tests check each row.

/// One deliberate difference from atf-c.
pub struct Difference {
    /// What the body or the command line does.
    pub situation: &'static str,
    /// What atf-c 0.21 does.
    pub atf_c: &'static str,
    /// What this runtime does instead.
    pub here: &'static str,
}

/// Every deliberate difference, in one place.
pub const DIFFERENCES: &[Difference] = &[
    Difference {
        situation: "a reason is empty (fail(\"\"), skip(\"\"), expect_*(\"\"))",
        atf_c: "writes `failed: \\n`, which kyua reports as broken",
        here: "writes `(empty reason)` as the reason",
    },
    Difference {
        situation: "a reason contains a newline",
        atf_c: "writes two lines, which kyua reports as broken",
        here: "escapes it as the two characters `\\n` (and `\\r`), keeping one line",
    },
    Difference {
        situation: "the body panics (assert!, unwrap, index out of range, a toolkit check)",
        atf_c: "no equivalent; a crash is `broken: Premature exit`",
        here: "`failed: <message> at <file>:<line>` with exit 1",
    },
    Difference {
        situation: "the result file cannot be created",
        atf_c: "prints `FATAL ERROR: Cannot create results file ...` and aborts (core dump)",
        here: "prints `<prog>: ERROR: Cannot create results file '<path>': <error>`, exits 1",
    },
    Difference {
        situation: "a metadata value kyua rejects (relative require.files, timeout 0, a tab \
                    in a list, require.diskspace, a newline)",
        atf_c: "prints it; kyua turns every case of the program into one broken case",
        here: "cannot be expressed, or is rejected by Program::validate before anything runs",
    },
    Difference {
        situation: "a case sets no timeout",
        atf_c: "prints no timeout; kyua applies 300 s",
        here: "prints `timeout: 30` (or the program's default)",
    },
    Difference {
        situation: "check_eq!/require_eq! fail",
        atf_c: "ATF_CHECK_EQ prints `file:line: a != b` (the expressions only)",
        here: "prints `file:line: a != b (<value of a> != <value of b>)`",
    },
    Difference {
        situation: "the body hangs",
        atf_c: "kyua kills it at the timeout: `broken: Test case body timed out`",
        here: "a watchdog writes `failed: ... did not finish ...` shortly before the timeout \
               (not in expect_timeout mode)",
    },
];
