//! `ptrace-atf truss`: a syscall tracer built on the toolkit that counts entries, exits,
//! errors and missed events per syscall (the table NetBSD's truss printed).

#[path = "truss_names.rs"]
mod names;
#[path = "truss_trace.rs"]
mod trace;

use std::ffi::CString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use ptrace_atf::trace::Status;

use trace::Tracer;

/// Options of `ptrace-atf truss`.
#[derive(clap::Args)]
pub struct Args {
    /// Follow forked children too.
    #[arg(short = 'f')]
    pub follow_forks: bool,
    /// Write the table to FILE instead of stderr (created, or truncated, before COMMAND
    /// runs: a FILE that cannot be written is an error and nothing runs).
    #[arg(short = 'o', value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Count time, calls and errors per syscall (strace -c); the table is truss's only
    /// output, so this is the default, accepted for strace users.
    #[arg(short = 'c')]
    pub count: bool,
    /// Sort the table by this column: time (default, the most first, as strace -c), calls,
    /// errors or name.
    #[arg(short = 'S', value_name = "SORTBY", default_value = "time")]
    pub sort: SortBy,
    /// Attach to a running process instead of starting COMMAND.
    #[arg(short = 'p', value_name = "PID", conflicts_with = "command")]
    pub pid: Option<i32>,
    /// The command to run and trace.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Columns the table can be sorted by.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortBy {
    Time,
    Calls,
    Errors,
    Name,
}

/// Why a command cannot be run: the shell's status (127 not found, 126 not executable)
/// and the reason.
struct NotRun(u8, String);

/// The status a shell gives for an exec(2) error.
fn exec_status(errno: i32) -> u8 {
    if errno == libc::ENOENT || errno == libc::ENOTDIR {
        127
    } else {
        126
    }
}

/// The program `name` names, searched in PATH as execvp(3) would (done here, before the
/// trace, so that the search's failed execve calls are not counted in the command's table).
fn resolve(name: &str) -> Result<CString, NotRun> {
    let check = |p: &Path| -> Result<CString, i32> {
        let meta = std::fs::metadata(p).map_err(|e| e.raw_os_error().unwrap_or(libc::ENOENT))?;
        if meta.is_dir() {
            return Err(libc::EISDIR);
        }
        let c = CString::new(p.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
        // SAFETY: access(2) on a NUL-terminated path.
        if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
            return Err(nix::errno::Errno::last_raw());
        }
        Ok(c)
    };
    let fail = |e: i32| {
        NotRun(
            exec_status(e),
            format!("{name}: {}", nix::errno::Errno::from_raw(e).desc()),
        )
    };
    if name.is_empty() {
        return Err(fail(libc::ENOENT));
    }
    if name.contains('/') {
        return check(Path::new(name)).map_err(fail);
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    let mut first_error = None;
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        match check(&Path::new(dir).join(name)) {
            Ok(c) => return Ok(c),
            Err(libc::ENOENT | libc::ENOTDIR) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(match first_error {
        Some(e) => fail(e),
        None => NotRun(
            127,
            format!("{name}: No such file or directory (not found in PATH)"),
        ),
    })
}

/// A launched command: its pid, the pipe that lets it go, and the pipe its exec(2) error
/// comes back on (closed without a word when the exec succeeds).
struct Launched {
    pid: Pid,
    go: std::os::fd::OwnedFd,
    exec_error: std::os::fd::OwnedFd,
}

/// Forks the command: the child waits for the tracer's go on a pipe, stops itself with
/// SIGSTOP and execs `path`; an exec error's errno is written on a close-on-exec pipe.
fn launch(path: &CString, command: &[String]) -> Result<Launched, String> {
    let argv: Vec<CString> = command
        .iter()
        .map(|a| CString::new(a.as_str()).map_err(|_| format!("NUL byte in argument {a:?}")))
        .collect::<Result<_, _>>()?;
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe2: {e}"))?;
    let (er, ew) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe2: {e}"))?;
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: the child only makes plain syscalls before execv or _exit.
    match unsafe { libc::fork() } {
        -1 => Err(format!("fork: {}", nix::errno::Errno::last())),
        // SAFETY: in the child: async-signal-safe calls only, on descriptors and memory
        // prepared before the fork.
        0 => unsafe {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            libc::close(w.as_raw_fd());
            libc::close(er.as_raw_fd());
            let mut go = 0u8;
            if libc::read(r.as_raw_fd(), (&raw mut go).cast(), 1) != 1 {
                libc::_exit(127);
            }
            libc::syscall(libc::SYS_kill, libc::getpid(), libc::SIGSTOP);
            libc::execv(path.as_ptr(), ptrs.as_ptr());
            let errno = *libc::__errno_location();
            libc::write(ew.as_raw_fd(), (&raw const errno).cast(), 4);
            libc::_exit(exec_status(errno).into())
        },
        pid => Ok(Launched {
            pid: Pid::from_raw(pid),
            go: w,
            exec_error: er,
        }),
    }
}

/// The errno the launched command's exec(2) failed with, if it did (read once it ended).
fn exec_errno(pipe: std::os::fd::OwnedFd) -> Option<i32> {
    let mut f = std::fs::File::from(pipe);
    let mut b = [0u8; 4];
    std::io::Read::read_exact(&mut f, &mut b).ok()?;
    Some(i32::from_ne_bytes(b))
}

fn secs(d: Duration) -> String {
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

/// The table: per syscall seconds, calls, errors, missed entries and exits, then totals.
fn table(t: &Tracer, what: &str, ran: Duration, sort: SortBy) -> String {
    let mut out = String::new();
    let ended = match (t.detached, t.main_status) {
        (true, _) => "detached".to_string(),
        (false, Some(Status::Exited(c))) => format!("exited with status {c}"),
        (false, Some(Status::Signaled { sig, .. })) => {
            format!("killed by {}", ptrace_atf::trace::sig_name(sig))
        }
        _ => "gone".to_string(),
    };
    let _ = writeln!(
        out,
        "truss: followed pid {} ({what}): {} process(es), {} task(s); ran {} s; {ended}",
        t.main,
        t.processes_seen,
        t.threads_seen,
        secs(ran)
    );
    let _ = writeln!(
        out,
        "{:<24} {:>12} {:>9} {:>9} {:>14} {:>12}",
        "syscall", "seconds", "calls", "errors", "missed-entries", "missed-exits"
    );
    let (mut total_t, mut total) = (Duration::ZERO, [0u64; 4]);
    let mut rows: Vec<_> = t
        .account
        .counts()
        .iter()
        .map(|(&nr, c)| (nr, c, t.seconds.get(&nr).copied().unwrap_or_default()))
        .collect();
    // Ties (and `name`) in name order.
    rows.sort_by_key(|r| names::name(r.0));
    match sort {
        SortBy::Time => rows.sort_by_key(|r| std::cmp::Reverse(r.2)),
        SortBy::Calls => rows.sort_by_key(|r| std::cmp::Reverse(r.1.calls)),
        SortBy::Errors => rows.sort_by_key(|r| std::cmp::Reverse(r.1.errors)),
        SortBy::Name => {}
    }
    for (nr, c, s) in rows {
        let row = [c.calls, c.errors, c.missed_entries, c.missed_exits];
        let _ = writeln!(
            out,
            "{:<24} {:>12} {:>9} {:>9} {:>14} {:>12}",
            names::name(nr),
            secs(s),
            row[0],
            row[1],
            row[2],
            row[3]
        );
        total_t += s;
        for (a, b) in total.iter_mut().zip(row) {
            *a += b;
        }
    }
    // Also counts exits that named no syscall (no row of their own).
    total[2] = t.account.missed_total().0;
    let _ = writeln!(
        out,
        "{:<24} {:>12} {:>9} {:>9} {:>14} {:>12}",
        "total",
        secs(total_t),
        total[0],
        total[1],
        total[2],
        total[3]
    );
    let (traced, inside) = t.leftovers();
    if traced > 0 {
        let _ = writeln!(out, "truss: {traced} thread(s) could not be detached");
    }
    if t.detached && inside > 0 {
        let _ = writeln!(
            out,
            "truss: {inside} thread(s) were inside a syscall at detach"
        );
    }
    out
}

/// Runs the tracer.
pub fn run(args: Args) -> ExitCode {
    // The output file first: a path that cannot be written fails before anything runs.
    let mut output = match &args.output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("ptrace-atf truss: -o {}: {e}", path.display());
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let (mut tracer, what, launched) = match (args.pid, args.command.is_empty()) {
        (Some(pid), true) => {
            let mut t = Tracer::new(Pid::from_raw(pid), args.follow_forks, false);
            if let Err(e) = t.attach(true) {
                eprintln!("ptrace-atf truss: {e}");
                return ExitCode::from(1);
            }
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            (t, comm.trim().to_string(), None)
        }
        (None, false) => {
            let path = match resolve(&args.command[0]) {
                Ok(p) => p,
                Err(NotRun(code, why)) => {
                    eprintln!("ptrace-atf truss: {why}");
                    return ExitCode::from(code);
                }
            };
            match launch(&path, &args.command) {
                Ok(l) => {
                    let mut t = Tracer::new(l.pid, args.follow_forks, true);
                    if let Err(e) = t.seize_launched() {
                        eprintln!("ptrace-atf truss: {e}");
                        return ExitCode::from(1);
                    }
                    (t, args.command.join(" "), Some(l))
                }
                Err(e) => {
                    eprintln!("ptrace-atf truss: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        _ => {
            eprintln!("ptrace-atf truss: give either -p PID or -- COMMAND...");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    let exec_error = launched.map(|l| {
        let _ = nix::unistd::write(&l.go, b"g");
        l.exec_error
    });
    tracer.run();
    if let Some(errno) = exec_error.and_then(exec_errno) {
        eprintln!(
            "ptrace-atf truss: {}: {}",
            args.command[0],
            nix::errno::Errno::from_raw(errno).desc()
        );
        return ExitCode::from(exec_status(errno));
    }
    let text = table(&tracer, &what, start.elapsed(), args.sort);
    let written = match &mut output {
        Some(f) => f.write_all(text.as_bytes()).map_err(|e| {
            format!(
                "{}: {e}",
                args.output.as_deref().unwrap_or(Path::new("")).display()
            )
        }),
        None => std::io::stderr()
            .write_all(text.as_bytes())
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = written {
        eprintln!("ptrace-atf truss: writing the table: {e}");
        return ExitCode::from(1);
    }
    match (tracer.detached, tracer.main_status) {
        (false, Some(Status::Exited(c))) => ExitCode::from(c as u8),
        (false, Some(Status::Signaled { sig, .. })) => ExitCode::from(128 + sig as u8),
        _ => ExitCode::SUCCESS,
    }
}
