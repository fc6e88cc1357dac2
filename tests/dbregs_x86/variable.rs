//! Debug registers as state (print, preserve) and data watchpoints on a variable
//! (trap_variable, its negative form, and the rare-race stress loop).

use std::panic::{AssertUnwindSafe, catch_unwind};

use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::netbsd::SameName;
use ptrace_atf::trace::Waiter;
use ptrace_atf::trace::dbregs::{self, Cond, DR6_B_MASK, DR6_BS, Len};
use ptrace_atf::trace::proc;
use ptrace_atf::{require, require_eq};

use crate::common::{self, EXIT_CODE, cont, raise_stop, traced_child, watched};

/// The DR6 a fresh thread shows through ptrace: reserved bits in arch polarity, no Bn, no BS.
const DR6_FRESH: u64 = 0xffff_0ff0;

fn print(tc: &Tc) {
    let w = common::setup_state(tc);
    let child = traced_child(&w, || EXIT_CODE);
    let regs = dbregs::read_all(child.pid());
    let want = [0, 0, 0, 0, 0, 0, DR6_FRESH, 0];
    require_eq!(regs, want, "DR0-DR7 of a fresh tracee");
    child.cont_to_exit(&w, EXIT_CODE);
}

/// What happens between setting a debug register and reading it back.
#[derive(Clone, Copy, PartialEq)]
enum Preserve {
    /// Nothing: the next ptrace call.
    Plain,
    /// The tracee runs to its next stop, yielding the CPU on the way: sched_yield(2) and
    /// short sleeps, so it is switched out and back in with the register set (NetBSD yields
    /// in the tracer while the tracee stays stopped, which switches nothing of the tracee).
    Yield,
    /// The tracee runs to its next stop.
    Continued,
}

/// Sleeps of the `Yield` tracee: each one switches it out (it blocks) and back in.
const YIELD_SLEEPS: u32 = 3;

/// voluntary_ctxt_switches of `pid` (/proc/PID/status).
fn voluntary_switches(pid: nix::unistd::Pid) -> u64 {
    let v = proc::status_field(pid, "voluntary_ctxt_switches").unwrap_or_else(|| {
        ptrace_atf::fail!("pid {pid}: no voluntary_ctxt_switches in /proc/{pid}/status")
    });
    v.trim()
        .parse()
        .unwrap_or_else(|e| ptrace_atf::fail!("pid {pid}: voluntary_ctxt_switches '{v}': {e}"))
}

fn preserve(tc: &Tc, slot: usize, mode: Preserve) {
    let w = common::setup_state(tc);
    let child = traced_child(&w, move || {
        if mode == Preserve::Yield {
            for _ in 0..YIELD_SLEEPS {
                // SAFETY: sched_yield and nanosleep with a valid timespec are
                // async-signal-safe and touch nothing of ours.
                unsafe {
                    libc::sched_yield();
                    let ts = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 10_000_000,
                    };
                    libc::nanosleep(&ts, std::ptr::null_mut());
                }
            }
        }
        if mode != Preserve::Plain {
            raise_stop();
        }
        EXIT_CODE
    });
    let pid = child.pid();
    let addr = watched(8 * slot);
    dbregs::write(pid, slot, addr);
    let before = dbregs::read_all(pid);
    require_eq!(before[slot], addr, "DR{slot} right after POKEUSER");
    if mode != Preserve::Plain {
        let switches = voluntary_switches(pid);
        cont(pid, 0);
        child.expect_stopped(&w, libc::SIGSTOP);
        if mode == Preserve::Yield {
            // Its SIGSTOP stop is one voluntary switch; at least one more proves it was set
            // aside while running. (Not one per sleep: under emulation a sleep's timer can
            // expire before the tracee reaches schedule(), and that sleep never switches.)
            let after = voluntary_switches(pid);
            require!(
                after >= switches + 2,
                "the tracee slept {YIELD_SLEEPS} times between the write and the read, yet its \
                 voluntary_ctxt_switches went only from {switches} to {after} (its stop counts \
                 one; at least one sleep must count another)"
            );
        }
    }
    let after = dbregs::read_all(pid);
    require_eq!(after, before, "DR0-DR7 after the tracee was set aside");
    child.cont_to_exit(&w, EXIT_CODE);
}

/// What the tracee does to the watched variable, and whether the watchpoint must fire.
#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    WriteOnly,
    ReadWriteWrite,
    ReadWriteRead,
    /// A write-only watchpoint and a read: must not fire (NetBSD has no such case).
    WriteOnlyRead,
}

impl Mode {
    fn cond(self) -> Cond {
        match self {
            Mode::WriteOnly | Mode::WriteOnlyRead => Cond::Write,
            _ => Cond::ReadWrite,
        }
    }
    fn writes(self) -> bool {
        matches!(self, Mode::WriteOnly | Mode::ReadWriteWrite)
    }
    fn fires(self) -> bool {
        self != Mode::WriteOnlyRead
    }
}

/// One run of the trap-variable scenario: arm `slot`, let the child access the variable,
/// then exactly one TRAP_HWBKPT (or none), exactly one SIGSTOP and exit 5.
pub fn trap_variable(w: &Waiter, slot: usize, mode: Mode, len: Len) {
    let addr = watched(0);
    let child = traced_child(w, move || {
        common::access(addr, len, mode.writes());
        raise_stop();
        if !mode.fires() {
            // The control: the same watchpoint fires on a write.
            common::access(addr, len, true);
        }
        EXIT_CODE
    });
    let pid = child.pid();
    dbregs::arm(pid, slot, addr, mode.cond(), len);
    cont(pid, 0);
    if mode.fires() {
        common::expect_hw_trap(w, &child, slot);
        cont(pid, 0);
    }
    child.expect_stopped(w, libc::SIGSTOP);
    if !mode.fires() {
        let dr6 = dbregs::read(pid, 6);
        if dr6 & (DR6_B_MASK | DR6_BS) != 0 {
            ptrace_atf::fail!(
                "DR6 shows {} although the write-only watchpoint saw only a read",
                common::dr6_bits(dr6)
            );
        }
        cont(pid, 0);
        common::expect_hw_trap(w, &child, slot);
    }
    cont(pid, 0);
    child.expect_exited(w, EXIT_CODE);
}

fn stress(tc: &Tc) {
    let w = common::setup(tc);
    let n = tc.config_u64("iterations", 2000);
    let start = std::time::Instant::now();
    for i in 1..=n {
        let run = catch_unwind(AssertUnwindSafe(|| {
            trap_variable(&w, (i % 4) as usize, Mode::WriteOnly, Len::Four);
        }));
        if let Err(payload) = run {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            ptrace_atf::fail!("iteration {i} of {n} (DR{}): {msg}", i % 4);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{n} iterations in {secs:.2}s ({:.0}/s)",
        n as f64 / secs.max(1e-9)
    );
    w.expect_no_children();
}

/// The seed's race at the kernel's own pace: one tracee writes the watched word and raises
/// SIGSTOP, over and over, with DR0 armed once. Every iteration must report exactly one
/// TRAP_HWBKPT (DR6 B0 alone) and then exactly one SIGSTOP, so a stop reported twice, or a
/// trap lost or doubled, fails naming the iteration. No fork per iteration: this is the
/// case to drive hundreds of thousands of iterations.
fn stress_one_tracee(tc: &Tc) {
    let w = common::setup(tc);
    let n = tc.config_u64("iterations", 5_000);
    let addr = watched(0);
    let child = traced_child(&w, move || {
        for _ in 0..n {
            common::access(addr, Len::Four, true);
            raise_stop();
        }
        EXIT_CODE
    });
    let pid = child.pid();
    dbregs::arm(pid, 0, addr, Cond::Write, Len::Four);
    for i in 1..=n {
        let run = catch_unwind(AssertUnwindSafe(|| {
            cont(pid, 0);
            common::expect_hw_trap(&w, &child, 0);
            cont(pid, 0);
            child.expect_stopped(&w, libc::SIGSTOP);
        }));
        if let Err(payload) = run {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "panic".into());
            ptrace_atf::fail!("iteration {i} of {n}: {msg}");
        }
    }
    child.cont_to_exit(&w, EXIT_CODE);
}

/// One preserve case: the debug register set and what happens before it is read back.
struct PreserveRow {
    name: &'static str,
    slot: usize,
    mode: Preserve,
}

/// The dbregs_preserve_* cases, in listing order.
const PRESERVES: &[PreserveRow] = &[
    PreserveRow {
        name: "dbregs_preserve_dr0",
        slot: 0,
        mode: Preserve::Plain,
    },
    PreserveRow {
        name: "dbregs_preserve_dr1",
        slot: 1,
        mode: Preserve::Plain,
    },
    PreserveRow {
        name: "dbregs_preserve_dr2",
        slot: 2,
        mode: Preserve::Plain,
    },
    PreserveRow {
        name: "dbregs_preserve_dr3",
        slot: 3,
        mode: Preserve::Plain,
    },
    PreserveRow {
        name: "dbregs_preserve_dr0_yield",
        slot: 0,
        mode: Preserve::Yield,
    },
    PreserveRow {
        name: "dbregs_preserve_dr1_yield",
        slot: 1,
        mode: Preserve::Yield,
    },
    PreserveRow {
        name: "dbregs_preserve_dr2_yield",
        slot: 2,
        mode: Preserve::Yield,
    },
    PreserveRow {
        name: "dbregs_preserve_dr3_yield",
        slot: 3,
        mode: Preserve::Yield,
    },
    PreserveRow {
        name: "dbregs_preserve_dr0_continued",
        slot: 0,
        mode: Preserve::Continued,
    },
    PreserveRow {
        name: "dbregs_preserve_dr1_continued",
        slot: 1,
        mode: Preserve::Continued,
    },
    PreserveRow {
        name: "dbregs_preserve_dr2_continued",
        slot: 2,
        mode: Preserve::Continued,
    },
    PreserveRow {
        name: "dbregs_preserve_dr3_continued",
        slot: 3,
        mode: Preserve::Continued,
    },
];

/// One trap-variable case: the debug register armed, what the tracee does to the watched
/// variable (and whether the watchpoint must fire), the watchpoint's length, and whether
/// NetBSD has the case.
struct Watch {
    name: &'static str,
    slot: usize,
    mode: Mode,
    len: Len,
    netbsd: bool,
}

/// The dbregs_dr{0..3}_trap_variable_* and _notrap_variable_* cases, in listing order.
const WATCHES: &[Watch] = &[
    Watch {
        name: "dbregs_dr0_trap_variable_writeonly_byte",
        slot: 0,
        mode: Mode::WriteOnly,
        len: Len::One,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr1_trap_variable_writeonly_byte",
        slot: 1,
        mode: Mode::WriteOnly,
        len: Len::One,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr2_trap_variable_writeonly_byte",
        slot: 2,
        mode: Mode::WriteOnly,
        len: Len::One,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr3_trap_variable_writeonly_byte",
        slot: 3,
        mode: Mode::WriteOnly,
        len: Len::One,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr0_trap_variable_writeonly_2bytes",
        slot: 0,
        mode: Mode::WriteOnly,
        len: Len::Two,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr1_trap_variable_writeonly_2bytes",
        slot: 1,
        mode: Mode::WriteOnly,
        len: Len::Two,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr2_trap_variable_writeonly_2bytes",
        slot: 2,
        mode: Mode::WriteOnly,
        len: Len::Two,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr3_trap_variable_writeonly_2bytes",
        slot: 3,
        mode: Mode::WriteOnly,
        len: Len::Two,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr0_trap_variable_writeonly_4bytes",
        slot: 0,
        mode: Mode::WriteOnly,
        len: Len::Four,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr1_trap_variable_writeonly_4bytes",
        slot: 1,
        mode: Mode::WriteOnly,
        len: Len::Four,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr2_trap_variable_writeonly_4bytes",
        slot: 2,
        mode: Mode::WriteOnly,
        len: Len::Four,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr3_trap_variable_writeonly_4bytes",
        slot: 3,
        mode: Mode::WriteOnly,
        len: Len::Four,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr0_trap_variable_writeonly_8bytes",
        slot: 0,
        mode: Mode::WriteOnly,
        len: Len::Eight,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr1_trap_variable_writeonly_8bytes",
        slot: 1,
        mode: Mode::WriteOnly,
        len: Len::Eight,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr2_trap_variable_writeonly_8bytes",
        slot: 2,
        mode: Mode::WriteOnly,
        len: Len::Eight,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr3_trap_variable_writeonly_8bytes",
        slot: 3,
        mode: Mode::WriteOnly,
        len: Len::Eight,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr0_trap_variable_readwrite_write_byte",
        slot: 0,
        mode: Mode::ReadWriteWrite,
        len: Len::One,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr1_trap_variable_readwrite_write_byte",
        slot: 1,
        mode: Mode::ReadWriteWrite,
        len: Len::One,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr2_trap_variable_readwrite_write_byte",
        slot: 2,
        mode: Mode::ReadWriteWrite,
        len: Len::One,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr3_trap_variable_readwrite_write_byte",
        slot: 3,
        mode: Mode::ReadWriteWrite,
        len: Len::One,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr0_trap_variable_readwrite_write_2bytes",
        slot: 0,
        mode: Mode::ReadWriteWrite,
        len: Len::Two,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr1_trap_variable_readwrite_write_2bytes",
        slot: 1,
        mode: Mode::ReadWriteWrite,
        len: Len::Two,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr2_trap_variable_readwrite_write_2bytes",
        slot: 2,
        mode: Mode::ReadWriteWrite,
        len: Len::Two,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr3_trap_variable_readwrite_write_2bytes",
        slot: 3,
        mode: Mode::ReadWriteWrite,
        len: Len::Two,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr0_trap_variable_readwrite_write_4bytes",
        slot: 0,
        mode: Mode::ReadWriteWrite,
        len: Len::Four,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr1_trap_variable_readwrite_write_4bytes",
        slot: 1,
        mode: Mode::ReadWriteWrite,
        len: Len::Four,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr2_trap_variable_readwrite_write_4bytes",
        slot: 2,
        mode: Mode::ReadWriteWrite,
        len: Len::Four,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr3_trap_variable_readwrite_write_4bytes",
        slot: 3,
        mode: Mode::ReadWriteWrite,
        len: Len::Four,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr0_trap_variable_readwrite_write_8bytes",
        slot: 0,
        mode: Mode::ReadWriteWrite,
        len: Len::Eight,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr1_trap_variable_readwrite_write_8bytes",
        slot: 1,
        mode: Mode::ReadWriteWrite,
        len: Len::Eight,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr2_trap_variable_readwrite_write_8bytes",
        slot: 2,
        mode: Mode::ReadWriteWrite,
        len: Len::Eight,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr3_trap_variable_readwrite_write_8bytes",
        slot: 3,
        mode: Mode::ReadWriteWrite,
        len: Len::Eight,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr0_trap_variable_readwrite_read_byte",
        slot: 0,
        mode: Mode::ReadWriteRead,
        len: Len::One,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr1_trap_variable_readwrite_read_byte",
        slot: 1,
        mode: Mode::ReadWriteRead,
        len: Len::One,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr2_trap_variable_readwrite_read_byte",
        slot: 2,
        mode: Mode::ReadWriteRead,
        len: Len::One,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr3_trap_variable_readwrite_read_byte",
        slot: 3,
        mode: Mode::ReadWriteRead,
        len: Len::One,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr0_trap_variable_readwrite_read_2bytes",
        slot: 0,
        mode: Mode::ReadWriteRead,
        len: Len::Two,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr1_trap_variable_readwrite_read_2bytes",
        slot: 1,
        mode: Mode::ReadWriteRead,
        len: Len::Two,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr2_trap_variable_readwrite_read_2bytes",
        slot: 2,
        mode: Mode::ReadWriteRead,
        len: Len::Two,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr3_trap_variable_readwrite_read_2bytes",
        slot: 3,
        mode: Mode::ReadWriteRead,
        len: Len::Two,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr0_trap_variable_readwrite_read_4bytes",
        slot: 0,
        mode: Mode::ReadWriteRead,
        len: Len::Four,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr1_trap_variable_readwrite_read_4bytes",
        slot: 1,
        mode: Mode::ReadWriteRead,
        len: Len::Four,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr2_trap_variable_readwrite_read_4bytes",
        slot: 2,
        mode: Mode::ReadWriteRead,
        len: Len::Four,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr3_trap_variable_readwrite_read_4bytes",
        slot: 3,
        mode: Mode::ReadWriteRead,
        len: Len::Four,
        netbsd: true,
    },
    Watch {
        name: "dbregs_dr0_trap_variable_readwrite_read_8bytes",
        slot: 0,
        mode: Mode::ReadWriteRead,
        len: Len::Eight,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr1_trap_variable_readwrite_read_8bytes",
        slot: 1,
        mode: Mode::ReadWriteRead,
        len: Len::Eight,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr2_trap_variable_readwrite_read_8bytes",
        slot: 2,
        mode: Mode::ReadWriteRead,
        len: Len::Eight,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr3_trap_variable_readwrite_read_8bytes",
        slot: 3,
        mode: Mode::ReadWriteRead,
        len: Len::Eight,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr0_notrap_variable_writeonly_read_byte",
        slot: 0,
        mode: Mode::WriteOnlyRead,
        len: Len::One,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr1_notrap_variable_writeonly_read_byte",
        slot: 1,
        mode: Mode::WriteOnlyRead,
        len: Len::One,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr2_notrap_variable_writeonly_read_byte",
        slot: 2,
        mode: Mode::WriteOnlyRead,
        len: Len::One,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr3_notrap_variable_writeonly_read_byte",
        slot: 3,
        mode: Mode::WriteOnlyRead,
        len: Len::One,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr0_notrap_variable_writeonly_read_2bytes",
        slot: 0,
        mode: Mode::WriteOnlyRead,
        len: Len::Two,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr1_notrap_variable_writeonly_read_2bytes",
        slot: 1,
        mode: Mode::WriteOnlyRead,
        len: Len::Two,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr2_notrap_variable_writeonly_read_2bytes",
        slot: 2,
        mode: Mode::WriteOnlyRead,
        len: Len::Two,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr3_notrap_variable_writeonly_read_2bytes",
        slot: 3,
        mode: Mode::WriteOnlyRead,
        len: Len::Two,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr0_notrap_variable_writeonly_read_4bytes",
        slot: 0,
        mode: Mode::WriteOnlyRead,
        len: Len::Four,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr1_notrap_variable_writeonly_read_4bytes",
        slot: 1,
        mode: Mode::WriteOnlyRead,
        len: Len::Four,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr2_notrap_variable_writeonly_read_4bytes",
        slot: 2,
        mode: Mode::WriteOnlyRead,
        len: Len::Four,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr3_notrap_variable_writeonly_read_4bytes",
        slot: 3,
        mode: Mode::WriteOnlyRead,
        len: Len::Four,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr0_notrap_variable_writeonly_read_8bytes",
        slot: 0,
        mode: Mode::WriteOnlyRead,
        len: Len::Eight,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr1_notrap_variable_writeonly_read_8bytes",
        slot: 1,
        mode: Mode::WriteOnlyRead,
        len: Len::Eight,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr2_notrap_variable_writeonly_read_8bytes",
        slot: 2,
        mode: Mode::WriteOnlyRead,
        len: Len::Eight,
        netbsd: false,
    },
    Watch {
        name: "dbregs_dr3_notrap_variable_writeonly_read_8bytes",
        slot: 3,
        mode: Mode::WriteOnlyRead,
        len: Len::Eight,
        netbsd: false,
    },
];

pub fn cases() -> Vec<TestCase> {
    let mut v = vec![
        TestCase::new("dbregs_print")
            .descr("PEEKUSER reads DR0-DR7 of a fresh tracee: zero addresses, DR7 0, DR6 no hit")
            .timeout(15)
            .netbsd_same_name()
            .body(print),
    ];
    for p in PRESERVES {
        let (slot, mode) = (p.slot, p.mode);
        let when = match mode {
            Preserve::Plain => "right away",
            Preserve::Yield => {
                "after the tracee ran, yielding the CPU and sleeping, to its next stop"
            }
            Preserve::Continued => "after the tracee runs to its next stop",
        };
        v.push(
            TestCase::new(p.name)
                .descr(&format!(
                    "DR{slot} set with POKEUSER reads back unchanged {when}"
                ))
                .timeout(15)
                .netbsd_same_name()
                .body(move |tc| preserve(tc, slot, mode)),
        );
    }
    for t in WATCHES {
        let (slot, mode, len) = (t.slot, t.mode, t.len);
        let descr = if mode.fires() {
            format!(
                "A {}-byte {} watchpoint in DR{slot} fires once (SIGTRAP TRAP_HWBKPT, \
                 DR6 B{slot}), then the tracee stops and exits",
                len.bytes(),
                if mode.cond() == Cond::Write {
                    "write"
                } else {
                    "read/write"
                },
            )
        } else {
            format!(
                "A {}-byte write-only watchpoint in DR{slot} does not fire on a read (DR6 \
                 clean), then fires on a write",
                len.bytes()
            )
        };
        let mut case = TestCase::new(t.name).descr(&descr).timeout(15);
        if t.netbsd {
            case = case.netbsd_same_name();
        }
        v.push(case.body(move |tc| {
            let w = common::setup(tc);
            trap_variable(&w, slot, mode, len);
            w.expect_no_children();
        }));
    }
    v.push(
        TestCase::new("dbregs_trap_variable_stress")
            .descr(
                "The trap-variable scenario in a loop (config 'iterations', default 2000): every \
                 iteration exactly one TRAP_HWBKPT, one SIGSTOP, exit 5",
            )
            .timeout(120)
            .body(stress),
    );
    v.push(
        TestCase::new("dbregs_trap_variable_stress_one_tracee")
            .descr(
                "One tracee writes a DR0-watched word and raises SIGSTOP over and over (config \
                 'iterations', default 5000): every iteration exactly one TRAP_HWBKPT with DR6 \
                 B0, then exactly one SIGSTOP; exit 5 at the end",
            )
            .timeout(120)
            .body(stress_one_tracee),
    );
    v
}
