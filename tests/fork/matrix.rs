//! The option matrix: fork, vfork, posix_spawn, clone and clone3 under every combination of
//! TRACEFORK, TRACEVFORK and TRACEVFORKDONE (NetBSD fork1..8, vfork1..8, posix_spawn1..8,
//! clone{,_vm,_fs,_files,_vfork}1..8, *_setpgid; clone3 is Linux-only).

use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::harness;
use ptrace_atf::trace::{Forkee, Options, expect};

use crate::common::{
    Checks, EXIT_CODE, How, NoChecks, Plan, follow, matrix_options, require_spawn_prog,
};

/// One way of creating the forkee, with the name prefix its cases use.
struct Family {
    prefix: &'static str,
    how: How,
    netbsd: bool,
    what: &'static str,
}

const FAMILIES: &[Family] = &[
    Family {
        prefix: "fork",
        how: How::Fork,
        netbsd: true,
        what: "fork()",
    },
    Family {
        prefix: "vfork",
        how: How::Vfork,
        netbsd: true,
        what: "vfork()",
    },
    Family {
        prefix: "posix_spawn",
        how: How::Spawn,
        netbsd: true,
        what: "posix_spawn(/bin/true)",
    },
    Family {
        prefix: "clone",
        how: How::Clone(0),
        netbsd: true,
        what: "clone(SIGCHLD)",
    },
    Family {
        prefix: "clone_vm",
        how: How::Clone(libc::CLONE_VM),
        netbsd: true,
        what: "clone(CLONE_VM|SIGCHLD)",
    },
    Family {
        prefix: "clone_fs",
        how: How::Clone(libc::CLONE_FS),
        netbsd: true,
        what: "clone(CLONE_FS|SIGCHLD)",
    },
    Family {
        prefix: "clone_files",
        how: How::Clone(libc::CLONE_FILES),
        netbsd: true,
        what: "clone(CLONE_FILES|SIGCHLD)",
    },
    Family {
        prefix: "clone_vfork",
        how: How::Clone(libc::CLONE_VFORK),
        netbsd: true,
        what: "clone(CLONE_VFORK|SIGCHLD)",
    },
    Family {
        prefix: "clone3_plain",
        how: How::Clone3(0, libc::SIGCHLD),
        netbsd: false,
        what: "clone3(exit_signal=SIGCHLD)",
    },
    Family {
        prefix: "clone3_vm",
        how: How::Clone3(libc::CLONE_VM as u64, libc::SIGCHLD),
        netbsd: false,
        what: "clone3(CLONE_VM, exit_signal=SIGCHLD)",
    },
    Family {
        prefix: "clone3_fs",
        how: How::Clone3(libc::CLONE_FS as u64, libc::SIGCHLD),
        netbsd: false,
        what: "clone3(CLONE_FS, exit_signal=SIGCHLD)",
    },
    Family {
        prefix: "clone3_files",
        how: How::Clone3(libc::CLONE_FILES as u64, libc::SIGCHLD),
        netbsd: false,
        what: "clone3(CLONE_FILES, exit_signal=SIGCHLD)",
    },
    Family {
        prefix: "clone3_vfork",
        how: How::Clone3(libc::CLONE_VFORK as u64, libc::SIGCHLD),
        netbsd: false,
        what: "clone3(CLONE_VFORK, exit_signal=SIGCHLD)",
    },
];

/// The `_setpgid` variants: fork, vfork and posix_spawn with every option.
const SETPGID: &[(&str, How)] = &[
    ("fork_setpgid", How::Fork),
    ("vfork_setpgid", How::Vfork),
    ("posix_spawn_setpgid", How::Spawn),
];

/// Every option of the matrix at once.
pub const ALL_OPTIONS: Options =
    Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE);

/// What a plan promises, in words, for descriptions.
pub fn promise(plan: &Plan) -> String {
    let mut parts = Vec::new();
    match plan.event {
        Some(ev) => parts.push(format!(
            "the forker stops at {ev} (message: the forkee's pid) and the forkee is auto-attached"
        )),
        None => parts.push("no creation event, the forkee is not traced".to_string()),
    }
    if plan.exec {
        parts.push("the forkee reports PTRACE_EVENT_EXEC".to_string());
    }
    if plan.vfork_done {
        parts.push("then PTRACE_EVENT_VFORK_DONE".to_string());
    }
    parts.push("both exit cleanly".to_string());
    parts.join("; ")
}

/// The forker's first stop, then `follow`, then its exit; `setpgid` makes the forker a
/// process-group leader first (and checks the forkee inherits the group).
pub fn scenario(tc: &Tc, how: How, options: Options, setpgid: bool) {
    let w = harness::waiter(tc);
    if Plan::new(how, options).two_tracees() {
        harness::require_pid_waiter(tc, &w);
    }
    let f = Forkee::traceme(move || {
        // SAFETY: setpgid is async-signal-safe.
        if setpgid && unsafe { libc::setpgid(0, 0) } != 0 {
            ptrace_atf::child_fail!("setpgid(0, 0) failed: {}", nix::errno::Errno::last());
        }
        crate::common::forker_body(how)
    });
    f.expect_stopped(&w, expect::AUTO_ATTACH_FIRST_STOP);
    let checks: &dyn Checks = if setpgid { &SameGroup } else { &NoChecks };
    follow(&w, &f, how, options, checks);
    f.expect_exited(&w, EXIT_CODE);
    w.expect_no_children();
}

/// Checks the forkee is in the forker's process group.
struct SameGroup;
impl Checks for SameGroup {
    fn at_event(&self, forker: Pid, _child: Pid) {
        // SAFETY: getpgid has no memory arguments.
        let pgrp = unsafe { libc::getpgid(forker.as_raw()) };
        ptrace_atf::require_eq!(
            pgrp,
            forker.as_raw(),
            "the forker's process group (it leads its own)"
        );
    }
    fn at_child_stop(&self, child: Pid) {
        // SAFETY: as above.
        let pgrp = unsafe { libc::getpgid(child.as_raw()) };
        let parent = ptrace_atf::trace::proc::ppid(child);
        ptrace_atf::require_eq!(
            pgrp,
            parent.as_raw(),
            "the forkee's process group (the forker's)"
        );
    }
}

fn case(name: String, what: &str, how: How, options: Options, netbsd: bool) -> TestCase {
    let plan = Plan::new(how, options);
    let descr = format!("{what} traced with {options}: {}", promise(&plan));
    let mut tc = TestCase::new(name.clone()).descr(&descr).timeout(20);
    if netbsd {
        tc = tc.netbsd(&ptrace_atf::netbsd::id(&name));
    }
    tc = require_spawn_prog(tc, how);
    tc.body(move |tc| scenario(tc, how, options, false))
}

/// Every matrix case: 8 per family, plus the setpgid variants.
pub fn cases() -> Vec<TestCase> {
    let mut out = Vec::new();
    for fam in FAMILIES {
        for n in 1..=8 {
            let name = format!("{}{n}", fam.prefix);
            out.push(case(name, fam.what, fam.how, matrix_options(n), fam.netbsd));
        }
    }
    for &(name, how) in SETPGID {
        let descr = format!(
            "{how:?} from a forker that made itself a process-group leader, with every \
             option: the events arrive and the forkee inherits the group"
        );
        let tc = require_spawn_prog(
            TestCase::new(name)
                .descr(&descr)
                .timeout(20)
                .netbsd(&ptrace_atf::netbsd::id(name)),
            how,
        );
        out.push(tc.body(move |tc| scenario(tc, how, ALL_OPTIONS, true)));
    }
    out
}
