//! `ptrace-atf loop PROGRAM:CASE`: run one case over and over to reproduce a rare race,
//! optionally under CPU load or pinned, and report the failing iterations.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, BufReader, IsTerminal};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Options of `ptrace-atf loop`.
#[derive(clap::Args)]
pub struct Args {
    /// The case: `t_dbregs_x86:CASE`, or with a waiter, `t_fork_wait4:fork1`
    /// (`fork/t_fork_wait4:fork1` as kyua names it works too).
    #[arg(value_name = "PROGRAM:CASE")]
    pub target: String,
    /// Iterations to run (default 1000 unless --duration is given).
    #[arg(short = 'n', value_name = "N")]
    pub iterations: Option<u64>,
    /// Stop at the first failing iteration.
    #[arg(long)]
    pub until_fail: bool,
    /// Run for this many seconds (with -n: whichever ends first).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Start K busy threads competing for the CPUs while the loop runs.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub load: usize,
    /// Pin the case (tracer and tracees) to these CPUs, e.g. `0` or `0,1` or `0-1`.
    #[arg(long, value_name = "LIST", value_parser = parse_cpus)]
    pub cpu: Option<CpuList>,
    /// Fork a fresh process per iteration (for cases that end their process on purpose).
    #[arg(long)]
    pub fork: bool,
    /// A configuration variable for the case (`-v iterations=1`).
    #[arg(short = 'v', long = "var", value_name = "NAME=VALUE", value_parser = crate::parse_var)]
    pub vars: Vec<(String, String)>,
}

/// A list of CPU numbers.
#[derive(Clone)]
pub struct CpuList(Vec<usize>);

fn parse_cpus(s: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    for part in s.split(',') {
        let bad = || format!("'{s}' is not a CPU list like 0,2-3");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b || b >= libc::CPU_SETSIZE as usize {
                    return Err(bad());
                }
                cpus.extend(a..=b);
            }
            None => {
                let c: usize = part.parse().map_err(|_| bad())?;
                if c >= libc::CPU_SETSIZE as usize {
                    return Err(bad());
                }
                cpus.push(c);
            }
        }
    }
    Ok(CpuList(cpus))
}

/// Splits `[dir/]program[_waiter]:case` into (binary, waiter, case).
fn resolve(target: &str) -> Result<(String, Option<String>, String), String> {
    let (prog, case) = target
        .split_once(':')
        .ok_or_else(|| format!("'{target}' is not PROGRAM:CASE"))?;
    let prog = prog.rsplit('/').next().unwrap_or(prog);
    let base = ptrace_atf::suite::base_program(prog);
    if !ptrace_atf::suite::AREAS.iter().any(|a| a.program == base) {
        return Err(format!("unknown program '{prog}'"));
    }
    let waiter = prog
        .strip_prefix(base)
        .and_then(|w| w.strip_prefix('_'))
        .map(String::from);
    Ok((base.to_string(), waiter, case.to_string()))
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

/// Runs the loop; exit 0 when no iteration failed, 1 otherwise, 3 when the program is
/// missing, 2 for a bad target.
pub fn run(args: Args, bins: &Path) -> ExitCode {
    let (base, waiter, case) = match resolve(&args.target) {
        Ok(r) => r,
        Err(e) => return crate::fail(2, &e),
    };
    let exe = bins.join(&base);
    if !exe.is_file() {
        return crate::fail(3, &format!("test program {} not found", exe.display()));
    }
    let listed = Command::new(&exe).arg("-l").stderr(Stdio::null()).output();
    let known = listed
        .ok()
        .and_then(|o| ptrace_atf::atf::listing::parse(&String::from_utf8_lossy(&o.stdout)).ok())
        .is_some_and(|cases| cases.iter().any(|c| c.ident == case));
    if !known {
        return crate::fail(
            2,
            &format!("{base} has no test case '{case}' (see: {base} -l)"),
        );
    }
    let counter = match tempfile::NamedTempFile::new() {
        Ok(f) => f,
        Err(e) => return crate::fail(3, &format!("cannot create a counter file: {e}")),
    };
    let iterations = args.iterations.or(if args.duration.is_some() {
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
    if let Some(w) = &waiter {
        cmd.arg(format!("-vwaiter={w}"));
    }
    for (k, v) in &args.vars {
        cmd.arg(format!("-v{k}={v}"));
    }
    cmd.arg(&case)
        .env("PTRACE_ATF_LOOP", &spec)
        .env("GLIBC_TUNABLES", tunables())
        .env("__RUNNING_INSIDE_ATF_RUN", "internal-yes-value")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let cpus = args.cpu.clone();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
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
    let stop = Arc::new(AtomicBool::new(false));
    let load = start_load(args.load, &stop);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return crate::fail(3, &format!("cannot run {}: {e}", exe.display())),
    };
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        let b = match iterations {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} {pos}/{len} iterations  {msg}  [{elapsed_precise}]",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let start = Instant::now();
    let mut last_plain = Instant::now();
    let (mut done_line, mut failures, mut seen) = (None, 0u64, 0u64);
    let mut reader = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap_or(0) > 0 {
        let l = line.trim_end().to_string();
        line.clear();
        let mut words = l.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("tick"), Some(i), Some(f)) => {
                seen = i.parse().unwrap_or(seen);
                failures = f.parse().unwrap_or(failures);
            }
            (Some("fail"), Some(i), Some(r)) => {
                seen = i.parse().unwrap_or(seen);
                failures += 1;
                let msg = format!("iteration {i}: {r}");
                match &bar {
                    Some(b) => b.println(msg),
                    None => println!("{msg}"),
                }
            }
            (Some("done"), Some(i), Some(rest)) => {
                seen = i.parse().unwrap_or(seen);
                done_line = Some(rest.to_string());
            }
            _ => match &bar {
                Some(b) => b.println(format!("    {}", l.trim_start_matches("| "))),
                None => println!("    {}", l.trim_start_matches("| ")),
            },
        }
        let rate = seen as f64 / start.elapsed().as_secs_f64().max(1e-9);
        match &bar {
            Some(b) => {
                b.set_position(seen);
                b.set_message(format!("{failures} failed  {rate:.0}/s"));
            }
            None if last_plain.elapsed() >= Duration::from_secs(1) => {
                last_plain = Instant::now();
                println!("{seen} iterations, {failures} failed, {rate:.0}/s");
            }
            None => {}
        }
    }
    let status = child.wait();
    stop.store(true, Ordering::Relaxed);
    for t in load {
        let _ = t.join();
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut secs = elapsed;
    match done_line {
        Some(rest) => {
            let mut w = rest.split(' ');
            failures = w.next().and_then(|f| f.parse().ok()).unwrap_or(failures);
            secs = w.next().and_then(|s| s.parse().ok()).unwrap_or(elapsed);
        }
        None => {
            let bytes = std::fs::read(counter.path()).unwrap_or_default();
            let at = bytes
                .get(..8)
                .map(|b| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8])))
                .unwrap_or(seen);
            let how = match &status {
                Ok(s) if s.signal().is_some() => {
                    format!("was killed by signal {}", s.signal().unwrap_or(0))
                }
                Ok(s) => format!("exited with code {}", s.code().unwrap_or(-1)),
                Err(e) => format!("could not be waited for: {e}"),
            };
            println!(
                "iteration {at}: the program {how} during this iteration (use --fork for cases that end their process)"
            );
            failures += 1;
            seen = at;
        }
    }
    let rate = seen as f64 / secs.max(1e-9);
    let pct = 100.0 * failures as f64 / (seen.max(1)) as f64;
    println!(
        "{}: {seen} iterations, {failures} failed ({pct:.4}%), {rate:.0} iterations/s, {secs:.2}s",
        args.target
    );
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
