//! How a boot went: what it left in its directory read back (the channel's report, the
//! console's troubles, the results database), its exit status, and its report to the user.

use super::qemu::{Accel, End};
use super::results::{self, CaseResult};
use super::{channel, console, kernel};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How one boot went.
pub struct Outcome {
    pub kernel: kernel::Kernel,
    pub cpu: String,
    pub accel: Accel,
    pub end: End,
    pub report: channel::Report,
    pub results: BTreeMap<String, CaseResult>,
    pub scan: console::Scan,
    pub dir: PathBuf,
    pub secs: f64,
    /// `None` when the guest did not report completely.
    pub status: Option<i32>,
    pub db: Option<PathBuf>,
    /// Earlier boots of this kernel that panicked before the suite started (TCG only).
    pub boot_panics: Vec<super::boot_panic::BootPanic>,
}

impl Outcome {
    pub fn end_word(&self) -> &'static str {
        if self.status.is_some() {
            "complete"
        } else if self.scan.panic.is_some() {
            "PANIC"
        } else {
            match self.end {
                End::TimedOut(_) => "time limit",
                End::Silent(_) => "hung",
                _ => "no report",
            }
        }
    }

    /// How the boot ended, for the matrix: the end word, and how many boots it took when
    /// earlier ones panicked while booting.
    pub fn end_text(&self) -> String {
        match self.boot_panics.len() {
            0 => self.end_word().to_string(),
            n => format!("{} (boot {}; {n} panicked booting)", self.end_word(), n + 1),
        }
    }

    pub fn exit_code(&self) -> u8 {
        exit_code(self.status, &self.results)
    }
}

/// A boot's exit status from the guest's (`None`: no complete report) and its results.
pub fn exit_code(status: Option<i32>, results: &BTreeMap<String, CaseResult>) -> u8 {
    let bad = results::Counts::of(results.values()).bad();
    match status {
        None => 5,
        // kyua warns and exits 0 when a filter matches nothing; `test` says 1.
        Some(0) if results.is_empty() => 1,
        Some(0) if bad == 0 => 0,
        Some(0 | 1) => 1,
        Some(3) => 3,
        Some(_) => 4,
    }
}

/// The kernel's taint flags as letters (Documentation/admin-guide/tainted-kernels.rst).
pub fn taint_letters(t: u64) -> String {
    const L: &[u8] = b"PFSRMBUDAWCIOELKXTN";
    L.iter()
        .enumerate()
        .filter(|(i, _)| t & (1 << i) != 0)
        .map(|(_, c)| *c as char)
        .collect()
}

/// What a boot left in its directory, read back: the channel's report and results, the
/// console's troubles, the results database (written beside them).
pub struct Back {
    pub report: channel::Report,
    pub results: BTreeMap<String, CaseResult>,
    pub scan: console::Scan,
    /// The guest's exit status, when its report is complete.
    pub status: Option<i32>,
    pub db: Option<PathBuf>,
}

pub fn read_back(dir: &Path) -> Back {
    let read = |name: &str| {
        String::from_utf8_lossy(&std::fs::read(dir.join(name)).unwrap_or_default()).into_owned()
    };
    let report = channel::parse(&read("channel.txt"));
    let mut results = results::collect(report.lines.iter().map(String::as_str));
    let console_text = read("console.log");
    let scan = console::scan(&console_text);
    // init also echoes each line to the console: what an incomplete channel lost, the
    // console may have. A kernel message can break a console line in two, so only ids of
    // the suite's own programs are taken, and never when the channel is whole.
    if !report.complete {
        for (id, r) in results::collect(console_text.lines()) {
            if results::is_suite_id(&id) {
                results.entry(id).or_insert(r);
            }
        }
    }
    let status = if report.complete { report.status } else { None };
    let db = report
        .files
        .iter()
        .find(|f| f.name == "results.db" && f.complete)
        .and_then(|f| match gunzip_to(&f.gzip, &dir.join("results.db")) {
            Ok(n) if n == f.size => Some(dir.join("results.db")),
            Ok(n) => {
                eprintln!(
                    "ptrace-atf vm: results.db: got {n} bytes, the guest sent {}",
                    f.size
                );
                None
            }
            Err(e) => {
                eprintln!("ptrace-atf vm: results.db: {e}");
                None
            }
        });
    Back {
        report,
        results,
        scan,
        status,
        db,
    }
}

/// Decompresses `gz` into `dest` with gzip(1); returns the size written.
pub fn gunzip_to(gz: &[u8], dest: &Path) -> Result<u64, String> {
    let tmp = dest.with_extension("gz");
    std::fs::write(&tmp, gz).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let out = std::fs::File::create(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let st = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(&tmp)
        .stdout(out)
        .status()
        .map_err(|e| format!("cannot run gzip: {e}"))?;
    let _ = std::fs::remove_file(&tmp);
    if !st.success() {
        return Err("gzip -dc failed (damaged on the way?)".into());
    }
    std::fs::metadata(dest)
        .map(|m| m.len())
        .map_err(|e| e.to_string())
}

/// Prints what one boot gave.
pub fn report(o: &Outcome) {
    let counts = results::Counts::of(o.results.values());
    let name = format!("{} -cpu {} [{}]", o.kernel.label, o.cpu, o.accel.name());
    if let Some(k) = &o.report.kernel
        && *k != o.kernel.label
    {
        println!("ptrace-atf vm: {name}: the guest runs kernel {k}");
    }
    if let Some(t) = o.report.tainted
        && t != 0
    {
        println!(
            "ptrace-atf vm: {name}: the kernel was already tainted before the suite ran: {t} ({})",
            taint_letters(t)
        );
    }
    if let (Some(a), Some(b)) = (o.report.tainted, o.report.tainted_end)
        && a != b
    {
        println!(
            "ptrace-atf vm: {name}: the kernel became tainted during the run: {a} -> {b} ({})",
            taint_letters(b)
        );
    }
    for (n, p) in o.boot_panics.iter().enumerate() {
        println!(
            "ptrace-atf vm: {name}: boot {} panicked before the suite started: {} ({}); these results are from boot {}",
            n + 1,
            p.first,
            p.console.display(),
            o.boot_panics.len() + 1
        );
    }
    let console = o.dir.join("console.log");
    if !o.scan.troubles.is_empty() {
        println!(
            "ptrace-atf vm: {name}: the kernel log has {} oops/BUG/warning reports:",
            o.scan.troubles.len()
        );
        for t in o.scan.troubles.iter().take(20) {
            println!(
                "  console.log:{}: {} (last case started: {})",
                t.line + 1,
                t.text,
                t.last_started.as_deref().unwrap_or("none")
            );
        }
        if o.scan.troubles.len() > 20 {
            println!(
                "  ... and {} more in {}",
                o.scan.troubles.len() - 20,
                console.display()
            );
        }
    }
    match o.status {
        Some(st) => {
            println!(
                "ptrace-atf vm: {name}: {counts} in {:.1} min (guest exit status {st})",
                o.secs / 60.0
            );
            if counts.total() == 0 {
                println!("ptrace-atf vm: {name}: no test case matched the filters");
            }
        }
        None => {
            let console_text =
                String::from_utf8_lossy(&std::fs::read(&console).unwrap_or_default()).into_owned();
            let why = match (&o.scan.panic, &o.end) {
                (Some(_), _) => "the guest kernel PANICKED".to_string(),
                (None, End::TimedOut(d)) => format!(
                    "the boot passed its time limit of {} s (--timeout)",
                    d.as_secs()
                ),
                (None, End::Silent(d)) => format!(
                    "the guest HUNG: no console or channel output for {} s (--silence)",
                    d.as_secs()
                ),
                (None, End::KvmError(m)) => format!("qemu stopped with a KVM error: {m}"),
                (None, End::SpawnFailed(m)) => format!("qemu could not start: {m}"),
                (None, _) if o.scan.done_status.is_some() => format!(
                    "the suite finished in the guest (status {}), but its report did not come back whole over the channel (ttyS1); the results below are what the channel and the console carried",
                    o.scan.done_status.unwrap_or(-1)
                ),
                (None, End::Exited(c)) => format!(
                    "qemu exited (status {}) before the guest reported{}",
                    c.map(|c| c.to_string()).unwrap_or_else(|| "signal".into()),
                    if o.report.begun {
                        ""
                    } else {
                        "; the suite never started (see the console log)"
                    }
                ),
                (None, End::Panicked | End::NoPowerOff) => {
                    "the guest stopped reporting".to_string()
                }
            };
            println!(
                "ptrace-atf vm: {name}: {why} after {:.1} min",
                o.secs / 60.0
            );
            let finished = |id: &str| o.results.contains_key(id);
            let running = console::unfinished(&o.scan.starts, &finished);
            let now: Vec<&String> = running.iter().rev().take(usize::from(o_jobs(o))).collect();
            if now.is_empty() {
                println!("ptrace-atf vm: no case was running");
            } else {
                for c in now {
                    println!("ptrace-atf vm: the case running: {c}");
                }
            }
            let (at, before, after) = match &o.scan.panic {
                Some(p) => {
                    // From the first trouble report of the last case on, when that is near.
                    let from = o
                        .scan
                        .troubles
                        .iter()
                        .find(|t| {
                            t.last_started == p.last_started
                                && t.line <= p.line
                                && p.line - t.line <= 60
                        })
                        .map(|t| t.line)
                        .unwrap_or(p.line);
                    (p.line, (p.line.saturating_sub(from) + 5).min(80), 20)
                }
                None => (console_text.lines().count().saturating_sub(1), 30, 0),
            };
            println!("ptrace-atf vm: console excerpt ({}):", console.display());
            println!("{}", console::excerpt(&console_text, at, before, after));
            println!("ptrace-atf vm: {name}: partial results: {counts}");
        }
    }
    for r in o.results.values().filter(|r| !r.kind.is_good()) {
        println!("  {}  ->  {}: {}", r.id, r.kind.name(), r.reason);
    }
    if let Some(db) = &o.db {
        println!("ptrace-atf vm: results database: {}", db.display());
        println!(
            "ptrace-atf vm: read it with: kyua report --results-file={} --verbose",
            db.display()
        );
    }
    println!("ptrace-atf vm: console log: {}", console.display());
}

fn o_jobs(o: &Outcome) -> u16 {
    o.report.cpus.map(|c| c.clamp(1, 64) as u16).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_test_and_a_dead_guest_is_5() {
        let good = results::collect(["a/p:1  ->  passed  [0.1s]"]);
        let bad = results::collect(["a/p:1  ->  broken: timed out  [0.1s]"]);
        let none = BTreeMap::new();
        assert_eq!(exit_code(Some(0), &good), 0);
        assert_eq!(exit_code(Some(1), &bad), 1);
        assert_eq!(exit_code(Some(0), &bad), 1);
        assert_eq!(exit_code(Some(0), &none), 1);
        assert_eq!(exit_code(Some(3), &none), 3);
        assert_eq!(exit_code(Some(4), &good), 4);
        assert_eq!(exit_code(Some(255), &good), 4);
        assert_eq!(exit_code(None, &good), 5);
    }
    #[test]
    fn taint_flags() {
        assert_eq!(taint_letters(0), "");
        assert_eq!(taint_letters(1 << 7), "D");
        assert_eq!(taint_letters((1 << 7) | (1 << 9)), "DW");
    }

    /// A boot's directory as a real boot left it (6.12 cloud, kyua inside, one case):
    /// read back without booting.
    #[test]
    fn results_come_back_from_a_captured_boot() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("channel.txt"),
            include_str!("fixtures/channel-kyua-fork1.txt"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("console.log"),
            include_str!("fixtures/console-clean.txt"),
        )
        .unwrap();
        let b = read_back(dir.path());
        assert_eq!(b.status, Some(0));
        assert_eq!(
            b.report.kernel.as_deref(),
            Some("6.12.117+deb12-cloud-amd64")
        );
        assert_eq!(b.report.tainted, Some(0));
        let ids: Vec<&String> = b.results.keys().collect();
        assert_eq!(ids, ["fork/t_fork_waitpid:fork1"]);
        assert_eq!(results::Counts::of(b.results.values()).passed, 1);
        assert!(b.scan.troubles.is_empty() && b.scan.panic.is_none());
        assert_eq!(b.scan.starts.len(), 1);
        let db = std::fs::read(b.db.expect("the results database")).unwrap();
        assert!(db.starts_with(b"SQLite format 3\0"));
    }
    #[test]
    fn a_boot_that_died_has_no_status_but_keeps_its_results() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("channel.txt"),
            "@ptrace-atf-vm begin 1\n@line fork/t_fork_waitpid:fork1  ->  passed  [0.1s]\n@alive 12.0\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("console.log"),
            include_str!("fixtures/console-panic.txt"),
        )
        .unwrap();
        let b = read_back(dir.path());
        assert_eq!(b.status, None);
        // The channel lost the second case's line; the console has it.
        let ids: Vec<&String> = b.results.keys().collect();
        assert_eq!(
            ids,
            [
                "dbregs_x86/t_dbregs_x86_waitpid:dbregs_cve_2018_8897_pop_ss_int1",
                "fork/t_fork_waitpid:fork1"
            ]
        );
        assert!(b.scan.panic.is_some());
        assert!(b.db.is_none());
    }
}
