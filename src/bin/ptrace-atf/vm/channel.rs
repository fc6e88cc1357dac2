//! The channel: how the guest's results reach the host. The guest's /init writes text
//! records, one a line, to its second serial port, which QEMU appends to a host file.
//! Records are written as they happen (a line per finished case), so a guest that dies
//! mid-run still leaves its partial results; `end` marks a complete report.
//!
//! ```text
//! @ptrace-atf-vm begin 1
//! @kernel 6.12.117+deb12-cloud-amd64        uname -r
//! @version Linux version ...                 /proc/version
//! @cpus 2
//! @tainted 0                                 /proc/sys/kernel/tainted before the run
//! @time-scale 4                              PTRACE_ATF_TIME_SCALE in the guest
//! @alive 123.45                              a heartbeat (guest uptime)
//! @line fork/t_fork_waitpid:fork1  ->  passed  [0.010s]     a line of the runner's output
//! @tainted-end 0                             after the run
//! @status 0                                  `ptrace-atf test`'s exit status
//! @file results.db 12345                     then the file, gzip'd, base64 lines
//! @end-file
//! @ptrace-atf-vm end
//! ```

/// The record tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Begin,
    Kernel,
    Version,
    Cpus,
    Tainted,
    TimeScale,
    Alive,
    Line,
    TaintedEnd,
    Status,
    File,
    EndFile,
    End,
}

impl Tag {
    pub fn text(self) -> &'static str {
        match self {
            Tag::Begin => "@ptrace-atf-vm begin 1",
            Tag::Kernel => "@kernel",
            Tag::Version => "@version",
            Tag::Cpus => "@cpus",
            Tag::Tainted => "@tainted",
            Tag::TimeScale => "@time-scale",
            Tag::Alive => "@alive",
            Tag::Line => "@line",
            Tag::TaintedEnd => "@tainted-end",
            Tag::Status => "@status",
            Tag::File => "@file",
            Tag::EndFile => "@end-file",
            Tag::End => "@ptrace-atf-vm end",
        }
    }
}

/// A file the guest sent: its name, its size before compression, its gzip'd bytes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SentFile {
    pub name: String,
    pub size: u64,
    pub gzip: Vec<u8>,
    /// Whether its `@end-file` arrived.
    pub complete: bool,
}

/// What the channel said.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub begun: bool,
    pub kernel: Option<String>,
    pub version: Option<String>,
    pub cpus: Option<u32>,
    pub tainted: Option<u64>,
    pub tainted_end: Option<u64>,
    pub time_scale: Option<String>,
    /// The guest's uptime at its last heartbeat.
    pub alive: Option<f64>,
    /// The runner's output lines.
    pub lines: Vec<String>,
    pub status: Option<i32>,
    pub files: Vec<SentFile>,
    /// The end record arrived: the report is whole.
    pub complete: bool,
    /// Lines that are not records (noise on the line, a damaged record).
    pub garbage: usize,
}

/// Splits `record` into (tag, rest) when it starts with `tag` followed by a space or its end.
fn field(record: &str, tag: Tag) -> Option<&str> {
    let rest = record.strip_prefix(tag.text())?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix(' ')
    }
}

/// Reads the channel's text. An unterminated last line (the guest died while writing it)
/// is ignored.
pub fn parse(text: &str) -> Report {
    let mut r = Report::default();
    let complete_text = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    let mut in_file: Option<(SentFile, String)> = None;
    for raw in complete_text.lines() {
        let line = raw.trim_end_matches('\r');
        if let Some((mut f, b64)) = in_file.take() {
            if line == Tag::EndFile.text() {
                f.complete = true;
                f.gzip = base64_decode(&b64).unwrap_or_default();
                r.files.push(f);
            } else if line.starts_with('@') {
                // The file was cut short; what follows is a record.
                f.gzip = base64_decode(&b64).unwrap_or_default();
                r.files.push(f);
                take_record(&mut r, line, &mut in_file);
            } else {
                in_file = Some((f, b64 + line.trim()));
            }
            continue;
        }
        take_record(&mut r, line, &mut in_file);
    }
    if let Some((mut f, b64)) = in_file {
        f.gzip = base64_decode(&b64).unwrap_or_default();
        r.files.push(f);
    }
    r
}

fn take_record(r: &mut Report, line: &str, in_file: &mut Option<(SentFile, String)>) {
    if line == Tag::Begin.text() {
        r.begun = true;
    } else if line == Tag::End.text() {
        r.complete = true;
    } else if let Some(v) = field(line, Tag::Line) {
        r.lines.push(v.to_string());
    } else if let Some(v) = field(line, Tag::Alive) {
        r.alive = v.trim().parse().ok();
    } else if let Some(v) = field(line, Tag::Kernel) {
        r.kernel = Some(v.to_string());
    } else if let Some(v) = field(line, Tag::Version) {
        r.version = Some(v.to_string());
    } else if let Some(v) = field(line, Tag::Cpus) {
        r.cpus = v.trim().parse().ok();
    } else if let Some(v) = field(line, Tag::TaintedEnd) {
        r.tainted_end = v.trim().parse().ok();
    } else if let Some(v) = field(line, Tag::Tainted) {
        r.tainted = v.trim().parse().ok();
    } else if let Some(v) = field(line, Tag::TimeScale) {
        r.time_scale = Some(v.trim().to_string());
    } else if let Some(v) = field(line, Tag::Status) {
        r.status = v.trim().parse().ok();
    } else if let Some(v) = field(line, Tag::File) {
        let mut it = v.split_whitespace();
        let name = it.next().unwrap_or("").to_string();
        let size = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        *in_file = Some((
            SentFile {
                name,
                size,
                ..SentFile::default()
            },
            String::new(),
        ));
    } else if !line.trim().is_empty() {
        r.garbage += 1;
    }
}

/// Decodes standard base64 (whitespace ignored); `None` on a character outside the
/// alphabet.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_decode(enc).unwrap(), plain.as_bytes(), "{enc}");
        }
        assert_eq!(base64_decode("Zm9v\nYmFy\n").unwrap(), b"foobar");
        assert_eq!(base64_decode("Zm9v!"), None);
    }

    #[test]
    fn a_complete_report() {
        let text = "\
@ptrace-atf-vm begin 1\r
@kernel 6.1.0-57-cloud-amd64
@cpus 2
@tainted 0
@time-scale 4
@alive 10.5
@line fork/t_fork_waitpid:fork1  ->  passed  [0.010s]
@line 
@tainted-end 128
@status 1
@file results.db 6
Zm9v
YmFy
@end-file
@ptrace-atf-vm end
";
        let r = parse(text);
        assert!(r.begun && r.complete);
        assert_eq!(r.kernel.as_deref(), Some("6.1.0-57-cloud-amd64"));
        assert_eq!(r.cpus, Some(2));
        assert_eq!((r.tainted, r.tainted_end), (Some(0), Some(128)));
        assert_eq!(r.time_scale.as_deref(), Some("4"));
        assert_eq!(r.alive, Some(10.5));
        assert_eq!(
            r.lines,
            ["fork/t_fork_waitpid:fork1  ->  passed  [0.010s]", ""]
        );
        assert_eq!(r.status, Some(1));
        assert_eq!(r.files.len(), 1);
        assert_eq!(r.files[0].name, "results.db");
        assert_eq!(r.files[0].size, 6);
        assert_eq!(r.files[0].gzip, b"foobar");
        assert!(r.files[0].complete);
        assert_eq!(r.garbage, 0);
    }

    #[test]
    fn a_report_cut_short_keeps_what_arrived() {
        let text = "@ptrace-atf-vm begin 1\n@line a:b  ->  passed  [0.1s]\n@line c:d  ->  fai";
        let r = parse(text);
        assert!(r.begun && !r.complete);
        assert_eq!(r.lines, ["a:b  ->  passed  [0.1s]"]);
        assert_eq!(r.status, None);
    }

    #[test]
    fn a_file_cut_short_is_incomplete() {
        let r = parse("@ptrace-atf-vm begin 1\n@file results.db 100\nZm9v\n");
        assert_eq!(r.files.len(), 1);
        assert!(!r.files[0].complete);
        assert_eq!(r.files[0].gzip, b"foo");
    }

    #[test]
    fn noise_is_counted_not_taken() {
        let r = parse("junk\n@ptrace-atf-vm begin 1\n@linefoo\n");
        assert_eq!(r.garbage, 2);
        assert!(r.lines.is_empty());
    }
}
