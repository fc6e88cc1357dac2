//! The loop's guard: a small process (`ptrace-atf guard-session SID`, started by `loop` beside
//! the looping program) that outlives a SIGKILLed `loop`. It waits for its stdin, a pipe whose
//! only writer is `loop`, to close; if `loop` died without ending the program's session, the
//! guard kills what is left of it. Without it, a `loop` killed with SIGKILL took its program
//! along (PR_SET_PDEATHSIG) but not the program's tracees: one held in a stop stayed stopped
//! for good once its tracer was gone. After a normal end `loop` kills the guard first.

use std::io::Read;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// How long the guard goes on finding processes of the session before it gives up.
const SWEEP: Duration = Duration::from_secs(5);

/// Starts the guard of session `sid` (None if it cannot be started: the loop then runs
/// without one, as before).
pub(super) fn start(sid: i32) -> Option<Child> {
    let exe = std::env::current_exe().ok()?;
    Command::new(exe)
        .arg("guard-session")
        .arg(sid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// The guard's side: waits for stdin to close, then kills session `sid`.
pub fn run(sid: i32) -> ExitCode {
    if sid <= 1 {
        return crate::fail(
            2,
            &format!("guard-session: {sid} is not a session to guard"),
        );
    }
    // SAFETY: ignoring signals in this process.
    unsafe {
        for sig in crate::signals::INTERRUPTS {
            libc::signal(sig, libc::SIG_IGN);
        }
    }
    let mut buf = [0u8; 64];
    let mut stdin = std::io::stdin();
    while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
    let start = Instant::now();
    loop {
        // SAFETY: kill(2) of the guarded session's process group, then of each member.
        unsafe { libc::kill(-sid, libc::SIGKILL) };
        let left = ptrace_atf::trace::proc::session_members(sid);
        if left.is_empty() || start.elapsed() > SWEEP {
            return ExitCode::SUCCESS;
        }
        for pid in left {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
