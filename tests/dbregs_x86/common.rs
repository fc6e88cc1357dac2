//! What every t_dbregs_x86 scenario shares: the setup (lie injection, probe, waiter), the
//! watched memory, the breakpoint target, and checked debug-trap expectations.

use std::cell::UnsafeCell;

use nix::unistd::Pid;
use ptrace_atf::atf::Tc;
use ptrace_atf::harness;
use ptrace_atf::trace::dbregs::{self, DR6_B_MASK, DR6_BS, Len, Lie, Probe};
use ptrace_atf::trace::{Child, Status, Waiter, Want, expect};
use ptrace_atf::trace::{hypervisor, probe};

pub use ptrace_atf::trace::ops::{EXIT_CODE, cont, traced_child};

/// Memory the watchpoints watch: a static, so a forked child has it at the same address.
#[repr(C, align(64))]
pub struct Watched(UnsafeCell<[u64; 8]>);

// SAFETY: only forked children touch the contents, each in its own address space.
unsafe impl Sync for Watched {}

/// The watched memory (64 bytes, 64-byte aligned).
pub static WATCHED: Watched = Watched(UnsafeCell::new([0; 8]));

/// The address of the watched memory plus `offset`.
pub fn watched(offset: usize) -> u64 {
    WATCHED.0.get() as u64 + offset as u64
}

/// In a child: one volatile access of exactly `len` bytes at `addr`.
pub fn access(addr: u64, len: Len, write: bool) {
    let p = addr as usize;
    // SAFETY: `addr` lies in WATCHED (aligned for `len`); the child owns its copy.
    unsafe {
        match (len, write) {
            (Len::One, true) => std::ptr::write_volatile(p as *mut u8, 1),
            (Len::Two, true) => std::ptr::write_volatile(p as *mut u16, 1),
            (Len::Four, true) => std::ptr::write_volatile(p as *mut u32, 1),
            (Len::Eight, true) => std::ptr::write_volatile(p as *mut u64, 1),
            (Len::One, false) => drop(std::ptr::read_volatile(p as *const u8)),
            (Len::Two, false) => drop(std::ptr::read_volatile(p as *const u16)),
            (Len::Four, false) => drop(std::ptr::read_volatile(p as *const u32)),
            (Len::Eight, false) => drop(std::ptr::read_volatile(p as *const u64)),
        }
    }
}

/// The execute-breakpoint target: a real function the tracer knows the address of.
#[inline(never)]
pub extern "C" fn bp_target(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(3) + 1
}

/// The address of `bp_target`.
pub fn bp_target_addr() -> u64 {
    bp_target as *const () as u64
}

/// In a child: call `bp_target` through an opaque pointer (never inlined away).
pub fn call_bp_target() -> u64 {
    let f: extern "C" fn(u64) -> u64 = std::hint::black_box(bp_target);
    f(41)
}

/// The first step of a case that needs watchpoints or breakpoints to fire: `setup_state`,
/// then the once-per-process probe (`dbregs::probe`). A debug register that refuses a value,
/// does not read it back, or a watchpoint that never fires on bare metal is a kernel bug:
/// the case fails. Only a watchpoint that never fires under a hypervisor (CPUID) skips,
/// naming it.
pub fn setup(tc: &Tc) -> Waiter {
    let w = setup_state(tc);
    match dbregs::probe() {
        Probe::Fires => {}
        Probe::NeverFiresUnder(why) => tc.skip(why),
        Probe::Broken(why) => ptrace_atf::fail!("{}", why),
    }
    w
}

/// The first step of every case: the `dbregs_lie` config variable (none, write_ignored,
/// read_zero, wrong_si_code) makes the toolkit lie, so a case can be shown to fail; returns
/// the waiter of this run. Cases that only read, write or step (print, preserve, step*) use
/// this alone: they do not depend on watchpoints firing.
pub fn setup_state(tc: &Tc) -> Waiter {
    if let Some(name) = tc.config("dbregs_lie") {
        match Lie::from_name(name) {
            Some(lie) => dbregs::set_lie(lie),
            None => ptrace_atf::fail!(
                "unknown dbregs_lie '{name}' (none, write_ignored, read_zero, wrong_si_code)"
            ),
        }
    }
    harness::waiter(tc)
}

/// Skips a case whose CPU behaviour an emulator gets wrong, naming the emulator (read from
/// CPUID, never guessed from timing). Called first in the case, before any tracee exists:
/// under such an emulator the case could take the guest kernel down. On hardware and under
/// KVM (whose guests run their instructions on the real CPU) the case runs.
pub fn skip_under_emulator(tc: &Tc, what: &str) {
    if let Some(emulator) = hypervisor::emulator() {
        tc.skip(format!("{what}: not emulated faithfully by {emulator}"));
    }
}

/// In a child: raise SIGSTOP, failing the child if raise fails.
pub fn raise_stop() {
    // SAFETY: raise is async-signal-safe.
    if unsafe { libc::raise(libc::SIGSTOP) } != 0 {
        ptrace_atf::child_fail!("raise(SIGSTOP) failed");
    }
}

/// The Bn and BS bits of DR6, described: `B1` or `BS` or `none`.
pub fn dr6_bits(dr6: u64) -> String {
    let mut parts: Vec<String> = (0..4)
        .filter(|n| dr6 & dbregs::dr6_b(*n) != 0)
        .map(|n| format!("B{n}"))
        .collect();
    if dr6 & DR6_BS != 0 {
        parts.push("BS".into());
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("|")
    }
}

/// Asserts that `pid` is in a SIGTRAP stop caused by hardware slot `slot`: si_code
/// TRAP_HWBKPT and DR6 showing exactly Bslot (no other Bn, no BS).
pub fn check_hw_trap(pid: Pid, slot: usize) {
    let info = dbregs::trap_siginfo(pid);
    if info.si_signo != libc::SIGTRAP || info.si_code != expect::HWBKPT_SI_CODE {
        ptrace_atf::fail!(
            "pid {pid}: debug trap of DR{slot}: expected SIGTRAP si_code {} (TRAP_HWBKPT), got \
             signal {} si_code {}",
            expect::HWBKPT_SI_CODE,
            info.si_signo,
            info.si_code
        );
    }
    let dr6 = dbregs::read(pid, 6);
    let want = dbregs::dr6_b(slot);
    if dr6 & (DR6_B_MASK | DR6_BS) != want {
        ptrace_atf::fail!(
            "pid {pid}: DR6 after a hit of DR{slot}: expected B{slot} only, got {} (DR6={dr6:#x})",
            dr6_bits(dr6)
        );
    }
}

/// Waits for a SIGTRAP stop of `child` and checks it came from slot `slot`.
#[track_caller]
pub fn expect_hw_trap(w: &Waiter, child: &Child, slot: usize) {
    child.expect_stopped(w, libc::SIGTRAP);
    check_hw_trap(child.pid(), slot);
}

/// Waits for the next report of thread `tid` and asserts it is `want`. Waiters that cannot
/// name a thread (wait, wait3, and the pidfd waiter on a kernel without PIDFD_THREAD, Linux
/// 6.9) take the next report of any child, which must be `tid`.
#[track_caller]
pub fn expect_tid(w: &Waiter, tid: Pid, want: Want) -> Status {
    if probe::waiter_names_threads(w.kind()).is_ok() {
        return w.expect(tid, want);
    }
    let (pid, got) = w.wait_any(ptrace_atf::trace::want::Awaited(want));
    if pid != tid {
        ptrace_atf::fail!("waiting for {want} from thread {tid}, got {got} from {pid}");
    }
    w.check(tid, want, got);
    got
}
