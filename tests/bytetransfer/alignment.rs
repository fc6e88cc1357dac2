//! `bytes_transfer_alignment_*`: transfers at every byte offset across two pages, and the
//! auxiliary vector read whole and in small pieces (`*_read_auxv`).

use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::netbsd::SameName;
use ptrace_atf::trace::mem::{self, Way};
use ptrace_atf::{child_require, harness, require, require_eq};

use crate::common::{EXIT_CODE, page_size, stopped_tracee};

/// The pattern the tracee holds (a read checks it).
fn before(i: usize) -> u8 {
    (i & 0xff) as u8
}

/// The pattern the tracer writes: every overlapping write agrees on each byte, so only a
/// transfer that lands at the wrong place or with the wrong bytes can spoil it.
fn after(i: usize) -> u8 {
    ((i * 7 + 3) & 0xff) as u8
}

struct Align {
    name: &'static str,
    way: Way,
    write: bool,
    /// Bytes per transfer: NetBSD's int for PT_IO, a long for PEEK/POKE.
    width: usize,
}

// NetBSD's _i and _d cases are swapped by an inverted strcmp there; here each name means
// what it says: _d the data way, _i the text (or forced) way.
#[rustfmt::skip]
const ALIGN: &[Align] = &[
    Align { name: "bytes_transfer_alignment_pt_read_i", way: Way::PeekPokeText, write: false, width: 8 },
    Align { name: "bytes_transfer_alignment_pt_read_d", way: Way::PeekPokeData, write: false, width: 8 },
    Align { name: "bytes_transfer_alignment_pt_write_i", way: Way::PeekPokeText, write: true, width: 8 },
    Align { name: "bytes_transfer_alignment_pt_write_d", way: Way::PeekPokeData, write: true, width: 8 },
    Align { name: "bytes_transfer_alignment_piod_read_i", way: Way::ProcMem, write: false, width: 4 },
    Align { name: "bytes_transfer_alignment_piod_read_d", way: Way::VmRw, write: false, width: 4 },
    Align { name: "bytes_transfer_alignment_piod_write_i", way: Way::ProcMem, write: true, width: 4 },
    Align { name: "bytes_transfer_alignment_piod_write_d", way: Way::VmRw, write: true, width: 4 },
];

pub fn cases() -> Vec<TestCase> {
    let mut out: Vec<TestCase> = ALIGN
        .iter()
        .map(|a| {
            let descr = format!(
                "{} of {} bytes at every byte offset across two pages moves exactly those bytes",
                a.way.name(a.write),
                a.width
            );
            TestCase::new(a.name)
                .descr(&descr)
                .timeout(20)
                .netbsd_same_name()
                .body(move |tc| alignment(tc, a))
        })
        .collect();
    out.push(
        TestCase::new("bytes_transfer_piod_read_auxv")
            .descr("/proc/PID/auxv of a stopped tracee is a non-empty, AT_NULL-terminated vector equal to its parent's")
            .timeout(15)
            .netbsd_same_name()
            .body(|tc| auxv(tc, false)),
    );
    out.push(
        TestCase::new("bytes_transfer_alignment_piod_read_auxv")
            .descr("/proc/PID/auxv read 4 bytes at a time, until a read returns 0, gives the whole vector")
            .timeout(15)
            .netbsd_same_name()
            .body(|tc| auxv(tc, true)),
    );
    out
}

fn alignment(tc: &Tc, a: &Align) {
    let w = harness::waiter(tc);
    let len = 2 * page_size();
    // Page-aligned, so the transfers cross a page boundary in the middle.
    let layout = std::alloc::Layout::from_size_align(len, page_size())
        .unwrap_or_else(|e| ptrace_atf::fail!("{}", e.to_string()));
    // SAFETY: a non-zero-sized layout; freed below.
    let buf = unsafe { std::alloc::alloc_zeroed(layout) } as usize;
    require!(buf != 0, "allocation of two pages failed");
    let write = a.write;
    let child = stopped_tracee(
        &w,
        move || {
            for i in 0..len {
                // SAFETY: the tracee's copy of the buffer.
                unsafe { *((buf + i) as *mut u8) = before(i) };
            }
        },
        move || {
            if write {
                for i in 0..len {
                    // SAFETY: as above.
                    let b = unsafe { *((buf + i) as *const u8) };
                    child_require!(
                        b == after(i),
                        "byte {} is {:#x}, want {:#x}",
                        i,
                        b,
                        after(i)
                    );
                }
            }
            EXIT_CODE
        },
    );
    let pid = child.pid();
    for i in 0..=len - a.width {
        if a.write {
            let bytes: Vec<u8> = (i..i + a.width).map(after).collect();
            mem::write_all(pid, a.way, buf + i, &bytes);
        } else {
            let got = mem::read_exact(pid, a.way, buf + i, a.width);
            let want: Vec<u8> = (i..i + a.width).map(before).collect();
            require_eq!(got, want, "at offset {i}");
        }
    }
    child.cont_to_exit(&w, EXIT_CODE);
    // SAFETY: allocated above with this layout.
    unsafe { std::alloc::dealloc(buf as *mut u8, layout) };
}

fn auxv(tc: &Tc, piecewise: bool) {
    let w = harness::waiter(tc);
    let child = stopped_tracee(&w, || {}, || EXIT_CODE);
    let pid = child.pid();
    let whole = mem::auxv_bytes(pid).unwrap_or_else(|e| ptrace_atf::fail!("/proc/{pid}/auxv: {e}"));
    require!(!whole.is_empty(), "/proc/{pid}/auxv is empty");
    let entries = mem::auxv_entries(&whole);
    require_eq!(
        entries.last().map(|e| e.0),
        Some(libc::AT_NULL),
        "the vector's last entry"
    );
    let pagesz = entries.iter().find(|e| e.0 == libc::AT_PAGESZ).map(|e| e.1);
    require_eq!(pagesz, Some(page_size() as u64), "AT_PAGESZ");
    // A forked child keeps its parent's vector.
    let mine = mem::auxv_bytes(nix::unistd::getpid())
        .unwrap_or_else(|e| ptrace_atf::fail!("{}", e.to_string()));
    require_eq!(
        mem::auxv_entries(&whole),
        mem::auxv_entries(&mine),
        "tracee vs tracer auxv"
    );
    if piecewise {
        let f = std::fs::File::open(format!("/proc/{pid}/auxv"))
            .unwrap_or_else(|e| ptrace_atf::fail!("{}", e.to_string()));
        let mut pieces = Vec::new();
        let mut off = 0u64;
        loop {
            let mut four = [0u8; 4];
            let n = std::os::unix::fs::FileExt::read_at(&f, &mut four, off)
                .unwrap_or_else(|e| ptrace_atf::fail!("read at {off}: {e}"));
            if n == 0 {
                break;
            }
            pieces.extend_from_slice(&four[..n]);
            off += n as u64;
            require!(off <= 1 << 16, "/proc/{pid}/auxv never ends");
        }
        require_eq!(pieces, whole, "piecewise vs whole read");
    }
    child.cont_to_exit(&w, EXIT_CODE);
}
