//! Zero-byte, invalid-address and short transfers (the seed's PT_IO bug: a zero-byte
//! request must be distinguishable from a transfer, and a failure must never claim bytes).
//! NetBSD has no such cases; the names are Linux-only.

use nix::errno::Errno;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::expect;
use ptrace_atf::trace::mem::{self, Way};
use ptrace_atf::{harness, require, require_eq};

use crate::common::{EXIT_CODE, GuardedPage, child_fill, page_size, stopped_tracee};

/// Where in the tracee a transfer is aimed.
#[derive(Clone, Copy, Debug)]
enum At {
    /// The start of a mapped page.
    Mapped,
    /// Address 0.
    Null,
    /// 8 bytes before the end of a mapping followed by an unmapped page.
    EightBeforeEnd,
}

/// What the call must report.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    Count(usize),
    Fails(Errno),
}

struct Edge {
    name: &'static str,
    descr: &'static str,
    way: Way,
    write: bool,
    at: At,
    len: usize,
    want: Outcome,
}

const VM_BAD: Errno = expect::VM_RW_INVALID_ADDRESS_ERRNO;
const MEM_BAD: Errno = expect::PROC_MEM_INVALID_ADDRESS_ERRNO;
const PEEK_BAD: Errno = expect::INVALID_ADDRESS_ERRNO;

#[rustfmt::skip]
const EDGES: &[Edge] = &[
    Edge { name: "process_vm_readv_zero_length", descr: "process_vm_readv of 0 bytes returns 0 and moves nothing", way: Way::VmRw, write: false, at: At::Mapped, len: 0, want: Outcome::Count(0) },
    Edge { name: "process_vm_writev_zero_length", descr: "process_vm_writev of 0 bytes returns 0 and changes nothing", way: Way::VmRw, write: true, at: At::Mapped, len: 0, want: Outcome::Count(0) },
    Edge { name: "process_vm_readv_zero_length_null", descr: "process_vm_readv of 0 bytes at address 0 returns 0", way: Way::VmRw, write: false, at: At::Null, len: 0, want: Outcome::Count(0) },
    Edge { name: "process_vm_writev_zero_length_null", descr: "process_vm_writev of 0 bytes at address 0 returns 0", way: Way::VmRw, write: true, at: At::Null, len: 0, want: Outcome::Count(0) },
    Edge { name: "proc_mem_read_zero_length", descr: "a 0-byte pread of /proc/PID/mem returns 0 and moves nothing", way: Way::ProcMem, write: false, at: At::Mapped, len: 0, want: Outcome::Count(0) },
    Edge { name: "proc_mem_write_zero_length", descr: "a 0-byte pwrite of /proc/PID/mem returns 0 and changes nothing", way: Way::ProcMem, write: true, at: At::Mapped, len: 0, want: Outcome::Count(0) },
    Edge { name: "process_vm_readv_null", descr: "process_vm_readv at address 0 fails with EFAULT and fills nothing", way: Way::VmRw, write: false, at: At::Null, len: 16, want: Outcome::Fails(VM_BAD) },
    Edge { name: "process_vm_writev_null", descr: "process_vm_writev at address 0 fails with EFAULT", way: Way::VmRw, write: true, at: At::Null, len: 16, want: Outcome::Fails(VM_BAD) },
    Edge { name: "proc_mem_read_null", descr: "pread of /proc/PID/mem at address 0 fails with EIO and fills nothing", way: Way::ProcMem, write: false, at: At::Null, len: 16, want: Outcome::Fails(MEM_BAD) },
    Edge { name: "proc_mem_write_null", descr: "pwrite of /proc/PID/mem at address 0 fails with EIO", way: Way::ProcMem, write: true, at: At::Null, len: 16, want: Outcome::Fails(MEM_BAD) },
    Edge { name: "peekdata_null", descr: "PTRACE_PEEKDATA at address 0 fails with EIO", way: Way::PeekPokeData, write: false, at: At::Null, len: 8, want: Outcome::Fails(PEEK_BAD) },
    Edge { name: "pokedata_null", descr: "PTRACE_POKEDATA at address 0 fails with EIO", way: Way::PeekPokeData, write: true, at: At::Null, len: 8, want: Outcome::Fails(PEEK_BAD) },
    Edge { name: "peektext_null", descr: "PTRACE_PEEKTEXT at address 0 fails with EIO", way: Way::PeekPokeText, write: false, at: At::Null, len: 8, want: Outcome::Fails(PEEK_BAD) },
    Edge { name: "poketext_null", descr: "PTRACE_POKETEXT at address 0 fails with EIO", way: Way::PeekPokeText, write: true, at: At::Null, len: 8, want: Outcome::Fails(PEEK_BAD) },
    Edge { name: "process_vm_readv_short_at_end_of_mapping", descr: "process_vm_readv of 16 bytes crossing the end of a mapping returns 8, the bytes before the end", way: Way::VmRw, write: false, at: At::EightBeforeEnd, len: 16, want: Outcome::Count(8) },
    Edge { name: "process_vm_writev_short_at_end_of_mapping", descr: "process_vm_writev of 16 bytes crossing the end of a mapping returns 8 and writes those 8", way: Way::VmRw, write: true, at: At::EightBeforeEnd, len: 16, want: Outcome::Count(8) },
    Edge { name: "proc_mem_read_short_at_end_of_mapping", descr: "pread of /proc/PID/mem crossing the end of a mapping returns 8, the bytes before the end", way: Way::ProcMem, write: false, at: At::EightBeforeEnd, len: 16, want: Outcome::Count(8) },
    Edge { name: "proc_mem_write_short_at_end_of_mapping", descr: "pwrite of /proc/PID/mem crossing the end of a mapping returns 8 and writes those 8", way: Way::ProcMem, write: true, at: At::EightBeforeEnd, len: 16, want: Outcome::Count(8) },
];

/// The byte the tracee fills its page with.
const FILL: u8 = 0x5a;
/// The byte the tracer writes.
const NEW: u8 = 0xc3;
/// The byte the tracer's read buffer starts as.
const UNTOUCHED: u8 = 0xee;

pub fn cases() -> Vec<TestCase> {
    let mut out: Vec<TestCase> = EDGES
        .iter()
        .map(|e| {
            TestCase::new(e.name)
                .descr(e.descr)
                .timeout(15)
                .body(move |tc| edge(tc, e))
        })
        .collect();
    for write in [false, true] {
        let name = if write {
            "process_vm_writev_empty_iovec_arrays"
        } else {
            "process_vm_readv_empty_iovec_arrays"
        };
        out.push(
            TestCase::new(name)
                .descr("process_vm_readv/writev with no local and no remote iovec returns 0 and moves nothing")
                .timeout(15)
                .body(move |tc| empty_iovecs(tc, write)),
        );
    }
    out
}

fn edge(tc: &Tc, e: &Edge) {
    let w = harness::waiter(tc);
    let page = GuardedPage::new();
    let (base, size) = (page.base, page_size());
    let child = stopped_tracee(&w, move || child_fill(base, size, FILL), || EXIT_CODE);
    let pid = child.pid();
    let addr = match e.at {
        At::Mapped => page.base,
        At::Null => 0,
        At::EightBeforeEnd => page.end() - 8,
    };
    let call = e.way.name(e.write);
    let mut buf = vec![if e.write { NEW } else { UNTOUCHED }; e.len];
    let got = if e.write {
        mem::write(pid, e.way, addr, &buf)
    } else {
        mem::read(pid, e.way, addr, &mut buf)
    };
    let moved = match (e.want, got) {
        (Outcome::Count(n), Ok(m)) if n == m => n,
        (Outcome::Fails(want), Err(err)) if want == err => 0,
        (want, got) => ptrace_atf::fail!(
            "{call} of {} bytes at {addr:#x}: expected {want:?}, got {got:?}",
            e.len
        ),
    };
    if e.write {
        // The page must hold the new bytes exactly where the call said it wrote them.
        let now = mem::read_exact(pid, Way::ProcMem, page.base, size);
        let off = addr.wrapping_sub(page.base);
        for (i, &b) in now.iter().enumerate() {
            let written = off <= i && i < off.wrapping_add(moved);
            let want = if written { NEW } else { FILL };
            require_eq!(
                b,
                want,
                "tracee byte {i} of the page after {call} returned {got:?}"
            );
        }
    } else {
        require!(
            buf[..moved].iter().all(|&b| b == FILL),
            "{call} claimed {moved} bytes but they are not the tracee's: {:x?}",
            &buf[..moved]
        );
        require!(
            buf[moved..].iter().all(|&b| b == UNTOUCHED),
            "{call} returned {got:?} but changed bytes past the count: {buf:x?}"
        );
    }
    child.cont_to_exit(&w, EXIT_CODE);
}

fn empty_iovecs(tc: &Tc, write: bool) {
    let w = harness::waiter(tc);
    let page = GuardedPage::new();
    let (base, size) = (page.base, page_size());
    let child = stopped_tracee(&w, move || child_fill(base, size, FILL), || EXIT_CODE);
    let got = if write {
        mem::vm_writev(child.pid(), &[], &[])
    } else {
        mem::vm_readv(child.pid(), &[], &[])
    };
    require_eq!(got, Ok(0), "with empty iovec arrays");
    let now = mem::read_exact(child.pid(), Way::ProcMem, base, size);
    require!(now.iter().all(|&b| b == FILL), "the tracee's page changed");
    child.cont_to_exit(&w, EXIT_CODE);
}
