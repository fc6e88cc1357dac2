//! SIGTRAP blocked or ignored in the forker does not hide its fork events (NetBSD
//! {posix_spawn,fork,vfork,vforkdone}_signal{masked,ignored} and
//! clone{,_vm,_fs,_files,_vfork}_signal{masked,ignored}): event stops are not signals, and
//! the kernel leaves SigBlk and SigIgn (/proc/PID/status) as they were.

use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::harness;
use ptrace_atf::trace::proc::{sig_bit, sig_blocked, sig_ignored};
use ptrace_atf::trace::{Forkee, Options, expect, siginfo, sys};
use ptrace_atf::{child_fail, require};

use crate::common::{Checks, EXIT_CODE, How, follow, forker_body, netbsd_fork_case};
use crate::matrix::ALL_OPTIONS;

/// How SIGTRAP is kept from the forker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hide {
    Masked,
    Ignored,
}

/// The masks seen at the first stop, compared at every later stop.
struct SameMasks {
    how: How,
    blocked: u64,
    ignored: u64,
}

impl SameMasks {
    #[track_caller]
    fn check(&self, pid: Pid, who: &str, exact_block: bool) {
        self.check_ign(pid, who, exact_block, 0);
    }

    /// As `check`, ignoring the SigIgn bits in `glibc_ign`.
    fn check_ign(&self, pid: Pid, who: &str, exact_block: bool, glibc_ign: u64) {
        let blk = sig_blocked(pid);
        if exact_block {
            ptrace_atf::require_eq!(
                format!("{blk:016x}"),
                format!("{:016x}", self.blocked),
                "{}",
                format!("{who} SigBlk")
            );
        } else {
            // Inside glibc's posix_spawn every signal is blocked around the clone.
            let trap = sig_bit(libc::SIGTRAP);
            require!(blk & trap != 0, "{who} SigBlk {blk:016x} lost SIGTRAP");
        }
        let ign = sig_ignored(pid) & !glibc_ign;
        ptrace_atf::require_eq!(
            format!("{ign:016x}"),
            format!("{:016x}", self.ignored & !glibc_ign),
            "{}",
            format!("{who} SigIgn")
        );
    }
}

impl Checks for SameMasks {
    fn at_event(&self, forker: Pid, _child: Pid) {
        self.check(forker, "the forker's", self.how != How::Spawn);
    }
    fn at_child_stop(&self, child: Pid) {
        self.check(child, "the forkee's", self.how != How::Spawn);
    }
    fn at_child_exec(&self, child: Pid) {
        // glibc restored the forker's mask before execve; SIG_IGN survives exec. glibc's
        // spawn child also sets its two internal signals (32, 33) to SIG_IGN.
        let internal = sig_bit(32) | sig_bit(33);
        self.check_ign(child, "the exec'd forkee's", true, internal);
    }
    fn at_vfork_done(&self, forker: Pid) {
        self.check(forker, "the forker's", self.how != How::Spawn);
    }
}

fn scenario(tc: &Tc, how: How, options: Options, hide: Hide) {
    let w = harness::waiter(tc);
    harness::require_pid_waiter(tc, &w);
    let f = Forkee::spawn(move || {
        if let Err(e) = sys::traceme() {
            child_fail!("PTRACE_TRACEME failed: {e}");
        }
        // SAFETY: plain signal-mask and disposition syscalls in the forked child.
        unsafe {
            match hide {
                Hide::Masked => {
                    let mut set: libc::sigset_t = std::mem::zeroed();
                    libc::sigemptyset(&mut set);
                    libc::sigaddset(&mut set, libc::SIGTRAP);
                    libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                }
                Hide::Ignored => {
                    libc::signal(libc::SIGTRAP, libc::SIG_IGN);
                }
            }
            libc::raise(libc::SIGSTOP);
        }
        forker_body(how)
    });
    f.expect_stopped(&w, libc::SIGSTOP);
    siginfo::expect_siginfo(f.pid(), libc::SIGSTOP, expect::RAISE_SI_CODE);
    let masks = SameMasks {
        how,
        blocked: sig_blocked(f.pid()),
        ignored: sig_ignored(f.pid()),
    };
    let (set, name) = match hide {
        Hide::Masked => (masks.blocked, "SigBlk"),
        Hide::Ignored => (masks.ignored, "SigIgn"),
    };
    require!(
        set & sig_bit(libc::SIGTRAP) != 0,
        "{name} {set:016x} lacks SIGTRAP"
    );
    follow(&w, &f, how, options, &masks);
    f.expect_exited(&w, EXIT_CODE);
    w.expect_no_children();
}

/// One case: the forker's call, the options set, and what the tracee does to SIGTRAP.
struct MaskedRow {
    name: &'static str,
    how: How,
    options: Options,
    hide: Hide,
}

/// The *_signalmasked and *_signalignored cases, in listing order.
const MASKED: &[MaskedRow] = &[
    MaskedRow {
        name: "posix_spawn_signalmasked",
        how: How::Spawn,
        options: Options::TRACEVFORK,
        hide: Hide::Masked,
    },
    MaskedRow {
        name: "posix_spawn_signalignored",
        how: How::Spawn,
        options: Options::TRACEVFORK,
        hide: Hide::Ignored,
    },
    MaskedRow {
        name: "fork_signalmasked",
        how: How::Fork,
        options: Options::TRACEFORK,
        hide: Hide::Masked,
    },
    MaskedRow {
        name: "fork_signalignored",
        how: How::Fork,
        options: Options::TRACEFORK,
        hide: Hide::Ignored,
    },
    MaskedRow {
        name: "vfork_signalmasked",
        how: How::Vfork,
        options: Options::TRACEVFORK,
        hide: Hide::Masked,
    },
    MaskedRow {
        name: "vfork_signalignored",
        how: How::Vfork,
        options: Options::TRACEVFORK,
        hide: Hide::Ignored,
    },
    MaskedRow {
        name: "vforkdone_signalmasked",
        how: How::Vfork,
        options: Options::TRACEVFORKDONE,
        hide: Hide::Masked,
    },
    MaskedRow {
        name: "vforkdone_signalignored",
        how: How::Vfork,
        options: Options::TRACEVFORKDONE,
        hide: Hide::Ignored,
    },
    MaskedRow {
        name: "clone_signalmasked",
        how: How::Clone(0),
        options: ALL_OPTIONS,
        hide: Hide::Masked,
    },
    MaskedRow {
        name: "clone_signalignored",
        how: How::Clone(0),
        options: ALL_OPTIONS,
        hide: Hide::Ignored,
    },
    MaskedRow {
        name: "clone_vm_signalmasked",
        how: How::Clone(libc::CLONE_VM),
        options: ALL_OPTIONS,
        hide: Hide::Masked,
    },
    MaskedRow {
        name: "clone_vm_signalignored",
        how: How::Clone(libc::CLONE_VM),
        options: ALL_OPTIONS,
        hide: Hide::Ignored,
    },
    MaskedRow {
        name: "clone_fs_signalmasked",
        how: How::Clone(libc::CLONE_FS),
        options: ALL_OPTIONS,
        hide: Hide::Masked,
    },
    MaskedRow {
        name: "clone_fs_signalignored",
        how: How::Clone(libc::CLONE_FS),
        options: ALL_OPTIONS,
        hide: Hide::Ignored,
    },
    MaskedRow {
        name: "clone_files_signalmasked",
        how: How::Clone(libc::CLONE_FILES),
        options: ALL_OPTIONS,
        hide: Hide::Masked,
    },
    MaskedRow {
        name: "clone_files_signalignored",
        how: How::Clone(libc::CLONE_FILES),
        options: ALL_OPTIONS,
        hide: Hide::Ignored,
    },
    MaskedRow {
        name: "clone_vfork_signalmasked",
        how: How::Clone(libc::CLONE_VFORK),
        options: ALL_OPTIONS,
        hide: Hide::Masked,
    },
    MaskedRow {
        name: "clone_vfork_signalignored",
        how: How::Clone(libc::CLONE_VFORK),
        options: ALL_OPTIONS,
        hide: Hide::Ignored,
    },
];

pub fn cases() -> Vec<TestCase> {
    let mut out = Vec::new();
    for row in MASKED {
        let (name, how, options, hide) = (row.name, row.how, row.options, row.hide);
        let descr = format!(
            "{how:?} traced with {options} while SIGTRAP is {}: the events are still \
             reported and SigBlk/SigIgn of forker and forkee keep their first-stop values",
            if hide == Hide::Masked {
                "blocked"
            } else {
                "ignored (SIG_IGN)"
            }
        );
        let tc = netbsd_fork_case(name, &descr, how);
        out.push(tc.body(move |tc| scenario(tc, how, options, hide)));
    }
    out
}
