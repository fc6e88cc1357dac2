//! Linux pins: a rewritten DR0 takes effect (bd14406b78e6), kernel addresses are refused
//! (CVE-2018-1000199), invalid DR7 encodings are refused.

use nix::errno::Errno;
use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::require_eq;
use ptrace_atf::trace::dbregs::{self, Cond, Len};
use ptrace_atf::trace::probe;

use crate::common::{self, EXIT_CODE, cont, raise_stop, traced_child, watched};

/// The tracee of a pin: writes the word at `watched(8)`, stops, exits 5.
fn tracee(w: &ptrace_atf::trace::Waiter) -> ptrace_atf::trace::Child {
    let addr = watched(8);
    traced_child(w, move || {
        common::access(addr, Len::Eight, true);
        raise_stop();
        EXIT_CODE
    })
}

/// Runs the tracee to its end; `hit` says whether the armed DR0 must fire on the write.
#[track_caller]
fn finish(w: &ptrace_atf::trace::Waiter, child: &ptrace_atf::trace::Child, hit: bool) {
    cont(child.pid(), 0);
    if hit {
        common::expect_hw_trap(w, child, 0);
        cont(child.pid(), 0);
    }
    child.expect_stopped(w, libc::SIGSTOP);
    child.cont_to_exit(w, EXIT_CODE);
}

/// DR0 written twice (first at another word, then at the one the tracee writes): the second
/// value reads back and the armed watchpoint fires on the second address.
fn second_write(tc: &Tc, enabled_first: bool) {
    let w = common::setup(tc);
    let child = tracee(&w);
    let pid = child.pid();
    if enabled_first {
        dbregs::arm(pid, 0, watched(0), Cond::Write, Len::Eight);
    } else {
        dbregs::write(pid, 0, watched(0));
    }
    dbregs::write(pid, 0, watched(8));
    require_eq!(
        dbregs::read(pid, 0),
        watched(8),
        "DR0 after the second POKEUSER"
    );
    if !enabled_first {
        let dr7 = dbregs::dr7_global(0, Cond::Write, Len::Eight);
        dbregs::write(pid, 7, dr7);
    }
    finish(&w, &child, true);
}

/// Addresses a debug register must refuse, with what they are: kernel addresses, and
/// TASK_SIZE_MAX itself, the first address above user space. Where user space ends depends on
/// the paging mode this kernel runs (47 bits with 4-level paging, 56 with 5-level), so it is
/// probed, never written down: with 5-level paging 0x7ffffffff000 is an ordinary user address.
fn kernel_addresses() -> Vec<(u64, String)> {
    let top = probe::task_size_max();
    eprintln!(
        "user space: {} bits (probed), TASK_SIZE_MAX {top:#x}",
        probe::user_address_bits()
    );
    vec![
        (0xffff_ffff_8100_0000, "kernel text".into()),
        (
            0xffff_8880_0000_0000,
            "the direct map of 4-level paging".into(),
        ),
        (0xffff_ffff_ffff_f000, "the last page".into()),
        (
            top,
            format!(
                "TASK_SIZE_MAX, the guard page at the top of {}-bit user space",
                probe::user_address_bits()
            ),
        ),
        (top + 4096, "the lowest non-canonical address".into()),
    ]
}

#[track_caller]
fn expect_refused(pid: Pid, n: usize, value: u64, what: &str) {
    match dbregs::set(pid, n, value) {
        Err(Errno::EINVAL) => {}
        other => {
            ptrace_atf::fail!("POKEUSER DR{n}={value:#x} ({what}): expected EINVAL, got {other:?}")
        }
    }
}

/// CVE-2018-1000199: a kernel address in DR0 is refused and never reads back, whether DR0
/// is armed or not; the valid value set before stays in force.
fn kernel_address(tc: &Tc, armed: bool) {
    let w = if armed {
        common::setup(tc)
    } else {
        common::setup_state(tc)
    };
    let child = tracee(&w);
    let pid = child.pid();
    let good = watched(8);
    if armed {
        dbregs::arm(pid, 0, good, Cond::Write, Len::Eight);
    } else {
        dbregs::write(pid, 0, good);
    }
    for (addr, what) in kernel_addresses() {
        expect_refused(pid, 0, addr, &what);
        require_eq!(
            dbregs::read(pid, 0),
            good,
            "DR0 after refusing {addr:#x} ({what})"
        );
    }
    // The control: the last 8 bytes below TASK_SIZE_MAX are user space and accepted.
    let last = probe::task_size_max() - 8;
    if let Err(e) = dbregs::set(pid, 0, last) {
        ptrace_atf::fail!("POKEUSER DR0={last:#x} (the last 8 bytes of user space): {e}");
    }
    require_eq!(
        dbregs::read(pid, 0),
        last,
        "DR0 after POKEUSER of the last user word"
    );
    dbregs::write(pid, 0, good);
    finish(&w, &child, armed);
}

/// An invalid DR7 encoding for a slot whose DR0 holds `offset` bytes into the watched word.
struct BadDr7 {
    name: &'static str,
    what: &'static str,
    offset: usize,
    cond: Cond,
    len: Len,
}

const BAD_DR7: [BadDr7; 5] = [
    BadDr7 {
        name: "dbregs_dr7_refuses_io_type",
        what: "R/W=10 (I/O breakpoint)",
        offset: 0,
        cond: Cond::Io,
        len: Len::One,
    },
    BadDr7 {
        name: "dbregs_dr7_refuses_exec_len4",
        what: "an execute breakpoint of length 4",
        offset: 0,
        cond: Cond::Exec,
        len: Len::Four,
    },
    BadDr7 {
        name: "dbregs_dr7_refuses_misaligned_2bytes",
        what: "a 2-byte watchpoint at an odd address",
        offset: 1,
        cond: Cond::Write,
        len: Len::Two,
    },
    BadDr7 {
        name: "dbregs_dr7_refuses_misaligned_4bytes",
        what: "a 4-byte watchpoint at an address = 2 mod 4",
        offset: 2,
        cond: Cond::Write,
        len: Len::Four,
    },
    BadDr7 {
        name: "dbregs_dr7_refuses_misaligned_8bytes",
        what: "an 8-byte watchpoint at an address = 4 mod 8",
        offset: 12,
        cond: Cond::ReadWrite,
        len: Len::Eight,
    },
];

fn bad_dr7(tc: &Tc, bad: &BadDr7) {
    let w = common::setup_state(tc);
    let child = tracee(&w);
    let pid = child.pid();
    let addr = watched(bad.offset);
    dbregs::write(pid, 0, addr);
    let dr7 = dbregs::dr7_global(0, bad.cond, bad.len);
    expect_refused(pid, 7, dr7, bad.what);
    require_eq!(dbregs::read(pid, 7), 0, "DR7 after refusing {dr7:#x}");
    require_eq!(
        dbregs::read(pid, 0),
        addr,
        "DR0 after refusing DR7={dr7:#x}"
    );
    finish(&w, &child, false);
}

pub fn cases() -> Vec<TestCase> {
    let mut v = Vec::new();
    for (enabled, second_write_name, kernel_address_name, how) in [
        (
            false,
            "dbregs_dr0_second_write_takes_effect",
            "dbregs_dr0_kernel_address_refused",
            "disabled",
        ),
        (
            true,
            "dbregs_dr0_second_write_takes_effect_armed",
            "dbregs_dr0_kernel_address_refused_armed",
            "armed",
        ),
    ] {
        v.push(
            TestCase::new(second_write_name)
                .descr(&format!(
                    "A second POKEUSER of a {how} DR0 takes effect: it reads back and the \
                     watchpoint fires there (bd14406b78e6, LTP ptrace10)"
                ))
                .timeout(15)
                .body(move |tc| second_write(tc, enabled)),
        );
        v.push(
            TestCase::new(kernel_address_name)
                .descr(&format!(
                    "Kernel addresses in a {how} DR0 fail with EINVAL and never read back; the \
                     previous value stays (CVE-2018-1000199, LTP ptrace08)"
                ))
                .timeout(15)
                .body(move |tc| kernel_address(tc, enabled)),
        );
    }
    for bad in &BAD_DR7 {
        v.push(
            TestCase::new(bad.name)
                .descr(&format!(
                    "POKEUSER DR7 enabling {} fails with EINVAL and DR7 stays 0",
                    bad.what
                ))
                .timeout(15)
                .body(move |tc| bad_dr7(tc, bad)),
        );
    }
    v
}
