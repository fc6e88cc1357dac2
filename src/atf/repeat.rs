//! Running one case over and over in one program run, for chasing rare races
//! (`ptrace-atf loop` drives it through the environment variable `PTRACE_ATF_LOOP`).
//!
//! Each iteration is as isolated as the case allows without an exec: in-process, the body
//! gets fresh state and the program's teardown (kill, reap, leak check) runs after it; with
//! `fork`, each iteration runs in a forked child judged by kyua's rules, for cases that end
//! their process on purpose. The body's stdout and stderr are captured per iteration and
//! printed with a failure.
//!
//! Progress goes to the original stdout as [`Report`] lines (written and parsed by that one
//! type): `fail <iteration> <result>` followed by the iteration's output as `| <line>`,
//! `tick <iterations> <failures>` at most ten times a second, and
//! `done <iterations> <failures> <seconds>`. The iteration in progress is also stored as a
//! native-endian u64 at the start of the file named by `counter=PATH`, so a driver can name
//! the iteration that killed the whole program.

use super::result::TestResult;
use super::verdict::{Termination, judge};
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::{Duration, Instant};

/// The environment variable that turns a body run into a loop.
pub const ENV: &str = "PTRACE_ATF_LOOP";

/// What `PTRACE_ATF_LOOP` asks for: `n=100000,duration=60,until_fail,fork,counter=/path`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spec {
    pub iterations: Option<u64>,
    pub duration: Option<Duration>,
    pub until_fail: bool,
    pub fork: bool,
    pub counter: Option<String>,
}

impl Spec {
    /// Parses the variable's value.
    pub fn parse(s: &str) -> Result<Spec, String> {
        let mut spec = Spec::default();
        for item in s.split(',').filter(|i| !i.is_empty()) {
            match item.split_once('=') {
                Some(("n", v)) => {
                    spec.iterations = Some(v.parse().map_err(|_| format!("bad n={v}"))?)
                }
                Some(("duration", v)) => {
                    let secs: f64 = v.parse().map_err(|_| format!("bad duration={v}"))?;
                    spec.duration = Some(Duration::try_from_secs_f64(secs).map_err(|_| {
                        format!("bad duration={v}: not a finite, non-negative number of seconds")
                    })?);
                }
                Some(("counter", v)) => spec.counter = Some(v.to_string()),
                None if item == "until_fail" => spec.until_fail = true,
                None if item == "fork" => spec.fork = true,
                _ => return Err(format!("unknown loop setting '{item}'")),
            }
        }
        Ok(spec)
    }
}

/// One line of the loop's progress on the original stdout: what the looping program writes
/// and what `ptrace-atf loop` reads. `Display` writes the line (without its newline), `parse`
/// reads it back.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// `fail <iteration> <result>`: an iteration ended with a result that is not good (or
    /// skipped, which ends the loop); its captured output follows as `Output` lines.
    Fail { iteration: u64, result: TestResult },
    /// `| <line>`: a line the failing iteration wrote on stdout or stderr.
    Output(String),
    /// `tick <iterations> <failures>`: progress, at most ten times a second.
    Tick { iterations: u64, failures: u64 },
    /// `done <iterations> <failures> <seconds>`: the loop's end.
    Done {
        iterations: u64,
        failures: u64,
        secs: f64,
    },
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::Fail { iteration, result } => write!(f, "fail {iteration} {result}"),
            Report::Output(line) => write!(f, "| {line}"),
            Report::Tick {
                iterations,
                failures,
            } => write!(f, "tick {iterations} {failures}"),
            Report::Done {
                iterations,
                failures,
                secs,
            } => write!(f, "done {iterations} {failures} {secs:.6}"),
        }
    }
}

impl Report {
    /// Writes the line with its newline (no allocation: the loop writes ticks with it).
    pub fn write_line(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "{self}")
    }

    /// Reads one line (without its newline); the error names what is wrong with it.
    pub fn parse(line: &str) -> Result<Report, String> {
        if let Some(text) = line.strip_prefix("| ") {
            return Ok(Report::Output(text.to_string()));
        }
        let bad = |what: &str| format!("malformed loop report '{line}': {what}");
        let number = |w: Option<&str>, what: &str| -> Result<u64, String> {
            w.and_then(|w| w.parse().ok())
                .ok_or_else(|| bad(&format!("no {what}")))
        };
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "fail" => {
                let (i, result) = rest.split_once(' ').ok_or_else(|| bad("no result"))?;
                Ok(Report::Fail {
                    iteration: number(Some(i), "iteration")?,
                    result: TestResult::parse(&format!("{result}\n")).map_err(|e| bad(&e))?,
                })
            }
            "tick" | "done" => {
                let mut w = rest.split(' ');
                let iterations = number(w.next(), "iteration count")?;
                let failures = number(w.next(), "failure count")?;
                let report = if word == "tick" {
                    Report::Tick {
                        iterations,
                        failures,
                    }
                } else {
                    let secs = w
                        .next()
                        .and_then(|s| s.parse::<f64>().ok())
                        .filter(|s| s.is_finite() && *s >= 0.0)
                        .ok_or_else(|| bad("no seconds"))?;
                    Report::Done {
                        iterations,
                        failures,
                        secs,
                    }
                };
                match w.next() {
                    None => Ok(report),
                    Some(_) => Err(bad("trailing words")),
                }
            }
            _ => Err(bad("unknown report")),
        }
    }
}

/// Per-iteration capture of fds 1 and 2 into a memory file.
struct Capture {
    mem: File,
}

impl Capture {
    fn start() -> std::io::Result<(Capture, File)> {
        // SAFETY: plain fd syscalls; the duplicated stdout is owned by the returned File.
        unsafe {
            let out = libc::dup(1);
            if out < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mem = libc::memfd_create(c"ptrace-atf-loop".as_ptr(), libc::MFD_CLOEXEC);
            if mem < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::dup2(mem, 1);
            libc::dup2(mem, 2);
            Ok((
                Capture {
                    mem: File::from_raw_fd(mem),
                },
                File::from_raw_fd(out),
            ))
        }
    }

    /// Empties the capture if the last iteration wrote to it (one lseek(2) when it did not:
    /// fds 1 and 2 share the memory file's offset).
    fn reset(&mut self) {
        if self.mem.stream_position().is_ok_and(|p| p == 0) {
            return;
        }
        let _ = self.mem.set_len(0);
        let _ = self.mem.seek(SeekFrom::Start(0));
    }

    fn text(&mut self) -> String {
        let _ = std::io::stdout().flush();
        let mut s = String::new();
        let _ = self.mem.seek(SeekFrom::Start(0));
        let _ = self.mem.read_to_string(&mut s);
        s
    }
}

/// Writes the iteration number where a driver can read it after a crash.
struct Counter(Option<*mut u64>);

impl Counter {
    fn open(path: Option<&str>) -> Counter {
        let Some(path) = path else {
            return Counter(None);
        };
        let Ok(f) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
        else {
            return Counter(None);
        };
        let _ = f.set_len(8);
        // SAFETY: a shared 8-byte mapping of a file we just sized; kept for the process's life.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        Counter((p != libc::MAP_FAILED).then_some(p.cast()))
    }

    fn set(&self, i: u64) {
        if let Some(p) = self.0 {
            // SAFETY: p maps 8 writable bytes.
            unsafe { std::ptr::write_volatile(p, i) };
        }
    }
}

/// Runs one iteration in a forked child and judges it as kyua would.
fn forked(run: &dyn Fn() -> TestResult) -> TestResult {
    let mut fds = [0; 2];
    // SAFETY: pipe2 into a local array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return TestResult::Broken("pipe2 failed".into());
    }
    // SAFETY: the child runs the body (the same code a kyua run executes) then _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: closing the read end this child does not use.
        unsafe { libc::close(fds[0]) };
        let r = run();
        let line = r.to_line();
        // SAFETY: write(2) of a live buffer to our pipe end, then _exit.
        unsafe {
            libc::write(fds[1], line.as_ptr().cast(), line.len());
            libc::_exit(r.exit_code());
        }
    }
    // SAFETY: we own both ends; the read end becomes a File.
    unsafe { libc::close(fds[1]) };
    // SAFETY: fds[0] is ours alone from here on.
    let mut reader = unsafe { File::from_raw_fd(fds[0]) };
    if pid < 0 {
        return TestResult::Broken("fork failed".into());
    }
    let mut line = String::new();
    let _ = reader.read_to_string(&mut line);
    let mut status = 0;
    // SAFETY: waiting for our own child.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
    {}
    let end = if libc::WIFEXITED(status) {
        Termination::Exited(libc::WEXITSTATUS(status))
    } else {
        Termination::Signaled {
            sig: libc::WTERMSIG(status),
            core: libc::WCOREDUMP(status),
        }
    };
    judge((!line.is_empty()).then_some(line.as_str()), end)
}

/// Page size the stack alignment below assumes (x86_64, and the smallest elsewhere).
const PAGE: usize = 4096;
/// Granularity of the stack padding.
const PAD_STEP: usize = 512;
/// Stack the call from `below_page_boundary` into `padded` takes besides the padding.
const CALL_OVERHEAD: usize = 128;

/// Calls `f` with the stack moved down so that its frame starts just below a page boundary.
/// An iteration's frames then fit in one stack page, and the parent's writes after each
/// fork(2) copy one stack page, not two (where the frames fall is otherwise up to the
/// random offset of the stack top, so a run was faster or slower by chance).
#[inline(never)]
fn below_page_boundary<R>(f: impl FnOnce() -> R) -> R {
    let here = std::ptr::addr_of!(f) as usize;
    // Bytes from here down to the page boundary below, less what the call to `padded` takes;
    // padding one step more than that puts `f`'s frame up to a step below the boundary.
    let room = (here % PAGE + PAGE - CALL_OVERHEAD) % PAGE;
    match room / PAD_STEP {
        0 => padded::<PAD_STEP, R>(f),
        1 => padded::<{ 2 * PAD_STEP }, R>(f),
        2 => padded::<{ 3 * PAD_STEP }, R>(f),
        3 => padded::<{ 4 * PAD_STEP }, R>(f),
        4 => padded::<{ 5 * PAD_STEP }, R>(f),
        5 => padded::<{ 6 * PAD_STEP }, R>(f),
        6 => padded::<{ 7 * PAD_STEP }, R>(f),
        _ => padded::<{ 8 * PAD_STEP }, R>(f),
    }
}

#[inline(never)]
fn padded<const N: usize, R>(f: impl FnOnce() -> R) -> R {
    let pad = [0u8; N];
    std::hint::black_box(&pad);
    f()
}

/// Runs the loop; returns the exit status (0 when no iteration failed).
pub fn run(spec: &Spec, body: &dyn Fn() -> TestResult) -> i32 {
    below_page_boundary(|| run_aligned(spec, body))
}

fn run_aligned(spec: &Spec, body: &dyn Fn() -> TestResult) -> i32 {
    let (mut capture, mut out) = match Capture::start() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loop: cannot capture output: {e}");
            return 1;
        }
    };
    let counter = Counter::open(spec.counter.as_deref());
    let start = Instant::now();
    let mut last_tick = start;
    let (mut i, mut failures) = (0u64, 0u64);
    // One clock read an iteration, shared by the duration limit and the progress ticks.
    let mut now = start;
    loop {
        if spec.iterations.is_some_and(|n| i >= n)
            || spec.duration.is_some_and(|d| now - start >= d)
        {
            break;
        }
        i += 1;
        counter.set(i);
        capture.reset();
        let r = if spec.fork { forked(body) } else { body() };
        if let TestResult::Skipped(_) = r {
            let skipped = Report::Fail {
                iteration: i,
                result: r,
            };
            let _ = skipped.write_line(&mut out);
            break;
        }
        if !r.is_good() {
            failures += 1;
            report_failure(&mut out, i, r, &capture.text());
            if spec.until_fail {
                break;
            }
        }
        now = Instant::now();
        if now - last_tick >= Duration::from_millis(100) {
            last_tick = now;
            let tick = Report::Tick {
                iterations: i,
                failures,
            };
            let _ = tick.write_line(&mut out);
        }
    }
    let done = Report::Done {
        iterations: i,
        failures,
        secs: start.elapsed().as_secs_f64(),
    };
    let _ = done.write_line(&mut out);
    i32::from(failures > 0)
}

/// Writes a failing iteration's `Fail` line and its output lines in one write(2).
fn report_failure(out: &mut File, iteration: u64, result: TestResult, output: &str) {
    let mut msg = Vec::new();
    let _ = Report::Fail { iteration, result }.write_line(&mut msg);
    for line in output.lines() {
        let _ = Report::Output(line.to_string()).write_line(&mut msg);
    }
    let _ = out.write_all(&msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses() {
        let s = Spec::parse("n=5,duration=1.5,until_fail,fork,counter=/tmp/c").unwrap();
        assert_eq!(s.iterations, Some(5));
        assert_eq!(s.duration, Some(Duration::from_millis(1500)));
        assert!(s.until_fail && s.fork);
        assert_eq!(s.counter.as_deref(), Some("/tmp/c"));
        assert!(Spec::parse("bogus").is_err());
        assert!(Spec::parse("n=x").is_err());
        for d in ["inf", "nan", "-1", "1e300"] {
            assert!(Spec::parse(&format!("duration={d}")).is_err(), "{d}");
        }
    }

    /// Every kind of line goes out and comes back as the same report, byte for byte.
    #[test]
    fn reports_round_trip() {
        let reports = [
            Report::Fail {
                iteration: 17,
                result: TestResult::Failed("waitpid(2) returned 12 not 13: a b  c".into()),
            },
            Report::Fail {
                iteration: 1,
                result: TestResult::Skipped("no hardware debug registers here".into()),
            },
            Report::Fail {
                iteration: 3,
                result: TestResult::ExpectedSignal(Some(6), "aborts on purpose".into()),
            },
            Report::Fail {
                iteration: 4,
                // A multi-line reason as a result line carries it, escaped.
                result: TestResult::Broken("line one\\nline two".into()),
            },
            Report::Output("tracer: child 42 stopped by SIGTRAP".into()),
            Report::Output(String::new()),
            Report::Output("| an output line that looks like one".into()),
            Report::Output("tick 1 2".into()),
            Report::Tick {
                iterations: 1000,
                failures: 0,
            },
            Report::Done {
                iterations: 2000,
                failures: 3,
                secs: 2.5,
            },
        ];
        for r in reports {
            let mut out = Vec::new();
            r.write_line(&mut out).unwrap();
            let line = String::from_utf8(out).unwrap();
            let line = line.strip_suffix('\n').expect("one line with its newline");
            assert!(!line.contains('\n'), "{line:?}");
            assert_eq!(Report::parse(line), Ok(r.clone()), "{line:?}");
        }
    }

    /// The exact wire format (the command and older programs read it).
    #[test]
    fn report_lines_are_exact() {
        let fail = Report::Fail {
            iteration: 5,
            result: TestResult::Failed("got 1, want 2".into()),
        };
        assert_eq!(fail.to_string(), "fail 5 failed: got 1, want 2");
        assert_eq!(Report::Output("x y".into()).to_string(), "| x y");
        let tick = Report::Tick {
            iterations: 9,
            failures: 1,
        };
        assert_eq!(tick.to_string(), "tick 9 1");
        let done = Report::Done {
            iterations: 9,
            failures: 1,
            secs: 1.0 / 3.0,
        };
        assert_eq!(done.to_string(), "done 9 1 0.333333");
    }

    #[test]
    fn malformed_reports_are_errors() {
        for line in [
            "",
            "hello",
            "|no space",
            "tick",
            "tick 5",
            "tick x 0",
            "tick 5 0 7",
            "fail 3",
            "fail x failed: r",
            "fail 3 exploded: r",
            "fail 3 failed",
            "done 5 0",
            "done 5 0 soon",
            "done 5 0 inf",
            "Tick 5 0",
        ] {
            let e = Report::parse(line).expect_err(line);
            assert!(e.starts_with("malformed loop report"), "{e}");
        }
    }
}
