//! A hung iteration. The program stores the iteration in progress in the counter file; when
//! that number has not moved for the case's `timeout` (what kyua would judge a hang in one
//! run), the loop reports the iteration as hung, with what every process of the program's
//! session is doing, and ends it. Waits inside a case have their own deadlines; this catches
//! a hang anywhere else (a blocking call without one, the kernel itself).

use crate::cases::Case;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// kyua's timeout for a case that lists none.
const KYUA_DEFAULT_TIMEOUT: u64 = 300;

/// Watches the counter file for an iteration that does not end.
pub(super) struct Stall {
    limit: Duration,
    /// Where the limit comes from, for the report.
    what: &'static str,
    counter: PathBuf,
    last: u64,
    since: Instant,
}

impl Stall {
    /// A watch over `counter` with `limit` seconds (--hang-after), else the case's listed
    /// timeout (already scaled: the listing is read under PTRACE_ATF_TIME_SCALE).
    pub(super) fn new(case: &Case, limit: Option<f64>, counter: &Path) -> Stall {
        let listed = || {
            case.listed
                .get("timeout")
                .and_then(|t| t.parse().ok())
                .filter(|&t| t > 0)
                .unwrap_or(KYUA_DEFAULT_TIMEOUT)
        };
        let (limit, what) = match limit {
            Some(secs) => (Duration::from_secs_f64(secs), "--hang-after"),
            None => (Duration::from_secs(listed()), "the case's timeout"),
        };
        Stall {
            limit,
            what,
            counter: counter.to_path_buf(),
            last: 0,
            since: Instant::now(),
        }
    }

    /// The limit and where it comes from, for the report: `the case's timeout (20s)`.
    pub(super) fn limit(&self) -> String {
        format!(
            "{} ({})",
            self.what,
            ptrace_atf::trace::deadline::human(self.limit)
        )
    }

    /// The iteration in progress once it has run longer than the limit.
    pub(super) fn check(&mut self) -> Option<u64> {
        let now = super::progress::in_progress(&self.counter, self.last);
        if now != self.last {
            self.last = now;
            self.since = Instant::now();
            return None;
        }
        (self.since.elapsed() > self.limit).then_some(now)
    }
}
