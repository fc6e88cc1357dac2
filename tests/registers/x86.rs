//! `x86_gpregs*` and `x86_{fpregs,xstate}_*`: values loaded by the tracee's probe are what
//! the tracer reads (GETREGS, GETFPREGS, GETREGSET NT_X86_XSTATE), and values the tracer
//! writes are what the tracee's registers hold when it runs on.

use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::netbsd::SameName;
use ptrace_atf::trace::regs;
use ptrace_atf::{child_require, harness, require_eq};

use crate::common::{EXIT_CODE, tracee};
use crate::probe::{self, GP_NAMES, GpBlock, VecBlock, VecRegs};

/// Which general registers a case covers (GP_NAMES indexes) and at what width.
struct Gp {
    /// The names of the read case and the write case.
    read: &'static str,
    write: &'static str,
    regs: &'static [usize],
    wide: bool,
    /// Whether rsp is checked too (read only: the probe needs its stack).
    rsp: bool,
}

#[rustfmt::skip]
const GPS: &[Gp] = &[
    Gp { read: "x86_gpregs32_read", write: "x86_gpregs32_write", regs: &[0, 1, 2, 3, 4, 5], wide: false, rsp: false },
    Gp { read: "x86_gpregs32_ebp_esp_read", write: "x86_gpregs32_ebp_esp_write", regs: &[6], wide: false, rsp: true },
    Gp { read: "x86_gpregs64_read", write: "x86_gpregs64_write", regs: &[0, 1, 2, 3, 4, 5], wide: true, rsp: false },
    Gp { read: "x86_gpregs64_r8_read", write: "x86_gpregs64_r8_write", regs: &[8, 9, 10, 11, 12, 13, 14, 15], wide: true, rsp: false },
];

fn gp_value(i: usize, wide: bool, new: bool) -> u64 {
    let v = 0x0101_0101_0101_0101u64.wrapping_mul(i as u64 + 1) ^ 0x8040_2010_0804_0201;
    let v = if new {
        v.rotate_left(17) ^ 0xdead_beef_0bad_f00d
    } else {
        v
    };
    if wide { v } else { v & 0xffff_ffff }
}

fn field(r: &mut libc::user_regs_struct, i: usize) -> &mut u64 {
    match i {
        0 => &mut r.rax,
        1 => &mut r.rbx,
        2 => &mut r.rcx,
        3 => &mut r.rdx,
        4 => &mut r.rsi,
        5 => &mut r.rdi,
        6 => &mut r.rbp,
        7 => &mut r.rsp,
        8 => &mut r.r8,
        9 => &mut r.r9,
        10 => &mut r.r10,
        11 => &mut r.r11,
        12 => &mut r.r12,
        13 => &mut r.r13,
        14 => &mut r.r14,
        _ => &mut r.r15,
    }
}

/// Which vector state a case covers, through which request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Set {
    Mm,
    Xmm,
    Ymm,
}

impl Set {
    /// The registers' name in descriptions.
    fn name(self) -> &'static str {
        match self {
            Set::Mm => "mm",
            Set::Xmm => "xmm",
            Set::Ymm => "ymm",
        }
    }
}

struct Vec_ {
    /// The names of the read case and the write case.
    read: &'static str,
    write: &'static str,
    set: Set,
    xstate: bool,
}

#[rustfmt::skip]
const VECS: &[Vec_] = &[
    Vec_ { read: "x86_fpregs_mm_read", write: "x86_fpregs_mm_write", set: Set::Mm, xstate: false },
    Vec_ { read: "x86_fpregs_xmm_read", write: "x86_fpregs_xmm_write", set: Set::Xmm, xstate: false },
    Vec_ { read: "x86_xstate_mm_read", write: "x86_xstate_mm_write", set: Set::Mm, xstate: true },
    Vec_ { read: "x86_xstate_xmm_read", write: "x86_xstate_xmm_write", set: Set::Xmm, xstate: true },
    Vec_ { read: "x86_xstate_ymm_read", write: "x86_xstate_ymm_write", set: Set::Ymm, xstate: true },
];

pub fn cases() -> Vec<TestCase> {
    let mut out = Vec::new();
    for g in GPS {
        for (write, name) in [(false, g.read), (true, g.write)] {
            let list: Vec<&str> = g.regs.iter().map(|&i| GP_NAMES[i]).collect();
            let descr = if write {
                format!(
                    "{} set with SETREGS at an int3 stop are what the tracee's registers hold",
                    list.join(", ")
                )
            } else {
                format!(
                    "{}{} loaded by the tracee are what GETREGS reads at its int3 stop",
                    list.join(", "),
                    if g.rsp { ", rsp" } else { "" }
                )
            };
            out.push(
                TestCase::new(name)
                    .descr(&descr)
                    .timeout(15)
                    .netbsd_same_name()
                    .body(move |tc| gp(tc, g, write)),
            );
        }
    }
    for v in VECS {
        for (write, name) in [(false, v.read), (true, v.write)] {
            let req = if v.xstate {
                "PTRACE_GETREGSET/SETREGSET NT_X86_XSTATE"
            } else {
                "PTRACE_GETFPREGS/SETFPREGS"
            };
            let descr = format!(
                "{} {} the tracee's {} registers at an int3 stop",
                req,
                if write { "writes" } else { "reads" },
                v.set.name()
            );
            out.push(
                TestCase::new(name)
                    .descr(&descr)
                    .timeout(15)
                    .netbsd_same_name()
                    .body(move |tc| vector(tc, v, write)),
            );
        }
    }
    out
}

fn gp(tc: &Tc, g: &'static Gp, write: bool) {
    let w = harness::waiter(tc);
    let wide = g.wide;
    let child = tracee(&w, libc::SIGTRAP, move || {
        let mut b = GpBlock {
            input: [0; 16],
            rsp: 0,
            output: [0; 16],
        };
        for i in 0..16 {
            b.input[i] = gp_value(i, wide, false);
        }
        probe::gp_probe(&mut b);
        for &i in g.regs {
            let want = gp_value(i, wide, write);
            child_require!(
                b.output[i] == want,
                "{} is {:#x} after the stop, want {:#x}",
                GP_NAMES[i],
                b.output[i],
                want
            );
        }
        EXIT_CODE
    });
    let pid = child.pid();
    let mut r = regs::get(pid);
    require_eq!(r.rip, probe::gp_trap_pc(), "rip at the int3 stop");
    if write {
        for &i in g.regs {
            *field(&mut r, i) = gp_value(i, wide, true);
        }
        regs::set(pid, r);
    } else {
        for &i in g.regs {
            require_eq!(
                *field(&mut r, i),
                gp_value(i, wide, false),
                "{}",
                GP_NAMES[i]
            );
        }
        if g.rsp {
            // The probe recorded rsp in its block; the block is on the tracee's stack.
            let rec = recorded_rsp(pid, r.rsp);
            require_eq!(r.rsp, rec, "rsp vs the value the probe recorded");
        }
    }
    child.cont_to_exit(&w, EXIT_CODE);
}

/// The rsp the probe recorded: the probe pushed 7 registers above the return address,
/// and its caller's block pointer is the last of them (at rsp).
fn recorded_rsp(pid: nix::unistd::Pid, rsp: u64) -> u64 {
    use ptrace_atf::trace::mem::{self, Way};
    let word = |a: u64| {
        u64::from_le_bytes(
            mem::read_exact(pid, Way::PeekPokeData, a as usize, 8)
                .try_into()
                .unwrap_or_default(),
        )
    };
    let block = word(rsp);
    word(block + 128)
}

fn vec_value(new: bool) -> VecRegs {
    let mut v = VecRegs::ZERO;
    let salt: u8 = if new { 0x5c } else { 0xa3 };
    for i in 0..8 {
        v.mm[i] = 0x1122_3344_5566_7788u64.rotate_left(i as u32 * 8 + salt as u32) ^ i as u64;
    }
    for i in 0..16 {
        for j in 0..16 {
            v.xmm[i][j] = ((i * 16 + j) as u8).wrapping_mul(7) ^ salt;
            v.ymm_hi[i][j] = ((i * 16 + j) as u8).wrapping_mul(13) ^ salt ^ 0xff;
        }
    }
    v
}

fn vector(tc: &Tc, v: &'static Vec_, write: bool) {
    let avx = v.set == Set::Ymm;
    if avx && !regs::has_avx() {
        tc.skip("AVX is not supported by the CPU");
    }
    let w = harness::waiter(tc);
    let set = v.set;
    let child = tracee(&w, libc::SIGTRAP, move || {
        let mut b = VecBlock {
            input: vec_value(false),
            output: VecRegs::ZERO,
        };
        probe::vec_probe(&mut b, avx);
        let want = vec_value(write);
        let ok = match set {
            Set::Mm => b.output.mm == want.mm,
            Set::Xmm => b.output.xmm == want.xmm,
            Set::Ymm => b.output.ymm_hi == want.ymm_hi && b.output.xmm == want.xmm,
        };
        child_require!(
            ok,
            "the tracee's registers after the stop are not the expected ones"
        );
        EXIT_CODE
    });
    let pid = child.pid();
    require_eq!(
        regs::get(pid).rip,
        probe::vec_trap_pc(),
        "rip at the int3 stop"
    );
    let mut area = if v.xstate {
        regs::get_xstate(pid)
    } else {
        regs::fp_bytes(&regs::get_fp(pid))
    };
    let ymm = regs::xstate_offset(2);
    let old = vec_value(false);
    let new = vec_value(true);
    for i in 0..16 {
        let (xo, yo, mo) = (
            regs::FXSAVE_XMM + 16 * i,
            ymm + 16 * i,
            regs::FXSAVE_ST + 16 * i,
        );
        match set {
            Set::Mm if i < 8 => {
                if write {
                    regs::put_le64(&mut area, mo, new.mm[i]);
                } else {
                    require_eq!(regs::le64(&area, mo), old.mm[i], "mm{}", i);
                }
            }
            Set::Mm => {}
            Set::Xmm | Set::Ymm => {
                if write {
                    area[xo..xo + 16].copy_from_slice(&new.xmm[i]);
                } else {
                    require_eq!(area[xo..xo + 16], old.xmm[i], "xmm{}", i);
                }
                if set == Set::Ymm {
                    if write {
                        area[yo..yo + 16].copy_from_slice(&new.ymm_hi[i]);
                    } else {
                        require_eq!(area[yo..yo + 16], old.ymm_hi[i], "ymm{} upper half", i);
                    }
                }
            }
        }
    }
    if write {
        if v.xstate {
            // Mark x87, SSE and AVX state present so the kernel loads what we wrote.
            let bv = regs::le64(&area, regs::XSAVE_HEADER);
            regs::put_le64(&mut area, regs::XSAVE_HEADER, bv | if avx { 7 } else { 3 });
            regs::set_xstate(pid, &area);
        } else {
            regs::set_fp(pid, &regs::fp_from_bytes(&area));
        }
    }
    child.cont_to_exit(&w, EXIT_CODE);
}
