//! PTRACE_GETSIGINFO/SETSIGINFO round trips and faked signals, PTRACE_PEEKSIGINFO over the
//! private and shared queues (with its EINVAL/EFAULT paths), PTRACE_GETSIGMASK/SETSIGMASK.

use std::ffi::c_void;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::unistd::Pid;
use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::netbsd::SameName;
use ptrace_atf::trace::siginfo::{
    describe, expect_siginfo, getsigmask_sized, peeksiginfo_raw, queue_to_process, queue_to_thread,
    si_int,
};
use ptrace_atf::trace::{expect, mem, proc, sys};
use ptrace_atf::{child_require, child_require_eq, harness, require, require_eq};

use crate::common::{EXIT_CODE, child_block, child_raise, child_sigaction, cont, traced_child};

static SEEN_SIG: AtomicI32 = AtomicI32::new(0);
static SEEN_SIGNO: AtomicI32 = AtomicI32::new(0);
static SEEN_CODE: AtomicI32 = AtomicI32::new(0);
static SEEN_COUNT: AtomicI32 = AtomicI32::new(0);

extern "C" fn record(sig: i32, info: *mut libc::siginfo_t, _ctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let (signo, code) = unsafe { ((*info).si_signo, (*info).si_code) };
    SEEN_SIG.store(sig, Ordering::Relaxed);
    SEEN_SIGNO.store(signo, Ordering::Relaxed);
    SEEN_CODE.store(code, Ordering::Relaxed);
    SEEN_COUNT.fetch_add(1, Ordering::Relaxed);
}

/// siginfo_set_unmodified / _faked: SIGINT's siginfo is written back as is, or rewritten
/// into SIGTRAP/TRAP_BRKPT and SIGTRAP is injected; the handler sees what was set.
fn siginfo_set(tc: &Tc, faked: bool) {
    let w = harness::waiter(tc);
    let (sig, fake_sig, fake_code) = (libc::SIGINT, libc::SIGTRAP, libc::TRAP_BRKPT);
    let (want_sig, want_code) = if faked {
        (fake_sig, fake_code)
    } else {
        (sig, expect::RAISE_SI_CODE)
    };
    let child = traced_child(move || {
        child_sigaction(want_sig, record as *const () as usize, libc::SA_SIGINFO);
        child_raise(sig);
        child_require_eq!(SEEN_COUNT.load(Ordering::Relaxed), 1);
        child_require_eq!(SEEN_SIG.load(Ordering::Relaxed), want_sig);
        child_require_eq!(SEEN_SIGNO.load(Ordering::Relaxed), want_sig);
        child_require_eq!(SEEN_CODE.load(Ordering::Relaxed), want_code);
        EXIT_CODE
    });
    let pid = child.pid();
    child.expect_stopped(&w, sig);
    let mut info = expect_siginfo(pid, sig, expect::RAISE_SI_CODE);
    if faked {
        info.si_signo = fake_sig;
        info.si_code = fake_code;
    }
    ptrace_atf::require_ok!(sys::setsiginfo(pid, &info), "PTRACE_SETSIGINFO failed");
    expect_siginfo(pid, want_sig, want_code);
    cont(pid, want_sig);
    child.expect_exited(&w, EXIT_CODE);
    w.expect_no_children();
}

/// How many signals go to each queue.
const N: i32 = 10;

/// A tracee that blocks SIGRTMIN and stops; the tracer queues N signals to its thread and N
/// to the process, with values 0..N and 100..100+N.
fn queued_tracee(tc: &Tc) -> (ptrace_atf::trace::Waiter, ptrace_atf::trace::Child, i32) {
    let w = harness::waiter(tc);
    let rt = libc::SIGRTMIN();
    let child = traced_child(move || {
        child_block(rt);
        child_raise(libc::SIGSTOP);
        EXIT_CODE
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    for i in 0..N {
        ptrace_atf::require_ok!(queue_to_thread(pid, pid, rt, i), "rt_tgsigqueueinfo failed");
        ptrace_atf::require_ok!(queue_to_process(pid, rt, 100 + i), "rt_sigqueueinfo failed");
    }
    (w, child, rt)
}

fn zeroed_infos(n: usize) -> Vec<libc::siginfo_t> {
    // SAFETY: siginfo_t is plain data.
    (0..n).map(|_| unsafe { std::mem::zeroed() }).collect()
}

fn check_queue(pid: Pid, shared: bool, rt: i32, base: i32, chunk: usize) {
    let mut got = Vec::new();
    let mut off = 0u64;
    loop {
        let mut buf = zeroed_infos(chunk);
        let n = ptrace_atf::require_ok!(
            sys::peeksiginfo(pid, off, shared, &mut buf),
            "PTRACE_PEEKSIGINFO failed"
        );
        if n == 0 {
            break;
        }
        require!(n <= chunk, "PTRACE_PEEKSIGINFO returned {n} > {chunk}");
        got.extend_from_slice(&buf[..n]);
        off += n as u64;
        require!(got.len() <= N as usize, "more than {N} queued signals");
    }
    require_eq!(
        got.len(),
        N as usize,
        "signals in the {} queue",
        if shared { "shared" } else { "private" }
    );
    for (i, info) in got.iter().enumerate() {
        let want = base + i as i32;
        require!(
            info.si_signo == rt && info.si_code == libc::SI_QUEUE && si_int(info) == want,
            "entry {i} of the queue: {} si_int={}, expected SIGRTMIN SI_QUEUE si_int={want}",
            describe(info),
            si_int(info)
        );
    }
}

fn peeksiginfo_queues(tc: &Tc, chunks: &[usize]) {
    let (w, child, rt) = queued_tracee(tc);
    let pid = child.pid();
    // Peeking does not dequeue: every chunk size reads the same queues.
    for &chunk in chunks {
        check_queue(pid, false, rt, 0, chunk);
        check_queue(pid, true, rt, 100, chunk);
    }
    ptrace_atf::require_ok!(sys::kill(pid), "PTRACE_KILL failed");
    child.expect_signaled(&w, libc::SIGKILL, false);
    w.expect_no_children();
}

fn peeksiginfo_errors(tc: &Tc) {
    let (w, child, _rt) = queued_tracee(tc);
    let pid = child.pid();
    let mut buf = zeroed_infos(4);
    // SAFETY: the kernel checks the buffer, a live local.
    let bad_flags = unsafe { peeksiginfo_raw(pid, 0, 2, 4, buf.as_mut_ptr()) };
    require_eq!(
        bad_flags,
        Err(Errno::EINVAL),
        "PEEKSIGINFO with unknown flags"
    );
    // SAFETY: as above; nr < 0 is refused before the buffer is touched.
    let neg = unsafe { peeksiginfo_raw(pid, 0, 0, -1, buf.as_mut_ptr()) };
    require_eq!(neg, Err(Errno::EINVAL), "PEEKSIGINFO with nr < 0");
    // SAFETY: the kernel checks the (unmapped) buffer and answers EFAULT.
    let unmapped = unsafe { peeksiginfo_raw(pid, 0, 0, 4, 4096 as *mut libc::siginfo_t) };
    require_eq!(
        unmapped,
        Err(Errno::EFAULT),
        "PEEKSIGINFO into an unmapped buffer"
    );
    // Two writable entries, then a read-only page: two copied, then the fault stops it.
    let page = mem::page_size();
    let sz = std::mem::size_of::<libc::siginfo_t>();
    // A fresh two-page anonymous mapping, unmapped below.
    let Ok(map) = mem::map_two_pages() else {
        ptrace_atf::atf::fail_at(file!(), line!(), "mmap failed".to_string())
    };
    // SAFETY: the second page of our mapping.
    unsafe { libc::mprotect(map.cast::<u8>().add(page).cast(), page, libc::PROT_READ) };
    // SAFETY: the start leaves room for exactly two siginfo_t before the read-only page.
    let start = unsafe { map.cast::<u8>().add(page - 2 * sz) }.cast::<libc::siginfo_t>();
    // SAFETY: two writable entries of our mapping, then its read-only page.
    let partial = unsafe { peeksiginfo_raw(pid, 0, 0, 4, start) };
    // SAFETY: the read-only page of our mapping: the kernel answers EFAULT.
    let readonly = unsafe { peeksiginfo_raw(pid, 0, 0, 4, map.cast::<u8>().add(page).cast()) };
    // SAFETY: our mapping.
    unsafe { libc::munmap(map, 2 * page) };
    require_eq!(
        partial,
        Ok(2),
        "PEEKSIGINFO into 2 writable entries before a read-only page"
    );
    require_eq!(
        readonly,
        Err(Errno::EFAULT),
        "PEEKSIGINFO into a read-only buffer"
    );
    ptrace_atf::require_ok!(sys::kill(pid), "PTRACE_KILL failed");
    child.expect_signaled(&w, libc::SIGKILL, false);
    w.expect_no_children();
}

fn sigmask(tc: &Tc) {
    let w = harness::waiter(tc);
    let usr1 = proc::sig_bit(libc::SIGUSR1);
    let usr2 = proc::sig_bit(libc::SIGUSR2);
    let child = traced_child(move || {
        child_block(libc::SIGUSR1);
        child_raise(libc::SIGSTOP);
        // SAFETY: reading the current mask into a local set.
        let (has1, has2) = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut set);
            (
                libc::sigismember(&set, libc::SIGUSR1),
                libc::sigismember(&set, libc::SIGUSR2),
            )
        };
        child_require!(
            has1 == 0 && has2 == 1,
            "mask after SETSIGMASK: USR1 {has1} USR2 {has2}"
        );
        EXIT_CODE
    });
    let pid = child.pid();
    child.expect_stopped(&w, libc::SIGSTOP);
    let mask = ptrace_atf::require_ok!(sys::getsigmask(pid), "PTRACE_GETSIGMASK failed");
    require_eq!(
        format!("{mask:#x}"),
        format!("{:#x}", proc::sig_blocked(pid)),
        "GETSIGMASK vs SigBlk"
    );
    require_eq!(mask & usr1, usr1, "SIGUSR1 in the mask the tracee set");
    require_eq!(
        getsigmask_sized(pid, 4),
        Err(Errno::EINVAL),
        "GETSIGMASK with size 4"
    );
    let kill_stop = proc::sig_bit(libc::SIGKILL) | proc::sig_bit(libc::SIGSTOP);
    ptrace_atf::require_ok!(
        sys::setsigmask(pid, usr2 | kill_stop),
        "PTRACE_SETSIGMASK failed"
    );
    let now = ptrace_atf::require_ok!(sys::getsigmask(pid), "PTRACE_GETSIGMASK failed");
    require_eq!(
        format!("{now:#x}"),
        format!("{usr2:#x}"),
        "mask after setting USR2|KILL|STOP (KILL and STOP cannot be blocked)"
    );
    cont(pid, 0);
    child.expect_exited(&w, EXIT_CODE);
    w.expect_no_children();
}

pub fn cases() -> Vec<TestCase> {
    vec![
        TestCase::new("siginfo_set_unmodified")
            .descr("PTRACE_SETSIGINFO of the unmodified siginfo of a raised SIGINT keeps it; the handler sees SIGINT with SI_TKILL exactly once")
            .timeout(15)
            .netbsd_same_name()
            .body(|tc| siginfo_set(tc, false)),
        TestCase::new("siginfo_set_faked")
            .descr("A raised SIGINT's siginfo rewritten to SIGTRAP/TRAP_BRKPT with PTRACE_SETSIGINFO and SIGTRAP injected: the handler sees the faked SIGTRAP/TRAP_BRKPT exactly once")
            .timeout(15)
            .netbsd_same_name()
            .body(|tc| siginfo_set(tc, true)),
        TestCase::new("peeksiginfo_queues_one_by_one")
            .descr("PTRACE_PEEKSIGINFO reads 10 queued SIGRTMIN of the private and 10 of the shared queue one at a time, in order, with their si_int values")
            .timeout(15)
            .body(|tc| peeksiginfo_queues(tc, &[1])),
        TestCase::new("peeksiginfo_queues_in_chunks")
            .descr("PTRACE_PEEKSIGINFO reads both queues 3 entries at a time, then all at once: the same signals in order")
            .timeout(15)
            .body(|tc| peeksiginfo_queues(tc, &[3, 16])),
        TestCase::new("peeksiginfo_errors")
            .descr("PTRACE_PEEKSIGINFO: unknown flags or nr < 0 give EINVAL, an unmapped or read-only buffer EFAULT, a buffer that turns read-only after 2 entries returns 2")
            .timeout(15)
            .body(peeksiginfo_errors),
        TestCase::new("getsigmask_setsigmask")
            .descr("PTRACE_GETSIGMASK returns the tracee's mask (as /proc SigBlk), wants size 8 (EINVAL otherwise); PTRACE_SETSIGMASK replaces it, never blocking SIGKILL/SIGSTOP, and the tracee sees the new mask")
            .timeout(15)
            .body(sigmask),
    ]
}
