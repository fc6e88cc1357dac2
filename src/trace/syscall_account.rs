//! Syscall entry/exit accounting: pairs every syscall-entry stop with its exit stop, per
//! thread, and counts calls, errors and missed events per syscall.
//!
//! One state machine per tid: "entry expected next" or "exit of syscall N expected next".
//! The kernel's rules (x86_64):
//! - `exit` and `exit_group` never report an exit stop: the thread dies after the entry stop
//!   (`on_thread_exit` completes them as `no_return`);
//! - a thread killed while inside a syscall (SIGKILL, another thread's exit_group or execve)
//!   may not report the exit stop: `on_thread_exit` counts that syscall as `unfinished`;
//! - a successful `execve` from a non-leader thread reports its exit stop under the leader's
//!   tid (the former tid is PTRACE_EVENT_EXEC's message): `on_exec` moves the pending entry;
//! - `rt_sigreturn` reports its exit stop with orig_rax = -1 (the restored frame has none),
//!   so an exit whose number is unknown or -1 pairs with any pending entry;
//! - a thread seen for the first time (a clone child, a new process) starts with "entry
//!   expected"; after attaching mid-flight (`on_attach`) either kind is accepted once.
//!
//! Anything else is a missed event: an entry while an exit was expected is a missed exit of
//! the pending syscall; an exit while an entry was expected is a missed entry of that
//! syscall (when the exit says which); an exit naming another syscall than the pending one is
//! both. Feed syscall stops through `on_stop` with a `SyscallStop` (`read_stop` reads
//! PTRACE_GET_SYSCALL_INFO through `syscall_info` plus orig_rax; `SyscallStop::from_info`
//! converts a `SyscallInfo` already read).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use nix::unistd::Pid;

use super::sys;
use super::syscall_info::{self, Op, SyscallInfo};

/// x86_64 syscall numbers with special rules.
pub mod nr {
    /// rt_sigreturn: its exit stop carries orig_rax = -1.
    pub const RT_SIGRETURN: u64 = libc::SYS_rt_sigreturn as u64;
    /// execve: exit stop under the leader's tid when called from another thread.
    pub const EXECVE: u64 = libc::SYS_execve as u64;
    /// execveat: like execve.
    pub const EXECVEAT: u64 = libc::SYS_execveat as u64;
    /// exit: no exit stop.
    pub const EXIT: u64 = libc::SYS_exit as u64;
    /// exit_group: no exit stop.
    pub const EXIT_GROUP: u64 = libc::SYS_exit_group as u64;
}

/// Whether syscall `nr` never returns when it succeeds (no exit stop): exit, exit_group.
pub const fn never_returns(nr: u64) -> bool {
    nr == nr::EXIT || nr == nr::EXIT_GROUP
}

/// One syscall stop, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallStop {
    /// Syscall-entry stop of syscall `nr`.
    Entry {
        /// The syscall number.
        nr: u64,
    },
    /// Syscall-exit stop.
    Exit {
        /// The syscall number, when known (orig_rax; -1 after rt_sigreturn).
        nr: Option<u64>,
        /// The return value (negative errno when `is_error`).
        rval: i64,
        /// Whether the kernel reports an error return.
        is_error: bool,
    },
    /// Any other stop PTRACE_GET_SYSCALL_INFO describes (none, seccomp): ignored.
    Other,
}

/// offsetof(struct user_regs_struct, orig_rax) in struct user.
const ORIG_RAX_OFFSET: usize = 15 * 8;

impl SyscallStop {
    /// The stop a decoded PTRACE_GET_SYSCALL_INFO describes; `exit_nr` is the syscall
    /// number to put in an exit (the kernel's exit record has none: read orig_rax).
    pub fn from_info(info: &SyscallInfo, exit_nr: Option<u64>) -> SyscallStop {
        match info.op() {
            Op::Entry => SyscallStop::Entry { nr: info.nr },
            Op::Exit => SyscallStop::Exit {
                nr: exit_nr,
                rval: info.rval,
                is_error: info.is_error != 0,
            },
            _ => SyscallStop::Other,
        }
    }
}

/// Reads the stop `tid` is in: PTRACE_GET_SYSCALL_INFO, plus orig_rax for exit stops.
pub fn read_stop(tid: Pid) -> nix::Result<SyscallStop> {
    let (info, _) = syscall_info::get(tid)?;
    let exit_nr = if info.op() == Op::Exit {
        Some(sys::peekuser(tid, ORIG_RAX_OFFSET)? as u64)
    } else {
        None
    };
    Ok(SyscallStop::from_info(&info, exit_nr))
}

/// Counts for one syscall number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallCount {
    /// Entry stops seen.
    pub calls: u64,
    /// Exit stops paired with an entry.
    pub exits: u64,
    /// Paired exits that returned an error.
    pub errors: u64,
    /// Entries of exit/exit_group completed by the thread's death (no exit stop by design).
    pub no_return: u64,
    /// Entries whose thread died before the exit stop (killed inside the syscall).
    pub unfinished: u64,
    /// Exit stops with no entry stop before them.
    pub missed_entries: u64,
    /// Entry stops whose exit stop never came (another entry came first).
    pub missed_exits: u64,
}

impl SyscallCount {
    /// Whether any event of this syscall was missed.
    pub fn missed(&self) -> bool {
        self.missed_entries != 0 || self.missed_exits != 0
    }
}

/// What one tid is expected to report next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Entry,
    Exit(u64),
    /// Attached mid-flight: the first stop may be either.
    Either,
}

/// The per-tid state machines and the per-syscall counts; see the module documentation.
#[derive(Debug, Default)]
pub struct SyscallAccount {
    next: HashMap<Pid, Next>,
    counts: BTreeMap<u64, SyscallCount>,
    unknown_missed_entries: u64,
    stops: u64,
}

impl SyscallAccount {
    /// An empty account.
    pub fn new() -> SyscallAccount {
        SyscallAccount::default()
    }

    fn count(&mut self, nr: u64) -> &mut SyscallCount {
        self.counts.entry(nr).or_default()
    }

    /// Marks `tid` as attached mid-flight: its first stop may be an exit without an entry.
    pub fn on_attach(&mut self, tid: Pid) {
        self.next.insert(tid, Next::Either);
    }

    /// Accounts one syscall stop of `tid`.
    pub fn on_stop(&mut self, tid: Pid, stop: SyscallStop) {
        let next = self.next.get(&tid).copied().unwrap_or(Next::Entry);
        match stop {
            SyscallStop::Other => return,
            SyscallStop::Entry { nr } => {
                if let Next::Exit(pending) = next {
                    self.count(pending).missed_exits += 1;
                }
                self.count(nr).calls += 1;
                self.next.insert(tid, Next::Exit(nr));
            }
            SyscallStop::Exit { nr, is_error, .. } => {
                let nr = nr.filter(|&n| n != u64::MAX);
                match (next, nr) {
                    (Next::Exit(pending), Some(n)) if n != pending => {
                        self.count(pending).missed_exits += 1;
                        self.count(n).missed_entries += 1;
                    }
                    (Next::Exit(pending), _) => {
                        let c = self.count(pending);
                        c.exits += 1;
                        c.errors += u64::from(is_error);
                    }
                    (Next::Either, _) => {}
                    (Next::Entry, Some(n)) => self.count(n).missed_entries += 1,
                    (Next::Entry, None) => self.unknown_missed_entries += 1,
                }
                self.next.insert(tid, Next::Entry);
            }
        }
        self.stops += 1;
    }

    /// `tid` is gone (PTRACE_EVENT_EXIT, or reaped): completes or closes its pending syscall.
    /// Calling it twice for one death is harmless.
    pub fn on_thread_exit(&mut self, tid: Pid) {
        if let Some(Next::Exit(nr)) = self.next.remove(&tid) {
            if never_returns(nr) {
                self.count(nr).no_return += 1;
            } else {
                self.count(nr).unfinished += 1;
            }
        }
    }

    /// PTRACE_EVENT_EXEC under `leader` with message `former` (the tid that called execve):
    /// the former leader died in the exec, and the pending execve moves to `leader`.
    pub fn on_exec(&mut self, leader: Pid, former: Pid) {
        if leader == former {
            return;
        }
        self.on_thread_exit(leader);
        if let Some(state) = self.next.remove(&former) {
            self.next.insert(leader, state);
        }
    }

    /// Syscall stops accounted so far.
    pub fn stops(&self) -> u64 {
        self.stops
    }

    /// The counts of syscall `nr` (all zero if never seen).
    pub fn get(&self, nr: u64) -> SyscallCount {
        self.counts.get(&nr).copied().unwrap_or_default()
    }

    /// Every syscall seen, by number.
    pub fn counts(&self) -> &BTreeMap<u64, SyscallCount> {
        &self.counts
    }

    /// Tids still inside a syscall (entry seen, no exit, not dead), with the syscall.
    pub fn pending(&self) -> Vec<(Pid, u64)> {
        let mut v: Vec<(Pid, u64)> = self
            .next
            .iter()
            .filter_map(|(&t, &n)| match n {
                Next::Exit(nr) => Some((t, nr)),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    /// Total missed entries and exits (including exits that named no syscall).
    pub fn missed_total(&self) -> (u64, u64) {
        let e = self.counts.values().map(|c| c.missed_entries).sum::<u64>();
        let x = self.counts.values().map(|c| c.missed_exits).sum();
        (e + self.unknown_missed_entries, x)
    }

    /// Whether no event was missed.
    pub fn is_clean(&self) -> bool {
        self.missed_total() == (0, 0)
    }

    /// The missed events per syscall: `getppid: 2 missed entries, 1 missed exit; ...`.
    pub fn missed_report(&self) -> String {
        let mut parts: Vec<String> = self
            .counts
            .iter()
            .filter(|(_, c)| c.missed())
            .map(|(&nr, c)| {
                format!(
                    "{}: {} missed entries, {} missed exits (of {} calls)",
                    syscall_name(nr),
                    c.missed_entries,
                    c.missed_exits,
                    c.calls
                )
            })
            .collect();
        if self.unknown_missed_entries != 0 {
            parts.push(format!(
                "unknown syscall: {} missed entries",
                self.unknown_missed_entries
            ));
        }
        if parts.is_empty() {
            "no missed events".to_string()
        } else {
            parts.join("; ")
        }
    }
}

impl fmt::Display for SyscallAccount {
    /// One line per syscall: `name calls exits errors no_return unfinished missed_e missed_x`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<16} {:>8} {:>8} {:>6} {:>6} {:>6} {:>8} {:>8}",
            "syscall", "calls", "exits", "errors", "noret", "unfin", "miss-ent", "miss-exit"
        )?;
        for (&nr, c) in &self.counts {
            writeln!(
                f,
                "{:<16} {:>8} {:>8} {:>6} {:>6} {:>6} {:>8} {:>8}",
                syscall_name(nr),
                c.calls,
                c.exits,
                c.errors,
                c.no_return,
                c.unfinished,
                c.missed_entries,
                c.missed_exits
            )?;
        }
        Ok(())
    }
}

/// A short name for the syscalls a threaded tracee commonly makes, else `syscall_N`.
pub fn syscall_name(nr: u64) -> String {
    let known: &[(i64, &str)] = &[
        (libc::SYS_read, "read"),
        (libc::SYS_write, "write"),
        (libc::SYS_close, "close"),
        (libc::SYS_mmap, "mmap"),
        (libc::SYS_mprotect, "mprotect"),
        (libc::SYS_munmap, "munmap"),
        (libc::SYS_brk, "brk"),
        (libc::SYS_rt_sigaction, "rt_sigaction"),
        (libc::SYS_rt_sigprocmask, "rt_sigprocmask"),
        (libc::SYS_rt_sigreturn, "rt_sigreturn"),
        (libc::SYS_madvise, "madvise"),
        (libc::SYS_sched_yield, "sched_yield"),
        (libc::SYS_getpid, "getpid"),
        (libc::SYS_clone, "clone"),
        (libc::SYS_fork, "fork"),
        (libc::SYS_vfork, "vfork"),
        (libc::SYS_execve, "execve"),
        (libc::SYS_exit, "exit"),
        (libc::SYS_wait4, "wait4"),
        (libc::SYS_kill, "kill"),
        (libc::SYS_getppid, "getppid"),
        (libc::SYS_gettid, "gettid"),
        (libc::SYS_tkill, "tkill"),
        (libc::SYS_futex, "futex"),
        (libc::SYS_set_tid_address, "set_tid_address"),
        (libc::SYS_exit_group, "exit_group"),
        (libc::SYS_tgkill, "tgkill"),
        (libc::SYS_set_robust_list, "set_robust_list"),
        (libc::SYS_execveat, "execveat"),
        (libc::SYS_rseq, "rseq"),
        (libc::SYS_clone3, "clone3"),
    ];
    known
        .iter()
        .find(|(n, _)| *n as u64 == nr)
        .map(|(_, name)| name.to_string())
        .unwrap_or_else(|| format!("syscall_{nr}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GETPPID: u64 = libc::SYS_getppid as u64;
    const FUTEX: u64 = libc::SYS_futex as u64;

    fn entry(nr: u64) -> SyscallStop {
        SyscallStop::Entry { nr }
    }

    fn exit(nr: u64, rval: i64) -> SyscallStop {
        SyscallStop::Exit {
            nr: Some(nr),
            rval,
            is_error: rval < 0,
        }
    }

    #[test]
    fn pairs_per_thread() {
        let (a, b) = (Pid::from_raw(10), Pid::from_raw(11));
        let mut acc = SyscallAccount::new();
        acc.on_stop(a, entry(GETPPID));
        acc.on_stop(b, entry(FUTEX));
        acc.on_stop(a, exit(GETPPID, 1));
        acc.on_stop(b, exit(FUTEX, -11));
        acc.on_stop(a, entry(nr::EXIT));
        acc.on_thread_exit(a);
        acc.on_thread_exit(a);
        assert!(acc.is_clean(), "{}", acc.missed_report());
        assert_eq!(acc.get(FUTEX).errors, 1);
        assert_eq!(acc.get(nr::EXIT).no_return, 1);
        assert_eq!(acc.stops(), 5);
        assert!(acc.pending().is_empty());
    }

    #[test]
    fn counts_missed_events() {
        let a = Pid::from_raw(10);
        let mut acc = SyscallAccount::new();
        acc.on_stop(a, entry(GETPPID));
        acc.on_stop(a, entry(GETPPID)); // missed exit
        acc.on_stop(a, exit(GETPPID, 1));
        acc.on_stop(a, exit(GETPPID, 1)); // missed entry
        acc.on_stop(a, entry(FUTEX));
        acc.on_stop(a, exit(GETPPID, 1)); // exit of another syscall
        assert_eq!(acc.missed_total(), (2, 2));
        assert_eq!(acc.get(GETPPID).missed_entries, 2);
        assert_eq!(acc.get(FUTEX).missed_exits, 1);
        assert!(
            acc.missed_report()
                .starts_with("getppid: 2 missed entries, 1 missed exits")
        );
    }

    #[test]
    fn exec_from_a_thread_and_sigreturn() {
        let (leader, t) = (Pid::from_raw(10), Pid::from_raw(12));
        let mut acc = SyscallAccount::new();
        acc.on_stop(leader, entry(FUTEX));
        acc.on_stop(t, entry(nr::EXECVE));
        acc.on_exec(leader, t);
        acc.on_stop(leader, exit(nr::EXECVE, 0));
        acc.on_stop(leader, entry(nr::RT_SIGRETURN));
        acc.on_stop(leader, exit(u64::MAX, 0));
        acc.on_attach(t);
        acc.on_stop(t, exit(FUTEX, 0));
        assert!(acc.is_clean(), "{}", acc.missed_report());
        assert_eq!(acc.get(FUTEX).unfinished, 1);
        assert_eq!(acc.get(nr::EXECVE).exits, 1);
    }

    #[test]
    fn converts_syscall_info() {
        let mut info = SyscallInfo {
            op_raw: Op::Entry.raw(),
            nr: 39,
            ..Default::default()
        };
        assert_eq!(
            SyscallStop::from_info(&info, None),
            SyscallStop::Entry { nr: 39 }
        );
        info.op_raw = Op::Exit.raw();
        info.rval = -2;
        info.is_error = 1;
        assert_eq!(
            SyscallStop::from_info(&info, Some(2)),
            SyscallStop::Exit {
                nr: Some(2),
                rval: -2,
                is_error: true
            }
        );
        info.op_raw = Op::None.raw();
        assert_eq!(SyscallStop::from_info(&info, None), SyscallStop::Other);
    }
}
