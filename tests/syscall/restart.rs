//! Syscall restart under trace: a syscall interrupted by a signal shows the kernel's restart
//! code at its exit stop and then restarts (or fails with EINTR) as the signal's disposition
//! says; restart_syscall continues an interrupted nanosleep; a tracer restarts a syscall by
//! rewinding the instruction pointer; SETREGS at the exit stop does not lose the restart.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{Signal, kill};
use ptrace_atf::atf::{Program, Tc, TestCase};
use ptrace_atf::trace::Options;
use ptrace_atf::trace::syscall_info::SyscallInfo;
use ptrace_atf::{child_require, child_require_eq, require_eq};

use crate::common::{EXIT_CODE, Tracee, errno, install_handler, raw6};

/// Kernel-internal restart codes a tracer sees in rax at the exit stop.
const ERESTARTSYS: i64 = 512;
const ERESTARTNOHAND: i64 = 514;
const ERESTART_RESTARTBLOCK: i64 = 516;

static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn count(_sig: i32) {
    CAUGHT.fetch_add(1, Ordering::SeqCst);
}

fn signal(t: &Tracee, sig: Signal) {
    kill(t.pid(), sig).unwrap_or_else(|e| ptrace_atf::fail!("kill({sig}) failed: {e}"));
}

/// From the entry stop: resume, interrupt with `sig`, and check the exit stop shows `code`.
#[track_caller]
fn interrupt(t: &Tracee, sig: Signal, code: i64) -> SyscallInfo {
    ptrace_atf::trace::ops::syscall(t.pid(), 0);
    signal(t, sig);
    t.child.expect_syscall_stop(&t.w);
    let exit = ptrace_atf::trace::syscall_info::expect_get(t.pid()).0;
    require_eq!(
        (exit.rval, exit.is_error),
        (-code, 1),
        "exit stop of the syscall interrupted by {sig}: {exit}"
    );
    exit
}

/// After `interrupt`: the signal-delivery stop, resumed with PTRACE_SYSCALL passing `sig`
/// (or suppressing it).
#[track_caller]
fn deliver(t: &Tracee, sig: Signal, pass: bool) {
    ptrace_atf::trace::ops::syscall(t.pid(), 0);
    t.child.expect_stopped(&t.w, sig as i32);
    let pass = if pass { sig as i32 } else { 0 };
    ptrace_atf::trace::ops::syscall(t.pid(), pass);
}

/// After `interrupt`: the signal-delivery stop, resumed with PTRACE_CONT passing `sig` to the
/// tracee's handler; the tracee must then exit 5.
#[track_caller]
fn deliver_and_finish(t: &Tracee, sig: Signal) {
    ptrace_atf::trace::ops::syscall(t.pid(), 0);
    t.child.expect_stopped(&t.w, sig as i32);
    t.cont_to_exit(sig as i32, EXIT_CODE);
    t.w.expect_no_children();
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe().unwrap_or_else(|e| ptrace_atf::fail!("pipe failed: {e}"))
}

/// read(2) on an empty pipe interrupted by a handled SIGUSR1: -ERESTARTSYS at the exit stop,
/// then with SA_RESTART the same read is entered again (same ip and arguments) and completes;
/// without it the read fails with EINTR.
fn read_interrupted(tc: &Tc, sa_restart: bool) {
    let (r, w) = pipe();
    let rfd = r.as_raw_fd();
    let t = Tracee::start(tc, Options::TRACESYSGOOD, move || {
        let flags = if sa_restart { libc::SA_RESTART } else { 0 };
        install_handler(libc::SIGUSR1, count, flags);
        let mut byte = 0u8;
        let n = raw6(
            libc::SYS_read,
            [rfd as u64, &raw mut byte as u64, 1, 0, 0, 0],
        );
        child_require_eq!(CAUGHT.load(Ordering::SeqCst), 1);
        if sa_restart {
            child_require!(n == 1 && byte == b'r', "read gave {n}, byte {byte}");
        } else {
            child_require!(n == -1 && errno() == libc::EINTR, "read gave {n}");
        }
        EXIT_CODE
    });
    let entry = t.run_to_entry(libc::SYS_read);
    interrupt(&t, Signal::SIGUSR1, ERESTARTSYS);
    if !sa_restart {
        deliver_and_finish(&t, Signal::SIGUSR1);
        return;
    }
    deliver(&t, Signal::SIGUSR1, true);
    // The handler returns through rt_sigreturn, then the read is entered again.
    t.child.expect_syscall_stop(&t.w);
    let again = t.run_to_entry(libc::SYS_read);
    require_eq!(
        again.instruction_pointer,
        entry.instruction_pointer,
        "restarted ip"
    );
    require_eq!(again.args, entry.args, "restarted arguments");
    ptrace_atf::require_ok!(nix::unistd::write(&w, b"r"), "write to the pipe");
    let exit = t.to_exit();
    require_eq!((exit.rval, exit.is_error), (1, 0), "restarted read: {exit}");
    t.child.cont_to_exit(&t.w, EXIT_CODE);
}

/// nanosleep(5 s) interrupted by a signal the tracer suppresses: -ERESTART_RESTARTBLOCK at
/// exit, then restart_syscall is entered; interrupted again by a handled SIGUSR2, the sleep
/// fails with EINTR and writes the remaining time to the original nanosleep's rem.
fn nanosleep_restart_block(tc: &Tc) {
    let t = Tracee::start(tc, Options::TRACESYSGOOD, || {
        install_handler(libc::SIGUSR2, count, 0);
        let req = libc::timespec {
            tv_sec: 5,
            tv_nsec: 0,
        };
        let mut rem = libc::timespec {
            tv_sec: -1,
            tv_nsec: -1,
        };
        let n = raw6(
            libc::SYS_nanosleep,
            [&raw const req as u64, &raw mut rem as u64, 0, 0, 0, 0],
        );
        child_require!(n == -1 && errno() == libc::EINTR, "nanosleep gave {n}");
        // The remaining time counts to the timer's hard expiry, which includes the task's
        // timer slack (50 us by default): allow 1 ms over the 5 s asked for.
        let rem_ns = rem.tv_sec * 1_000_000_000 + rem.tv_nsec;
        child_require!(
            (0..1_000_000_000).contains(&rem.tv_nsec) && (1..=5_001_000_000).contains(&rem_ns),
            "rem = {}.{:09}",
            rem.tv_sec,
            rem.tv_nsec
        );
        child_require_eq!(CAUGHT.load(Ordering::SeqCst), 1);
        EXIT_CODE
    });
    t.run_to_entry(libc::SYS_nanosleep);
    interrupt(&t, Signal::SIGUSR1, ERESTART_RESTARTBLOCK);
    deliver(&t, Signal::SIGUSR1, false);
    t.child.expect_syscall_stop(&t.w);
    let info = ptrace_atf::trace::syscall_info::expect_get(t.pid()).0;
    require_eq!(
        info.nr,
        libc::SYS_restart_syscall as u64,
        "the restarted entry: {info}"
    );
    interrupt(&t, Signal::SIGUSR2, ERESTART_RESTARTBLOCK);
    deliver_and_finish(&t, Signal::SIGUSR2);
}

/// pause() interrupted by a signal the tracer suppresses, with GETREGS+SETREGS at the exit
/// stop that shows -ERESTARTNOHAND: pause is entered again; a handled SIGUSR2 then ends it
/// with EINTR.
fn pause_restart_after_setregs(tc: &Tc) {
    let t = Tracee::start(tc, Options::TRACESYSGOOD, || {
        install_handler(libc::SIGUSR2, count, 0);
        let n = raw6(libc::SYS_pause, [0; 6]);
        child_require!(n == -1 && errno() == libc::EINTR, "pause gave {n}");
        child_require_eq!(CAUGHT.load(Ordering::SeqCst), 1);
        EXIT_CODE
    });
    let entry = t.run_to_entry(libc::SYS_pause);
    interrupt(&t, Signal::SIGUSR1, ERESTARTNOHAND);
    t.set_regs(t.regs());
    deliver(&t, Signal::SIGUSR1, false);
    t.child.expect_syscall_stop(&t.w);
    let again = ptrace_atf::trace::syscall_info::expect_get(t.pid()).0;
    require_eq!(
        again.nr,
        libc::SYS_pause as u64,
        "the entry after the restart: {again}"
    );
    require_eq!(
        again.instruction_pointer,
        entry.instruction_pointer,
        "restarted ip"
    );
    interrupt(&t, Signal::SIGUSR2, ERESTARTNOHAND);
    deliver_and_finish(&t, Signal::SIGUSR2);
}

/// At the exit stop of write(2), rip -= 2 and rax = orig_rax: the write is entered again with
/// the same arguments and runs twice.
fn rewind_ip(tc: &Tc) {
    let t = Tracee::start(tc, Options::TRACESYSGOOD, || {
        let mut fds = [0i32; 2];
        // SAFETY: pipe2 into a 2-int array.
        child_require!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) } == 0);
        let byte = b'w';
        let n = raw6(
            libc::SYS_write,
            [fds[1] as u64, &raw const byte as u64, 1, 0, 0, 0],
        );
        child_require_eq!(n, 1);
        let mut buf = [0u8; 8];
        let got = raw6(
            libc::SYS_read,
            [fds[0] as u64, buf.as_mut_ptr() as u64, 8, 0, 0, 0],
        );
        child_require!(
            got == 2 && &buf[..2] == b"ww",
            "read back {got} bytes: {:?}",
            &buf[..2]
        );
        EXIT_CODE
    });
    let entry = t.run_to_entry(libc::SYS_write);
    let exit = t.to_exit();
    require_eq!(exit.rval, 1, "the first write: {exit}");
    let mut regs = t.regs();
    regs.rip -= 2;
    regs.rax = regs.orig_rax;
    t.set_regs(regs);
    let again = t.next_syscall_stop(0);
    require_eq!(
        (again.op(), again.nr),
        (entry.op(), entry.nr),
        "the stop after rewinding: {again}"
    );
    require_eq!(again.args, entry.args, "arguments of the re-entered write");
    let exit = t.to_exit();
    require_eq!(exit.rval, 1, "the second write: {exit}");
    t.child.cont_to_exit(&t.w, EXIT_CODE);
}

type Body = fn(&Tc);

static CASES: [(&str, &str, Body); 5] = [
    (
        "syscall_restart_sa_restart",
        "read(2) interrupted by a SA_RESTART signal shows -ERESTARTSYS at its exit stop, then \
         is entered again at the same ip with the same arguments and completes",
        |tc| read_interrupted(tc, true),
    ),
    (
        "syscall_restart_eintr",
        "read(2) interrupted by a handled signal without SA_RESTART shows -ERESTARTSYS at its \
         exit stop, then fails with EINTR in the tracee",
        |tc| read_interrupted(tc, false),
    ),
    (
        "syscall_restart_restart_syscall",
        "nanosleep interrupted by a suppressed signal shows -ERESTART_RESTARTBLOCK at exit and \
         continues as restart_syscall, which reports EINTR and the remaining time later",
        nanosleep_restart_block,
    ),
    (
        "syscall_restart_after_setregs",
        "pause() interrupted by a suppressed signal restarts even though the tracer did \
         GETREGS+SETREGS at the exit stop that showed -ERESTARTNOHAND",
        pause_restart_after_setregs,
    ),
    (
        "syscall_restart_rewind_ip",
        "Rewinding rip by 2 and restoring rax from orig_rax at a syscall-exit stop runs the \
         syscall again: a second entry stop with the same arguments, two bytes written",
        rewind_ip,
    ),
];

/// Registers the family.
pub fn register(p: &mut Program) {
    p.extend(
        CASES
            .iter()
            .map(|&(name, descr, body)| TestCase::new(name).descr(descr).timeout(15).body(body)),
    );
}
