//! Kernel health, checked the way LTP and kselftest check it: the taint mask
//! (/proc/sys/kernel/tainted) and the kernel's own log (/dev/kmsg) before and after.
//!
//! A ptrace regression often shows up not as a wrong value but as an oops in the tracee's
//! context (the tracee dies, the tracer sees ESRCH) or a WARN_ON the tracer never sees.
//! `Health` watches one stretch of time (a case, a loop iteration, a whole run) and says
//! what went wrong in it: new taint bits, and kernel log records that report a bug
//! (BUG, Oops, WARNING, general protection fault, RCU stall, soft or hard lockup, panic,
//! KASAN/UBSAN/KFENCE reports, hung tasks).
//!
//! Only records of the kernel itself count (facility 0, level warning or more urgent):
//! user-space lines written into /dev/kmsg, and the info-level lines the kernel prints
//! for a user-space fault (`traps: t_registers[42] general protection fault ip:...`,
//! `segfault at 0`), which this suite provokes on purpose, do not.
//!
//! Reading /dev/kmsg needs CAP_SYSLOG when `kernel.dmesg_restrict` is set; without it only
//! the taint mask is compared (`Health::log_readable` says which).

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};

/// The taint flags, bit by bit, as Documentation/admin-guide/tainted-kernels.rst names them.
const TAINT_FLAGS: &[(char, &str)] = &[
    ('P', "proprietary module loaded"),
    ('F', "module force-loaded"),
    ('S', "kernel running on an out-of-specification system"),
    ('R', "module force-unloaded"),
    ('M', "processor reported a machine check exception"),
    ('B', "bad page referenced or unexpected page flags"),
    ('U', "taint requested by user space"),
    ('D', "kernel died recently (OOPS or BUG)"),
    ('A', "ACPI table overridden by the user"),
    ('W', "kernel issued a warning"),
    ('C', "staging driver loaded"),
    ('I', "workaround for a platform firmware bug applied"),
    ('O', "externally-built module loaded"),
    ('E', "unsigned module loaded"),
    ('L', "soft lockup occurred"),
    ('K', "kernel live patched"),
    ('X', "auxiliary taint (distribution-defined)"),
    ('T', "kernel built with the struct randomization plugin"),
    ('N', "an in-kernel test was run"),
    ('J', "userspace used a mutating debug operation in fwctl"),
];

/// What the taint bits of `mask` stand for: `D (kernel died recently (OOPS or BUG)), W (...)`.
pub fn describe_taint(mask: u64) -> String {
    let mut parts = Vec::new();
    for bit in 0..64u32 {
        if mask & (1u64 << bit) == 0 {
            continue;
        }
        match TAINT_FLAGS.get(bit as usize) {
            Some((c, what)) => parts.push(format!("{c} ({what})")),
            None => parts.push(format!("bit {bit}")),
        }
    }
    parts.join(", ")
}

/// The kernel's taint mask now, if /proc/sys/kernel/tainted can be read.
pub fn taint() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/sys/kernel/tainted").ok()?;
    text.trim().parse().ok()
}

/// Message fragments that mark a kernel log record as a kernel problem.
const PROBLEMS: &[&str] = &[
    "BUG:",
    "kernel BUG at",
    "Oops",
    "WARNING:",
    "general protection fault",
    "detected stall",
    "self-detected stall",
    "soft lockup",
    "hard LOCKUP",
    "Kernel panic",
    "UBSAN:",
    "KASAN:",
    "KFENCE:",
    "blocked for more than",
    "Unable to handle kernel",
    "list_add corruption",
    "list_del corruption",
];

/// The most lines quoted from the kernel log for one problem.
pub const EXCERPT_LINES: usize = 20;

/// One kernel log record: its level and its message (first line only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub level: u8,
    pub kernel: bool,
    pub message: String,
}

/// Parses one /dev/kmsg record: `PRI,SEQ,USEC,FLAGS[,...];MESSAGE` followed by
/// continuation lines (` KEY=VALUE`), which are dropped.
pub fn parse_record(raw: &[u8]) -> Option<Record> {
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text.split_once(';')?;
    let pri: u32 = head.split(',').next()?.trim().parse().ok()?;
    let message = rest.lines().next().unwrap_or("").to_string();
    Some(Record {
        level: (pri & 7) as u8,
        kernel: pri >> 3 == 0,
        message,
    })
}

/// Whether a record reports a kernel problem (see the module documentation).
pub fn is_problem(r: &Record) -> bool {
    r.kernel && r.level <= 4 && PROBLEMS.iter().any(|p| r.message.contains(p))
}

/// What went wrong in the kernel during one watched stretch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// Taint bits that were set during the stretch.
    pub new_taint: u64,
    /// The kernel log from the first problem record on (at most `EXCERPT_LINES` lines).
    pub excerpt: Vec<String>,
    /// Problem records seen (the first is quoted in `summary`).
    pub problems: Vec<String>,
    /// Kernel log lines from the first problem on that did not fit the excerpt.
    pub more_lines: usize,
}

impl Findings {
    /// Nothing went wrong.
    pub fn is_clean(&self) -> bool {
        self.new_taint == 0 && self.problems.is_empty()
    }

    /// One line for a failure reason: what the kernel did, quoting its first problem line.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(first) = self.problems.first() {
            let others = self.problems.len() - 1;
            let more = if others > 0 {
                format!(" and {others} more problem line(s)")
            } else {
                String::new()
            };
            parts.push(format!("the kernel logged '{first}'{more}"));
        }
        if self.new_taint != 0 {
            parts.push(format!(
                "the kernel became tainted: {}",
                describe_taint(self.new_taint)
            ));
        }
        parts.join("; ")
    }

    /// The kernel log excerpt, one line each, for stderr or a report.
    pub fn excerpt_text(&self) -> String {
        let mut out = String::new();
        for l in &self.excerpt {
            out.push_str("    ");
            out.push_str(l);
            out.push('\n');
        }
        if self.more_lines > 0 {
            out.push_str(&format!(
                "    ... ({} more kernel log lines: dmesg)\n",
                self.more_lines
            ));
        }
        out
    }
}

/// Accumulates kernel log records into `Findings`.
fn absorb(f: &mut Findings, r: &Record) {
    if !r.kernel || r.level > 4 {
        return;
    }
    if is_problem(r) {
        f.problems.push(r.message.clone());
    }
    if f.problems.is_empty() {
        return;
    }
    if f.excerpt.len() < EXCERPT_LINES {
        f.excerpt.push(r.message.clone());
    } else {
        f.more_lines += 1;
    }
}

/// Watches the kernel across stretches of time: `begin` marks the start, `end` reports what
/// happened since.
pub struct Health {
    kmsg: Option<File>,
    tainted: Option<File>,
    taint_at_begin: Option<u64>,
    buf: Vec<u8>,
}

impl Health {
    /// Opens the kernel log (positioned at its end: older records never count) and the taint
    /// file. Either may be unavailable; what can be read is checked.
    pub fn open() -> Health {
        Health::open_at("/dev/kmsg", "/proc/sys/kernel/tainted")
    }

    /// `open` with other files standing for the kernel log and the taint mask (tests).
    pub fn open_at(kmsg: &str, tainted: &str) -> Health {
        let kmsg = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(kmsg)
            .ok()
            .and_then(|mut f| f.seek(SeekFrom::End(0)).ok().map(|_| f));
        let tainted = File::open(tainted).ok();
        Health {
            kmsg,
            tainted,
            taint_at_begin: None,
            buf: vec![0; 8192],
        }
    }

    /// Whether the kernel log can be read (else only the taint mask is compared).
    pub fn log_readable(&self) -> bool {
        self.kmsg.is_some()
    }

    /// The taint mask now, through the kept-open file.
    pub fn taint(&self) -> Option<u64> {
        let f = self.tainted.as_ref()?;
        let mut b = [0u8; 32];
        let n = f.read_at(&mut b, 0).ok()?;
        std::str::from_utf8(&b[..n]).ok()?.trim().parse().ok()
    }

    /// Marks the start of a stretch: later records and taint bits belong to it. Records
    /// logged since the last `end` are skipped.
    pub fn begin(&mut self) {
        self.drain(&mut Findings::default());
        self.taint_at_begin = self.taint();
    }

    /// What happened since `begin` (or since `open` when `begin` was never called).
    pub fn end(&mut self) -> Findings {
        let mut f = Findings::default();
        self.drain(&mut f);
        let now = self.taint();
        if let (Some(before), Some(now)) = (self.taint_at_begin, now) {
            f.new_taint = now & !before;
        }
        self.taint_at_begin = now;
        f
    }

    /// `end` for the many short stretches of a loop: the taint mask is read only when the
    /// kernel logged something (an oops, a WARN and a lockup all log) or the log cannot be
    /// read, so a quiet stretch costs one read(2) that finds nothing.
    pub fn end_quiet_fast(&mut self) -> Findings {
        if self.kmsg.is_none() {
            return self.end();
        }
        let mut f = Findings::default();
        if self.drain(&mut f) == 0 {
            return f;
        }
        let now = self.taint();
        if let (Some(before), Some(now)) = (self.taint_at_begin, now) {
            f.new_taint = now & !before;
        }
        self.taint_at_begin = now;
        f
    }

    /// Reads every record logged since the last read into `f`; returns how many it read.
    fn drain(&mut self, f: &mut Findings) -> usize {
        let Some(kmsg) = self.kmsg.as_mut() else {
            return 0;
        };
        let mut records = 0;
        loop {
            match kmsg.read(&mut self.buf) {
                Ok(0) => return records,
                Ok(n) => {
                    records += 1;
                    if let Some(r) = parse_record(&self.buf[..n]) {
                        absorb(f, &r);
                    }
                }
                // EPIPE: records were overwritten before we read them; go on.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return records,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(
        b"1,101,5000,-;BUG: unable to handle page fault for address: 0000000000001000",
        true
    )]
    #[case(b"4,102,5001,-;Oops: 0001 [#1] PREEMPT SMP NOPTI", true)]
    #[case(
        b"4,103,5002,-;WARNING: CPU: 1 PID: 7 at kernel/ptrace.c:123 ptrace_stop+0x1/0x2",
        true
    )]
    #[case(
        b"4,104,5003,-;general protection fault, probably for non-canonical address 0xdead: 0000 [#1]",
        true
    )]
    #[case(
        b"3,105,5004,-;rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
        true
    )]
    #[case(
        b"0,106,5005,-;watchdog: BUG: soft lockup - CPU#0 stuck for 22s!",
        true
    )]
    #[case(b"0,107,5006,-;Kernel panic - not syncing: Fatal exception", true)]
    #[case(
        b"6,108,5007,-;traps: t_registers[42] general protection fault ip:1234 sp:5678 error:0",
        false
    )]
    #[case(b"6,109,5008,-;t_signals[43]: segfault at 0 ip 0 sp 0 error 4", false)]
    #[case(b"12,110,5009,-;myscript: WARNING: user space wrote this", false)]
    #[case(b"6,111,5010,-;ptrace-atf: an informational line", false)]
    fn problems_are_kernel_records_reporting_a_bug(#[case] raw: &[u8], #[case] problem: bool) {
        let r = parse_record(raw).expect("a well-formed record");
        assert_eq!(is_problem(&r), problem, "{r:?}");
    }

    #[test]
    fn continuation_lines_are_dropped() {
        let r = parse_record(b"4,5,6,-;WARNING: at x\n SUBSYSTEM=cpu\n DEVICE=+cpu:0\n").unwrap();
        assert_eq!(r.message, "WARNING: at x");
        assert_eq!(r.level, 4);
        assert!(r.kernel);
    }

    #[test]
    fn findings_quote_from_the_first_problem_on() {
        let mut f = Findings::default();
        let lines = [
            "4,1,1,-;an unrelated warning-level line",
            "1,2,2,-;BUG: unable to handle page fault for address: 0000000000001000",
            "1,3,3,-;#PF: supervisor read access in user mode",
            "4,4,4,-;Oops: 0001 [#1] SMP",
        ];
        for l in lines {
            absorb(&mut f, &parse_record(l.as_bytes()).unwrap());
        }
        assert_eq!(f.problems.len(), 2);
        assert_eq!(f.excerpt.len(), 3);
        assert!(
            f.summary()
                .starts_with("the kernel logged 'BUG: unable to handle page fault")
        );
        assert!(f.summary().contains("and 1 more problem line(s)"));
        for i in 0..30 {
            absorb(
                &mut f,
                &parse_record(format!("4,{i},9,-;RIP: line {i}").as_bytes()).unwrap(),
            );
        }
        assert_eq!(f.excerpt.len(), EXCERPT_LINES);
        assert_eq!(f.more_lines, 13);
    }

    #[test]
    fn taint_bits_are_named() {
        assert_eq!(
            describe_taint(1 << 7 | 1 << 9),
            "D (kernel died recently (OOPS or BUG)), W (kernel issued a warning)"
        );
        assert_eq!(describe_taint(1 << 40), "bit 40");
        let f = Findings {
            new_taint: 1 << 7,
            ..Findings::default()
        };
        assert!(!f.is_clean());
        assert!(f.summary().contains("became tainted: D"));
    }

    /// A taint bit set during a stretch is reported once, by that stretch only.
    #[test]
    fn a_new_taint_bit_falls_in_its_stretch() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("tainted");
        std::fs::write(&t, "512\n").unwrap();
        let mut h = Health::open_at("/nonexistent/kmsg", t.to_str().unwrap());
        assert!(!h.log_readable());
        h.begin();
        assert!(h.end().is_clean(), "W was set before the stretch");
        std::fs::write(&t, "640\n").unwrap();
        let f = h.end();
        assert_eq!(f.new_taint, 128);
        assert_eq!(
            f.summary(),
            "the kernel became tainted: D (kernel died recently (OOPS or BUG))"
        );
        assert!(h.end().is_clean(), "reported once");
    }

    /// A loop iteration reads the taint mask only when the log moved: a quiet log costs one
    /// read; a logged record brings the taint comparison with it.
    #[test]
    fn the_fast_end_compares_taint_when_the_log_moved() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let (k, t) = (dir.path().join("kmsg"), dir.path().join("tainted"));
        std::fs::write(&k, "").unwrap();
        std::fs::write(&t, "0\n").unwrap();
        let mut h = Health::open_at(k.to_str().unwrap(), t.to_str().unwrap());
        h.begin();
        std::fs::write(&t, "512\n").unwrap();
        assert!(h.end_quiet_fast().is_clean(), "a quiet log: taint not read");
        let mut log = std::fs::OpenOptions::new().append(true).open(&k).unwrap();
        writeln!(
            log,
            "4,1,1,-;WARNING: CPU: 0 PID: 1 at kernel/x.c:1 f+0x1/0x2"
        )
        .unwrap();
        let f = h.end_quiet_fast();
        assert_eq!(f.new_taint, 512);
        assert_eq!(f.problems.len(), 1);
        assert!(h.end_quiet_fast().is_clean());
    }

    /// A record this process writes into the kernel log at kernel facility is seen by a
    /// stretch that spans it, and not by the next one. Needs root (writing /dev/kmsg).
    #[test]
    fn a_logged_problem_falls_in_its_stretch() {
        let Ok(mut w) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") else {
            eprintln!("skipped: /dev/kmsg is not writable here");
            return;
        };
        let mut h = Health::open();
        if !h.log_readable() {
            eprintln!("skipped: /dev/kmsg is not readable here");
            return;
        }
        h.begin();
        // A user-space write is logged at facility 1 (user) even with <4>: not a problem.
        use std::io::Write;
        writeln!(w, "<4>WARNING: ptrace-atf health self-test (ignore)").unwrap();
        let f = h.end();
        assert!(f.problems.is_empty(), "{f:?}");
        h.begin();
        assert!(h.end().is_clean());
    }
}
