//! x86 debug registers of a stopped tracee: DR0-DR7 through PTRACE_PEEKUSER/POKEUSER at
//! `offsetof(struct user, u_debugreg)`, DR7 and DR6 encodings, a once-per-process probe of
//! whether watchpoints fire here (`probe`), and an optional "lie" (fault injection) that
//! lets a test program prove its cases fail when the registers misbehave.
//!
//! DR6 is read through ptrace as the kernel's virtual DR6 (arch polarity): after a hit the
//! Bn bit of the slot that fired, after a single step BS (cb05143bdf42); the kernel resets it
//! at every debug exception.

use std::mem::offset_of;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use nix::unistd::Pid;

use super::forkee::Forkee;
use super::hypervisor;
use super::sys;
use super::wait::{Waiter, WaiterKind};
use super::want::Want;

/// Number of address registers (DR0-DR3).
pub const SLOTS: usize = 4;

/// DR6 bit Bn: address register `n` matched.
pub const fn dr6_b(n: usize) -> u64 {
    1 << n
}

/// DR6 mask of the four Bn bits.
pub const DR6_B_MASK: u64 = 0xf;

/// DR6 bit BS: the trap was a single step.
pub const DR6_BS: u64 = 1 << 14;

/// DR7 condition (R/W field): when the slot fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    /// 00: instruction execution (length must be `Len::One`).
    Exec = 0,
    /// 01: data writes.
    Write = 1,
    /// 10: I/O access (not allowed for user breakpoints).
    Io = 2,
    /// 11: data reads or writes.
    ReadWrite = 3,
}

/// DR7 length (LEN field) of a data watchpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Len {
    /// 00: 1 byte (also the only length of an execute breakpoint).
    One = 0,
    /// 01: 2 bytes.
    Two = 1,
    /// 10: 8 bytes (x86_64 only).
    Eight = 2,
    /// 11: 4 bytes.
    Four = 3,
}

impl Len {
    /// The watched length in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Len::One => 1,
            Len::Two => 2,
            Len::Four => 4,
            Len::Eight => 8,
        }
    }
}

/// DR7 bits enabling slot `n` globally (Gn) with `cond` and `len`.
pub const fn dr7_global(n: usize, cond: Cond, len: Len) -> u64 {
    (1 << (2 * n + 1)) | dr7_fields(n, cond, len)
}

/// DR7 bits enabling slot `n` locally (Ln) with `cond` and `len`.
pub const fn dr7_local(n: usize, cond: Cond, len: Len) -> u64 {
    (1 << (2 * n)) | dr7_fields(n, cond, len)
}

/// DR7 R/W and LEN fields of slot `n` (no enable bit).
pub const fn dr7_fields(n: usize, cond: Cond, len: Len) -> u64 {
    (((len as u64) << 2) | cond as u64) << (16 + 4 * n)
}

/// Offset of DRn in `struct user`.
pub const fn offset(n: usize) -> usize {
    offset_of!(libc::user, u_debugreg) + n * size_of::<u64>()
}

/// A deliberate misbehaviour of this module, to show that cases fail when registers lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Lie {
    /// Honest.
    None = 0,
    /// `set` does nothing (and reports success).
    WriteIgnored = 1,
    /// `get` returns 0.
    ReadZero = 2,
    /// `trap_siginfo` reports a wrong si_code.
    WrongSiCode = 3,
}

impl Lie {
    /// Parses the names `none`, `write_ignored`, `read_zero`, `wrong_si_code`.
    pub fn from_name(name: &str) -> Option<Lie> {
        Some(match name {
            "none" => Lie::None,
            "write_ignored" => Lie::WriteIgnored,
            "read_zero" => Lie::ReadZero,
            "wrong_si_code" => Lie::WrongSiCode,
            _ => return None,
        })
    }
}

static LIE: AtomicU8 = AtomicU8::new(Lie::None as u8);

/// Makes this module lie from now on (fault injection for self-tests of a test program).
pub fn set_lie(lie: Lie) {
    LIE.store(lie as u8, Ordering::Relaxed);
}

fn lie() -> u8 {
    LIE.load(Ordering::Relaxed)
}

/// PEEKUSER DRn of a stopped tracee.
pub fn get(pid: Pid, n: usize) -> nix::Result<u64> {
    let v = sys::peekuser(pid, offset(n))? as u64;
    Ok(if lie() == Lie::ReadZero as u8 { 0 } else { v })
}

/// POKEUSER DRn of a stopped tracee.
pub fn set(pid: Pid, n: usize, value: u64) -> nix::Result<()> {
    if lie() == Lie::WriteIgnored as u8 {
        return Ok(());
    }
    sys::pokeuser(pid, offset(n), value as libc::c_long)
}

/// DRn, panicking with the pid and register on failure.
#[track_caller]
pub fn read(pid: Pid, n: usize) -> u64 {
    get(pid, n).unwrap_or_else(|e| panic!("pid {pid}: PEEKUSER DR{n} failed with {e}"))
}

/// Sets DRn, panicking with the pid, register and value on failure.
#[track_caller]
pub fn write(pid: Pid, n: usize, value: u64) {
    if let Err(e) = set(pid, n, value) {
        panic!("pid {pid}: POKEUSER DR{n}={value:#x} failed with {e}");
    }
}

/// All eight registers (DR4 and DR5 read as 0 on Linux).
#[track_caller]
pub fn read_all(pid: Pid) -> [u64; 8] {
    std::array::from_fn(|n| read(pid, n))
}

/// Arms slot `n` of a stopped tracee: DRn = `addr`, then DR7 |= the slot's enable and fields.
#[track_caller]
pub fn arm(pid: Pid, n: usize, addr: u64, cond: Cond, len: Len) {
    write(pid, n, addr);
    let dr7 = read(pid, 7) & !(dr7_fields(n, Cond::ReadWrite, Len::Four) | (3 << (2 * n)));
    write(pid, 7, dr7 | dr7_global(n, cond, len));
}

/// PTRACE_GETSIGINFO of a debug trap (subject to the `WrongSiCode` lie).
#[track_caller]
pub fn trap_siginfo(pid: Pid) -> libc::siginfo_t {
    let mut info =
        sys::getsiginfo(pid).unwrap_or_else(|e| panic!("pid {pid}: PTRACE_GETSIGINFO failed: {e}"));
    if lie() == Lie::WrongSiCode as u8 {
        info.si_code = if info.si_code == libc::TRAP_BRKPT {
            libc::TRAP_TRACE
        } else {
            libc::TRAP_BRKPT
        };
    }
    info
}

/// A word the probe watches (its address is the same in a forked child).
static PROBE_TARGET: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// What the once-per-process watchpoint probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// A write watchpoint set through POKEUSER read back and fired.
    Fires,
    /// The registers took the watchpoint (it reads back) but it never fired, under a
    /// hypervisor that does not pass debug registers through: a limit of that machine, the
    /// message names the hypervisor (CPUID vendor signature).
    NeverFiresUnder(String),
    /// A kernel bug: POKEUSER of a debug register refused, a value that does not read back,
    /// or (on bare metal, where the CPU always has DR0-DR7) a watchpoint that never fired.
    Broken(String),
}

static PROBE: OnceLock<Probe> = OnceLock::new();

/// Whether watchpoints work here, probed once per process with the honest accessors (a lie
/// never changes the verdict). x86_64 always has DR0-DR7 and Linux always lets a tracer set
/// them, so only "accepted, reads back, never fired" under a hypervisor (detected from
/// CPUID, never from timing) is a property of the machine; everything else is `Broken`.
pub fn probe() -> &'static Probe {
    PROBE.get_or_init(|| {
        // Under QEMU TCG a write watchpoint is occasionally missed (about one probe in a
        // hundred, on a different case every run), while the same watchpoint fires on the
        // next try: one miss is not "never fires". Three misses in a row are.
        let mut verdict = run_probe();
        for _ in 1..PROBE_TRIES {
            if !matches!(verdict, Probe::NeverFiresUnder(_)) {
                break;
            }
            verdict = run_probe();
        }
        verdict
    })
}

/// How many fresh probes must all miss before a watchpoint "never fires".
const PROBE_TRIES: usize = 3;

fn run_probe() -> Probe {
    let w = Waiter::new(WaiterKind::Waitpid);
    let child = Forkee::traceme(|| {
        // A plain 4-byte store (`mov`), the access every watchpoint case makes; a SeqCst
        // store is a locked `xchg`, which QEMU TCG's watchpoints miss now and then.
        // SAFETY: a volatile write to a static word this child owns a copy of.
        unsafe { std::ptr::write_volatile(PROBE_TARGET.as_ptr(), 1) };
        0
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    let addr = PROBE_TARGET.as_ptr() as u64;
    let dr7 = dr7_global(0, Cond::Write, Len::Four);
    let broken = |why: String| {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        w.wait(pid, "the probe's death by SIGKILL");
        Probe::Broken(format!("debug-register probe (pid {pid}): {why}"))
    };
    for (n, value) in [(0, addr), (7, dr7)] {
        if let Err(e) = sys::pokeuser(pid, offset(n), value as libc::c_long) {
            return broken(format!("POKEUSER DR{n}={value:#x} refused with {e}"));
        }
        match sys::peekuser(pid, offset(n)) {
            Ok(got) if got as u64 == value => {}
            Ok(got) => {
                return broken(format!(
                    "DR{n} reads back {:#x} after POKEUSER DR{n}={value:#x}",
                    got as u64
                ));
            }
            Err(e) => return broken(format!("PEEKUSER DR{n} failed with {e}")),
        }
    }
    sys::cont(pid, 0).expect("PTRACE_CONT of the debug-register probe");
    let got = w.wait(pid, "the probe's watchpoint trap or exit");
    if Want::Stopped(libc::SIGTRAP).matches(&got) {
        sys::cont(pid, 0).expect("PTRACE_CONT of the debug-register probe");
        child.expect_exited(&w, 0);
        return Probe::Fires;
    }
    child.check(&w, Want::Exited(0), got);
    match hypervisor::detect() {
        Some(h) => Probe::NeverFiresUnder(format!(
            "the debug registers of {h} take a write watchpoint (DR0 and DR7 read back) that \
             never fires ({PROBE_TRIES} tries)"
        )),
        None => Probe::Broken(format!(
            "debug-register probe (pid {pid}): a write watchpoint (DR0={addr:#x}, DR7={dr7:#x}, \
             both read back) never fired on bare metal (CPUID: no hypervisor)"
        )),
    }
}
