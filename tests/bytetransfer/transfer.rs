//! `bytes_transfer_*`: one value moved between the tracer and a stopped tracee, to a data
//! variable or into a function's code, by every way Linux offers.
//!
//! NetBSD's request maps to a Linux way: PIOD_*_D -> process_vm_readv/writev, PIOD_*_I ->
//! /proc/PID/mem, PT_*_D -> PTRACE_PEEK/POKEDATA, PT_*_I -> PTRACE_PEEK/POKETEXT (a word is
//! a long, 64 bits, not an int).

use std::sync::atomic::{AtomicU64, Ordering};

use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::mem::{self, Way};
use ptrace_atf::trace::{Waiter, expect};
use ptrace_atf::{child_require_eq, harness, require_eq};

use crate::common::{EXIT_CODE, stopped_tracee};
use crate::text;

/// The data variable, 8 bytes; the 8/16/32-bit cases use its first bytes.
static LOOKUP: AtomicU64 = AtomicU64::new(0);

/// The magic value of each size (NetBSD's), little-endian in LOOKUP's first bytes.
fn magic(bytes: usize) -> u64 {
    match bytes {
        1 => 0xab,
        2 => 0x1234,
        4 => 0x9876_5432,
        _ => 0xabcd_ef01_2345_6789,
    }
}

/// One case: which way, which direction, how many bytes, data or text.
#[derive(Clone, Copy)]
pub struct Xfer {
    way: Way,
    write: bool,
    bytes: usize,
    text: bool,
}

/// All 40 NetBSD cases of this family (the auxv one lives in `auxv`).
pub fn cases() -> Vec<TestCase> {
    let mut out = Vec::new();
    for text in [false, true] {
        let suffix = if text { "_text" } else { "" };
        for write in [false, true] {
            let op = if write { "write" } else { "read" };
            for (di, way) in [("d", Way::VmRw), ("i", Way::ProcMem)] {
                for bits in [8, 16, 32, 64] {
                    let name = format!("bytes_transfer_piod_{op}_{di}_{bits}{suffix}");
                    let x = Xfer {
                        way,
                        write,
                        bytes: bits / 8,
                        text,
                    };
                    out.push(case(&name, x));
                }
            }
            for (di, way) in [("d", Way::PeekPokeData), ("i", Way::PeekPokeText)] {
                let name = format!("bytes_transfer_{op}_{di}{suffix}");
                let x = Xfer {
                    way,
                    write,
                    bytes: 8,
                    text,
                };
                out.push(case(&name, x));
            }
        }
    }
    out
}

fn case(name: &str, x: Xfer) -> TestCase {
    let target = if x.text {
        "a function's code"
    } else {
        "a data variable"
    };
    let what = if x.write && x.text && x.way == Way::VmRw && !expect::VM_WRITEV_REACHES_TEXT {
        format!(
            "{} of {} bytes into {target} is refused (text is read-only to it) and the tracee runs the unchanged code",
            x.way.name(true),
            x.bytes
        )
    } else if x.write {
        format!(
            "{} of {} bytes into {target} reaches the tracee, which then sees the new value",
            x.way.name(true),
            x.bytes
        )
    } else {
        format!(
            "{} of {} bytes from {target} returns what the tracee holds there",
            x.way.name(false),
            x.bytes
        )
    };
    TestCase::new(name)
        .descr(&what)
        .timeout(15)
        .netbsd(&ptrace_atf::netbsd::id(name))
        .body(move |tc| scenario(tc, x))
}

fn scenario(tc: &Tc, x: Xfer) {
    let w = harness::waiter(tc);
    if x.text {
        text_scenario(&w, x)
    } else {
        data_scenario(&w, x)
    }
}

fn data_scenario(w: &Waiter, x: Xfer) {
    let n = x.bytes;
    let value = magic(n);
    let addr = LOOKUP.as_ptr() as usize;
    LOOKUP.store(0, Ordering::SeqCst);
    let write = x.write;
    let child = stopped_tracee(
        w,
        // The tracee, not the tracer, holds the magic value to be read.
        move || {
            if !write {
                LOOKUP.store(value, Ordering::SeqCst);
            }
        },
        move || {
            if write {
                child_require_eq!(LOOKUP.load(Ordering::SeqCst), value);
            }
            EXIT_CODE
        },
    );
    let pid = child.pid();
    if write {
        mem::write_all(pid, x.way, addr, &value.to_le_bytes()[..n]);
    } else {
        let got = mem::read_exact(pid, x.way, addr, n);
        require_eq!(got, value.to_le_bytes()[..n].to_vec());
        require_eq!(
            LOOKUP.load(Ordering::SeqCst),
            0,
            "the tracer's own copy changed"
        );
    }
    child.cont_to_exit(w, EXIT_CODE);
}

fn text_scenario(w: &Waiter, x: Xfer) {
    let n = x.bytes;
    let addr = text::address();
    let new = 0x5a5a_5a5a_5a5a_5a5a_u64 ^ magic(n);
    let refused = x.write && x.way == Way::VmRw && !expect::VM_WRITEV_REACHES_TEXT;
    let want = if x.write && !refused {
        text::patched(new, n)
    } else {
        text::ORIGINAL
    };
    let child = stopped_tracee(
        w,
        || {},
        move || {
            child_require_eq!(text::call(), want);
            EXIT_CODE
        },
    );
    let pid = child.pid();
    if !x.write {
        let got = mem::read_exact(pid, x.way, addr, n);
        require_eq!(
            got,
            text::own_bytes(n),
            "code bytes differ from the tracer's"
        );
    } else if refused {
        let imm = addr + text::IMM_OFFSET;
        let r = mem::write(pid, x.way, imm, &new.to_le_bytes()[..n]);
        require_eq!(
            r,
            Err(expect::VM_RW_INVALID_ADDRESS_ERRNO),
            "{} into text",
            x.way.name(true)
        );
    } else {
        mem::write_all(pid, x.way, addr + text::IMM_OFFSET, &new.to_le_bytes()[..n]);
        require_eq!(
            text::call(),
            text::ORIGINAL,
            "the tracer's own code changed"
        );
    }
    child.cont_to_exit(w, EXIT_CODE);
}
