//! `bytes_transfer_*`: one value moved between the tracer and a stopped tracee, to a data
//! variable or into a function's code, by every way Linux offers.
//!
//! NetBSD's request maps to a Linux way: PIOD_*_D -> process_vm_readv/writev, PIOD_*_I ->
//! /proc/PID/mem, PT_*_D -> PTRACE_PEEK/POKEDATA, PT_*_I -> PTRACE_PEEK/POKETEXT (a word is
//! a long, 64 bits, not an int).

use ptrace_atf::netbsd::SameName;
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

/// One case: its name, which way, which direction, how many bytes, data or text.
#[derive(Clone, Copy)]
pub struct Xfer {
    name: &'static str,
    way: Way,
    write: bool,
    bytes: usize,
    text: bool,
}

/// All 40 NetBSD cases of this family (the auxv one lives in `auxv`), in listing order.
const XFERS: &[Xfer] = &[
    Xfer {
        name: "bytes_transfer_piod_read_d_8",
        way: Way::VmRw,
        write: false,
        bytes: 1,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_read_d_16",
        way: Way::VmRw,
        write: false,
        bytes: 2,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_read_d_32",
        way: Way::VmRw,
        write: false,
        bytes: 4,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_read_d_64",
        way: Way::VmRw,
        write: false,
        bytes: 8,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_read_i_8",
        way: Way::ProcMem,
        write: false,
        bytes: 1,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_read_i_16",
        way: Way::ProcMem,
        write: false,
        bytes: 2,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_read_i_32",
        way: Way::ProcMem,
        write: false,
        bytes: 4,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_read_i_64",
        way: Way::ProcMem,
        write: false,
        bytes: 8,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_read_d",
        way: Way::PeekPokeData,
        write: false,
        bytes: 8,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_read_i",
        way: Way::PeekPokeText,
        write: false,
        bytes: 8,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_write_d_8",
        way: Way::VmRw,
        write: true,
        bytes: 1,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_write_d_16",
        way: Way::VmRw,
        write: true,
        bytes: 2,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_write_d_32",
        way: Way::VmRw,
        write: true,
        bytes: 4,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_write_d_64",
        way: Way::VmRw,
        write: true,
        bytes: 8,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_write_i_8",
        way: Way::ProcMem,
        write: true,
        bytes: 1,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_write_i_16",
        way: Way::ProcMem,
        write: true,
        bytes: 2,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_write_i_32",
        way: Way::ProcMem,
        write: true,
        bytes: 4,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_write_i_64",
        way: Way::ProcMem,
        write: true,
        bytes: 8,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_write_d",
        way: Way::PeekPokeData,
        write: true,
        bytes: 8,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_write_i",
        way: Way::PeekPokeText,
        write: true,
        bytes: 8,
        text: false,
    },
    Xfer {
        name: "bytes_transfer_piod_read_d_8_text",
        way: Way::VmRw,
        write: false,
        bytes: 1,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_piod_read_d_16_text",
        way: Way::VmRw,
        write: false,
        bytes: 2,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_piod_read_d_32_text",
        way: Way::VmRw,
        write: false,
        bytes: 4,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_piod_read_d_64_text",
        way: Way::VmRw,
        write: false,
        bytes: 8,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_piod_read_i_8_text",
        way: Way::ProcMem,
        write: false,
        bytes: 1,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_piod_read_i_16_text",
        way: Way::ProcMem,
        write: false,
        bytes: 2,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_piod_read_i_32_text",
        way: Way::ProcMem,
        write: false,
        bytes: 4,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_piod_read_i_64_text",
        way: Way::ProcMem,
        write: false,
        bytes: 8,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_read_d_text",
        way: Way::PeekPokeData,
        write: false,
        bytes: 8,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_read_i_text",
        way: Way::PeekPokeText,
        write: false,
        bytes: 8,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_piod_write_d_8_text",
        way: Way::VmRw,
        write: true,
        bytes: 1,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_piod_write_d_16_text",
        way: Way::VmRw,
        write: true,
        bytes: 2,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_piod_write_d_32_text",
        way: Way::VmRw,
        write: true,
        bytes: 4,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_piod_write_d_64_text",
        way: Way::VmRw,
        write: true,
        bytes: 8,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_piod_write_i_8_text",
        way: Way::ProcMem,
        write: true,
        bytes: 1,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_piod_write_i_16_text",
        way: Way::ProcMem,
        write: true,
        bytes: 2,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_piod_write_i_32_text",
        way: Way::ProcMem,
        write: true,
        bytes: 4,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_piod_write_i_64_text",
        way: Way::ProcMem,
        write: true,
        bytes: 8,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_write_d_text",
        way: Way::PeekPokeData,
        write: true,
        bytes: 8,
        text: true,
    },
    Xfer {
        name: "bytes_transfer_write_i_text",
        way: Way::PeekPokeText,
        write: true,
        bytes: 8,
        text: true,
    },
];

pub fn cases() -> Vec<TestCase> {
    XFERS.iter().map(|&x| case(x.name, x)).collect()
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
        .netbsd_same_name()
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
