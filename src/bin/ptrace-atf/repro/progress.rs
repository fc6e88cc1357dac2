//! Following the looping program: reading its reports (`ptrace_atf::atf::repeat::Report`),
//! showing them as a progress bar on a terminal or as plain lines, and the final summary.

use crate::signals;
use indicatif::{ProgressBar, ProgressStyle};
use ptrace_atf::atf::repeat::Report;
use std::io::IsTerminal;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ExitCode, ExitStatus};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// What the reports have told so far, and where they are shown.
pub(super) struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
    last_plain: Instant,
    /// The last iteration reported.
    seen: u64,
    failures: u64,
    /// The failures and seconds of the program's `Done` report.
    done: Option<(u64, f64)>,
    /// The iteration that did not end within the case's timeout.
    hung: Option<u64>,
}

/// How following the program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Followed {
    /// Its stdout closed (it ended), or an interrupt was caught.
    Ended,
    /// It ended but a process it left holds the pipe open.
    LeftRunning,
    /// An iteration did not end within the case's timeout; the report was printed.
    Hung,
}

impl Progress {
    /// A progress bar when stderr is a terminal (out of `iterations` if the loop has a count),
    /// else plain lines on stdout once a second.
    pub(super) fn new(iterations: Option<u64>) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = match iterations {
                Some(n) => ProgressBar::new(n),
                None => ProgressBar::new_spinner(),
            };
            let template = if iterations.is_some() {
                "{spinner} {pos}/{len} iterations  {msg}  [{elapsed_precise}]"
            } else {
                "{spinner} {pos} iterations  {msg}  [{elapsed_precise}]  (Ctrl-C to stop)"
            };
            b.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        Progress {
            bar,
            start: Instant::now(),
            last_plain: Instant::now(),
            seen: 0,
            failures: 0,
            done: None,
            hung: None,
        }
    }

    /// Reads the program's reports until its stdout closes, an interrupt is caught or an
    /// iteration hangs (`stall`; `session`: the program's session, shown in the report).
    pub(super) fn follow(
        &mut self,
        child: &mut Child,
        stall: &mut super::stall::Stall,
        session: i32,
    ) -> Followed {
        let lines = signals::lines(child.stdout.take().expect("piped"));
        let mut exited_at: Option<Instant> = None;
        loop {
            if signals::caught().is_some() {
                return Followed::Ended;
            }
            if let Some(at) = stall.check() {
                self.report_hang(at, stall.limit(), session);
                return Followed::Hung;
            }
            let line = match lines.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => l,
                Err(RecvTimeoutError::Disconnected) => return Followed::Ended,
                Err(RecvTimeoutError::Timeout) => {
                    // The program ended but a process it left holds the pipe open.
                    match (exited_at, child.try_wait()) {
                        (None, Ok(Some(_))) => exited_at = Some(Instant::now()),
                        (Some(t), _) if t.elapsed() > Duration::from_secs(1) => {
                            return Followed::LeftRunning;
                        }
                        _ => {}
                    }
                    continue;
                }
            };
            self.take(&line);
            self.update();
        }
    }

    /// Says that iteration `at` hung, with what the program's processes are doing.
    fn report_hang(&mut self, at: u64, limit: String, session: i32) {
        self.hung = Some(at);
        self.show(&format!(
            "iteration {at}: hung: it did not end within {limit}; the program's processes now:"
        ));
        for line in ptrace_atf::trace::proc::session_report(session) {
            self.show(&format!("    {line}"));
        }
    }

    /// Takes in one line of the program's stdout; a line that is no report is shown as output.
    fn take(&mut self, line: &str) {
        match Report::parse(line) {
            Ok(Report::Tick {
                iterations,
                failures,
            }) => {
                self.seen = iterations;
                self.failures = failures;
            }
            Ok(Report::Fail { iteration, result }) => {
                self.seen = iteration;
                self.failures += 1;
                self.show(&format!("iteration {iteration}: {result}"));
            }
            Ok(Report::Done {
                iterations,
                failures,
                secs,
            }) => {
                self.seen = iterations;
                self.done = Some((failures, secs));
            }
            Ok(Report::Output(text)) => self.show(&format!("    {text}")),
            Err(_) => self.show(&format!("    {line}")),
        }
    }

    /// Prints a line above the progress bar, or on stdout.
    fn show(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(line),
            None => signals::say(line),
        }
    }

    /// Moves the bar, or prints the count and rate on stdout at most once a second.
    fn update(&mut self) {
        let rate = self.seen as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
        let failures = self.failures;
        match &self.bar {
            Some(b) => {
                b.set_position(self.seen);
                b.set_message(format!("{failures} failed  {rate:.0}/s"));
            }
            None if self.last_plain.elapsed() >= Duration::from_secs(1) => {
                self.last_plain = Instant::now();
                signals::say(&format!(
                    "{}, {failures} failed, {rate:.0}/s",
                    crate::plural(self.seen, "iteration")
                ));
            }
            None => {}
        }
    }

    /// Prints the summary once the program and everything it started have ended (`status`
    /// is the program's; `interrupted`, the interrupt caught while following it; `counter`,
    /// the file holding the iteration in progress), and ends the command.
    pub(super) fn finish(
        mut self,
        name: &str,
        status: std::io::Result<ExitStatus>,
        interrupted: Option<i32>,
        counter: &Path,
    ) -> ExitCode {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        let mut secs = self.start.elapsed().as_secs_f64();
        match (self.done, interrupted) {
            _ if self.hung.is_some() => {
                self.failures += 1;
                self.seen = self.hung.unwrap_or(self.seen);
            }
            (Some((failures, done_secs)), _) => {
                self.failures = failures;
                secs = done_secs;
            }
            (None, Some(libc::SIGPIPE)) => signals::die_by(libc::SIGPIPE),
            (None, Some(sig)) => {
                let at = in_progress(counter, self.seen);
                signals::say(&format!(
                    "interrupted by {} during iteration {at}",
                    ptrace_atf::trace::sig_name(sig)
                ));
                self.seen = at.saturating_sub(1);
            }
            (None, None) => {
                let at = in_progress(counter, self.seen);
                signals::say(&format!(
                    "iteration {at}: the program {} during this iteration (use --fork for cases that end their process)",
                    how_it_ended(&status)
                ));
                self.failures += 1;
                self.seen = at;
            }
        }
        let (seen, failures) = (self.seen, self.failures);
        let rate = seen as f64 / secs.max(1e-9);
        let pct = 100.0 * failures as f64 / (seen.max(1)) as f64;
        signals::say(&format!(
            "{name}: {}, {failures} failed ({pct:.4}%), {rate:.0} iterations/s, {secs:.2}s",
            crate::plural(seen, "iteration")
        ));
        if let Some(sig) = interrupted {
            signals::die_by(sig);
        }
        if let Some(sig) = signals::caught() {
            signals::die_by(sig);
        }
        ExitCode::from(u8::from(failures > 0))
    }
}

/// The iteration in progress as the program stored it in `counter` (`seen` if it did not).
pub(super) fn in_progress(counter: &Path, seen: u64) -> u64 {
    let bytes = std::fs::read(counter).unwrap_or_default();
    bytes
        .get(..8)
        .map(|b| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8])))
        .unwrap_or(seen)
}

/// How a program that ended without its `Done` report ended, for the summary.
fn how_it_ended(status: &std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) if s.signal().is_some() => {
            format!("was killed by signal {}", s.signal().unwrap_or(0))
        }
        Ok(s) => format!("exited with code {}", s.code().unwrap_or(-1)),
        Err(e) => format!("could not be waited for: {e}"),
    }
}
