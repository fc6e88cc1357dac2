//! Reading the guest's console (its first serial port: the kernel log and init's output):
//! a kernel panic, oopses and warnings, and which case was running at each (the wrappers'
//! start lines in the kernel log).

use super::guest::START_MARK;

/// A kernel-log line that means the kernel is in trouble.
#[derive(Debug, Clone, PartialEq)]
pub struct Trouble {
    /// Line index in the console log.
    pub line: usize,
    pub text: String,
    /// The case that had started last before it.
    pub last_started: Option<String>,
}

/// What the console showed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scan {
    /// The line of the first "Kernel panic".
    pub panic: Option<Trouble>,
    /// Oopses, BUGs, warnings, stalls, lockups (the first line of each report).
    pub troubles: Vec<Trouble>,
    /// (line index, case id) of every start line.
    pub starts: Vec<(usize, String)>,
    /// The guest's init said the suite finished, with this status.
    pub done_status: Option<i32>,
}

/// What init prints on the console when the suite has finished.
pub const DONE_MARK: &str = "ptrace-atf-vm: done (status ";

/// Kernel-log messages that mean trouble (also what `lava-test` greps the kernel log for).
pub const TROUBLE: &[&str] = &[
    "BUG:",
    "Oops:",
    "WARNING:",
    "general protection fault",
    "Kernel panic",
    "detected stalls",
    "soft lockup",
    "hard LOCKUP",
    "blocked for more than",
    "kernel BUG at",
    "nobody cared",
];

/// The message of a kernel-log line without its `[  123.456789] ` timestamp.
pub fn message(line: &str) -> &str {
    let l = line.trim_end_matches('\r');
    if let Some(rest) = l.strip_prefix('[')
        && let Some(i) = rest.find("] ")
        && rest[..i]
            .trim()
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
    {
        return &rest[i + 2..];
    }
    l
}

/// Whether a kernel-log message reports trouble.
pub fn is_trouble(msg: &str) -> bool {
    TROUBLE.iter().any(|t| msg.contains(t)) && !msg.contains(START_MARK)
}

/// Scans a console log.
pub fn scan(text: &str) -> Scan {
    let mut s = Scan::default();
    let mut in_report = false;
    for (i, line) in text.lines().enumerate() {
        let msg = message(line);
        if let Some(rest) = msg.strip_prefix(DONE_MARK) {
            s.done_status = rest.split(')').next().and_then(|n| n.parse().ok());
            continue;
        }
        if let Some(p) = msg.find(START_MARK) {
            s.starts
                .push((i, msg[p + START_MARK.len()..].trim().to_string()));
            in_report = false;
            continue;
        }
        if !is_trouble(msg) {
            // A report's own lines ("Call Trace:", registers) end at the next plain line
            // with no leading space or at an "---[ end trace" line.
            if msg.contains("---[ end") {
                in_report = false;
            }
            continue;
        }
        let t = Trouble {
            line: i,
            text: msg.to_string(),
            last_started: s.starts.last().map(|(_, c)| c.clone()),
        };
        if msg.contains("Kernel panic") && s.panic.is_none() {
            s.panic = Some(t.clone());
        }
        // "BUG: unable to handle..." and its "Oops:" two lines later are one report.
        let follows_report = in_report && msg.starts_with("Oops:");
        if !follows_report {
            s.troubles.push(t);
        }
        in_report = true;
    }
    s
}

/// Lines `before` above and `after` below line `at`, numbered.
pub fn excerpt(text: &str, at: usize, before: usize, after: usize) -> String {
    let from = at.saturating_sub(before);
    text.lines()
        .enumerate()
        .skip(from)
        .take(at - from + after + 1)
        .map(|(i, l)| format!("  {:>6}| {}", i + 1, l.trim_end_matches('\r')))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The cases that had started but not finished: started (console) and without a result
/// line (channel). The newest last.
pub fn unfinished(starts: &[(usize, String)], finished: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, id) in starts {
        // A cleanup part counts as its case.
        let case = id.strip_suffix(":cleanup").unwrap_or(id);
        if !finished(case) {
            out.retain(|c| c != case);
            out.push(case.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PANIC: &str = include_str!("fixtures/console-panic.txt");

    #[test]
    fn timestamps_are_stripped() {
        assert_eq!(message("[   12.345678] BUG: x"), "BUG: x");
        assert_eq!(message("[12.3] Oops: 0001"), "Oops: 0001");
        assert_eq!(message("ptrace-atf-vm: done"), "ptrace-atf-vm: done");
        assert_eq!(message("[x] y"), "[x] y");
    }

    #[test]
    fn a_panic_names_the_running_case() {
        let s = scan(PANIC);
        let p = s.panic.clone().expect("a panic");
        assert!(
            p.text
                .starts_with("Kernel panic - not syncing: Fatal exception in interrupt")
        );
        assert_eq!(
            p.last_started.as_deref(),
            Some("dbregs_x86/t_dbregs_x86_waitpid:dbregs_cve_2018_8897_pop_ss_int3")
        );
        // The BUG and its Oops are one report; the second oops and the panic follow.
        let texts: Vec<&str> = s.troubles.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts.len(), 3, "{texts:?}");
        assert!(texts[0].starts_with("BUG: unable to handle page fault"));
        assert!(texts[1].starts_with("Oops: int3"));
        assert_eq!(
            s.troubles[0].last_started.as_deref(),
            Some("dbregs_x86/t_dbregs_x86_waitpid:dbregs_cve_2018_8897_pop_ss_int1")
        );
        let ex = excerpt(PANIC, p.line, 2, 1);
        assert_eq!(ex.lines().count(), 4);
        assert!(ex.contains("Kernel panic"));
    }

    #[test]
    fn unfinished_cases_are_those_without_a_result() {
        let s = scan(PANIC);
        let done = |id: &str| id.ends_with("pop_ss_int1") || id.ends_with("fork1");
        assert_eq!(
            unfinished(&s.starts, &done),
            ["dbregs_x86/t_dbregs_x86_waitpid:dbregs_cve_2018_8897_pop_ss_int3"]
        );
    }

    #[test]
    fn a_clean_console_has_no_trouble() {
        let s = scan(
            "[    1.0] Linux version 6.1\nptrace-atf-vm: done (status 0); powering off\n[    9.0] reboot: Power down\n",
        );
        assert_eq!(
            s,
            Scan {
                done_status: Some(0),
                ..Scan::default()
            }
        );
    }

    /// The RT kernel under TCG once disabled the channel's interrupt while the results
    /// database was on its way: the console says so, and that the suite had finished.
    #[test]
    fn a_lost_channel_interrupt_is_trouble() {
        let s = scan(concat!(
            "437/443 passed (6 failed)\n",
            "[  101.760060] irq 3: nobody cared (try booting with the \"irqpoll\" option)\n",
            "[  101.763601] Disabling IRQ #3\n",
            "ptrace-atf-vm: done (status 1); powering off\n"
        ));
        assert_eq!(s.troubles.len(), 1);
        assert!(s.troubles[0].text.starts_with("irq 3: nobody cared"));
        assert_eq!(s.done_status, Some(1));
    }
}
