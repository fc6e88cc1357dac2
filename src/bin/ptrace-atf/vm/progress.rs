//! What the user sees while a guest runs: the runner's lines as they arrive on the
//! channel, and a progress line (redrawn on a terminal, every 30 s otherwise).

use super::channel::Tag;
use super::console;
use super::guest::START_MARK;
use super::qemu::Watcher;
use super::results::{Counts, parse_line};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Live {
    name: String,
    tty: bool,
    /// Print every runner line (otherwise only lines that are not good case results).
    all_lines: bool,
    counts: Counts,
    last_case: Option<String>,
    began: bool,
    shown: bool,
    /// The case whose start the console showed last.
    last_started: Option<String>,
    /// Console lines seen, and the line of the last trouble shown.
    console_lines: usize,
    last_trouble: Option<usize>,
    last_plain: Instant,
}

impl Live {
    pub fn new(name: &str, all_lines: bool) -> Self {
        Live {
            name: name.to_string(),
            tty: std::io::stderr().is_terminal(),
            all_lines,
            counts: Counts::default(),
            last_case: None,
            began: false,
            shown: false,
            last_started: None,
            console_lines: 0,
            last_trouble: None,
            last_plain: Instant::now(),
        }
    }

    fn clear(&mut self) {
        if self.tty && self.shown {
            eprint!("\r\x1b[2K");
            self.shown = false;
        }
    }

    fn status(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs();
        let mut s = format!(
            "ptrace-atf vm: {} {}:{:02}: ",
            self.name,
            secs / 60,
            secs % 60
        );
        if !self.began {
            s.push_str("booting");
        } else {
            let c = &self.counts;
            s.push_str(&format!(
                "{} done ({} passed, {} skipped, {} xfail, {} failed, {} broken)",
                c.total(),
                c.passed,
                c.skipped,
                c.xfail,
                c.failed,
                c.broken
            ));
            if let Some(l) = &self.last_case {
                s.push_str(&format!(", last {l}"));
            }
        }
        s
    }

    /// Clears the progress line for good.
    pub fn finish(&mut self) {
        self.clear();
        let _ = std::io::stderr().flush();
    }
}

impl Watcher for Live {
    /// Kernel trouble is shown as it happens, with the case that had started last.
    fn console_line(&mut self, line: &str) {
        let msg = console::message(line);
        self.console_lines += 1;
        if let Some(p) = msg.find(START_MARK) {
            self.last_started = Some(msg[p + START_MARK.len()..].trim().to_string());
            self.last_trouble = None;
        } else if console::is_trouble(msg) {
            // "BUG: ..." and the "Oops: ..." a few lines below are one report.
            let same_report = msg.starts_with("Oops:")
                && self
                    .last_trouble
                    .is_some_and(|l| self.console_lines - l <= 12);
            self.last_trouble = Some(self.console_lines);
            if same_report {
                return;
            }
            self.clear();
            println!(
                "ptrace-atf vm: kernel log: {msg} (last case started: {})",
                self.last_started.as_deref().unwrap_or("none")
            );
        }
    }

    fn channel_line(&mut self, line: &str) {
        if line == Tag::Begin.text() {
            self.began = true;
            return;
        }
        if let Some(t) = line.strip_prefix(Tag::Tainted.text())
            && let Ok(t) = t.trim().parse::<u64>()
            && t != 0
        {
            self.clear();
            println!(
                "ptrace-atf vm: the kernel is tainted ({t}) before the suite starts: oopses and warnings may predate it"
            );
            return;
        }
        let Some(text) = line
            .strip_prefix(Tag::Line.text())
            .map(|t| t.strip_prefix(' ').unwrap_or(t))
        else {
            return;
        };
        // The guest's own paths mean nothing here; the host's are printed at the end.
        if text.starts_with("Results saved to ")
            || text.starts_with("ptrace-atf: results database: ")
            || text.starts_with("ptrace-atf: read it with: ")
        {
            return;
        }
        let result = parse_line(text);
        if let Some(r) = &result {
            self.counts.add(r.kind);
            self.last_case = Some(r.id.clone());
        }
        if self.all_lines || result.is_none_or(|r| !r.kind.is_good()) {
            self.clear();
            println!("{text}");
            let _ = std::io::stdout().flush();
        }
    }

    fn tick(&mut self, elapsed: Duration) {
        let s = self.status(elapsed);
        if self.tty {
            let s: String = s.chars().take(term_width().saturating_sub(1)).collect();
            eprint!("\r\x1b[2K{s}");
            let _ = std::io::stderr().flush();
            self.shown = true;
        } else if self.last_plain.elapsed() >= Duration::from_secs(30) {
            eprintln!("{s}");
            self.last_plain = Instant::now();
        }
    }
}

/// The terminal's width (stderr), 80 when unknown.
fn term_width() -> usize {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass; fd 2 may be anything,
    // the call then fails and leaves it zeroed.
    let ok = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        usize::from(ws.ws_col)
    } else {
        80
    }
}
