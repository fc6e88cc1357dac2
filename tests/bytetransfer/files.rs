//! Transfers aimed at file mappings: beyond the end of a file (`bytes_transfer_eof_*`) and
//! into a private read-only mapping, where a forced write must copy, never reach the file
//! (the Dirty COW class, CVE-2016-5195 and CVE-2022-2590).

use ptrace_atf::netbsd::SameName;
use std::io::Write as _;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::expect;
use ptrace_atf::trace::mem::{self, Way};
use ptrace_atf::{child_require, harness, require_eq};

use crate::common::{EXIT_CODE, page_size, stopped_tracee};

/// A file mapped (before forking) in this process and so in its tracee.
struct FileMap {
    file: std::fs::File,
    addr: usize,
}

impl FileMap {
    fn new(content: &[u8], prot: i32) -> FileMap {
        let mut file = tempfile::tempfile().unwrap_or_else(|e| ptrace_atf::fail!("tempfile: {e}"));
        file.write_all(content)
            .unwrap_or_else(|e| ptrace_atf::fail!("writing the file: {e}"));
        // SAFETY: a fresh private mapping of our own file.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                page_size(),
                prot,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            ptrace_atf::fail!("mmap of the file: {}", Errno::last());
        }
        FileMap {
            file,
            addr: p as usize,
        }
    }

    fn content(&self) -> Vec<u8> {
        let mut out = vec![0u8; page_size() + 1];
        let n = std::os::unix::fs::FileExt::read_at(&self.file, &mut out, 0).unwrap_or(0);
        out.truncate(n);
        out
    }
}

impl Drop for FileMap {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.addr as *mut libc::c_void, page_size()) };
    }
}

struct Eof {
    name: &'static str,
    way: Way,
    write: bool,
    errno: Errno,
}

const VM: Errno = expect::VM_RW_INVALID_ADDRESS_ERRNO;
const MEM: Errno = expect::PROC_MEM_INVALID_ADDRESS_ERRNO;
const PT: Errno = expect::INVALID_ADDRESS_ERRNO;

#[rustfmt::skip]
const EOFS: &[Eof] = &[
    Eof { name: "bytes_transfer_eof_pt_read_i", way: Way::PeekPokeText, write: false, errno: PT },
    Eof { name: "bytes_transfer_eof_pt_read_d", way: Way::PeekPokeData, write: false, errno: PT },
    Eof { name: "bytes_transfer_eof_pt_write_i", way: Way::PeekPokeText, write: true, errno: PT },
    Eof { name: "bytes_transfer_eof_pt_write_d", way: Way::PeekPokeData, write: true, errno: PT },
    Eof { name: "bytes_transfer_eof_piod_read_i", way: Way::ProcMem, write: false, errno: MEM },
    Eof { name: "bytes_transfer_eof_piod_read_d", way: Way::VmRw, write: false, errno: VM },
    Eof { name: "bytes_transfer_eof_piod_write_i", way: Way::ProcMem, write: true, errno: MEM },
    Eof { name: "bytes_transfer_eof_piod_write_d", way: Way::VmRw, write: true, errno: VM },
];

struct Cow {
    name: &'static str,
    way: Way,
    /// None: the write reaches the tracee's private copy; Some: it is refused.
    refused: Option<Errno>,
}

#[rustfmt::skip]
const COWS: &[Cow] = &[
    Cow { name: "pokedata_private_readonly_file_mapping_keeps_file", way: Way::PeekPokeData, refused: None },
    Cow { name: "poketext_private_readonly_file_mapping_keeps_file", way: Way::PeekPokeText, refused: None },
    Cow { name: "proc_mem_write_private_readonly_file_mapping_keeps_file", way: Way::ProcMem, refused: None },
    Cow { name: "process_vm_writev_private_readonly_file_mapping_refused", way: Way::VmRw, refused: Some(VM) },
];

pub fn cases() -> Vec<TestCase> {
    let mut out: Vec<TestCase> = EOFS
        .iter()
        .map(|e| {
            let descr = format!(
                "{} in a mapped page beyond the end of an empty file fails with {} and moves nothing",
                e.way.name(e.write),
                e.errno
            );
            TestCase::new(e.name)
                .descr(&descr)
                .timeout(15)
                .netbsd_same_name()
                .body(move |tc| eof(tc, e))
        })
        .collect();
    out.extend(COWS.iter().map(|c| {
        let descr = match c.refused {
            None => format!(
                "{} into a private read-only file mapping changes the tracee's copy, never the file (CVE-2016-5195, CVE-2022-2590)",
                c.way.name(true)
            ),
            Some(e) => format!(
                "{} into a private read-only file mapping fails with {e}; tracee and file unchanged",
                c.way.name(true)
            ),
        };
        TestCase::new(c.name)
            .descr(&descr)
            .timeout(15)
            .body(move |tc| cow(tc, c))
    }));
    out
}

fn eof(tc: &Tc, e: &Eof) {
    let w = harness::waiter(tc);
    let map = FileMap::new(b"", libc::PROT_READ | libc::PROT_WRITE);
    let child = stopped_tracee(&w, || {}, || EXIT_CODE);
    let mut buf = [0xeeu8; 8];
    let got = if e.write {
        mem::write(child.pid(), e.way, map.addr, &[0xc3; 8])
    } else {
        mem::read(child.pid(), e.way, map.addr, &mut buf)
    };
    require_eq!(got, Err(e.errno), "{} beyond EOF", e.way.name(e.write));
    require_eq!(buf, [0xee; 8], "the read buffer changed");
    require_eq!(map.content(), Vec::<u8>::new(), "the file changed");
    child.cont_to_exit(&w, EXIT_CODE);
}

fn cow(tc: &Tc, c: &Cow) {
    let w = harness::waiter(tc);
    let page = page_size();
    let map = FileMap::new(&vec![b'A'; page], libc::PROT_READ);
    let addr = map.addr;
    let want = if c.refused.is_some() { b'A' } else { b'B' };
    let child = stopped_tracee(
        &w,
        || {},
        move || {
            for i in 0..16 {
                // SAFETY: the tracee's readable mapping.
                let b = unsafe { *((addr + i) as *const u8) };
                child_require!(b == want, "tracee byte {} is {:#x}, want {:#x}", i, b, want);
            }
            EXIT_CODE
        },
    );
    let got = mem::write(child.pid(), c.way, addr, &[b'B'; 16]);
    match c.refused {
        None => require_eq!(got, Ok(16), "{} into the mapping", c.way.name(true)),
        Some(e) => require_eq!(got, Err(e), "{} into the mapping", c.way.name(true)),
    }
    child.cont_to_exit(&w, EXIT_CODE);
    require_eq!(
        map.content(),
        vec![b'A'; page],
        "the file's bytes after the write"
    );
    // SAFETY: our own readable mapping.
    let own = unsafe { *(addr as *const u8) };
    require_eq!(own, b'A', "the tracer's own mapping");
}
