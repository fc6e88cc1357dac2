//! Helpers shared by the t_syscall scenarios: a traced child that stops itself with raw
//! syscalls only (so the next syscall stop is the one the scenario wrote), stepping from
//! syscall stop to syscall stop, and raw register access for orig_rax and rip.

use nix::unistd::Pid;
use ptrace_atf::atf::Tc;
use ptrace_atf::harness;
use ptrace_atf::trace::syscall_info::{self, Op, SyscallInfo};
use ptrace_atf::trace::{Child, Forkee, Options, Waiter, ops, sys};

/// Six distinct values no syscall would pass by accident (each byte differs).
pub const POISON: [u64; 6] = [
    0xfac1_0001_dead_0001,
    0xfac2_0002_beef_0002,
    0xfac3_0003_cafe_0003,
    0xfac4_0004_f00d_0004,
    0xfac5_0005_d00d_0005,
    0xfac6_0006_face_0006,
];

pub use ptrace_atf::trace::ops::EXIT_CODE;

/// Offset of orig_rax in `struct user` (user_regs_struct index 15).
pub const ORIG_RAX: usize = 15 * 8;

/// A raw syscall with six arguments (the tracee side; no libc wrapper adds syscalls).
pub fn raw6(nr: i64, a: [u64; 6]) -> i64 {
    // SAFETY: the callers pass syscalls that ignore or validate their arguments.
    unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) }
}

/// The calling thread's errno (after a libc::syscall returned -1).
pub fn errno() -> i32 {
    nix::errno::Errno::last_raw()
}

/// Child side: PTRACE_TRACEME, then SIGSTOP itself with a raw kill(2).
pub fn traceme_and_stop() {
    if let Err(e) = sys::traceme() {
        ptrace_atf::child_fail!("PTRACE_TRACEME failed: {e}");
    }
    // SAFETY: raw getpid and kill.
    let r = unsafe {
        libc::syscall(
            libc::SYS_kill,
            libc::syscall(libc::SYS_getpid),
            libc::SIGSTOP,
        )
    };
    ptrace_atf::child_require!(r == 0, "kill(self, SIGSTOP) failed");
}

/// A traced child stopped by its own SIGSTOP, with `options` set (EXITKILL always added).
pub struct Tracee {
    /// The waiter of this run.
    pub w: Waiter,
    /// The child.
    pub child: Child,
}

impl Tracee {
    /// Forks a child that runs `f` after stopping itself; waits for the stop and sets
    /// `options | EXITKILL`.
    #[track_caller]
    pub fn start<F: FnOnce() -> i32>(tc: &Tc, options: Options, f: F) -> Tracee {
        let w = harness::waiter(tc);
        let child = Forkee::spawn(move || {
            traceme_and_stop();
            f()
        });
        child.expect_stopped(&w, libc::SIGSTOP);
        ops::setoptions(child.pid(), options | Options::EXITKILL);
        Tracee { w, child }
    }

    /// The child's pid.
    pub fn pid(&self) -> Pid {
        self.child.pid()
    }

    /// PTRACE_SYSCALL (delivering `sig`) and wait for the next syscall stop; returns its info.
    #[track_caller]
    pub fn next_syscall_stop(&self, sig: i32) -> SyscallInfo {
        ops::syscall(self.pid(), sig);
        self.child.expect_syscall_stop(&self.w);
        syscall_info::expect_get(self.pid()).0
    }

    /// Steps through syscall stops until the entry of syscall `nr` (at most 16 stops).
    #[track_caller]
    pub fn run_to_entry(&self, nr: i64) -> SyscallInfo {
        let mut seen = Vec::new();
        for _ in 0..16 {
            let info = self.next_syscall_stop(0);
            if info.op() == Op::Entry && info.nr == nr as u64 {
                return info;
            }
            seen.push(info.to_string());
        }
        ptrace_atf::fail!(
            "pid {}: no entry stop of syscall {nr} within 16 syscall stops; saw {}",
            self.pid(),
            seen.join(", ")
        );
    }

    /// PTRACE_SYSCALL to the exit stop that must follow an entry stop; returns its info.
    #[track_caller]
    pub fn to_exit(&self) -> SyscallInfo {
        let info = self.next_syscall_stop(0);
        if info.op() != Op::Exit {
            ptrace_atf::fail!(
                "pid {}: expected the syscall-exit stop, got {info}",
                self.pid()
            );
        }
        info
    }

    /// PTRACE_CONT with `sig` and expect an exit with `code`.
    #[track_caller]
    pub fn cont_to_exit(&self, sig: i32, code: i32) {
        if let Err(e) = sys::cont(self.pid(), sig) {
            ptrace_atf::fail!("PTRACE_CONT failed: {e}");
        }
        self.child.expect_exited(&self.w, code);
    }

    /// PTRACE_POKEUSER of a register word, panicking on failure.
    #[track_caller]
    pub fn poke_reg(&self, offset: usize, value: i64) {
        if let Err(e) = sys::pokeuser(self.pid(), offset, value) {
            ptrace_atf::fail!("PTRACE_POKEUSER({offset}, {value:#x}) failed: {e}");
        }
    }

    /// PTRACE_GETREGS, panicking on failure.
    #[track_caller]
    pub fn regs(&self) -> libc::user_regs_struct {
        sys::getregs(self.pid()).unwrap_or_else(|e| ptrace_atf::fail!("PTRACE_GETREGS failed: {e}"))
    }

    /// PTRACE_SETREGS, panicking on failure.
    #[track_caller]
    pub fn set_regs(&self, regs: libc::user_regs_struct) {
        if let Err(e) = sys::setregs(self.pid(), regs) {
            ptrace_atf::fail!("PTRACE_SETREGS failed: {e}");
        }
    }
}

/// Installs `handler` for `sig` in the calling (child) process.
pub fn install_handler(sig: i32, handler: extern "C" fn(i32), flags: i32) {
    // SAFETY: sigaction with a zeroed struct and a plain handler.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as usize;
        sa.sa_flags = flags;
        ptrace_atf::child_require!(
            libc::sigaction(sig, &sa, std::ptr::null_mut()) == 0,
            "sigaction failed"
        );
    }
}

/// Skips the case unless the kernel has PTRACE_SET_SYSCALL_INFO (Linux 6.16), probing the
/// stopped `pid`.
pub fn require_set_syscall_info(tc: &Tc, pid: Pid) {
    if !syscall_info::have_set(pid) {
        tc.skip("the kernel has no PTRACE_SET_SYSCALL_INFO (Linux >= 6.16): EIO");
    }
}
