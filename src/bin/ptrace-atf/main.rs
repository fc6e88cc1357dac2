//! `ptrace-atf`: list, install and run the suite (under kyua when installed).

mod cases;
mod direct;
mod install;
mod kernel;
mod kyua;
mod lava;
mod repro;
mod signals;
mod truss;
mod vm;
mod xfail;

use clap::{Parser, Subcommand};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const EXIT_CODES: &str = "\
Exit status:
  0  every result is good (passed, skipped, expected failure)
  1  a test case failed or was broken, or a filter matched nothing
  2  usage error: a bad option or value, a malformed filter, a DIR that is neither new,
     empty nor a ptrace-atf tree, a --results-file that cannot be written or that has no
     kyua to write it (checked before anything is run or written)
  3  the test programs are missing or the tree cannot be installed
  4  kyua could not run the suite (kyua's own error)
  5  vm: the guest kernel panicked or hung, or qemu failed, before the results came back
  128+N  interrupted by signal N (130 Ctrl-C, 129 SIGHUP, 143 SIGTERM, 141 closed stdout):
     every process the command started has been ended

Name a case as kyua does, with its waiter program: fork/t_fork_waitpid:fork1. Filters:
  area, area/program, area/program:case (as kyua), program[:case] without the area, a
  program without its waiter (t_fork: its six waiter programs), or a bare case name or glob
  (fork1, '*vfork*') matching that case in every program. `ptrace-atf list` prints the names.";

const LIST_EXIT_CODES: &str = "\
Exit status:
  0  listed
  1  a filter matched nothing
  2  usage error (bad option, malformed filter)
  3  the test programs are missing or list badly

Filters as for `ptrace-atf test` (see its --help). A closed stdout (| head) ends the
listing quietly.";

const TRUSS_EXIT_CODES: &str = "\
Exit status:
  the traced command's own status (128+N when it was killed by signal N)
  0  after detaching from a -p process (Ctrl-C)
  1  the trace could not be set up (e.g. -o FILE cannot be created; nothing was run)
  2  usage error
  126  COMMAND cannot be executed (the reason is printed; no table)
  127  COMMAND not found (the reason is printed; no table)

On SIGINT/SIGTERM/SIGHUP while tracing a COMMAND truss started, the signal is passed on
to the command (a terminal's Ctrl-C reaches it directly) and truss goes on until it ends,
then prints the table and returns the command's status (130 if Ctrl-C killed it); a second
signal kills the command. With -p, a signal detaches and truss exits 0.";

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
    /// List the test cases as kyua names them (`fork/t_fork_waitpid:fork1`), the names
    /// `test` and `loop` take; with -v, each with its metadata in kyua's spelling.
    #[command(after_help = LIST_EXIT_CODES)]
    List(ListArgs),
    /// Install the suite as a tree kyua runs as is (Kyuafiles, Atffiles, programs). DIR must
    /// be new, empty, or a tree `install` laid out (it holds a .ptrace-atf-tree marker):
    /// then only the files install creates are replaced.
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
    #[command(after_help = repro::LOOP_EXIT_CODES)]
    Loop(repro::Args),
    /// The expected-failure ledger: every case tied to a bug, and from a kyua results
    /// database which still fail as expected, which now pass, which failed otherwise and
    /// which were not run; it names the database it read and its date.
    #[command(after_help = xfail::XFAIL_EXIT_CODES)]
    Xfail(xfail::Args),
    /// Boot a kernel (a bzImage/vmlinuz or a linux-image-*.deb) under QEMU with an
    /// initramfs of the suite, run the suite inside and bring the results back; several
    /// --kernel (or --qemu-cpu) give a matrix.
    #[command(after_help = vm::EXIT_CODES)]
    Vm(vm::Args),
    /// The suite as a LAVA job (the engine KernelCI and LKFT run device farms with): `job`
    /// writes the ramdisk and the job definition for a kernel; `results` reads a job's log
    /// back into the summary and the expected-failure ledger.
    #[command(after_help = lava::EXIT_CODES)]
    Lava(lava::Args),
    /// (Internal, run by the guest's init.) Under an emulated CPU, holds a perf event open.
    #[command(hide = true)]
    HoldPerfEvent,
    /// (Internal, started by `loop`.) Waits for stdin to close, then kills what is left of
    /// session SID.
    #[command(hide = true)]
    GuardSession { sid: i32 },
}

/// Options of `ptrace-atf list`.
#[derive(clap::Args)]
struct ListArgs {
    /// Filters, as `test` takes them (`fork`, `fork/t_fork_waitpid:fork1`, `fork1`,
    /// '*vfork*').
    filters: Vec<String>,
    /// Print each case's metadata as `kyua list -v` does (`description`, `custom.netbsd`,
    /// `required_user` ...).
    #[arg(short, long)]
    verbose: bool,
    /// Print names only (the default; kept for scripts).
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// Print beside each case where it is written: the line of its table row or
    /// registration in the source tree it was built from (`tests/fork/matrix.rs:123`).
    #[arg(short = 'w', long = "where")]
    where_: bool,
}

/// Options of `ptrace-atf test`.
#[derive(clap::Args)]
struct TestArgs {
    /// Filters: an area (`fork`), a program (`fork/t_fork_waitpid`), a case
    /// (`fork/t_fork_waitpid:fork1`), or a bare case name or glob (`fork1`, '*vfork*')
    /// matching in every program. All checked before anything runs.
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
    /// Where kyua stores the results database (default: kyua's store). It needs kyua: with
    /// --direct, or without kyua installed, it is refused (exit 2), as is a file kyua could
    /// not write, before anything runs.
    #[arg(long, value_name = "FILE", conflicts_with = "direct")]
    results_file: Option<PathBuf>,
    /// The installed tree to create or update and run (default: BIN_DIR/ptrace-atf-tests).
    /// It must be new, empty, or a tree ptrace-atf laid out (a .ptrace-atf-tree marker):
    /// any other directory is refused (exit 2) before anything is written.
    #[arg(long, value_name = "DIR")]
    tree: Option<PathBuf>,
    /// Print every case's output (direct driver).
    #[arg(long)]
    verbose: bool,
    /// Multiply every timeout and deadline by N (1-100) for a slow kernel: TCG emulation,
    /// KASAN or lockdep builds. Sets PTRACE_ATF_TIME_SCALE for the programs.
    #[arg(long, value_name = "N", value_parser = parse_time_scale)]
    time_scale: Option<u32>,
}

fn parse_time_scale(s: &str) -> Result<u32, String> {
    ptrace_atf::atf::timescale::parse(s)
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => {
            let known = ptrace_atf::suite::CONFIG_VARS;
            if !known.iter().any(|(n, _)| *n == k) {
                let names: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
                eprintln!(
                    "ptrace-atf: warning: -v {k}: no case of this suite reads '{k}'; passed on anyway (it reads: {})",
                    names.join(", ")
                );
            }
            Ok((k.to_string(), v.to_string()))
        }
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
    // SAFETY: getpwnam returns a pointer into static storage or NULL; read at once.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        None
    } else {
        // SAFETY: pw is a valid passwd record (checked non-NULL above).
        Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
    }
}

/// Whether this process runs as root.
fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The unprivileged user for `require.user: unprivileged` cases: only when running as root
/// (otherwise the command's own user is unprivileged); a user that does not exist is said.
fn unprivileged(user: &str) -> Option<(String, u32, u32)> {
    if !is_root() {
        return None;
    }
    match lookup_user(user) {
        Some((uid, gid)) => Some((user.to_string(), uid, gid)),
        None => {
            eprintln!(
                "ptrace-atf: user '{user}' does not exist; cases that need an unprivileged user will be skipped"
            );
            None
        }
    }
}

fn list(bins: &Path, args: ListArgs) -> ExitCode {
    // A closed stdout (`| head`) ends the listing quietly, as it does `ls`.
    // SAFETY: restores the default action of SIGPIPE (Rust starts with it ignored).
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let filters = match cases::parse_all(&args.filters) {
        Ok(f) => f,
        Err(e) => return fail(2, &e),
    };
    let (_, selected) = match cases::selection(bins, &args.filters, &filters) {
        Ok(s) => s,
        Err((code, e)) => return fail(code, &e),
    };
    let mut sources = std::collections::BTreeMap::new();
    if args.where_ {
        for a in ptrace_atf::suite::AREAS {
            match ptrace_atf::source::literals(a.dir) {
                Ok(l) => sources.insert(a.dir, l),
                Err(e) => {
                    return fail(
                        3,
                        &format!(
                            "--where: the source tree {} cannot be read ({e}); it is read from where the programs were built",
                            ptrace_atf::source::tree().display()
                        ),
                    );
                }
            };
        }
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for c in &selected {
        let at = sources
            .get(c.area)
            .and_then(|l| l.get(&c.listed.ident))
            .and_then(|places| places.first())
            .map(|(f, n)| format!("  {}:{n}", f.display()))
            .unwrap_or_default();
        let _ = if args.verbose {
            writeln!(out, "{} ({}){at}", c.id(), ptrace_atf::suite::SUITE)
        } else {
            writeln!(out, "{}{at}", c.id())
        };
        if args.verbose {
            let mut props: Vec<(String, String)> = c
                .listed
                .props
                .iter()
                .filter_map(|(k, v)| cases::kyua_property(k, v))
                .collect();
            props.sort();
            for (k, v) in props {
                let _ = writeln!(out, "    {k} = {v}");
            }
        }
    }
    if out.flush().is_err() {
        signals::die_by(libc::SIGPIPE);
    }
    ExitCode::SUCCESS
}

/// kyua's filters for the selected cases: none for the whole suite, a program's path when
/// all its cases are selected, else each case.
fn kyua_filters(catalog: &[cases::Case], selected: &[cases::Case]) -> Vec<String> {
    if selected.len() == catalog.len() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < catalog.len() {
        let prog = catalog[i].program_path();
        let total = catalog[i..]
            .iter()
            .take_while(|c| c.program_path() == prog)
            .count();
        let chosen: Vec<&cases::Case> = selected
            .iter()
            .filter(|c| c.program_path() == prog)
            .collect();
        if chosen.len() == total {
            out.push(prog);
        } else {
            out.extend(chosen.iter().map(|c| c.id()));
        }
        i += total;
    }
    out
}

/// The file in a tree naming the results database of its last whole-suite kyua run.
pub const LAST_FULL_RUN: &str = ".ptrace-atf-last-full-run";

fn test(bins: &Path, args: TestArgs) -> ExitCode {
    if let Some(n) = args.time_scale {
        // SAFETY: no other thread runs yet; the programs started from here inherit it.
        unsafe { std::env::set_var(ptrace_atf::atf::timescale::ENV, n.to_string()) };
    }
    let kernel = kernel::RunHealth::start();
    let code = test_suite(bins, args);
    if kernel.finish() {
        code
    } else {
        ExitCode::from(1)
    }
}

fn test_suite(bins: &Path, args: TestArgs) -> ExitCode {
    let TestArgs {
        filters: raw_filters,
        direct: force_direct,
        jobs,
        vars,
        unprivileged_user,
        results_file,
        tree,
        verbose,
        time_scale: _,
    } = args;
    // Everything the user gave is checked before anything is written or run.
    let filters = match cases::parse_all(&raw_filters) {
        Ok(f) => f,
        Err(e) => return fail(2, &e),
    };
    let tree = tree.unwrap_or_else(|| bins.join("ptrace-atf-tests"));
    if let Err(e) = install::check_dest(&tree) {
        return fail(2, &format!("--tree: {e}"));
    }
    // kyua runs in the tree: a relative path is the caller's, made absolute once for the
    // check, for kyua and for the path printed afterwards.
    let results_file = match results_file.map(|f| std::path::absolute(&f)).transpose() {
        Ok(f) => f,
        Err(e) => return fail(2, &format!("--results-file: {e}")),
    };
    if let Some(f) = &results_file {
        if kyua::find().is_none() {
            return fail(
                2,
                &format!(
                    "--results-file {}: kyua is not installed, and the direct driver writes no results database (apt-get install kyua)",
                    f.display()
                ),
            );
        }
        if let Err(e) = kyua::check_results_file(f) {
            return fail(2, &e);
        }
    }
    let (catalog, selected) = match cases::selection(bins, &raw_filters, &filters) {
        Ok(s) => s,
        Err((code, e)) => return fail(code, &e),
    };
    let whole_suite = selected.len() == catalog.len();
    signals::install();
    if let Err(e) = install::install(bins, &tree) {
        return fail(3, &e);
    }
    let jobs = jobs.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
    });
    let vars: BTreeMap<String, String> = vars.into_iter().collect();
    let unpriv = unprivileged(&unprivileged_user);
    let code = match kyua::find() {
        Some(k) if !force_direct => {
            let kyua_filters = kyua_filters(&catalog, &selected);
            let run = kyua::test(
                &k,
                &tree,
                &kyua_filters,
                &vars,
                unpriv.as_ref().map(|u| u.0.as_str()),
                jobs,
                results_file.as_deref(),
            );
            signals::end_all();
            if let Some(sig) = signals::caught() {
                signals::die_by(sig);
            }
            let run = match run {
                Ok(r) => r,
                Err(e) => return fail(4, &e),
            };
            if let Some(db) = &run.database {
                signals::say(&format!("ptrace-atf: results database: {db}"));
                signals::say(&format!(
                    "ptrace-atf: read it with: kyua report --results-file={db} --verbose"
                ));
                if whole_suite && (run.status == 0 || run.status == 1) {
                    // `ptrace-atf xfail` reads the last whole-suite run by default; a run of
                    // some cases only never takes its place.
                    let _ = std::fs::write(tree.join(LAST_FULL_RUN), format!("{db}\n"));
                }
            }
            match run.status {
                0 => 0,
                1 => 1,
                _ => return fail(4, &format!("kyua exited with status {}", run.status)),
            }
        }
        found => {
            if found.is_none() {
                signals::say(
                    "ptrace-atf: kyua is not installed; running the programs directly (install kyua for isolation, reports and a results database: apt-get install kyua)",
                );
            }
            let settings = direct::Settings {
                vars,
                unprivileged: unpriv,
                jobs,
                verbose,
            };
            let ids: std::collections::HashSet<String> =
                selected.iter().map(cases::Case::id).collect();
            let programs = install::installed_programs();
            let outcomes = direct::run(&tree, &programs, &ids, &settings);
            signals::end_all();
            if let Some(sig) = signals::caught() {
                signals::die_by(sig);
            }
            let total = outcomes.len();
            let good = outcomes.iter().filter(|o| o.result.is_good()).count();
            let passed = outcomes
                .iter()
                .filter(|o| matches!(o.result, ptrace_atf::atf::TestResult::Passed))
                .count();
            // Summed from +0.0: an empty f64 sum is -0.0.
            let secs = outcomes.iter().fold(0.0f64, |a, o| a + o.secs.max(0.0));
            signals::say("");
            signals::say(&format!(
                "{passed}/{total} passed ({} failed)",
                total - good
            ));
            signals::say(&format!(
                "ptrace-atf: direct driver: {}, {good} good, {} bad, {secs:.1}s of test time",
                plural(total as u64, "case"),
                total - good
            ));
            if let Some(sig) = signals::caught() {
                signals::die_by(sig);
            }
            u8::from(good != total)
        }
    };
    ExitCode::from(code)
}

/// `1 case`, `2 cases`.
pub fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let bins = match install::bin_dir(cli.bin_dir.as_deref()) {
        Ok(b) => b,
        Err(e) => return fail(3, &e),
    };
    match cli.command {
        Cmd::List(args) => list(&bins, args),
        Cmd::Install { dir } => install_cmd(&bins, &dir),
        Cmd::Truss(args) => truss::run(args),
        Cmd::Loop(args) => repro::run(args, &bins),
        Cmd::Xfail(args) => xfail::run(args, &bins),
        Cmd::Test(args) => test(&bins, args),
        Cmd::Vm(args) => vm::run(args, &bins),
        Cmd::Lava(args) => lava::run(args, &bins),
        Cmd::HoldPerfEvent => vm::hold::run(),
        Cmd::GuardSession { sid } => repro::guard::run(sid),
    }
}

fn install_cmd(bins: &Path, dir: &Path) -> ExitCode {
    if let Err(e) = install::check_dest(dir) {
        return fail(2, &e);
    }
    match install::install(bins, dir) {
        Ok(n) => {
            signals::say(&format!(
                "ptrace-atf: installed {n} programs in {}; run: cd {} && kyua test",
                dir.display(),
                dir.display()
            ));
            ExitCode::SUCCESS
        }
        Err(e) => fail(3, &e),
    }
}
