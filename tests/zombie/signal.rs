//! `signal1..5` and `race1`: a zombie stays a zombie when signalled, until it is reaped.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::netbsd::SameName;
use ptrace_atf::trace::topology::Channel;
use ptrace_atf::trace::{Forkee, Status, proc, sig_name};
use ptrace_atf::{child_require_eq, harness, require, require_eq};

use crate::common::{appearances, await_zombie, proc_scan};

const SIGNALS: [(&str, i32); 5] = [
    ("signal1", libc::SIGKILL),
    ("signal2", libc::SIGSTOP),
    ("signal3", libc::SIGABRT),
    ("signal4", libc::SIGHUP),
    ("signal5", libc::SIGCONT),
];

fn send(pid: Pid, sig: i32) -> Result<(), Errno> {
    // SAFETY: kill with integer arguments.
    Errno::result(unsafe { libc::kill(pid.as_raw(), sig) }).map(drop)
}

pub fn cases() -> Vec<TestCase> {
    let mut out: Vec<TestCase> = SIGNALS
        .iter()
        .map(|&(name, sig)| {
            let descr = format!(
                "{} sent to a zombie by another process and by its parent succeeds (not ESRCH); it stays a zombie until reaped with exit 0",
                sig_name(sig)
            );
            TestCase::new(name)
                .descr(&descr)
                .timeout(15)
                .netbsd_same_name()
                .body(move |tc| signal_zombie(tc, sig))
        })
        .collect();
    out.push(
        TestCase::new("race1")
            .descr("random signals at dying processes for `duration` seconds (default 5, as NetBSD): in /proc each appears at most once per scan and its state never goes back (alive, zombie, gone)")
            .timeout(30)
            .netbsd_same_name()
            .body(race1),
    );
    out
}

fn signal_zombie(tc: &Tc, sig: i32) {
    let w = harness::waiter(tc);
    let to_killer = Channel::new();
    let from_killer = Channel::new();
    // The other process: told the zombie's pid, signals it and reports kill's errno.
    let killer = Forkee::spawn(|| {
        let pid = to_killer.recv_pid("the zombie's pid");
        let r = send(pid, sig).err().map_or(0, |e| e as i32);
        from_killer.send(r as u32);
        0
    });
    let zombie = Forkee::spawn(|| 0);
    await_zombie(zombie.pid());
    to_killer.send_pid(zombie.pid());
    let errno = from_killer.recv("kill's errno from the other process") as i32;
    require_eq!(
        errno,
        0,
        "errno of kill(zombie, {}) by another process (ESRCH is {})",
        sig_name(sig),
        libc::ESRCH
    );
    require_eq!(
        send(zombie.pid(), sig),
        Ok(()),
        "kill(zombie, {}) by its parent",
        sig_name(sig)
    );
    require_eq!(
        proc::try_state(zombie.pid()),
        Some('Z'),
        "state after the signals"
    );
    // Both children are reaped through "any child" waits, so that every waiter can run this.
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(w.wait_any("the zombie and the other process"));
    }
    for (pid, st) in seen {
        let child = if pid == zombie.pid() {
            &zombie
        } else {
            &killer
        };
        require!(
            pid == zombie.pid() || pid == killer.pid(),
            "unexpected pid {pid} {st}"
        );
        child.check(&w, ptrace_atf::trace::Want::Exited(0), st);
    }
    w.expect_no_children();
}

/// How long race1 runs by default (NetBSD's 5 s); config variable `duration`.
const RACE_SECONDS: u64 = 5;

/// A small xorshift generator (the sequence only needs to be varied, not secure).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Rank of a state in the only allowed order: alive, zombie, gone.
fn rank(state: Option<char>) -> u8 {
    match state {
        Some('Z') => 1,
        None | Some('X') => 2,
        Some(_) => 0,
    }
}

fn race1(tc: &Tc) {
    let w = harness::waiter(tc);
    let duration = Duration::from_secs(tc.config_u64("duration", RACE_SECONDS));
    let seed = Instant::now().elapsed().as_nanos() as u64 ^ u64::from(std::process::id());
    let mut rng = Rng(seed | 1);
    let signals: Vec<i32> = (1..libc::SIGRTMAX())
        .filter(|&s| ![libc::SIGSTOP, libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU].contains(&s))
        .collect();
    let start = Instant::now();
    let mut rounds = 0u64;
    while start.elapsed() < duration {
        rounds += 1;
        let child = Forkee::spawn(|| {
            // SAFETY: getpid has no preconditions; a short life with a few syscalls.
            child_require_eq!(unsafe { libc::getpid() } > 0, true);
            0
        });
        let pid = child.pid();
        let mut last = 0u8;
        loop {
            let sig = signals[(rng.next() % signals.len() as u64) as usize];
            let _ = send(pid, sig);
            let scan = proc_scan();
            let n = appearances(&scan, pid);
            require!(
                n <= 1,
                "round {rounds}: pid {pid} appears {n} times in one /proc scan"
            );
            let r = rank(proc::try_state(pid));
            require!(
                r >= last,
                "round {rounds}: pid {pid} went from state rank {last} back to {r} (0 alive, 1 zombie, 2 gone)"
            );
            require!(
                r < 2,
                "round {rounds}: pid {pid} vanished from /proc before it was reaped"
            );
            last = r;
            if r == 1 {
                break;
            }
        }
        let _ = kill(pid, nix::sys::signal::Signal::SIGKILL);
        let st = w.wait(pid, "the dying process's end");
        require!(
            matches!(st, Status::Exited(0) | Status::Signaled { .. }),
            "round {rounds}: pid {pid} ended with {st}"
        );
        require_eq!(
            proc::try_state(pid),
            None,
            "round {rounds}: /proc/{pid} after reaping"
        );
        // Sending to a reaped pid is ESRCH (unless the pid was reused at once, which the
        // kernel avoids by cycling pids).
        require_eq!(
            send(pid, 0),
            Err(Errno::ESRCH),
            "round {rounds}: kill(reaped pid, 0)"
        );
    }
    require!(rounds > 0, "no round ran");
    w.expect_no_children();
}
