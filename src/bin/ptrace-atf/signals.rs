//! Interrupts and a closed stdout, for the subcommands that start processes (`test`, `loop`):
//! SIGINT, SIGTERM and SIGHUP are caught and recorded; the command then ends every process it
//! started (it is their subreaper, so even a process that left its process group comes back
//! to it when its parent dies), and finally dies by the same signal, so that a shell sees the
//! conventional status (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP, 141 for SIGPIPE).

use std::io::Write;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The first signal caught (0: none).
static CAUGHT: AtomicI32 = AtomicI32::new(0);
/// A process to pass a signal sent with kill(2) on to (0: none; negative: a process group).
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);
/// The signal to send it (0: the one caught).
static FORWARD_AS: AtomicI32 = AtomicI32::new(0);

/// The signals that interrupt a command.
pub const INTERRUPTS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let _ = CAUGHT.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let from_tty = !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL;
    let to = FORWARD_TO.load(Ordering::SeqCst);
    let as_sig = FORWARD_AS.load(Ordering::SeqCst);
    // A terminal's signal already reached the whole foreground process group; one sent with
    // kill(2) reached this process only. A SIGKILL goes out either way.
    if to != 0 && (as_sig == libc::SIGKILL || !from_tty) {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(to, if as_sig == 0 { sig } else { as_sig }) };
    }
}

/// Catches the interrupt signals and makes this process the subreaper of its descendants.
pub fn install() {
    // SAFETY: sigaction with a handler that only touches atomics and calls kill(2); prctl on
    // this process.
    unsafe {
        for sig in INTERRUPTS {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// From now on an interrupt is passed on to `pid` (negative: a process group) as `sig` (0:
/// the same signal); a signal caught earlier is passed on at once.
pub fn forward(pid: i32, sig: i32) {
    FORWARD_AS.store(sig, Ordering::SeqCst);
    FORWARD_TO.store(pid, Ordering::SeqCst);
    let caught = CAUGHT.load(Ordering::SeqCst);
    if caught != 0 {
        // SAFETY: kill(2) of a process this command started.
        unsafe { libc::kill(pid, if sig == 0 { caught } else { sig }) };
    }
}

/// Stops passing interrupts on (the process is gone).
pub fn forward_none() {
    FORWARD_TO.store(0, Ordering::SeqCst);
}

/// The interrupt caught, if any (SIGPIPE once stdout was found closed).
pub fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Records that stdout is closed: the command ends as if interrupted by SIGPIPE.
pub fn stdout_closed() {
    let _ = CAUGHT.compare_exchange(0, libc::SIGPIPE, Ordering::SeqCst, Ordering::SeqCst);
}

/// Prints a line on stdout; a closed stdout is recorded (see `stdout_closed`), never a panic.
pub fn say(line: &str) {
    if caught() == Some(libc::SIGPIPE) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        stdout_closed();
    }
}

/// The pids of this process's descendants (its children, theirs, ...), from /proc.
fn descendants() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut parent_of = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let mut w = rest.split_whitespace();
            let (state, ppid) = (w.next(), w.next().and_then(|p| p.parse::<i32>().ok()));
            if let Some(ppid) = ppid {
                parent_of.push((pid, ppid, state == Some("Z")));
            }
        }
    }
    let mut found = vec![me];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(
            parent_of
                .iter()
                .filter(|(_, pp, _)| *pp == p)
                .map(|(pid, ..)| *pid),
        );
        i += 1;
    }
    let zombies: Vec<i32> = parent_of
        .iter()
        .filter(|(_, _, z)| *z)
        .map(|(p, ..)| *p)
        .collect();
    found
        .into_iter()
        .skip(1)
        .filter(|p| !zombies.contains(p))
        .collect()
}

/// Reaps every child that has ended (a subreaper inherits orphans; none may stay a zombie).
fn reap() {
    let mut status = 0;
    // SAFETY: waitpid with WNOHANG on this process's children.
    while unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG | libc::__WALL) } > 0 {}
}

/// Kills every process this command started that is still alive (SIGKILL ends a process in
/// any stop, a ptrace-stop included) and reaps them. Call it once the children the command
/// waits for itself are reaped: it reaps whatever is left.
pub fn end_all() {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive = descendants();
        for &p in &alive {
            // SAFETY: kill(2) of a descendant of this process.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        reap();
        if alive.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Dies by `sig` (the conventional end of an interrupted command), or exits 128+sig.
pub fn die_by(sig: i32) -> ! {
    let _ = std::io::stderr().flush();
    // SAFETY: restoring the default action of a signal and raising it in this process.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
    }
    std::process::exit(128 + sig)
}

/// Reads `from` line by line on a thread of its own, so that the caller can wait for a line
/// and still notice an interrupt (a descendant may hold the pipe's write end forever).
pub fn lines(from: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(from);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    if tx.send(line.trim_end_matches('\n').to_string()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}
