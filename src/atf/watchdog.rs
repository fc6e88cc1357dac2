//! The body's watchdog: a hang becomes a clean `failed` shortly before kyua's timeout,
//! which would otherwise report `broken: Test case body timed out`.

use super::result::TestResult;
use super::state::{self, Sink};
use std::sync::mpsc;
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
}

impl Watchdog {
    /// Starts watching the body of `case`.
    pub fn start(timeout_secs: u32, sink: Sink, case: &str) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        let after = fire_after(timeout_secs);
        let case = case.to_string();
        let spawned = std::thread::Builder::new()
            .name("atf-watchdog".into())
            .spawn(move || {
                if rx.recv_timeout(after) != Err(mpsc::RecvTimeoutError::Timeout) {
                    return;
                }
                if state::expecting_timeout() {
                    return;
                }
                let r = TestResult::Failed(format!(
                    "{case} did not finish within {}s of its {timeout_secs}s timeout; \
                     the watchdog ended it (a hang: see the output for the last step)",
                    after.as_secs()
                ));
                let _ = sink.write(&r);
                // The process group (tracees included) is killed by kyua when we exit.
                unsafe { libc::_exit(1) };
            });
        if let Err(e) = spawned {
            eprintln!("atf: cannot start the watchdog: {e}");
        }
        Watchdog { _stop: tx }
    }
}
