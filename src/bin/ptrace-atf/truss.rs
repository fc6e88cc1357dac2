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
    /// Write the table to FILE instead of stderr.
    #[arg(short = 'o', value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Attach to a running process instead of starting COMMAND.
    #[arg(short = 'p', value_name = "PID", conflicts_with = "command")]
    pub pid: Option<i32>,
    /// The command to run and trace.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Forks the command: the child waits for the tracer's go on a pipe, stops itself with
/// SIGSTOP and execs. Returns the pid and the pipe's write end.
fn launch(command: &[String]) -> Result<(Pid, std::os::fd::OwnedFd), String> {
    let argv: Vec<CString> = command
        .iter()
        .map(|a| CString::new(a.as_str()).map_err(|_| format!("NUL byte in argument {a:?}")))
        .collect::<Result<_, _>>()?;
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe2: {e}"))?;
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: the child only makes plain syscalls before execvp or _exit.
    match unsafe { libc::fork() } {
        -1 => Err(format!("fork: {}", nix::errno::Errno::last())),
        0 => unsafe {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            libc::close(w.as_raw_fd());
            let mut go = 0u8;
            if libc::read(r.as_raw_fd(), (&raw mut go).cast(), 1) != 1 {
                libc::_exit(127);
            }
            libc::syscall(libc::SYS_kill, libc::getpid(), libc::SIGSTOP);
            libc::execvp(ptrs[0], ptrs.as_ptr());
            let msg = b"ptrace-atf truss: cannot execute the command\n";
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::_exit(127)
        },
        pid => Ok((Pid::from_raw(pid), w)),
    }
}

fn secs(d: Duration) -> String {
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

/// The table: per syscall seconds, calls, errors, missed entries and exits, then totals.
fn table(t: &Tracer, what: &str, ran: Duration) -> String {
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
    for (&nr, c) in t.account.counts() {
        let s = t.seconds.get(&nr).copied().unwrap_or_default();
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
    let (mut tracer, what, go) = match (args.pid, args.command.is_empty()) {
        (Some(pid), true) => {
            let mut t = Tracer::new(Pid::from_raw(pid), args.follow_forks, false);
            if let Err(e) = t.attach(true) {
                eprintln!("ptrace-atf truss: {e}");
                return ExitCode::from(1);
            }
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            (t, comm.trim().to_string(), None)
        }
        (None, false) => match launch(&args.command) {
            Ok((pid, go)) => {
                let mut t = Tracer::new(pid, args.follow_forks, true);
                if let Err(e) = t.seize_launched() {
                    eprintln!("ptrace-atf truss: {e}");
                    return ExitCode::from(1);
                }
                (t, args.command.join(" "), Some(go))
            }
            Err(e) => {
                eprintln!("ptrace-atf truss: {e}");
                return ExitCode::from(1);
            }
        },
        _ => {
            eprintln!("ptrace-atf truss: give either -p PID or -- COMMAND...");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    if let Some(go) = go {
        let _ = nix::unistd::write(&go, b"g");
    }
    tracer.run();
    let text = table(&tracer, &what, start.elapsed());
    let written = match &args.output {
        Some(path) => std::fs::write(path, &text).map_err(|e| format!("{}: {e}", path.display())),
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
