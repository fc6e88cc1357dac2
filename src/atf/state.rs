//! The expectation state machine of a running body, as atf-c 0.21's tc.c defines it.
//!
//! atf-c ends the process from inside `atf_tc_fail()` and friends. Here a terminal event
//! unwinds instead (`panic_any(Finish)`), so destructors and the program's teardown run;
//! the runner catches it and writes the result. Results that atf-c writes at the call
//! (`expect_exit`, `expect_signal`, `expect_death`, `expect_timeout`) are written at the
//! call here too, because the body is expected to die before it returns.

use super::result::TestResult;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Where the result line goes: a file path, stdout or stderr (`-r` semantics), or nowhere
/// (a loop iteration, whose result the loop itself reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    Stdout,
    Stderr,
    File(String),
    Discard,
}

impl Sink {
    /// `-r PATH` as atf-c reads it: `/dev/stdout` and `/dev/stderr` are special.
    pub fn from_arg(path: &str) -> Sink {
        match path {
            "/dev/stdout" => Sink::Stdout,
            "/dev/stderr" => Sink::Stderr,
            p => Sink::File(p.to_string()),
        }
    }

    /// Writes one result line, truncating a file (mode 0644, like atf-c).
    pub fn write(&self, result: &TestResult) -> Result<(), String> {
        let line = result.to_line();
        let res = match self {
            Sink::Discard => Ok(()),
            Sink::Stdout => std::io::stdout().write_all(line.as_bytes()),
            Sink::Stderr => std::io::stderr().write_all(line.as_bytes()),
            Sink::File(p) => {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o644)
                    .open(p)
                    .and_then(|mut f| f.write_all(line.as_bytes()))
                    .map_err(|e| {
                        std::io::Error::new(
                            e.kind(),
                            format!("Cannot create results file '{p}': {e}"),
                        )
                    })
            }
        };
        res.map_err(|e| e.to_string())
    }
}

/// The current expectation mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Pass,
    Fail,
    Exit,
    Signal,
    Death,
    Timeout,
}

/// The payload a terminal event unwinds with: the body's final result.
#[derive(Debug)]
pub struct Finish(pub TestResult);

#[derive(Debug)]
struct State {
    sink: Sink,
    fail_count: usize,
    expect: Expect,
    expect_reason: String,
    expect_previous_fail_count: usize,
    expect_fail_count: usize,
}

/// The body's process and state, in one static. A loop iteration that ends as it began
/// (nothing failed, no expectation declared) writes nothing here: every iteration forks,
/// and a write after fork(2) costs a copy of the page.
struct Running {
    /// The process the running body started in (a forked child is not the body).
    pid: AtomicI32,
    /// The state is a fresh one with a `Discard` sink that nothing has touched since.
    pristine: AtomicBool,
    state: Mutex<Option<State>>,
}

static RUNNING: Running = Running {
    pid: AtomicI32::new(0),
    pristine: AtomicBool::new(false),
    state: Mutex::new(None),
};

fn state() -> MutexGuard<'static, Option<State>> {
    RUNNING.state.lock().unwrap_or_else(|p| p.into_inner())
}

fn with<T>(f: impl FnOnce(&mut State) -> T) -> T {
    let mut g = state();
    if RUNNING.pristine.load(Ordering::Relaxed) {
        RUNNING.pristine.store(false, Ordering::Relaxed);
    }
    let s = g
        .as_mut()
        .expect("atf: a check or expectation was used outside a test case body");
    f(s)
}

/// Starts a body: a fresh state writing its result to `sink`.
pub fn begin(sink: Sink) {
    // SAFETY: getpid has no preconditions.
    RUNNING
        .pid
        .store(unsafe { libc::getpid() }, Ordering::Relaxed);
    let mut g = state();
    RUNNING
        .pristine
        .store(sink == Sink::Discard, Ordering::Relaxed);
    *g = Some(State {
        sink,
        fail_count: 0,
        expect: Expect::Pass,
        expect_reason: String::new(),
        expect_previous_fail_count: 0,
        expect_fail_count: 0,
    });
}

/// Ends a body's state; returns the sink.
pub fn end() -> Option<Sink> {
    let mut g = state();
    RUNNING.pristine.store(false, Ordering::Relaxed);
    g.take().map(|s| s.sink)
}

/// Starts another run of a body in the process that ran it last (a loop iteration): a
/// state left pristine by `end_kept` is reused as it is, without a write; else `begin`.
pub fn begin_again(sink: Sink) {
    if sink == Sink::Discard && RUNNING.pristine.load(Ordering::Relaxed) {
        return;
    }
    begin(sink)
}

/// Ends a loop iteration's state, keeping a pristine one for `begin_again`.
pub fn end_kept() {
    if !RUNNING.pristine.load(Ordering::Relaxed) {
        end();
    }
}

/// Whether a body is running in this process.
pub fn active() -> bool {
    state().is_some()
}

/// The sink of the running body.
pub fn sink() -> Option<Sink> {
    state().as_ref().map(|s| s.sink.clone())
}

fn finish(r: TestResult) -> ! {
    // SAFETY: getpid has no preconditions.
    if unsafe { libc::getpid() } != RUNNING.pid.load(Ordering::Relaxed) {
        // In a forked child (a failed `require!` in a Forkee closure) the result cannot end
        // the body: unwind with the reason as text, which the forkee reports to the parent.
        std::panic::panic_any(r.reason().unwrap_or(r.word()).to_string())
    }
    std::panic::panic_any(Finish(r))
}

/// The result of `fail_requirement` in the given state (not yet raised).
fn requirement_result(s: &mut State, reason: String) -> TestResult {
    match s.expect {
        Expect::Fail => TestResult::ExpectedFailure(format!("{}: {}", s.expect_reason, reason)),
        Expect::Pass => TestResult::Failed(reason),
        _ => {
            s.expect = Expect::Pass;
            TestResult::Failed(format!(
                "Test case raised a failure but was not expecting one; reason was {reason}"
            ))
        }
    }
}

/// `validate_expect`: the failure a change of mode (or the end of the body) must raise.
fn validation_error(s: &State) -> Option<String> {
    Some(
        match s.expect {
            Expect::Pass => return None,
            Expect::Fail if s.expect_fail_count > s.expect_previous_fail_count => return None,
            Expect::Fail => "Test case was expecting a failure but none were raised",
            Expect::Death => {
                "Test case was expected to terminate abruptly but it continued execution"
            }
            Expect::Exit => "Test case was expected to exit cleanly but it continued execution",
            Expect::Signal => {
                "Test case was expected to receive a termination signal but it continued execution"
            }
            Expect::Timeout => "Test case was expected to hang but it continued execution",
        }
        .to_string(),
    )
}

fn validate(s: &mut State) -> Result<(), TestResult> {
    match validation_error(s) {
        None => Ok(()),
        Some(msg) => {
            s.expect = Expect::Pass;
            Err(TestResult::Failed(msg))
        }
    }
}

/// A fatal failure (`atf_tc_fail`, a failed `require`): ends the body.
pub fn fail(reason: String) -> ! {
    let r = with(|s| requirement_result(s, reason));
    finish(r)
}

/// The result a fatal failure would give now, without raising it (for panics caught by
/// the runner).
pub fn fail_result(reason: String) -> TestResult {
    with(|s| requirement_result(s, reason))
}

/// A non-fatal failure (`atf_tc_fail_nonfatal`, a failed `check`): counted, printed on
/// stderr, and the body goes on.
pub fn fail_check(reason: String) {
    let r = with(|s| match s.expect {
        Expect::Fail => {
            eprintln!(
                "*** Expected check failure: {}: {}",
                s.expect_reason, reason
            );
            s.expect_fail_count += 1;
            None
        }
        Expect::Pass => {
            eprintln!("*** Check failed: {reason}");
            s.fail_count += 1;
            None
        }
        _ => Some(requirement_result(s, reason)),
    });
    if let Some(r) = r {
        finish(r)
    }
}

/// `atf_tc_pass`: ends the body as passed (or fails, per the mode).
pub fn pass() -> ! {
    let r = with(|s| match s.expect {
        Expect::Pass => TestResult::Passed,
        Expect::Fail => {
            s.expect = Expect::Pass;
            TestResult::Failed("Test case was expecting a failure but got a pass instead".into())
        }
        _ => {
            s.expect = Expect::Pass;
            TestResult::Failed(
                "Test case asked to explicitly pass but was not expecting such condition".into(),
            )
        }
    });
    finish(r)
}

/// `atf_tc_skip`: only allowed in expect-pass mode.
pub fn skip(reason: String) -> ! {
    let r = with(|s| match s.expect {
        Expect::Pass => TestResult::Skipped(reason),
        _ => {
            s.expect = Expect::Pass;
            TestResult::Failed("Can only skip a test case when running in expect pass mode".into())
        }
    });
    finish(r)
}

/// The end of a body that returned normally (`atf_tc_run` after the body).
pub fn end_of_body() -> TestResult {
    if RUNNING.pristine.load(Ordering::Relaxed) {
        // Fresh state, nothing recorded: expect-pass mode, no failed check.
        return TestResult::Passed;
    }
    with(|s| {
        if let Err(r) = validate(s) {
            return r;
        }
        if s.fail_count > 0 {
            let reason = format!(
                "{} checks failed; see output for more details",
                s.fail_count
            );
            requirement_result(s, reason)
        } else if s.expect_fail_count > 0 {
            TestResult::ExpectedFailure(format!(
                "{}: {} checks failed as expected; see output for more details",
                s.expect_reason, s.expect_fail_count
            ))
        } else if s.expect == Expect::Fail {
            TestResult::Failed("Test case was expecting a failure but got a pass instead".into())
        } else {
            TestResult::Passed
        }
    })
}

/// Changes the mode after validating the current one; writes `early` at once if given.
fn set_mode(mode: Expect, reason: Option<String>, early: Option<TestResult>) {
    let r = with(|s| {
        validate(s)?;
        s.expect = mode;
        if let Some(reason) = reason {
            s.expect_reason = reason;
            s.expect_previous_fail_count = s.expect_fail_count;
        }
        if let Some(early) = early
            && let Err(e) = s.sink.write(&early)
        {
            return Err(TestResult::Broken(e));
        }
        Ok(())
    });
    if let Err(r) = r {
        finish(r)
    }
}

/// `atf_tc_expect_pass`.
pub fn expect_pass() {
    set_mode(Expect::Pass, None, None)
}

/// `atf_tc_expect_fail`.
pub fn expect_fail(reason: String) {
    set_mode(Expect::Fail, Some(reason), None)
}

/// `atf_tc_expect_exit`: `None` accepts any exit code.
pub fn expect_exit(code: Option<i32>, reason: String) {
    set_mode(
        Expect::Exit,
        None,
        Some(TestResult::ExpectedExit(code, reason)),
    )
}

/// `atf_tc_expect_signal`: `None` accepts any signal.
pub fn expect_signal(sig: Option<i32>, reason: String) {
    set_mode(
        Expect::Signal,
        None,
        Some(TestResult::ExpectedSignal(sig, reason)),
    )
}

/// `atf_tc_expect_death`.
pub fn expect_death(reason: String) {
    set_mode(Expect::Death, None, Some(TestResult::ExpectedDeath(reason)))
}

/// `atf_tc_expect_timeout`.
pub fn expect_timeout(reason: String) {
    set_mode(
        Expect::Timeout,
        None,
        Some(TestResult::ExpectedTimeout(reason)),
    )
}

/// Whether the running body declared `expect_timeout` (the watchdog must then let kyua's
/// timer fire). Never blocks.
pub fn expecting_timeout() -> bool {
    match RUNNING.state.try_lock() {
        Ok(g) => g.as_ref().is_some_and(|s| s.expect == Expect::Timeout),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loop iterations reuse a pristine state without writing it, and never a touched one.
    #[test]
    #[serial_test::serial]
    fn an_iteration_reuses_only_a_pristine_state() {
        begin_again(Sink::Discard);
        assert!(RUNNING.pristine.load(Ordering::Relaxed));
        assert_eq!(end_of_body(), TestResult::Passed);
        end_kept();
        assert!(active(), "a pristine state is kept for the next iteration");

        begin_again(Sink::Discard);
        fail_check("first".into());
        assert!(!RUNNING.pristine.load(Ordering::Relaxed));
        assert!(matches!(end_of_body(), TestResult::Failed(_)));
        end_kept();
        assert!(!active(), "a touched state is ended");

        begin_again(Sink::Discard);
        expect_fail("known bug".into());
        end_kept();
        begin_again(Sink::Discard);
        assert_eq!(
            end_of_body(),
            TestResult::Passed,
            "the next iteration starts fresh"
        );
        end();
        assert!(!active());

        begin_again(Sink::Stdout);
        assert!(
            !RUNNING.pristine.load(Ordering::Relaxed),
            "only a Discard state is reused"
        );
        end();
    }
}
