//! The option matrix: fork, vfork, posix_spawn, clone and clone3 under every combination of
//! TRACEFORK, TRACEVFORK and TRACEVFORKDONE (NetBSD fork1..8, vfork1..8, posix_spawn1..8,
//! clone{,_vm,_fs,_files,_vfork}1..8, *_setpgid; clone3 is Linux-only).

use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::harness;
use ptrace_atf::netbsd::SameName;
use ptrace_atf::trace::{Forkee, Options, expect};

use crate::common::{
    Checks, EXIT_CODE, How, NoChecks, Plan, follow, netbsd_fork_case, require_spawn_prog,
};

/// One matrix case: its name, how the forker creates the forkee (`call` as the description
/// says it), the options the tracer sets at the forker's first stop, and the reports the
/// tracer must then see, in order, as `t_fork -l` prints them after `traced with <options>: `.
/// `follow` walks `Plan::new(how, options)`; a row whose `stops` disagree with that plan
/// fails (see `cases`), so the words here are what the case asserts.
struct Row {
    name: &'static str,
    how: How,
    call: &'static str,
    options: Options,
    netbsd: bool,
    stops: &'static str,
}

/// NetBSD's fork1..8, vfork1..8, posix_spawn1..8, clone{,_vm,_fs,_files,_vfork}1..8, and
/// Linux's clone3 families: variant n sets TRACEFORK (bit 0), TRACEVFORK (bit 1) and
/// TRACEVFORKDONE (bit 2) of n-1.
const MATRIX: &[Row] = &[
    Row {
        name: "fork1",
        how: How::Fork,
        call: "fork()",
        options: Options::NONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "fork2",
        how: How::Fork,
        call: "fork()",
        options: Options::TRACEFORK,
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "fork3",
        how: How::Fork,
        call: "fork()",
        options: Options::TRACEVFORK,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "fork4",
        how: How::Fork,
        call: "fork()",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "fork5",
        how: How::Fork,
        call: "fork()",
        options: Options::TRACEVFORKDONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "fork6",
        how: How::Fork,
        call: "fork()",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "fork7",
        how: How::Fork,
        call: "fork()",
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "fork8",
        how: How::Fork,
        call: "fork()",
        options: Options(
            libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE,
        ),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "vfork1",
        how: How::Vfork,
        call: "vfork()",
        options: Options::NONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "vfork2",
        how: How::Vfork,
        call: "vfork()",
        options: Options::TRACEFORK,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "vfork3",
        how: How::Vfork,
        call: "vfork()",
        options: Options::TRACEVFORK,
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "vfork4",
        how: How::Vfork,
        call: "vfork()",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "vfork5",
        how: How::Vfork,
        call: "vfork()",
        options: Options::TRACEVFORKDONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
    },
    Row {
        name: "vfork6",
        how: How::Vfork,
        call: "vfork()",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "no creation event, the forkee is not traced; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
    },
    Row {
        name: "vfork7",
        how: How::Vfork,
        call: "vfork()",
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
    },
    Row {
        name: "vfork8",
        how: How::Vfork,
        call: "vfork()",
        options: Options(
            libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE,
        ),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
    },
    Row {
        name: "posix_spawn1",
        how: How::Spawn,
        call: "posix_spawn(/bin/true)",
        options: Options::NONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "posix_spawn2",
        how: How::Spawn,
        call: "posix_spawn(/bin/true)",
        options: Options::TRACEFORK,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "posix_spawn3",
        how: How::Spawn,
        call: "posix_spawn(/bin/true)",
        options: Options::TRACEVFORK,
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; the forkee reports PTRACE_EVENT_EXEC; both exit cleanly",
    },
    Row {
        name: "posix_spawn4",
        how: How::Spawn,
        call: "posix_spawn(/bin/true)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; the forkee reports PTRACE_EVENT_EXEC; both exit cleanly",
    },
    Row {
        name: "posix_spawn5",
        how: How::Spawn,
        call: "posix_spawn(/bin/true)",
        options: Options::TRACEVFORKDONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
    },
    Row {
        name: "posix_spawn6",
        how: How::Spawn,
        call: "posix_spawn(/bin/true)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "no creation event, the forkee is not traced; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
    },
    Row {
        name: "posix_spawn7",
        how: How::Spawn,
        call: "posix_spawn(/bin/true)",
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; the forkee reports PTRACE_EVENT_EXEC; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
    },
    Row {
        name: "posix_spawn8",
        how: How::Spawn,
        call: "posix_spawn(/bin/true)",
        options: Options(
            libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE,
        ),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; the forkee reports PTRACE_EVENT_EXEC; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
    },
    Row {
        name: "clone1",
        how: How::Clone(0),
        call: "clone(SIGCHLD)",
        options: Options::NONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone2",
        how: How::Clone(0),
        call: "clone(SIGCHLD)",
        options: Options::TRACEFORK,
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3",
        how: How::Clone(0),
        call: "clone(SIGCHLD)",
        options: Options::TRACEVFORK,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone4",
        how: How::Clone(0),
        call: "clone(SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone5",
        how: How::Clone(0),
        call: "clone(SIGCHLD)",
        options: Options::TRACEVFORKDONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone6",
        how: How::Clone(0),
        call: "clone(SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone7",
        how: How::Clone(0),
        call: "clone(SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone8",
        how: How::Clone(0),
        call: "clone(SIGCHLD)",
        options: Options(
            libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE,
        ),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone_vm1",
        how: How::Clone(libc::CLONE_VM),
        call: "clone(CLONE_VM|SIGCHLD)",
        options: Options::NONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone_vm2",
        how: How::Clone(libc::CLONE_VM),
        call: "clone(CLONE_VM|SIGCHLD)",
        options: Options::TRACEFORK,
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone_vm3",
        how: How::Clone(libc::CLONE_VM),
        call: "clone(CLONE_VM|SIGCHLD)",
        options: Options::TRACEVFORK,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone_vm4",
        how: How::Clone(libc::CLONE_VM),
        call: "clone(CLONE_VM|SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone_vm5",
        how: How::Clone(libc::CLONE_VM),
        call: "clone(CLONE_VM|SIGCHLD)",
        options: Options::TRACEVFORKDONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone_vm6",
        how: How::Clone(libc::CLONE_VM),
        call: "clone(CLONE_VM|SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone_vm7",
        how: How::Clone(libc::CLONE_VM),
        call: "clone(CLONE_VM|SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone_vm8",
        how: How::Clone(libc::CLONE_VM),
        call: "clone(CLONE_VM|SIGCHLD)",
        options: Options(
            libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE,
        ),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone_fs1",
        how: How::Clone(libc::CLONE_FS),
        call: "clone(CLONE_FS|SIGCHLD)",
        options: Options::NONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone_fs2",
        how: How::Clone(libc::CLONE_FS),
        call: "clone(CLONE_FS|SIGCHLD)",
        options: Options::TRACEFORK,
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone_fs3",
        how: How::Clone(libc::CLONE_FS),
        call: "clone(CLONE_FS|SIGCHLD)",
        options: Options::TRACEVFORK,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone_fs4",
        how: How::Clone(libc::CLONE_FS),
        call: "clone(CLONE_FS|SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone_fs5",
        how: How::Clone(libc::CLONE_FS),
        call: "clone(CLONE_FS|SIGCHLD)",
        options: Options::TRACEVFORKDONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone_fs6",
        how: How::Clone(libc::CLONE_FS),
        call: "clone(CLONE_FS|SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone_fs7",
        how: How::Clone(libc::CLONE_FS),
        call: "clone(CLONE_FS|SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone_fs8",
        how: How::Clone(libc::CLONE_FS),
        call: "clone(CLONE_FS|SIGCHLD)",
        options: Options(
            libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE,
        ),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone_files1",
        how: How::Clone(libc::CLONE_FILES),
        call: "clone(CLONE_FILES|SIGCHLD)",
        options: Options::NONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone_files2",
        how: How::Clone(libc::CLONE_FILES),
        call: "clone(CLONE_FILES|SIGCHLD)",
        options: Options::TRACEFORK,
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone_files3",
        how: How::Clone(libc::CLONE_FILES),
        call: "clone(CLONE_FILES|SIGCHLD)",
        options: Options::TRACEVFORK,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone_files4",
        how: How::Clone(libc::CLONE_FILES),
        call: "clone(CLONE_FILES|SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone_files5",
        how: How::Clone(libc::CLONE_FILES),
        call: "clone(CLONE_FILES|SIGCHLD)",
        options: Options::TRACEVFORKDONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone_files6",
        how: How::Clone(libc::CLONE_FILES),
        call: "clone(CLONE_FILES|SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone_files7",
        how: How::Clone(libc::CLONE_FILES),
        call: "clone(CLONE_FILES|SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone_files8",
        how: How::Clone(libc::CLONE_FILES),
        call: "clone(CLONE_FILES|SIGCHLD)",
        options: Options(
            libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE,
        ),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone_vfork1",
        how: How::Clone(libc::CLONE_VFORK),
        call: "clone(CLONE_VFORK|SIGCHLD)",
        options: Options::NONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone_vfork2",
        how: How::Clone(libc::CLONE_VFORK),
        call: "clone(CLONE_VFORK|SIGCHLD)",
        options: Options::TRACEFORK,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone_vfork3",
        how: How::Clone(libc::CLONE_VFORK),
        call: "clone(CLONE_VFORK|SIGCHLD)",
        options: Options::TRACEVFORK,
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone_vfork4",
        how: How::Clone(libc::CLONE_VFORK),
        call: "clone(CLONE_VFORK|SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone_vfork5",
        how: How::Clone(libc::CLONE_VFORK),
        call: "clone(CLONE_VFORK|SIGCHLD)",
        options: Options::TRACEVFORKDONE,
        netbsd: true,
        stops: "no creation event, the forkee is not traced; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
    },
    Row {
        name: "clone_vfork6",
        how: How::Clone(libc::CLONE_VFORK),
        call: "clone(CLONE_VFORK|SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "no creation event, the forkee is not traced; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
    },
    Row {
        name: "clone_vfork7",
        how: How::Clone(libc::CLONE_VFORK),
        call: "clone(CLONE_VFORK|SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
    },
    Row {
        name: "clone_vfork8",
        how: How::Clone(libc::CLONE_VFORK),
        call: "clone(CLONE_VFORK|SIGCHLD)",
        options: Options(
            libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE,
        ),
        netbsd: true,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
    },
    Row {
        name: "clone3_plain1",
        how: How::Clone3(0, libc::SIGCHLD),
        call: "clone3(exit_signal=SIGCHLD)",
        options: Options::NONE,
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_plain2",
        how: How::Clone3(0, libc::SIGCHLD),
        call: "clone3(exit_signal=SIGCHLD)",
        options: Options::TRACEFORK,
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_plain3",
        how: How::Clone3(0, libc::SIGCHLD),
        call: "clone3(exit_signal=SIGCHLD)",
        options: Options::TRACEVFORK,
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_plain4",
        how: How::Clone3(0, libc::SIGCHLD),
        call: "clone3(exit_signal=SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_plain5",
        how: How::Clone3(0, libc::SIGCHLD),
        call: "clone3(exit_signal=SIGCHLD)",
        options: Options::TRACEVFORKDONE,
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_plain6",
        how: How::Clone3(0, libc::SIGCHLD),
        call: "clone3(exit_signal=SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_plain7",
        how: How::Clone3(0, libc::SIGCHLD),
        call: "clone3(exit_signal=SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_plain8",
        how: How::Clone3(0, libc::SIGCHLD),
        call: "clone3(exit_signal=SIGCHLD)",
        options: Options(
            libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE,
        ),
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_vm1",
        how: How::Clone3(libc::CLONE_VM as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VM, exit_signal=SIGCHLD)",
        options: Options::NONE,
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_vm2",
        how: How::Clone3(libc::CLONE_VM as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VM, exit_signal=SIGCHLD)",
        options: Options::TRACEFORK,
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_vm3",
        how: How::Clone3(libc::CLONE_VM as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VM, exit_signal=SIGCHLD)",
        options: Options::TRACEVFORK,
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_vm4",
        how: How::Clone3(libc::CLONE_VM as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VM, exit_signal=SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_vm5",
        how: How::Clone3(libc::CLONE_VM as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VM, exit_signal=SIGCHLD)",
        options: Options::TRACEVFORKDONE,
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_vm6",
        how: How::Clone3(libc::CLONE_VM as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VM, exit_signal=SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_vm7",
        how: How::Clone3(libc::CLONE_VM as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VM, exit_signal=SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_vm8",
        how: How::Clone3(libc::CLONE_VM as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VM, exit_signal=SIGCHLD)",
        options: Options(
            libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE,
        ),
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_fs1",
        how: How::Clone3(libc::CLONE_FS as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FS, exit_signal=SIGCHLD)",
        options: Options::NONE,
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_fs2",
        how: How::Clone3(libc::CLONE_FS as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FS, exit_signal=SIGCHLD)",
        options: Options::TRACEFORK,
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_fs3",
        how: How::Clone3(libc::CLONE_FS as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FS, exit_signal=SIGCHLD)",
        options: Options::TRACEVFORK,
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_fs4",
        how: How::Clone3(libc::CLONE_FS as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FS, exit_signal=SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_fs5",
        how: How::Clone3(libc::CLONE_FS as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FS, exit_signal=SIGCHLD)",
        options: Options::TRACEVFORKDONE,
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_fs6",
        how: How::Clone3(libc::CLONE_FS as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FS, exit_signal=SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_fs7",
        how: How::Clone3(libc::CLONE_FS as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FS, exit_signal=SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_fs8",
        how: How::Clone3(libc::CLONE_FS as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FS, exit_signal=SIGCHLD)",
        options: Options(
            libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE,
        ),
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_files1",
        how: How::Clone3(libc::CLONE_FILES as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FILES, exit_signal=SIGCHLD)",
        options: Options::NONE,
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_files2",
        how: How::Clone3(libc::CLONE_FILES as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FILES, exit_signal=SIGCHLD)",
        options: Options::TRACEFORK,
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_files3",
        how: How::Clone3(libc::CLONE_FILES as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FILES, exit_signal=SIGCHLD)",
        options: Options::TRACEVFORK,
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_files4",
        how: How::Clone3(libc::CLONE_FILES as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FILES, exit_signal=SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_files5",
        how: How::Clone3(libc::CLONE_FILES as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FILES, exit_signal=SIGCHLD)",
        options: Options::TRACEVFORKDONE,
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_files6",
        how: How::Clone3(libc::CLONE_FILES as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FILES, exit_signal=SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_files7",
        how: How::Clone3(libc::CLONE_FILES as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FILES, exit_signal=SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_files8",
        how: How::Clone3(libc::CLONE_FILES as u64, libc::SIGCHLD),
        call: "clone3(CLONE_FILES, exit_signal=SIGCHLD)",
        options: Options(
            libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE,
        ),
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_FORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_vfork1",
        how: How::Clone3(libc::CLONE_VFORK as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VFORK, exit_signal=SIGCHLD)",
        options: Options::NONE,
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_vfork2",
        how: How::Clone3(libc::CLONE_VFORK as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VFORK, exit_signal=SIGCHLD)",
        options: Options::TRACEFORK,
        netbsd: false,
        stops: "no creation event, the forkee is not traced; both exit cleanly",
    },
    Row {
        name: "clone3_vfork3",
        how: How::Clone3(libc::CLONE_VFORK as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VFORK, exit_signal=SIGCHLD)",
        options: Options::TRACEVFORK,
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_vfork4",
        how: How::Clone3(libc::CLONE_VFORK as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VFORK, exit_signal=SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK),
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; both exit cleanly",
    },
    Row {
        name: "clone3_vfork5",
        how: How::Clone3(libc::CLONE_VFORK as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VFORK, exit_signal=SIGCHLD)",
        options: Options::TRACEVFORKDONE,
        netbsd: false,
        stops: "no creation event, the forkee is not traced; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
    },
    Row {
        name: "clone3_vfork6",
        how: How::Clone3(libc::CLONE_VFORK as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VFORK, exit_signal=SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: false,
        stops: "no creation event, the forkee is not traced; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
    },
    Row {
        name: "clone3_vfork7",
        how: How::Clone3(libc::CLONE_VFORK as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VFORK, exit_signal=SIGCHLD)",
        options: Options(libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE),
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
    },
    Row {
        name: "clone3_vfork8",
        how: How::Clone3(libc::CLONE_VFORK as u64, libc::SIGCHLD),
        call: "clone3(CLONE_VFORK, exit_signal=SIGCHLD)",
        options: Options(
            libc::PTRACE_O_TRACEFORK | libc::PTRACE_O_TRACEVFORK | libc::PTRACE_O_TRACEVFORKDONE,
        ),
        netbsd: false,
        stops: "the forker stops at PTRACE_EVENT_VFORK (message: the forkee's pid) and the forkee is auto-attached; then PTRACE_EVENT_VFORK_DONE; both exit cleanly",
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

/// The case of one row; a row whose `stops` are not what `follow` will assert fails.
fn case(row: &'static Row) -> TestCase {
    let (how, options) = (row.how, row.options);
    let descr = format!("{} traced with {options}: {}", row.call, row.stops);
    let mut tc = TestCase::new(row.name).descr(&descr).timeout(20);
    if row.netbsd {
        tc = tc.netbsd_same_name();
    }
    tc = require_spawn_prog(tc, how);
    let planned = promise(&Plan::new(how, options));
    if planned != row.stops {
        return tc.body(move |_| {
            ptrace_atf::fail!(
                "the row says '{}' but follow() asserts '{planned}': fix the row",
                row.stops
            )
        });
    }
    tc.body(move |tc| scenario(tc, how, options, false))
}

/// Every matrix case: one per row, plus the setpgid variants.
pub fn cases() -> Vec<TestCase> {
    let mut out: Vec<TestCase> = MATRIX.iter().map(case).collect();
    for &(name, how) in SETPGID {
        let descr = format!(
            "{how:?} from a forker that made itself a process-group leader, with every \
             option: the events arrive and the forkee inherits the group"
        );
        let tc = netbsd_fork_case(name, &descr, how);
        out.push(tc.body(move |tc| scenario(tc, how, ALL_OPTIONS, true)));
    }
    out
}
