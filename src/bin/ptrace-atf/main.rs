//! `ptrace-atf`: list, install and run the suite (under kyua when installed).

mod direct;
mod install;
mod kyua;
mod repro;
mod truss;
mod vm;
mod xfail;

use clap::{Parser, Subcommand};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const EXIT_CODES: &str = "\
Exit status:
  0  every result is good (passed, skipped, expected failure)
  1  a test case failed or was broken, or a filter matched nothing
  2  usage error (bad option or argument)
  3  the test programs are missing or the tree cannot be installed
  4  kyua could not run the suite (kyua's own error)
  5  vm: the guest kernel panicked or hung, or qemu failed, before the results came back";

const TRUSS_EXIT_CODES: &str = "\
Exit status:
  the traced command's own status (128+N when it was killed by signal N)
  0  after detaching from a -p process (Ctrl-C)
  1  the trace could not be set up
  2  usage error";

#[derive(Parser)]
#[command(name = "ptrace-atf", version, about = "Kernel regression tests for ptrace(2) and wait(2), run by kyua", after_help = EXIT_CODES)]
struct Cli {
    /// Directory holding the built test programs (default: this executable's directory).
    #[arg(long, global = true, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List every program and test case with its metadata.
    #[command(after_help = EXIT_CODES)]
    List {
        /// Print only `program:case` lines.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Install the suite as a tree kyua runs as is (Kyuafiles, Atffiles, programs).
    #[command(after_help = EXIT_CODES)]
    Install {
        /// Destination directory, e.g. /usr/tests/ptrace-atf.
        dir: PathBuf,
    },
    /// Install into the build directory and run the suite: under kyua when installed,
    /// otherwise through the built-in direct driver.
    #[command(after_help = EXIT_CODES)]
    Test(TestArgs),
    /// Trace a command's system calls and print per-syscall counts, errors and missed
    /// entry/exit events.
    #[command(after_help = TRUSS_EXIT_CODES)]
    Truss(truss::Args),
    /// Run one case over and over (thousands of times a second) to reproduce a rare race;
    /// print each failing iteration with its reason and output.
    #[command(after_help = EXIT_CODES)]
    Loop(repro::Args),
    /// The expected-failure ledger: every case tied to a bug, and from a kyua results
    /// database which still fail as expected, which now pass and which failed otherwise.
    #[command(after_help = EXIT_CODES)]
    Xfail(xfail::Args),
    /// Boot a kernel (a bzImage/vmlinuz or a linux-image-*.deb) under QEMU with an
    /// initramfs of the suite, run the suite inside and bring the results back; several
    /// --kernel (or --qemu-cpu) give a matrix.
    #[command(after_help = vm::EXIT_CODES)]
    Vm(vm::Args),
}

/// Options of `ptrace-atf test`.
#[derive(clap::Args)]
struct TestArgs {
    /// kyua filters: an area (`fork`), a program (`fork/t_fork_waitpid`) or a case
    /// (`fork/t_fork_waitpid:fork1`).
    filters: Vec<String>,
    /// Run without kyua even when it is installed.
    #[arg(long)]
    direct: bool,
    /// Test cases run at once.
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// A configuration variable passed to every program (`-v iterations=1000`).
    #[arg(short = 'v', long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// The unprivileged user for `require.user: unprivileged` cases when run as root.
    #[arg(long, value_name = "USER", default_value = "nobody")]
    unprivileged_user: String,
    /// Where kyua stores the results database (default: kyua's store).
    #[arg(long, value_name = "FILE")]
    results_file: Option<PathBuf>,
    /// The installed tree to (re)create and run (default: BIN_DIR/ptrace-atf-tests).
    #[arg(long, value_name = "DIR")]
    tree: Option<PathBuf>,
    /// Print every case's output (direct driver).
    #[arg(long)]
    verbose: bool,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not of the form NAME=VALUE")),
    }
}

fn fail(code: u8, msg: &str) -> ExitCode {
    eprintln!("ptrace-atf: {msg}");
    ExitCode::from(code)
}

/// Looks up a user's uid and gid.
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer into static storage or NULL.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        None
    } else {
        Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
    }
}

fn list(bins: &Path, quiet: bool) -> ExitCode {
    let mut status = 0;
    for area in ptrace_atf::suite::AREAS {
        let exe = bins.join(area.program);
        let out = match std::process::Command::new(&exe).arg("-l").output() {
            Ok(o) => o,
            Err(e) => return fail(3, &format!("cannot run {}: {e}", exe.display())),
        };
        match ptrace_atf::atf::listing::parse(&String::from_utf8_lossy(&out.stdout)) {
            Ok(cases) => {
                for c in cases {
                    println!("{}/{}:{}", area.dir, area.program, c.ident);
                    if !quiet {
                        for (k, v) in &c.props {
                            println!("    {k} = {v}");
                        }
                    }
                }
            }
            Err(e) => {
                eprintln!("ptrace-atf: {}: bad listing: {e}", exe.display());
                status = 1;
            }
        }
    }
    if !quiet {
        println!(
            "(each program is installed once per waiter: {})",
            ptrace_atf::suite::WAITERS.join(", ")
        );
    }
    ExitCode::from(status)
}

fn test(bins: &Path, args: TestArgs) -> ExitCode {
    let TestArgs {
        filters,
        direct: force_direct,
        jobs,
        vars,
        unprivileged_user,
        results_file,
        tree,
        verbose,
    } = args;
    let tree = tree.unwrap_or_else(|| bins.join("ptrace-atf-tests"));
    let _ = std::fs::remove_dir_all(&tree);
    if let Err(e) = install::install(bins, &tree) {
        return fail(3, &e);
    }
    let jobs = jobs.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
    });
    let vars: BTreeMap<String, String> = vars.into_iter().collect();
    let root = unsafe { libc::geteuid() } == 0;
    let unpriv = if root {
        match lookup_user(&unprivileged_user) {
            Some((uid, gid)) => Some((unprivileged_user.clone(), uid, gid)),
            None => {
                eprintln!(
                    "ptrace-atf: user '{unprivileged_user}' does not exist; cases that need an unprivileged user will be skipped"
                );
                None
            }
        }
    } else {
        None
    };
    match kyua::find() {
        Some(k) if !force_direct => {
            let run = match kyua::test(
                &k,
                &tree,
                &filters,
                &vars,
                unpriv.as_ref().map(|u| u.0.as_str()),
                jobs,
                results_file.as_deref(),
            ) {
                Ok(r) => r,
                Err(e) => return fail(4, &e),
            };
            if let Some(db) = &run.database {
                println!("ptrace-atf: results database: {db}");
                println!("ptrace-atf: read it with: kyua report --results-file={db} --verbose");
            }
            match run.status {
                0 => ExitCode::SUCCESS,
                1 => ExitCode::from(1),
                _ => fail(4, &format!("kyua exited with status {}", run.status)),
            }
        }
        found => {
            if found.is_none() {
                println!(
                    "ptrace-atf: kyua is not installed; running the programs directly (install kyua for isolation, reports and a results database: apt-get install kyua)"
                );
            }
            let settings = direct::Settings {
                vars,
                unprivileged: unpriv,
                jobs,
                verbose,
            };
            let programs = install::installed_programs();
            let outcomes = direct::run(&tree, &programs, &filters, &settings);
            let total = outcomes.len();
            let good = outcomes.iter().filter(|o| o.result.is_good()).count();
            let passed = outcomes
                .iter()
                .filter(|o| matches!(o.result, ptrace_atf::atf::TestResult::Passed))
                .count();
            let secs: f64 = outcomes.iter().map(|o| o.secs).sum();
            println!();
            println!("{passed}/{total} passed ({} failed)", total - good);
            println!(
                "ptrace-atf: direct driver: {total} cases, {good} good, {} bad, {secs:.1}s of test time",
                total - good
            );
            if total == 0 {
                return fail(1, "no test case matched the filters");
            }
            ExitCode::from(u8::from(good != total))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let bins = match install::bin_dir(cli.bin_dir.as_deref()) {
        Ok(b) => b,
        Err(e) => return fail(3, &e),
    };
    match cli.command {
        Cmd::List { quiet } => list(&bins, quiet),
        Cmd::Install { dir } => match install::install(&bins, &dir) {
            Ok(n) => {
                println!(
                    "ptrace-atf: installed {n} programs in {}; run: cd {} && kyua test",
                    dir.display(),
                    dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(3, &e),
        },
        Cmd::Truss(args) => truss::run(args),
        Cmd::Loop(args) => repro::run(args, &bins),
        Cmd::Xfail(args) => xfail::run(args, &bins),
        Cmd::Test(args) => test(&bins, args),
        Cmd::Vm(args) => vm::run(args, &bins),
    }
}
