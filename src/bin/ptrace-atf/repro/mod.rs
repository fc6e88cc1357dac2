//! `ptrace-atf loop PROGRAM:CASE`: run one case over and over to reproduce a rare race,
//! optionally under CPU load or pinned, and report the failing iterations.

use crate::cases::{self, Case};
use crate::signals;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// Exit statuses of `ptrace-atf loop`.
pub const LOOP_EXIT_CODES: &str = "\
Exit status:
  0  every iteration passed
  1  an iteration failed, or the case was skipped (a requirement it declares is not met:
     the reason is printed and no iteration runs)
  2  usage error: a bad option or value (-n 0, --duration 0|inf|nan|-1, --load over the
     bound, --cpu naming a CPU that is not online), a malformed target, or a target that
     names no case or more than one (checked before anything runs)
  3  the test programs are missing
  128+N  interrupted by signal N (130 Ctrl-C, 129 SIGHUP, 143 SIGTERM, 141 closed stdout):
     the program and every process it started have been killed; the summary so far is
     printed first (not for a closed stdout)

The case is named as `ptrace-atf list` prints it, fork/t_fork_waitpid:fork1 (any filter
`test` takes that names one case: t_fork_wait4:fork1, or fork1 alone). A case named without
its waiter (t_fork:fork1, fork1) runs under the default waiter, waitpid. The case's
requirements are honoured as kyua honours them: a require.user=unprivileged case runs as
--unprivileged-user when the command runs as root; an unmet requirement skips the loop.";

/// Options of `ptrace-atf loop`.
#[derive(clap::Args)]
pub struct Args {
    /// The case: `fork/t_fork_wait4:fork1` as `ptrace-atf list` names it (`t_fork_wait4:fork1`
    /// or a bare `fork1` work too).
    #[arg(value_name = "CASE")]
    pub target: String,
    /// Iterations to run, at least 1 (default 1000 unless --duration or --until-fail is
    /// given).
    #[arg(short = 'n', value_name = "N", value_parser = parse_iterations, allow_negative_numbers = true)]
    pub iterations: Option<u64>,
    /// Stop at the first failing iteration. Alone (no -n, no --duration) it runs until the
    /// first failure or Ctrl-C.
    #[arg(long)]
    pub until_fail: bool,
    /// Run for this many seconds, more than 0 and at most a year (with -n: whichever ends
    /// first).
    #[arg(long, value_name = "SECONDS", value_parser = parse_duration, allow_negative_numbers = true)]
    pub duration: Option<f64>,
    /// Start K busy threads competing for the CPUs while the loop runs (at most 4 per CPU
    /// this process may use, and never more than 256).
    #[arg(long, value_name = "K", default_value_t = 0, value_parser = parse_load, allow_negative_numbers = true)]
    pub load: usize,
    /// Pin the case (tracer and tracees) to these CPUs, e.g. `0` or `0,1` or `0-1`; each must
    /// be online and allowed to this process.
    #[arg(long, value_name = "LIST", value_parser = parse_cpus)]
    pub cpu: Option<CpuList>,
    /// Fork a fresh process per iteration (for cases that end their process on purpose).
    #[arg(long)]
    pub fork: bool,
    /// A configuration variable for the case (`-v iterations=1`).
    #[arg(short = 'v', long = "var", value_name = "NAME=VALUE", value_parser = crate::parse_var)]
    pub vars: Vec<(String, String)>,
    /// The user a `require.user: unprivileged` case runs as when the command runs as root.
    #[arg(long, value_name = "USER", default_value = "nobody")]
    pub unprivileged_user: String,
}

fn parse_iterations(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("at least 1 iteration (to run without a count, leave -n out)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a number of iterations")),
    }
}

/// The longest --duration: a year.
const MAX_DURATION: f64 = 365.0 * 24.0 * 3600.0;

fn parse_duration(s: &str) -> Result<f64, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !secs.is_finite() {
        return Err(format!(
            "'{s}' is not a finite number of seconds (to run without a time bound, leave --duration out)"
        ));
    }
    if secs <= 0.0 {
        return Err(format!("'{s}': the duration must be more than 0 seconds"));
    }
    if secs > MAX_DURATION {
        return Err(format!(
            "'{s}': the duration is at most a year ({MAX_DURATION} seconds)"
        ));
    }
    Ok(secs)
}

/// The CPUs this process may run on (online and in its affinity mask).
fn usable_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills a zeroed local set.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) != 0 {
            return Vec::new();
        }
        set
    };
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads a bit of a valid set below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// The bound of --load.
fn max_load() -> usize {
    (4 * usable_cpus().len().max(1)).min(256)
}

fn parse_load(s: &str) -> Result<usize, String> {
    let k: usize = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of threads"))?;
    let max = max_load();
    if k > max {
        return Err(format!(
            "{k} busy threads is more than the bound of {max} (4 per CPU this process may use, at most 256)"
        ));
    }
    Ok(k)
}

/// Writes a CPU list compactly: `0-3,6`.
fn cpu_ranges(cpus: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    out.join(",")
}

/// A list of CPU numbers.
#[derive(Clone)]
pub struct CpuList(Vec<usize>);

fn parse_cpus(s: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    let bad = || format!("'{s}' is not a CPU list like 0,2-3");
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cpus.extend(a..=b.min(a + libc::CPU_SETSIZE as usize));
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    let usable = usable_cpus();
    if let Some(c) = cpus.iter().find(|c| !usable.contains(c)) {
        return Err(format!(
            "CPU {c} is not online or not allowed to this process (usable: {})",
            cpu_ranges(&usable)
        ));
    }
    Ok(CpuList(cpus))
}

/// The binary, waiter and case a target names (one case; its program under one waiter).
fn resolve(target: &str, bins: &Path) -> Result<(Case, Option<String>), (u8, String)> {
    let filter = cases::parse(target).map_err(|e| (2, e))?;
    let catalog = cases::catalog(bins).map_err(|e| (3, e))?;
    let matches: Vec<&Case> = catalog.iter().filter(|c| filter.matches(c)).collect();
    let Some(first) = matches.first() else {
        return Err((
            2,
            format!("'{target}' names no test case (see: ptrace-atf list)"),
        ));
    };
    let mut distinct: Vec<String> = matches
        .iter()
        .map(|c| format!("{}/{}:{}", c.area, c.base, c.listed.ident))
        .collect();
    distinct.dedup();
    if distinct.len() > 1 {
        let shown: Vec<String> = distinct.iter().take(8).cloned().collect();
        return Err((
            2,
            format!(
                "'{target}' names {} cases ({}{}); loop runs one: name it as `ptrace-atf list` prints it",
                distinct.len(),
                shown.join(", "),
                if distinct.len() > 8 { ", ..." } else { "" }
            ),
        ));
    }
    if matches.len() == 1 {
        return Ok(((*first).clone(), None));
    }
    // One case under several waiter programs: the default waiter's.
    let chosen = matches
        .iter()
        .find(|c| c.waiter() == "waitpid")
        .unwrap_or(first);
    let note = format!(
        "'{target}' names the case under {} waiter programs; running {} (the default waiter; name another program to choose)",
        matches.len(),
        chosen.id()
    );
    Ok(((*chosen).clone(), Some(note)))
}

fn start_load(k: usize, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<()>> {
    (0..k)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..10_000 {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                }
            })
        })
        .collect()
}

/// Prints a line above the progress bar, or on stdout.
fn show(bar: &Option<ProgressBar>, line: &str) {
    match bar {
        Some(b) => b.println(line),
        None => signals::say(line),
    }
}

/// Runs the loop; see `LOOP_EXIT_CODES`.
pub fn run(args: Args, bins: &Path) -> ExitCode {
    let (case, note) = match resolve(&args.target, bins) {
        Ok(r) => r,
        Err((code, e)) => return crate::fail(code, &e),
    };
    let name = case.id();
    if let Some(n) = note {
        eprintln!("ptrace-atf: {n}");
    }
    let exe = bins.join(case.base);
    let vars: BTreeMap<String, String> = args.vars.iter().cloned().collect();
    let settings = crate::direct::Settings {
        vars,
        unprivileged: crate::unprivileged(&args.unprivileged_user),
        jobs: 1,
        verbose: false,
    };
    if let Some(reason) = crate::direct::unmet_requirement(&case.listed, &settings) {
        signals::say(&format!("{name}: skipped: {reason}; no iteration run"));
        return ExitCode::from(1);
    }
    let user = match (case.listed.get("require.user"), &settings.unprivileged) {
        (Some("unprivileged"), Some((_, uid, gid))) => Some((*uid, *gid)),
        _ => None,
    };
    let counter = match tempfile::NamedTempFile::new() {
        Ok(f) => f,
        Err(e) => return crate::fail(3, &format!("cannot create a counter file: {e}")),
    };
    if let Some((uid, gid)) = user
        && let Err(e) = std::os::unix::fs::chown(counter.path(), Some(uid), Some(gid))
    {
        return crate::fail(3, &format!("cannot hand the counter file over: {e}"));
    }
    let iterations = args
        .iterations
        .or(if args.duration.is_some() || args.until_fail {
            None
        } else {
            Some(1000)
        });
    let mut spec = format!("counter={}", counter.path().display());
    if let Some(n) = iterations {
        spec.push_str(&format!(",n={n}"));
    }
    if let Some(d) = args.duration {
        spec.push_str(&format!(",duration={d}"));
    }
    if args.until_fail {
        spec.push_str(",until_fail");
    }
    if args.fork {
        spec.push_str(",fork");
    }
    let mut cmd = Command::new(&exe);
    cmd.arg(format!("-vwaiter={}", case.waiter()));
    for (k, v) in &args.vars {
        cmd.arg(format!("-v{k}={v}"));
    }
    if let Some((name, ..)) = &settings.unprivileged {
        cmd.arg(format!("-vunprivileged-user={name}"));
    }
    cmd.arg(&case.listed.ident)
        .env("PTRACE_ATF_LOOP", &spec)
        .env("GLIBC_TUNABLES", tunables())
        .env("__RUNNING_INSIDE_ATF_RUN", "internal-yes-value")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let cpus = args.cpu.clone();
    let parent = std::process::id() as i32;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Its own session, as kyua runs a program: the command kills it as a group.
            libc::setsid();
            if let Some((uid, gid)) = user
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            // Dies with the command even if the command is SIGKILLed (set after setuid,
            // which clears it); the command may have died before this point.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            crate::direct::no_inherited_fds();
            if let Some(cpus) = &cpus {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                for &c in &cpus.0 {
                    libc::CPU_SET(c, &mut set);
                }
                if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    signals::install();
    let stop = Arc::new(AtomicBool::new(false));
    let load = start_load(args.load, &stop);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return crate::fail(3, &format!("cannot run {}: {e}", exe.display())),
    };
    let pid = child.id() as i32;
    // An interrupt kills the program's whole session at once (its tracees with it).
    signals::forward(-pid, libc::SIGKILL);
    let tty = std::io::stderr().is_terminal();
    if iterations.is_none() && args.duration.is_none() {
        eprintln!("ptrace-atf: {name}: looping until an iteration fails (Ctrl-C to stop)");
    }
    let bar = if tty {
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
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let start = Instant::now();
    let mut last_plain = Instant::now();
    let (mut done_line, mut failures, mut seen) = (None, 0u64, 0u64);
    let lines = signals::lines(child.stdout.take().expect("piped"));
    let mut exited_at: Option<Instant> = None;
    loop {
        if signals::caught().is_some() {
            break;
        }
        let l = match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => l,
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                // The program ended but a process it left holds the pipe open.
                match (exited_at, child.try_wait()) {
                    (None, Ok(Some(_))) => exited_at = Some(Instant::now()),
                    (Some(t), _) if t.elapsed() > Duration::from_secs(1) => break,
                    _ => {}
                }
                continue;
            }
        };
        let mut words = l.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("tick"), Some(i), Some(f)) => {
                seen = i.parse().unwrap_or(seen);
                failures = f.parse().unwrap_or(failures);
            }
            (Some("fail"), Some(i), Some(r)) => {
                seen = i.parse().unwrap_or(seen);
                failures += 1;
                show(&bar, &format!("iteration {i}: {r}"));
            }
            (Some("done"), Some(i), Some(rest)) => {
                seen = i.parse().unwrap_or(seen);
                done_line = Some(rest.to_string());
            }
            _ => show(&bar, &format!("    {}", l.trim_start_matches("| "))),
        }
        let rate = seen as f64 / start.elapsed().as_secs_f64().max(1e-9);
        match &bar {
            Some(b) => {
                b.set_position(seen);
                b.set_message(format!("{failures} failed  {rate:.0}/s"));
            }
            None if last_plain.elapsed() >= Duration::from_secs(1) => {
                last_plain = Instant::now();
                signals::say(&format!(
                    "{}, {failures} failed, {rate:.0}/s",
                    crate::plural(seen, "iteration")
                ));
            }
            None => {}
        }
    }
    let interrupted = signals::caught();
    if interrupted.is_some() || exited_at.is_some() {
        // SAFETY: kill(2) of the program's session (its process group).
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let status = child.wait();
    signals::forward_none();
    // Whatever the program left (a tracee that changed its process group, an orphan) is
    // ended too: this command is their subreaper.
    signals::end_all();
    stop.store(true, Ordering::Relaxed);
    for t in load {
        let _ = t.join();
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut secs = elapsed;
    let in_progress = || {
        let bytes = std::fs::read(counter.path()).unwrap_or_default();
        bytes
            .get(..8)
            .map(|b| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8])))
            .unwrap_or(seen)
    };
    match (done_line, interrupted) {
        (Some(rest), _) => {
            let mut w = rest.split(' ');
            failures = w.next().and_then(|f| f.parse().ok()).unwrap_or(failures);
            secs = w.next().and_then(|s| s.parse().ok()).unwrap_or(elapsed);
        }
        (None, Some(libc::SIGPIPE)) => signals::die_by(libc::SIGPIPE),
        (None, Some(sig)) => {
            let at = in_progress();
            signals::say(&format!(
                "interrupted by {} during iteration {at}",
                ptrace_atf::trace::sig_name(sig)
            ));
            seen = at.saturating_sub(1);
        }
        (None, None) => {
            let at = in_progress();
            let how = match &status {
                Ok(s) if s.signal().is_some() => {
                    format!("was killed by signal {}", s.signal().unwrap_or(0))
                }
                Ok(s) => format!("exited with code {}", s.code().unwrap_or(-1)),
                Err(e) => format!("could not be waited for: {e}"),
            };
            signals::say(&format!(
                "iteration {at}: the program {how} during this iteration (use --fork for cases that end their process)"
            ));
            failures += 1;
            seen = at;
        }
    }
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

/// glibc's malloc tunables for a looping program: no per-thread cache, so that the case table
/// the program drops before its first iteration goes back to the kernel instead of being held
/// in cached chunks spread over the heap; every fork(2) of an iteration then copies that many
/// fewer page-table entries (about 3% of the minimal case's iteration time). The user's own
/// tunables, if any, come first.
fn tunables() -> String {
    const NO_TCACHE: &str = "glibc.malloc.tcache_count=0";
    match std::env::var("GLIBC_TUNABLES") {
        Ok(t) if !t.is_empty() => format!("{t}:{NO_TCACHE}"),
        _ => NO_TCACHE.to_string(),
    }
}
