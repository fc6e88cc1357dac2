//! CVE-2017-15537 (814fb7bb7db5 "x86/fpu: Don't let userspace set bogus xcomp_bv"): an
//! XSAVE area with reserved header bits given to PTRACE_SETREGSET NT_X86_XSTATE is rejected
//! (EINVAL) or ignored, and no other process sees its vector registers change.

use std::arch::asm;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::{Forkee, Want, regs, sys};
use ptrace_atf::{child_require, harness, require, require_eq};

use crate::common::{EXIT_CODE, tracee};
use crate::probe::{self, VecBlock, VecRegs};

/// Which header word gets reserved bits.
#[derive(Clone, Copy)]
enum Bogus {
    /// xcomp_bv: must be 0 in the standard format user space passes.
    XcompBv,
    /// xstate_bv bit 62: no such state component.
    XstateBv,
}

pub fn cases() -> Vec<TestCase> {
    [
        ("xstate_reserved_xcomp_bv_rejected", Bogus::XcompBv),
        ("xstate_reserved_xstate_bv_rejected", Bogus::XstateBv),
    ]
    .into_iter()
    .map(|(name, b)| {
        TestCase::new(name)
            .descr("SETREGSET NT_X86_XSTATE with reserved header bits fails with EINVAL or is ignored; a spinning sibling's xmm0 never changes (CVE-2017-15537)")
            .timeout(20)
            .body(move |tc| bogus(tc, b))
    })
    .collect()
}

const PATTERN: u64 = 0x0123_4567_89ab_cdef;

/// In the sibling: load xmm0, wait a little, read it back, for `ms` milliseconds.
fn spin_xmm0(ms: u64) -> i32 {
    let end = Instant::now() + Duration::from_millis(ms);
    let mut rounds = 0u64;
    while Instant::now() < end {
        let v = PATTERN ^ rounds;
        let got: u64;
        // SAFETY: only xmm0 and the named registers are touched.
        unsafe {
            asm!(
                "movq xmm0, {v}",
                "mov {n:e}, 2000",
                "2:",
                "pause",
                "dec {n:e}",
                "jnz 2b",
                "movq {o}, xmm0",
                v = in(reg) v,
                n = out(reg) _,
                o = out(reg) got,
                out("xmm0") _,
            );
        }
        child_require!(
            got == v,
            "xmm0 changed under the sibling: {:#x} != {:#x}",
            got,
            v
        );
        rounds += 1;
    }
    EXIT_CODE
}

fn bogus(tc: &Tc, b: Bogus) {
    let w = harness::waiter(tc);
    let avx = regs::has_avx();
    let child = tracee(&w, libc::SIGTRAP, move || {
        let mut blk = VecBlock {
            input: VecRegs::ZERO,
            output: VecRegs::ZERO,
        };
        blk.input.xmm[0] = [0x11; 16];
        probe::vec_probe(&mut blk, avx);
        child_require!(
            blk.output.xmm[0] == [0x11; 16],
            "the tracee's own xmm0 changed"
        );
        EXIT_CODE
    });
    let pid = child.pid();
    let sibling = Forkee::spawn(|| spin_xmm0(300));
    let good = regs::get_xstate(pid);
    let mut area = good.clone();
    match b {
        Bogus::XcompBv => regs::put_le64(&mut area, regs::XSAVE_HEADER + 8, (1 << 63) | 0x3),
        Bogus::XstateBv => {
            let bv = regs::le64(&area, regs::XSAVE_HEADER);
            regs::put_le64(&mut area, regs::XSAVE_HEADER, bv | (1 << 62));
        }
    }
    match regs::try_set_xstate(pid, &area) {
        Err(e) => require_eq!(e, Errno::EINVAL, "SETREGSET with reserved bits"),
        Ok(_) => {
            let now = regs::get_xstate(pid);
            require!(
                regs::le64(&now, regs::XSAVE_HEADER + 8) == 0
                    && regs::le64(&now, regs::XSAVE_HEADER) & (1 << 62) == 0,
                "the kernel kept the reserved header bits"
            );
        }
    }
    sys::cont(pid, 0).unwrap_or_else(|e| ptrace_atf::fail!("PTRACE_CONT failed: {e}"));
    // Two children end; "any child" waits keep every waiter usable.
    for _ in 0..2 {
        let (p, st) = w.wait_any("the tracee's and the sibling's exits");
        let who = if p == pid { &child } else { &sibling };
        require!(p == pid || p == sibling.pid(), "unexpected pid {p} {st}");
        who.check(&w, Want::Exited(EXIT_CODE), st);
    }
    w.expect_no_children();
}
