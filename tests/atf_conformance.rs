//! Differential conformance of the ATF runtime (`src/atf`) against libatf-c 0.21.
//!
//! Two test programs with the same cases, metadata and order are installed side by side
//! under the same basename: `c/fixture` (tests/conformance/fixture.c, built here with
//! `cc -latf-c`) and `rs/fixture` (the `atf-fixture` binary). Both are run with the same
//! argv, environment and a fresh work directory, the way kyua runs them, and compared:
//! the `-l` bytes, the result file bytes, the exit status or signal, stdout, stderr, what
//! `tc:cleanup` does and the files left in the work directory. Only two things are
//! normalized: the directory each program lives in (`<DIR>`) and `file:line` locations
//! (`FILE:LINE`), plus the values `check_eq!` adds (a listed difference).
//!
//! Where the runtime is deliberately stricter (src/atf/strict.rs), each side is checked
//! against its own expected bytes instead. Every result file the Rust fixture writes is
//! parsed with kyua's rules (`TestResult::parse`) and judged against how the process ended
//! (`verdict::judge`); the tables say what kyua would report.
//!
//! When `cc` or `/usr/include/atf-c.h` is missing the C side is skipped loudly (and the
//! test fails when `CI` is set); the Rust side is then still checked against the tables.

use ptrace_atf::atf::TestResult;
use ptrace_atf::atf::strict::DIFFERENCES;
use ptrace_atf::atf::verdict::{Termination, judge};
use rstest::rstest;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long any child may run before the test kills it (the hanging cases use 1 s).
const LIMIT: Duration = Duration::from_secs(30);
const HANG: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------
// The two fixtures.

/// The directories holding `fixture`: the Rust one always, the C one when it can be built.
struct Fixtures {
    rs: PathBuf,
    c: Option<PathBuf>,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("atf_conformance");
        let install = |side: &str, make: &dyn Fn(&Path)| {
            let dir = root.join(side);
            std::fs::create_dir_all(&dir).unwrap();
            let tmp = dir.join(format!("fixture.tmp.{}", std::process::id()));
            make(&tmp);
            std::fs::rename(&tmp, dir.join("fixture")).unwrap();
            dir
        };
        let rs = install("rs", &|to| {
            std::fs::copy(env!("CARGO_BIN_EXE_atf-fixture"), to).unwrap();
        });
        let c = c_toolchain().then(|| {
            install("c", &|to| {
                let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
                // Built from its own directory so that __FILE__ is `fixture.c`.
                let out = Command::new("cc")
                    .current_dir(&src)
                    .args(["-Wall", "-o"])
                    .arg(to)
                    .args(["fixture.c", "-latf-c"])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "cc fixture.c -latf-c failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            })
        });
        Fixtures { rs, c }
    })
}

fn c_toolchain() -> bool {
    let cc = Command::new("cc")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let header = Path::new("/usr/include/atf-c.h").exists();
    if cc && header {
        return true;
    }
    let msg = format!(
        "!!! atf_conformance: cc ({cc}) or /usr/include/atf-c.h ({header}) missing: the atf-c \
         side is SKIPPED; only the Rust runtime is checked against the tables \
         (apt-get install gcc libatf-dev)"
    );
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    // Straight to fd 2: eprintln! would be captured by the test harness and never seen.
    let _ = writeln!(std::io::stderr(), "{msg}");
    false
}

// ---------------------------------------------------------------------------------------
// Running one program, kyua-style, with a deadline.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Exit(i32),
    Signal(i32),
    /// Still running at the deadline; the test killed its process group.
    Killed,
}
use End::*;

/// One invocation. In `args`, `{res}` is the result file's path and `{dir}` the
/// program's directory.
#[derive(Clone, Default)]
struct Invocation<'a> {
    args: Vec<String>,
    /// Run `tc:cleanup` with these arguments afterwards, in the same work directory.
    cleanup: Option<Vec<String>>,
    /// Leave `__RUNNING_INSIDE_ATF_RUN` unset (atf-c then prints two warnings).
    outside_kyua: bool,
    /// argv[0] is `./fixture` and the cwd is the program's directory.
    relative_argv0: bool,
    env: Vec<(&'a str, &'a str)>,
    kill_after: Option<Duration>,
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// What one side did, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    end: End,
    stdout: String,
    stderr: String,
    /// The result file, if one was written, and its permission bits.
    result: Option<String>,
    result_mode: Option<u32>,
    /// What kyua would report for this body (`verdict::judge`).
    verdict: String,
    /// `tc:cleanup`: how it ended, its stdout and stderr.
    cleanup: Option<(End, String, String)>,
    /// The work directory afterwards: file name -> contents.
    files: BTreeMap<String, String>,
}

struct Proc {
    end: End,
    core: bool,
    stdout: String,
    stderr: String,
}

fn spawn(argv0: &Path, args: &[String], cwd: &Path, inv: &Invocation, out: &Path) -> Proc {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let (out_path, err_path) = (out.join(format!("out.{n}")), out.join(format!("err.{n}")));
    let mut cmd = Command::new(argv0);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env_remove("ATF_FIXTURE_BAD")
        .envs(inv.env.iter().copied())
        .process_group(0);
    if inv.outside_kyua {
        cmd.env_remove("__RUNNING_INSIDE_ATF_RUN");
    } else {
        cmd.env("__RUNNING_INSIDE_ATF_RUN", "internal-yes-value");
    }
    // No core files: an abort must not leave `core` in the work directory or be slow.
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            let zero = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &zero);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + inv.kill_after.unwrap_or(LIMIT);
    let (end, core) = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break match (st.code(), st.signal()) {
                (Some(c), _) => (Exit(c), false),
                (None, Some(s)) => (Signal(s), st.core_dumped()),
                _ => unreachable!("{st:?}"),
            };
        }
        if Instant::now() >= deadline {
            // As kyua does: the whole process group, then the process.
            let pid = child.id() as i32;
            // SAFETY: plain syscalls; the child is not reaped yet, so its pgid is ours.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = child.kill();
            child.wait().unwrap();
            break (Killed, false);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    Proc {
        end,
        core,
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

/// Runs `dir/fixture` as `inv` says, in a fresh work directory.
fn run(dir: &Path, inv: &Invocation) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let res = tmp.path().join("result.atf");
    let fill = |args: &[String]| -> Vec<String> {
        args.iter()
            .map(|a| {
                a.replace("{res}", res.to_str().unwrap())
                    .replace("{dir}", dir.to_str().unwrap())
            })
            .collect()
    };
    let (argv0, cwd) = if inv.relative_argv0 {
        (PathBuf::from("./fixture"), dir.to_path_buf())
    } else {
        (dir.join("fixture"), work.clone())
    };
    let body = spawn(&argv0, &fill(&inv.args), &cwd, inv, tmp.path());
    let result = std::fs::read(&res)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let result_mode = std::fs::metadata(&res)
        .ok()
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777);
    let end = match body.end {
        Exit(c) => Termination::Exited(c),
        Signal(sig) => Termination::Signaled {
            sig,
            core: body.core,
        },
        Killed => Termination::TimedOut,
    };
    let verdict = judge(result.as_deref(), end).to_string();
    let cleanup = inv.cleanup.as_ref().map(|args| {
        let p = spawn(&argv0, &fill(args), &cwd, inv, tmp.path());
        (
            p.end,
            normalize(&p.stdout, dir, &work),
            normalize(&p.stderr, dir, &work),
        )
    });
    let files = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let content = String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned();
            (e.file_name().to_string_lossy().into_owned(), content)
        })
        .collect();
    Run {
        end: body.end,
        stdout: normalize(&body.stdout, dir, &work),
        stderr: normalize(&body.stderr, dir, &work),
        result: result.map(|r| normalize(&r, dir, &work)),
        result_mode,
        verdict: normalize(&verdict, dir, &work),
        cleanup,
        files,
    }
}

/// Runs the invocation on both sides: (Rust, atf-c if available).
fn run_both(inv: &Invocation) -> (Run, Option<Run>) {
    let f = fixtures();
    (run(&f.rs, inv), f.c.as_ref().map(|c| run(c, inv)))
}

// ---------------------------------------------------------------------------------------
// Normalization and the one comparison.

/// Replaces the program's directory by `<DIR>`, the work directory by `<WORK>` and
/// `…fixture.c:17` / `…fixture.rs:17` by `FILE:LINE`.
fn normalize(text: &str, dir: &Path, work: &Path) -> String {
    let text = text
        .replace(work.to_str().unwrap(), "<WORK>")
        .replace(dir.to_str().unwrap(), "<DIR>");
    text.split_inclusive(' ').map(location).collect()
}

fn location(word: &str) -> String {
    for ext in [".c:", ".rs:"] {
        let Some(i) = word.find(ext) else { continue };
        let start = word[..i].rfind(['\n', '(']).map_or(0, |j| j + 1);
        let after = &word[i + ext.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && word[start..i].ends_with("fixture") {
            return format!("{}FILE:LINE{}", &word[..start], &after[digits..]);
        }
    }
    word.to_string()
}

/// Drops what `check_eq!` adds after atf-c's `a != b`: ` (<value> != <value>)`
/// (strict.rs: "check_eq!/require_eq! fail").
fn without_eq_values(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let (body, nl) = match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            };
            match body.rfind(" (") {
                Some(i)
                    if body.ends_with(')')
                        && body[..i].contains(" != ")
                        && body[i..].contains(" != ") =>
                {
                    format!("{}{nl}", &body[..i])
                }
                _ => line.to_string(),
            }
        })
        .collect()
}

/// The comparison: everything atf-c did, the runtime did too. With `outcome` false the
/// result file, exit status and verdict are left to the caller (a deliberate difference).
fn assert_same(what: &str, c: &Run, rs: &Run, outcome: bool) {
    let rs_stderr = without_eq_values(&rs.stderr);
    assert_eq!(
        c.stdout, rs.stdout,
        "{what}: stdout (left atf-c, right Rust)"
    );
    assert_eq!(
        c.stderr, rs_stderr,
        "{what}: stderr (left atf-c, right Rust)"
    );
    assert_eq!(
        c.cleanup, rs.cleanup,
        "{what}: cleanup (left atf-c, right Rust)"
    );
    assert_eq!(
        c.files, rs.files,
        "{what}: work directory (left atf-c, right Rust)"
    );
    if outcome {
        assert_eq!(
            c.result, rs.result,
            "{what}: result file (left atf-c, right Rust)"
        );
        assert_eq!(c.result_mode, rs.result_mode, "{what}: result file mode");
        assert_eq!(
            c.end, rs.end,
            "{what}: termination (left atf-c, right Rust)"
        );
        assert_eq!(
            c.verdict, rs.verdict,
            "{what}: verdict (left atf-c, right Rust)"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The behaviours of a body.

/// What one side must do: result file bytes, how it ends, what kyua reports.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    result: Option<&'static str>,
    end: End,
    verdict: &'static str,
}

fn out(result: Option<&'static str>, end: End, verdict: &'static str) -> Outcome {
    Outcome {
        result,
        end,
        verdict,
    }
}

/// The Rust outcome, and atf-c's when it deliberately differs.
#[derive(Debug, Clone, Copy)]
struct Want {
    rs: Outcome,
    c: Option<Outcome>,
}

fn same(result: &'static str, end: End, verdict: &'static str) -> Want {
    Want {
        rs: out(Some(result), end, verdict),
        c: None,
    }
}

fn differs(rs: Outcome, c: Outcome) -> Want {
    Want { rs, c: Some(c) }
}

fn assert_outcome(what: &str, run: &Run, want: &Outcome) {
    assert_eq!(run.result.as_deref(), want.result, "{what}: result file");
    assert_eq!(run.end, want.end, "{what}: termination");
    assert_eq!(run.verdict, want.verdict, "{what}: kyua's verdict");
}

const PASS_MODE_ONLY: &str = "failed: Can only skip a test case when running in expect pass mode\n";

/// Every case of the fixtures, run as kyua runs it: `-r<file> [-v…] case`, then
/// `[-v…] case:cleanup` in the same work directory.
#[rstest]
#[case::pass("pass", &[], same("passed\n", Exit(0), "passed"))]
#[case::fail("fail", &[], same("failed: boom 42\n", Exit(1), "failed: boom 42"))]
#[case::require(
    "require",
    &[],
    same("failed: FILE:LINE: 1 == 2 not met\n", Exit(1), "failed: FILE:LINE: 1 == 2 not met")
)]
#[case::checks(
    "checks",
    &[],
    same(
        "failed: 3 checks failed; see output for more details\n",
        Exit(1),
        "failed: 3 checks failed; see output for more details"
    )
)]
#[case::skip("skip", &[], same("skipped: not today\n", Exit(0), "skipped: not today"))]
#[case::xfail_fatal(
    "xfail_fatal",
    &[],
    same("expected_failure: bug 123: it broke\n", Exit(0), "expected_failure: bug 123: it broke")
)]
#[case::xfail_checks(
    "xfail_checks",
    &[],
    same(
        "expected_failure: bug 9: 2 checks failed as expected; see output for more details\n",
        Exit(0),
        "expected_failure: bug 9: 2 checks failed as expected; see output for more details"
    )
)]
#[case::xfail_none(
    "xfail_none",
    &[],
    same(
        "failed: Test case was expecting a failure but none were raised\n",
        Exit(1),
        "failed: Test case was expecting a failure but none were raised"
    )
)]
#[case::xfail_pass(
    "xfail_pass",
    &[],
    same(
        "failed: Test case was expecting a failure but got a pass instead\n",
        Exit(1),
        "failed: Test case was expecting a failure but got a pass instead"
    )
)]
#[case::xfail_skip(
    "xfail_skip",
    &[],
    same(PASS_MODE_ONLY, Exit(1), PASS_MODE_ONLY.trim_end())
)]
#[case::xfail_abort(
    "xfail_abort",
    &[],
    Want { rs: out(None, Signal(6), "broken: Premature exit; test case received signal 6"), c: None }
)]
#[case::check_then_pass("check_then_pass", &[], same("passed\n", Exit(0), "passed"))]
#[case::check_then_xfail_fatal(
    "check_then_xfail_fatal",
    &[],
    same("expected_failure: later: fatal\n", Exit(0), "expected_failure: later: fatal")
)]
#[case::check_then_xfail_end(
    "check_then_xfail_end",
    &[],
    same(
        "expected_failure: r: 1 checks failed; see output for more details\n",
        Exit(0),
        "expected_failure: r: 1 checks failed; see output for more details"
    )
)]
#[case::exit_code(
    "exit_code",
    &[],
    same("expected_exit(3): exits 3\n", Exit(3), "expected_failure: exits 3")
)]
#[case::exit_any(
    "exit_any",
    &[],
    same("expected_exit: any exit\n", Exit(5), "expected_failure: any exit")
)]
#[case::signal_abrt(
    "signal_abrt",
    &[],
    same("expected_signal(6): aborts\n", Signal(6), "expected_failure: aborts")
)]
#[case::signal_any(
    "signal_any",
    &[],
    same("expected_signal: any sig\n", Signal(15), "expected_failure: any sig")
)]
#[case::death("death", &[], same("expected_death: dies\n", Exit(7), "expected_failure: dies"))]
#[case::timeout_hangs(
    "timeout_hangs",
    &[],
    same("expected_timeout: hangs\n", Killed, "expected_failure: hangs")
)]
#[case::exit_returns(
    "exit_returns",
    &[],
    same(
        "failed: Test case was expected to exit cleanly but it continued execution\n",
        Exit(1),
        "failed: Test case was expected to exit cleanly but it continued execution"
    )
)]
#[case::signal_returns(
    "signal_returns",
    &[],
    same(
        "failed: Test case was expected to receive a termination signal but it continued execution\n",
        Exit(1),
        "failed: Test case was expected to receive a termination signal but it continued execution"
    )
)]
#[case::death_returns(
    "death_returns",
    &[],
    same(
        "failed: Test case was expected to terminate abruptly but it continued execution\n",
        Exit(1),
        "failed: Test case was expected to terminate abruptly but it continued execution"
    )
)]
#[case::timeout_returns(
    "timeout_returns",
    &[],
    same(
        "failed: Test case was expected to hang but it continued execution\n",
        Exit(1),
        "failed: Test case was expected to hang but it continued execution"
    )
)]
#[case::exit_then_fail(
    "exit_then_fail",
    &[],
    same(
        "failed: Test case raised a failure but was not expecting one; reason was oops\n",
        Exit(1),
        "failed: Test case raised a failure but was not expecting one; reason was oops"
    )
)]
#[case::exit_then_pass(
    "exit_then_pass",
    &[],
    same(
        "failed: Test case asked to explicitly pass but was not expecting such condition\n",
        Exit(1),
        "failed: Test case asked to explicitly pass but was not expecting such condition"
    )
)]
#[case::death_then_skip(
    "death_then_skip",
    &[],
    same(PASS_MODE_ONLY, Exit(1), PASS_MODE_ONLY.trim_end())
)]
#[case::xfail_twice(
    "xfail_twice",
    &[],
    same(
        "expected_failure: b: 2 checks failed as expected; see output for more details\n",
        Exit(0),
        "expected_failure: b: 2 checks failed as expected; see output for more details"
    )
)]
#[case::xfail_then_pass_mode(
    "xfail_then_pass_mode",
    &[],
    same(
        "expected_failure: bug 9: 1 checks failed as expected; see output for more details\n",
        Exit(0),
        "expected_failure: bug 9: 1 checks failed as expected; see output for more details"
    )
)]
#[case::cleanup_cfg_hello("cleanup_cfg", &["-vx=hello"], same("passed\n", Exit(0), "passed"))]
#[case::cleanup_cfg_other(
    "cleanup_cfg",
    &["-v", "x=a=b"],
    same("failed: x is a=b\n", Exit(1), "failed: x is a=b")
)]
#[case::cleanup_cfg_unset(
    "cleanup_cfg",
    &[],
    same("failed: x is (unset)\n", Exit(1), "failed: x is (unset)")
)]
#[case::prog_abs(
    "prog_abs",
    &[],
    same(
        "skipped: The required program /nonexistent/prog could not be found\n",
        Exit(0),
        "skipped: The required program /nonexistent/prog could not be found"
    )
)]
#[case::prog_bare(
    "prog_bare",
    &[],
    same(
        "failed: The required program no-such-prog-xyz could not be found in the PATH\n",
        Exit(1),
        "failed: The required program no-such-prog-xyz could not be found in the PATH"
    )
)]
#[case::srcdir("srcdir", &[], same("skipped: srcdir=<DIR>\n", Exit(0), "skipped: srcdir=<DIR>"))]
#[case::metadata("metadata", &["-vx=1"], same("passed\n", Exit(0), "passed"))]
// The deliberate differences of strict.rs that a body can show.
#[case::empty_reason(
    "empty_reason",
    &[],
    differs(
        out(Some("failed: (empty reason)\n"), Exit(1), "failed: (empty reason)"),
        out(Some("failed: \n"), Exit(1), "broken: failed must be followed by ': <reason>'"),
    )
)]
#[case::newline_reason(
    "newline_reason",
    &[],
    differs(
        out(Some("failed: line1\\nline2\n"), Exit(1), "failed: line1\\nline2"),
        out(
            Some("failed: line1\nline2\n"),
            Exit(1),
            "broken: Test result contains multiple lines: failed: line1<<NEWLINE>>line2<<NEWLINE>>"
        ),
    )
)]
#[case::panic(
    "panic",
    &[],
    differs(
        out(
            Some("failed: FILE:LINE: index out of bounds: the len is 0 but the index is 3\n"),
            Exit(1),
            "failed: FILE:LINE: index out of bounds: the len is 0 but the index is 3"
        ),
        out(None, Signal(6), "broken: Premature exit; test case received signal 6"),
    )
)]
#[case::hang_watchdog(
    "hang",
    &[],
    differs(
        out(
            Some(
                "failed: hang did not finish within 1s of its 2s timeout; the watchdog ended it \
                 (a hang: see the output for the last step)\n"
            ),
            Exit(1),
            "failed: hang did not finish within 1s of its 2s timeout; the watchdog ended it \
             (a hang: see the output for the last step)"
        ),
        out(None, Killed, "broken: Test case body timed out"),
    )
)]
fn body_behaves_like_atf_c(#[case] name: &str, #[case] vars: &[&str], #[case] want: Want) {
    let mut args = vec!["-r{res}".to_string()];
    args.extend(strings(vars));
    args.push(name.to_string());
    let mut cleanup = strings(vars);
    cleanup.push(format!("{name}:cleanup"));
    let inv = |o: &Outcome| Invocation {
        args: args.clone(),
        cleanup: Some(cleanup.clone()),
        kill_after: (o.end == Killed).then_some(HANG),
        ..Default::default()
    };
    let c_want = want.c.unwrap_or(want.rs);
    let f = fixtures();
    let rs = run(&f.rs, &inv(&want.rs));
    assert_outcome(&format!("{name} (Rust)"), &rs, &want.rs);
    // kyua must be able to read whatever the runtime writes, and only a crash that no
    // runtime can catch (abort) may come out broken.
    if let Some(r) = &rs.result {
        assert!(TestResult::parse(r).is_ok(), "{name}: kyua rejects {r:?}");
    }
    assert!(
        !rs.verdict.starts_with("broken") || name == "xfail_abort",
        "{name}: {}",
        rs.verdict
    );
    if let Some(dir) = &f.c {
        let c = run(dir, &inv(&c_want));
        assert_outcome(&format!("{name} (atf-c)"), &c, &c_want);
        assert_same(name, &c, &rs, want.c.is_none());
    }
    if name == "cleanup_cfg" {
        let x = match vars {
            [] => "(unset)",
            [v] => v.trim_start_matches("-vx="),
            [_, v] => v.trim_start_matches("x="),
            _ => unreachable!(),
        };
        assert_eq!(rs.files["cleanup.out"], format!("cleanup x={x}\n"));
    } else {
        assert_eq!(rs.files, BTreeMap::new(), "{name}: files left");
    }
}

// ---------------------------------------------------------------------------------------
// The command line (atf-protocol.md §1.1).

fn usage(msg: &str) -> String {
    format!("fixture: ERROR: {msg}\nfixture: See atf-test-program(1) for usage details.\n")
}

const WARNINGS: &str = "fixture: WARNING: Running test cases outside of kyua(1) is unsupported\n\
    fixture: WARNING: No isolation nor timeout control is being applied; you may get \
    unexpected failures; see atf-test-case(4)\n";

/// Each invocation must behave identically on both sides; the exit status and stderr are
/// also checked against the spec. `stdout` is checked when given.
#[rstest]
// Usage errors: exit 1, nothing on stdout.
#[case::no_args(&[], false, 1, usage("Must provide a test case name"), None)]
#[case::list_with_name(&["-l", "pass"], false, 1, usage("Cannot provide test case names with -l"), None)]
#[case::two_names(&["pass", "fail"], false, 1, usage("Cannot provide more than one test case name"), None)]
#[case::name_then_l(&["pass", "-l"], false, 1, usage("Cannot provide more than one test case name"), None)]
#[case::unknown_case(&["nosuch"], false, 1, usage("Unknown test case `nosuch'"), None)]
#[case::unknown_case_outside(&["nosuch"], true, 1, usage("Unknown test case `nosuch'"), None)]
#[case::unknown_cleanup(&["nosuch:cleanup"], false, 1, usage("Unknown test case `nosuch'"), None)]
#[case::empty_name(&[":cleanup"], false, 1, usage("Unknown test case `'"), None)]
#[case::lone_dash(&["-"], false, 1, usage("Unknown test case `-'"), None)]
#[case::bad_part(&["pass:foo"], false, 1, usage("Invalid test case part `foo'"), None)]
#[case::empty_part(&["pass:"], false, 1, usage("Invalid test case part `'"), None)]
#[case::two_parts(&["pass:body:x"], false, 1, usage("Invalid test case part `body:x'"), None)]
#[case::unknown_option(&["-x"], false, 1, usage("Unknown option -x."), None)]
#[case::unknown_in_cluster(&["-lx"], false, 1, usage("Unknown option -x."), None)]
#[case::r_without_arg(&["-r"], false, 1, usage("Option -r requires an argument."), None)]
#[case::s_without_arg(&["-s"], false, 1, usage("Option -s requires an argument."), None)]
#[case::v_without_arg(&["-v"], false, 1, usage("Option -v requires an argument."), None)]
#[case::option_after_name(&["pass", "-v"], false, 1, usage("Cannot provide more than one test case name"), None)]
#[case::v_without_eq(&["-v", "foo", "pass"], false, 1, usage("-v requires an argument of the form var=value"), None)]
#[case::srcdir_tmp(
    &["-s", "/tmp", "pass"],
    false,
    1,
    "fixture: ERROR: Cannot find the test program in the source directory `/tmp'\n".into(),
    None
)]
#[case::srcdir_tmp_list(
    &["-s", "/tmp", "-l"],
    false,
    1,
    "fixture: ERROR: Cannot find the test program in the source directory `/tmp'\n".into(),
    None
)]
#[case::srcdir_relative(
    &["-s", ".", "pass"],
    false,
    1,
    "fixture: ERROR: Cannot find the test program in the source directory `<WORK>/.'\n".into(),
    None
)]
#[case::srcdir_before_unknown_case(
    &["-s", "/nonexistent", "nosuch"],
    false,
    1,
    "fixture: ERROR: Cannot find the test program in the source directory `/nonexistent'\n".into(),
    None
)]
// Accepted forms.
#[case::list(&["-l"], false, 0, String::new(), None)]
#[case::list_glued_var(&["-lvx=1"], false, 0, String::new(), None)]
#[case::list_after_var(&["-v", "x=1", "-l"], false, 0, String::new(), None)]
#[case::list_srcdir(&["-s", "{dir}", "-l"], false, 0, String::new(), None)]
#[case::list_outside(&["-l"], true, 0, String::new(), None)]
#[case::list_with_result(&["-r{res}", "-l"], false, 0, String::new(), None)]
#[case::list_twice(&["-l", "-l"], false, 0, String::new(), None)]
#[case::var_without_name(&["-r{res}", "-v=x", "pass"], false, 0, String::new(), Some(""))]
#[case::result_glued(&["-r{res}", "pass"], false, 0, String::new(), Some(""))]
#[case::result_separate(&["-r", "{res}", "pass"], false, 0, String::new(), Some(""))]
#[case::result_default_stdout(&["fail"], false, 1, String::new(), Some("failed: boom 42\n"))]
#[case::result_dev_stdout(&["-r/dev/stdout", "skip"], false, 0, String::new(), Some("skipped: not today\n"))]
#[case::result_dev_stderr(&["-r/dev/stderr", "pass"], false, 0, "passed\n".into(), Some(""))]
#[case::part_body(&["-r{res}", "pass:body"], false, 0, String::new(), Some(""))]
#[case::part_cleanup_without_one(&["pass:cleanup"], false, 0, String::new(), Some(""))]
#[case::part_cleanup(&["-vx=hi", "cleanup_cfg:cleanup"], false, 0, String::new(), Some(""))]
#[case::double_dash(&["-r{res}", "--", "pass"], false, 0, String::new(), Some(""))]
#[case::last_var_wins(&["-r{res}", "-vx=bye", "-vx=hello", "cleanup_cfg"], false, 0, String::new(), Some(""))]
#[case::srcdir_given(&["-r{res}", "-s", "{dir}", "srcdir"], false, 0, String::new(), Some(""))]
#[case::srcdir_var_overridden(&["-r{res}", "-vsrcdir=/x", "srcdir"], false, 0, String::new(), Some(""))]
#[case::outside_kyua(&["-r{res}", "pass"], true, 0, WARNINGS.into(), Some(""))]
#[case::outside_kyua_cleanup(&["pass:cleanup"], true, 0, WARNINGS.into(), Some(""))]
#[case::outside_kyua_stdout(&["fail"], true, 1, WARNINGS.into(), Some("failed: boom 42\n"))]
fn command_line_behaves_like_atf_c(
    #[case] args: &[&str],
    #[case] outside_kyua: bool,
    #[case] exit: i32,
    #[case] stderr: String,
    #[case] stdout: Option<&str>,
) {
    let inv = Invocation {
        args: strings(args),
        outside_kyua,
        ..Default::default()
    };
    let (rs, c) = run_both(&inv);
    let what = format!("{args:?}");
    assert_eq!(rs.end, Exit(exit), "{what}: exit status");
    assert_eq!(rs.stderr, stderr, "{what}: stderr");
    if exit != 0 && stdout.is_none() {
        assert_eq!(rs.stdout, "", "{what}: stdout");
    }
    if let Some(out) = stdout {
        assert_eq!(rs.stdout, out, "{what}: stdout");
    }
    if let Some(c) = c {
        assert_same(&what, &c, &rs, true);
    }
}

/// `./fixture` run from its own directory: srcdir is the cwd plus `/.`.
#[test]
fn relative_argv0_gives_the_same_srcdir() {
    let inv = Invocation {
        args: strings(&["-r{res}", "srcdir"]),
        relative_argv0: true,
        ..Default::default()
    };
    let (rs, c) = run_both(&inv);
    assert_eq!(rs.result.as_deref(), Some("skipped: srcdir=<DIR>/.\n"));
    if let Some(c) = c {
        assert_same("./fixture srcdir", &c, &rs, true);
    }
}

/// The `-l` bytes are identical, and hold what kyua needs.
#[test]
fn list_is_byte_identical() {
    let inv = Invocation {
        args: strings(&["-l"]),
        ..Default::default()
    };
    let (rs, c) = run_both(&inv);
    if let Some(c) = &c {
        assert_eq!(c.stdout, rs.stdout, "-l (left atf-c, right Rust)");
    }
    let list = &rs.stdout;
    assert!(list.starts_with("Content-Type: application/X-atf-tp; version=\"1\"\n\nident: pass\n"));
    assert!(list.ends_with("\nident: hang\ndescr: hangs without expect_timeout\ntimeout: 2\n"));
    assert!(list.contains(
        "\n\nident: cleanup_cfg\nhas.cleanup: true\ndescr: reads config x; the cleanup writes a file\ntimeout: 30\n\n"
    ));
    assert!(list.contains(
        "\n\nident: metadata\ndescr: every kind of metadata\nrequire.user: unprivileged\n\
         require.progs: /bin/sh ls\nX-custom: some value\ntimeout: 7\n\n"
    ));
    // strict.rs "a case sets no timeout": every case carries one.
    let blocks: Vec<&str> = list.split("\n\n").skip(1).collect();
    assert_eq!(blocks.len(), 38);
    for b in blocks {
        assert!(b.contains("\ntimeout: "), "no timeout in {b:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The remaining deliberate differences (strict.rs), each side against its own bytes.

/// strict.rs "the result file cannot be created".
#[test]
fn strict_unwritable_result_file() {
    let inv = Invocation {
        args: strings(&["-r/nonexistent/dir/x", "pass"]),
        ..Default::default()
    };
    let (rs, c) = run_both(&inv);
    assert_eq!(rs.end, Exit(1));
    assert_eq!(
        rs.stderr,
        "fixture: ERROR: Cannot create results file '/nonexistent/dir/x': \
         No such file or directory (os error 2)\n"
    );
    assert_eq!(rs.stdout, "");
    if let Some(c) = c {
        assert_eq!(c.end, Signal(6));
        assert_eq!(
            c.stderr,
            "FATAL ERROR: Cannot create results file '/nonexistent/dir/x': No such file or directory\n"
        );
    }
}

/// strict.rs "check_eq!/require_eq! fail": the values follow atf-c's message.
#[test]
fn strict_check_eq_prints_values() {
    let inv = Invocation {
        args: strings(&["-r{res}", "checks"]),
        ..Default::default()
    };
    let (rs, c) = run_both(&inv);
    let atf = "*** Check failed: FILE:LINE: 1 == 2 not met\n*** Check failed: nf x\n\
               *** Check failed: FILE:LINE: 3 != 4";
    assert_eq!(rs.stderr, format!("{atf} (3 != 4)\n"));
    if let Some(c) = c {
        assert_eq!(c.stderr, format!("{atf}\n"));
    }
}

/// strict.rs "a metadata value kyua rejects": `Program::validate` refuses the program
/// before it lists or runs anything, so kyua never sees the value.
#[rstest]
#[case::timeout0("timeout0", "property 'timeout': 0 makes kyua kill the body at once")]
#[case::relative_file(
    "relative_file",
    "property 'require.files': Relative path 'x/y' not allowed"
)]
#[case::relative_prog(
    "relative_prog",
    "property 'require.progs': Relative path 'bin/ls' not allowed"
)]
#[case::tab("tab", "property 'require.arch': 'x86_64\ti386' is not a word")]
#[case::newline("newline", "property 'descr': a newline cannot be expressed")]
#[case::custom_name("custom_name", "property 'X-': invalid custom name")]
#[case::memory("memory", "property 'require.memory': '1 GB' is not a byte quantity")]
#[case::name("name", "test case 'a b': a name is letters, digits and '_' only")]
#[case::duplicate("duplicate", "test case 'pass': registered twice")]
#[case::no_body("no_body", "test case 'bad': no body")]
fn strict_bad_metadata_is_refused(#[case] kind: &str, #[case] needle: &str) {
    for args in [&["-l"][..], &["-r{res}", "pass"]] {
        let inv = Invocation {
            args: strings(args),
            env: vec![("ATF_FIXTURE_BAD", kind)],
            ..Default::default()
        };
        let rs = run(&fixtures().rs, &inv);
        assert_eq!(rs.end, Exit(1), "{kind} {args:?}");
        assert_eq!(rs.stdout, "", "{kind} {args:?}");
        assert_eq!(rs.result, None, "{kind} {args:?}");
        assert!(
            rs.stderr
                .starts_with("fixture: ERROR: invalid test program: ")
                && rs.stderr.contains(needle)
                && rs.stderr.ends_with('\n')
                && rs.stderr.lines().count() == 1,
            "{kind}: {:?}",
            rs.stderr
        );
    }
}

/// Each row of strict.rs is covered by a test here; a new row needs a new test.
#[test]
fn every_deliberate_difference_is_tested() {
    let covered = [
        (
            "a reason is empty",
            "body_behaves_like_atf_c::*_empty_reason",
        ),
        (
            "a reason contains a newline",
            "body_behaves_like_atf_c::*_newline_reason",
        ),
        ("the body panics", "body_behaves_like_atf_c::*_panic"),
        (
            "the result file cannot be created",
            "strict_unwritable_result_file",
        ),
        (
            "a metadata value kyua rejects",
            "strict_bad_metadata_is_refused",
        ),
        ("a case sets no timeout", "list_is_byte_identical"),
        (
            "check_eq!/require_eq! fail",
            "strict_check_eq_prints_values",
        ),
        ("the body hangs", "body_behaves_like_atf_c::*_hang_watchdog"),
    ];
    assert_eq!(DIFFERENCES.len(), covered.len(), "strict.rs changed");
    for (d, (situation, test)) in DIFFERENCES.iter().zip(covered) {
        assert!(
            d.situation.starts_with(situation),
            "{} is not covered by {test}",
            d.situation
        );
    }
}
