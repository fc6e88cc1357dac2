//! Tracee memory transfer through each way Linux offers: process_vm_readv/writev,
//! /proc/PID/mem, and PTRACE_PEEK/POKE{DATA,TEXT} word loops.
//!
//! Every function returns the byte count the kernel reported (or the word loop achieved),
//! never a count it made up, so that a zero-byte request, a short transfer and a failure
//! stay distinguishable.

use std::ffi::c_long;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;

use nix::errno::Errno;
use nix::unistd::Pid;

use super::sys;

const WORD: usize = std::mem::size_of::<c_long>();

/// One way to move bytes between the tracer and the tracee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// process_vm_readv/process_vm_writev: honours the tracee's page protections.
    VmRw,
    /// pread/pwrite on /proc/PID/mem: forced access (writes reach read-only text).
    ProcMem,
    /// PTRACE_PEEKDATA/POKEDATA, one word at a time.
    PeekPokeData,
    /// PTRACE_PEEKTEXT/POKETEXT, one word at a time.
    PeekPokeText,
}

impl Way {
    /// The calls this way uses, for messages.
    pub const fn name(self, write: bool) -> &'static str {
        match (self, write) {
            (Way::VmRw, false) => "process_vm_readv",
            (Way::VmRw, true) => "process_vm_writev",
            (Way::ProcMem, false) => "pread(/proc/PID/mem)",
            (Way::ProcMem, true) => "pwrite(/proc/PID/mem)",
            (Way::PeekPokeData, false) => "PTRACE_PEEKDATA",
            (Way::PeekPokeData, true) => "PTRACE_POKEDATA",
            (Way::PeekPokeText, false) => "PTRACE_PEEKTEXT",
            (Way::PeekPokeText, true) => "PTRACE_POKETEXT",
        }
    }
}

/// process_vm_readv with explicit iovec arrays (either may be empty); returns the count.
pub fn vm_readv(pid: Pid, local: &[libc::iovec], remote: &[libc::iovec]) -> nix::Result<usize> {
    // SAFETY: the local iovecs describe buffers the caller owns; remote ones are the
    // tracee's addresses, checked by the kernel.
    let n = unsafe {
        libc::process_vm_readv(
            pid.as_raw(),
            local.as_ptr(),
            local.len() as libc::c_ulong,
            remote.as_ptr(),
            remote.len() as libc::c_ulong,
            0,
        )
    };
    Errno::result(n).map(|n| n as usize)
}

/// process_vm_writev with explicit iovec arrays (either may be empty); returns the count.
pub fn vm_writev(pid: Pid, local: &[libc::iovec], remote: &[libc::iovec]) -> nix::Result<usize> {
    // SAFETY: as vm_readv; the local buffers are only read.
    let n = unsafe {
        libc::process_vm_writev(
            pid.as_raw(),
            local.as_ptr(),
            local.len() as libc::c_ulong,
            remote.as_ptr(),
            remote.len() as libc::c_ulong,
            0,
        )
    };
    Errno::result(n).map(|n| n as usize)
}

/// The system page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// A fresh anonymous private read-write mapping of two pages (`2 * page_size()` bytes) in
/// this process; returns its start. The caller owns it (and munmaps it).
pub fn map_two_pages() -> nix::Result<*mut libc::c_void> {
    // SAFETY: a fresh anonymous mapping; nothing else refers to it.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            2 * page_size(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Errno::last());
    }
    Ok(p)
}

/// An iovec for `len` bytes at `addr` (tracee address or local buffer).
pub fn iov(addr: usize, len: usize) -> libc::iovec {
    libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: len,
    }
}

/// Opens /proc/PID/mem for reading and writing.
pub fn open_mem(pid: Pid) -> nix::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/{pid}/mem"))
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Reads tracee memory at `addr` into `buf` with one call of `way` (a word loop for
/// PEEK): the count the kernel reported, which may be short.
pub fn read(pid: Pid, way: Way, addr: usize, buf: &mut [u8]) -> nix::Result<usize> {
    match way {
        Way::VmRw => vm_readv(
            pid,
            &[iov(buf.as_mut_ptr() as usize, buf.len())],
            &[iov(addr, buf.len())],
        ),
        Way::ProcMem => open_mem(pid)?.read_at(buf, addr as u64).map_err(io_errno),
        Way::PeekPokeData | Way::PeekPokeText => peek_loop(pid, way, addr, buf),
    }
}

/// Writes `bytes` into tracee memory at `addr` with one call of `way` (a word loop for
/// POKE): the count the kernel reported, which may be short.
pub fn write(pid: Pid, way: Way, addr: usize, bytes: &[u8]) -> nix::Result<usize> {
    match way {
        Way::VmRw => vm_writev(
            pid,
            &[iov(bytes.as_ptr() as usize, bytes.len())],
            &[iov(addr, bytes.len())],
        ),
        Way::ProcMem => open_mem(pid)?
            .write_at(bytes, addr as u64)
            .map_err(io_errno),
        Way::PeekPokeData | Way::PeekPokeText => poke_loop(pid, way, addr, bytes),
    }
}

/// One PEEK of the word at `addr`.
pub fn peek(pid: Pid, way: Way, addr: usize) -> nix::Result<c_long> {
    match way {
        Way::PeekPokeText => sys::peektext(pid, addr),
        _ => sys::peekdata(pid, addr),
    }
}

/// One POKE of the word at `addr`.
pub fn poke(pid: Pid, way: Way, addr: usize, word: c_long) -> nix::Result<()> {
    match way {
        Way::PeekPokeText => sys::poketext(pid, addr, word),
        _ => sys::pokedata(pid, addr, word),
    }
}

/// Reads `buf.len()` bytes word by word (words start at `addr`, so they may be unaligned);
/// a failing first word is an error, a later one ends the transfer short.
fn peek_loop(pid: Pid, way: Way, addr: usize, buf: &mut [u8]) -> nix::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let word = match peek(pid, way, addr + done) {
            Ok(w) => w.to_ne_bytes(),
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        let n = WORD.min(buf.len() - done);
        buf[done..done + n].copy_from_slice(&word[..n]);
        done += n;
    }
    Ok(done)
}

/// Writes `bytes` word by word; a partial last word is read, merged and written back.
fn poke_loop(pid: Pid, way: Way, addr: usize, bytes: &[u8]) -> nix::Result<usize> {
    let mut done = 0;
    while done < bytes.len() {
        let n = WORD.min(bytes.len() - done);
        let r = (|| {
            let mut word = if n < WORD {
                peek(pid, way, addr + done)?.to_ne_bytes()
            } else {
                [0; WORD]
            };
            word[..n].copy_from_slice(&bytes[done..done + n]);
            poke(pid, way, addr + done, c_long::from_ne_bytes(word))
        })();
        match r {
            Ok(()) => done += n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// Reads exactly `len` bytes at `addr` with `way`, panicking on an error or short count.
#[track_caller]
pub fn read_exact(pid: Pid, way: Way, addr: usize, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    match read(pid, way, addr, &mut buf) {
        Ok(n) if n == len => buf,
        Ok(n) => panic!(
            "pid {pid}: {} of {len} bytes at {addr:#x} returned {n}",
            way.name(false)
        ),
        Err(e) => panic!(
            "pid {pid}: {} of {len} bytes at {addr:#x} failed with {e}",
            way.name(false)
        ),
    }
}

/// Writes all of `bytes` at `addr` with `way`, panicking on an error or short count.
#[track_caller]
pub fn write_all(pid: Pid, way: Way, addr: usize, bytes: &[u8]) {
    match write(pid, way, addr, bytes) {
        Ok(n) if n == bytes.len() => {}
        Ok(n) => panic!(
            "pid {pid}: {} of {} bytes at {addr:#x} returned {n}",
            way.name(true),
            bytes.len()
        ),
        Err(e) => panic!(
            "pid {pid}: {} of {} bytes at {addr:#x} failed with {e}",
            way.name(true),
            bytes.len()
        ),
    }
}

/// The raw bytes of /proc/PID/auxv.
pub fn auxv_bytes(pid: Pid) -> std::io::Result<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/auxv"))
}

/// Decodes an auxiliary vector into (type, value) pairs, up to and including AT_NULL.
pub fn auxv_entries(bytes: &[u8]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for pair in bytes.chunks_exact(16) {
        let t = u64::from_ne_bytes(pair[..8].try_into().unwrap_or_default());
        let v = u64::from_ne_bytes(pair[8..].try_into().unwrap_or_default());
        out.push((t, v));
        if t == libc::AT_NULL {
            break;
        }
    }
    out
}
