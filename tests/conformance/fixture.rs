//! `atf-fixture`: the Rust side of the ATF conformance tests. Every case here has a twin
//! with the same name, metadata and order in `fixture.c` (libatf-c 0.21), and
//! `tests/atf_conformance.rs` compares the two byte for byte.
//!
//! `empty_reason`, `newline_reason`, `panic` and `hang` exercise the deliberate differences
//! of `src/atf/strict.rs`. With `ATF_FIXTURE_BAD=<kind>` in the environment the program
//! also registers one invalid case, to show that `Program::validate` refuses it.

use ptrace_atf::atf::{Program, Tc, TestCase, User};
use ptrace_atf::{check, check_eq, require};
use std::time::Duration;

/// A case with a description (the timeout is the runtime's default, 30).
fn case(name: &str, descr: &str, body: impl Fn(&Tc) + 'static) -> TestCase {
    TestCase::new(name).descr(descr).body(body)
}

fn x_or_unset(tc: &Tc) -> &str {
    tc.config_or("x", "(unset)")
}

fn cases() -> Vec<TestCase> {
    vec![
        case("pass", "a passing test", |_| {}),
        case("fail", "atf_tc_fail with a formatted reason", |tc| {
            tc.fail(format!("boom {}", 42))
        }),
        case("require", "a failed require", |_| require!(1 == 2)),
        case("checks", "three non-fatal failures", |tc| {
            check!(1 == 2);
            tc.fail_nonfatal("nf x");
            check_eq!(3, 4);
        }),
        case("skip", "skips", |tc| tc.skip("not today")),
        case("xfail_fatal", "expect_fail then a fatal failure", |tc| {
            tc.expect_fail("bug 123");
            tc.fail("it broke");
        }),
        case(
            "xfail_checks",
            "expect_fail then two failing checks",
            |tc| {
                tc.expect_fail("bug 9");
                check!(1 == 2);
                check!(1 == 2);
            },
        ),
        case("xfail_none", "expect_fail and nothing fails", |tc| {
            tc.expect_fail("r")
        }),
        case("xfail_pass", "expect_fail then pass", |tc| {
            tc.expect_fail("r");
            tc.pass();
        }),
        case("xfail_skip", "expect_fail then skip", |tc| {
            tc.expect_fail("r");
            tc.skip("s");
        }),
        case("xfail_abort", "expect_fail then abort", |tc| {
            tc.expect_fail("r");
            std::process::abort();
        }),
        case("check_then_pass", "a failing check then pass", |tc| {
            check!(1 == 2);
            tc.pass();
        }),
        case(
            "check_then_xfail_fatal",
            "a failing check, expect_fail, a fatal failure",
            |tc| {
                check!(1 == 2);
                tc.expect_fail("later");
                tc.fail("fatal");
            },
        ),
        case(
            "check_then_xfail_end",
            "a failing check, expect_fail, a failing check, end",
            |tc| {
                check!(1 == 2);
                tc.expect_fail("r");
                check!(1 == 2);
            },
        ),
        case("exit_code", "expect_exit 3 then exit 3", |tc| {
            tc.expect_exit(Some(3), "exits 3");
            std::process::exit(3);
        }),
        case("exit_any", "expect_exit any then exit 5", |tc| {
            tc.expect_exit(None, "any exit");
            std::process::exit(5);
        }),
        case("signal_abrt", "expect_signal SIGABRT then abort", |tc| {
            tc.expect_signal(Some(libc::SIGABRT), "aborts");
            std::process::abort();
        }),
        case("signal_any", "expect_signal any then SIGTERM", |tc| {
            tc.expect_signal(None, "any sig");
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM);
        }),
        case("death", "expect_death then exit 7", |tc| {
            tc.expect_death("dies");
            std::process::exit(7);
        }),
        case("timeout_hangs", "expect_timeout then sleep", |tc| {
            tc.expect_timeout("hangs");
            std::thread::sleep(Duration::from_secs(60));
        }),
        case("exit_returns", "expect_exit then return", |tc| {
            tc.expect_exit(Some(3), "r")
        }),
        case("signal_returns", "expect_signal then return", |tc| {
            tc.expect_signal(Some(libc::SIGABRT), "r")
        }),
        case("death_returns", "expect_death then return", |tc| {
            tc.expect_death("r")
        }),
        case("timeout_returns", "expect_timeout then return", |tc| {
            tc.expect_timeout("r")
        }),
        case("exit_then_fail", "expect_exit then fail", |tc| {
            tc.expect_exit(Some(3), "r");
            tc.fail("oops");
        }),
        case("exit_then_pass", "expect_exit then pass", |tc| {
            tc.expect_exit(Some(3), "r");
            tc.pass();
        }),
        case("death_then_skip", "expect_death then skip", |tc| {
            tc.expect_death("r");
            tc.skip("s");
        }),
        case(
            "xfail_twice",
            "expect_fail a, check, expect_fail b, check",
            |tc| {
                tc.expect_fail("a");
                check!(1 == 2);
                tc.expect_fail("b");
                check!(1 == 2);
            },
        ),
        case(
            "xfail_then_pass_mode",
            "expect_fail, check, expect_pass",
            |tc| {
                tc.expect_fail("bug 9");
                check!(1 == 2);
                tc.expect_pass();
            },
        ),
        case(
            "cleanup_cfg",
            "reads config x; the cleanup writes a file",
            |tc| {
                let x = x_or_unset(tc);
                if x != "hello" {
                    tc.fail(format!("x is {x}"));
                }
            },
        )
        .cleanup(|tc| {
            if std::fs::write("cleanup.out", format!("cleanup x={}\n", x_or_unset(tc))).is_err() {
                std::process::exit(2);
            }
        }),
        case(
            "prog_abs",
            "require_prog of a missing absolute program",
            |tc| tc.require_prog("/nonexistent/prog"),
        ),
        case("prog_bare", "require_prog of a missing bare name", |tc| {
            tc.require_prog("no-such-prog-xyz")
        }),
        case("srcdir", "skips naming the srcdir config variable", |tc| {
            tc.skip(format!("srcdir={}", tc.config_or("srcdir", "(unset)")))
        }),
        TestCase::new("metadata")
            .descr("every kind of metadata")
            .require_user(User::Unprivileged)
            .require_progs(&["/bin/sh", "ls"])
            .custom("custom", "some value")
            .timeout(7)
            .body(|_| {}),
        case("empty_reason", "fails with an empty reason", |tc| {
            tc.fail("")
        }),
        case(
            "newline_reason",
            "fails with a newline in the reason",
            |tc| tc.fail("line1\nline2"),
        ),
        case("panic", "crashes (a panic in Rust)", |_| {
            let v: Vec<i32> = std::hint::black_box(Vec::new());
            let _ = v[3];
        }),
        TestCase::new("hang")
            .descr("hangs without expect_timeout")
            .timeout(2)
            .body(|_| std::thread::sleep(Duration::from_secs(60))),
    ]
}

/// One case `Program::validate` must refuse (see strict.rs, "a metadata value kyua rejects").
fn bad_case(kind: &str) -> TestCase {
    let bad = TestCase::new("bad").body(|_| {});
    match kind {
        "timeout0" => bad.timeout(0),
        "relative_file" => bad.require_files(&["x/y"]),
        "relative_prog" => bad.require_progs(&["bin/ls"]),
        "tab" => bad.require_arch(&["x86_64\ti386"]),
        "newline" => bad.descr("a\nb"),
        "custom_name" => bad.custom("", "v"),
        "memory" => bad.require_memory("1 GB"),
        "name" => TestCase::new("a b").body(|_| {}),
        "duplicate" => TestCase::new("pass").body(|_| {}),
        "no_body" => TestCase::new("bad"),
        other => panic!("unknown ATF_FIXTURE_BAD kind {other}"),
    }
}

fn main() {
    let mut p = Program::new();
    p.extend(cases());
    if let Ok(kind) = std::env::var("ATF_FIXTURE_BAD") {
        p.add(bad_case(&kind));
    }
    p.main()
}
