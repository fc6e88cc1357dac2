//! The body's watchdog: a hang becomes a clean `failed` shortly before kyua's timeout,
//! which would otherwise report `broken: Test case body timed out`.

use super::result::TestResult;
use super::state::{self, Sink};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// How long before the `timeout` metadata the watchdog ends a body.
pub fn fire_after(timeout_secs: u32) -> Duration {
    let t = Duration::from_secs(u64::from(timeout_secs));
    let margin = (t / 5).min(Duration::from_secs(5));
    t - margin
}

/// Stops watching when dropped.
pub struct Watchdog {
    _stop: mpsc::Sender<()>,
    /// Set when the body has ended (with its result if it did not complete normally): a
    /// watchdog firing after that reports the body's result, not an anonymous hang.
    body_end: Arc<Mutex<Option<Option<TestResult>>>>,
}

impl Watchdog {
    /// Starts watching the body of `case`; returns once the watchdog thread runs.
    ///
    /// Waiting for it matters to every fork the body makes: a thread's start takes a
    /// process-wide Rust mutex (std's thread-info map), and a fork during the start copies
    /// it locked into the child, whose own first std thread then blocks for ever. Once
    /// started, the thread holds no lock while it waits.
    pub fn start(timeout_secs: u32, sink: Sink, case: &str) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        let (ready_tx, ready) = mpsc::channel::<()>();
        let after = fire_after(timeout_secs);
        let case = case.to_string();
        let body_end = Arc::new(Mutex::new(None));
        let seen_end = Arc::clone(&body_end);
        let spawned = std::thread::Builder::new()
            .name("atf-watchdog".into())
            .spawn(move || {
                let _ = ready_tx.send(());
                if rx.recv_timeout(after) != Err(mpsc::RecvTimeoutError::Timeout) {
                    return;
                }
                if state::expecting_timeout() {
                    return;
                }
                let ended = seen_end.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let r = TestResult::Failed(hang_reason(&case, ended, after, timeout_secs));
                let _ = sink.write(&r);
                // The process group (tracees included) is killed by kyua when we exit.
                // SAFETY: _exit ends the process at once; nothing is left to unwind.
                unsafe { libc::_exit(1) };
            });
        match spawned {
            Ok(_) => {
                let _ = ready.recv();
            }
            Err(e) => eprintln!("atf: cannot start the watchdog: {e}"),
        }
        Watchdog {
            _stop: tx,
            body_end,
        }
    }

    /// The body has ended: `result` is its result when it did not complete normally (a
    /// failure, a skip...). What runs after it (the teardown) is then what the watchdog
    /// would end, and its report starts with the body's result.
    pub fn body_ended(&self, result: Option<&TestResult>) {
        *self.body_end.lock().unwrap_or_else(|p| p.into_inner()) = Some(result.cloned());
    }
}

/// The reason the watchdog writes: an anonymous hang of the body, or the body's own result
/// followed by the teardown that did not finish.
fn hang_reason(
    case: &str,
    ended: Option<Option<TestResult>>,
    after: Duration,
    timeout_secs: u32,
) -> String {
    let limit = format!("within {}s of its {timeout_secs}s timeout", after.as_secs());
    let teardown = "the teardown (killing and reaping what the case left behind) did not finish";
    match ended {
        None => format!(
            "{case} did not finish {limit}; the watchdog ended it (a hang: see the output for \
             the last step)"
        ),
        Some(None) => format!("{case}: the body ended, but {teardown} {limit}"),
        Some(Some(TestResult::Failed(reason))) => {
            format!("{reason}; then {teardown} {limit}")
        }
        Some(Some(r)) => format!(
            "{case}: the body ended ({}), but {teardown} {limit}",
            r.to_line()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hang_after_a_failed_body_reports_the_body_failure_first() {
        let r = hang_reason(
            "kill2",
            Some(Some(TestResult::Failed("timed out waiting for x".into()))),
            Duration::from_secs(12),
            15,
        );
        assert!(
            r.starts_with("timed out waiting for x; then the teardown"),
            "{r}"
        );
        assert!(r.ends_with("within 12s of its 15s timeout"), "{r}");
        let r = hang_reason("kill2", None, Duration::from_secs(12), 15);
        assert!(r.starts_with("kill2 did not finish within 12s"), "{r}");
        let r = hang_reason("kill2", Some(None), Duration::from_secs(12), 15);
        assert!(
            r.starts_with("kill2: the body ended, but the teardown"),
            "{r}"
        );
    }
}
