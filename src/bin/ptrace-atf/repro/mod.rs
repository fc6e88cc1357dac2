//! `ptrace-atf loop PROGRAM:CASE`: run one case over and over to reproduce a rare race,
//! optionally under CPU load or pinned, and report the failing iterations.

//!
//! Its parts: `args` (option values), `target` (the one case a target names), `runner` (the
//! looping program: its command, its process, its end), `progress` (its reports, the
//! progress shown, the summary). The program's side is `ptrace_atf::atf::repeat`.

mod args;
pub mod guard;
mod progress;
mod runner;
mod stall;
mod target;

use crate::signals;
use args::{CpuList, parse_cpus, parse_duration, parse_iterations, parse_load};
use progress::Progress;
use runner::Running;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

/// Exit statuses of `ptrace-atf loop`.
pub const LOOP_EXIT_CODES: &str = "\
Exit status:
  0  every iteration passed
  1  an iteration failed or hung (did not end within the case's timeout: what the
     program's processes were doing is printed, then they are killed), or the case was
     skipped (a requirement it declares is not met: the reason is printed and no
     iteration runs)
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
    /// An iteration running longer than this many seconds is reported as hung, with what the
    /// program's processes are doing, and the loop ends (default: the case's `timeout`).
    #[arg(long = "hang-after", value_name = "SECONDS", value_parser = parse_duration, allow_negative_numbers = true)]
    pub hang_after: Option<f64>,
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

/// Runs the loop; see `LOOP_EXIT_CODES`.
pub fn run(args: Args, bins: &Path) -> ExitCode {
    let (case, note) = match target::resolve(&args.target, bins) {
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
    let counter = match runner::counter_file(runner::run_as(&case, &settings)) {
        Ok(f) => f,
        Err(e) => return crate::fail(3, &e),
    };
    let iterations = args
        .iterations
        .or(if args.duration.is_some() || args.until_fail {
            None
        } else {
            Some(1000)
        });
    let cmd = runner::command(&exe, &case, &args, &settings, iterations, counter.path());
    let mut running = match Running::start(cmd, args.load) {
        Ok(r) => r,
        Err(e) => return crate::fail(3, &format!("cannot run {}: {e}", exe.display())),
    };
    if iterations.is_none() && args.duration.is_none() {
        eprintln!("ptrace-atf: {name}: looping until an iteration fails (Ctrl-C to stop)");
    }
    let mut progress = Progress::new(iterations);
    let mut stall = stall::Stall::new(&case, args.hang_after, counter.path());
    let session = running.session();
    let followed = progress.follow(&mut running.child, &mut stall, session);
    let interrupted = signals::caught();
    let status = running.end(interrupted.is_some() || followed != progress::Followed::Ended);
    progress.finish(&name, status, interrupted, counter.path())
}
