//! `cargo bench --bench figures`: the suite's speed figures, measured in one run on one
//! machine (figures, not assertions):
//! - loop rate of a minimal fork-trace-exit case through `ptrace-atf loop`, next to a plain
//!   Rust loop making the same system calls without the framework, and their ratio;
//! - time per case of a program run directly (the direct driver) and under kyua;
//! - wall time of the whole suite (every waiter variant) under kyua, parallelism 1 and 2.
//!
//! `FIGURES_ITERATIONS` (default 5000) sets the length of each loop run; `FIGURES_QUICK=1`
//! skips the whole-suite runs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The minimal case: a PTRACE_TRACEME child stops, is continued, exits; ECHILD after.
const MINIMAL: &str = "t_fork:traceme_stop_exit";

/// Paired runs of the two loops.
const ROUNDS: usize = 11;

fn exe(name: &str) -> &'static str {
    match name {
        "ptrace-atf" => env!("CARGO_BIN_EXE_ptrace-atf"),
        _ => unreachable!(),
    }
}

/// One iteration of the plain loop: the same system calls as the minimal case.
fn plain_iteration() {
    // SAFETY: the child only makes raw system calls and _exits.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            libc::raise(libc::SIGSTOP);
            libc::_exit(5);
        }
        let mut st = 0;
        libc::waitpid(pid, &mut st, libc::__WALL);
        assert!(libc::WIFSTOPPED(st) && libc::WSTOPSIG(st) == libc::SIGSTOP);
        libc::ptrace(libc::PTRACE_CONT, pid, 0, 0);
        libc::waitpid(pid, &mut st, libc::__WALL);
        assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 5);
        assert_eq!(libc::waitpid(-1, &mut st, libc::__WALL | libc::WNOHANG), -1);
    }
}

fn plain_rate(n: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        plain_iteration();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn loop_rate(n: u64) -> Option<f64> {
    let out = Command::new(exe("ptrace-atf"))
        .args(["loop", MINIMAL, "-n", &n.to_string(), "--cpu", "0"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last()?;
    let words: Vec<&str> = last.split_whitespace().collect();
    let i = words.iter().position(|w| *w == "iterations/s,")?;
    words.get(i - 1)?.parse().ok()
}

fn pin_to_cpu0() {
    // SAFETY: a zeroed cpu_set_t with one CPU set, applied to this process.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
    }
}

fn unpin() {
    // SAFETY: as above, with every CPU the machine has.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for c in 0..std::thread::available_parallelism().map_or(1, usize::from) {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `ptrace-atf test ARGS` and returns (wall seconds, cases run).
fn suite(args: &[&str], tree: &Path) -> (f64, usize) {
    let start = Instant::now();
    let out = Command::new(exe("ptrace-atf"))
        .arg("test")
        .arg("--tree")
        .arg(tree)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .expect("ptrace-atf test");
    let secs = start.elapsed().as_secs_f64();
    let cases = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("  ->  "))
        .count();
    (secs, cases)
}

fn kyua_installed() -> bool {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| Path::new(d).join("kyua").is_file())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: u64 = std::env::var("FIGURES_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let kernel = Command::new("uname")
        .arg("-r")
        .output()
        .map_or(String::new(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        });
    println!("figures: {cpu}, {cores} cores, Linux {kernel}");
    println!();

    // Both loops run pinned to CPU 0 (tracer and tracee on one CPU), in ROUNDS pairs (which
    // runs first alternates); the ratio is the median of the pairs' ratios, so that the drift
    // of a shared VM's speed over the run (±15% between identical runs) cancels within each
    // pair. Unpinned, where the scheduler puts the child swings either loop by ±30% on a
    // 2-core VM.
    pin_to_cpu0();
    plain_rate(n / 10);
    let (mut plains, mut frameworks, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Which loop runs first alternates, so that neither always gets the warmer machine.
        let (p, f) = if round % 2 == 0 {
            let p = plain_rate(n);
            (p, loop_rate(n).unwrap_or(0.0))
        } else {
            let f = loop_rate(n).unwrap_or(0.0);
            (plain_rate(n), f)
        };
        plains.push(p);
        frameworks.push(f);
        ratios.push(f / p);
    }
    let plain = median(&mut plains);
    let framework = median(&mut frameworks);
    let ratio = median(&mut ratios);
    println!(
        "loop rate, minimal fork-trace-exit case ({n} iterations a run, pinned to CPU 0, {ROUNDS} paired runs):"
    );
    println!("  plain Rust loop, same system calls : {plain:>9.0} iterations/s (median)");
    println!(
        "  ptrace-atf loop (the framework)   : {framework:>9.0} iterations/s (median)   [{MINIMAL}]"
    );
    println!("  ratio (median of the pairs)        : {ratio:>9.3}");
    println!();

    unpin();
    let tmp = tempfile::tempdir().expect("tempdir");
    let tree = tmp.path().join("tree");
    let prog = ["fork/t_fork_waitpid"];
    let (d_secs, d_cases) = suite(&["--direct", "-j", "1", prog[0]], &tree);
    println!(
        "time per case, {} ({d_cases} cases, one at a time):",
        prog[0]
    );
    println!(
        "  direct driver : {:>7.1} ms",
        1000.0 * d_secs / d_cases.max(1) as f64
    );
    if kyua_installed() {
        let (k_secs, k_cases) = suite(&["-j", "1", prog[0]], &tree);
        println!(
            "  under kyua    : {:>7.1} ms",
            1000.0 * k_secs / k_cases.max(1) as f64
        );
    } else {
        println!("  under kyua    : (kyua is not installed)");
    }
    println!();

    if std::env::var("FIGURES_QUICK").is_ok() || !kyua_installed() {
        return;
    }
    println!("whole suite under kyua (every waiter variant):");
    for j in ["1", "2"] {
        let (secs, cases) = suite(&["-j", j], &tree);
        println!("  parallelism {j} : {secs:>6.1} s for {cases} cases");
    }
}
