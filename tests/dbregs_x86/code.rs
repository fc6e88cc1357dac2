//! Execute breakpoints (trap_code) and what new threads and exec start with
//! (dont_inherit_lwp, dont_inherit_execve).

use ptrace_atf::netbsd::SameName;
use std::ffi::c_void;

use ptrace_atf::atf::{Tc, TestCase};
use ptrace_atf::trace::dbregs::{self, Cond, Len};
use ptrace_atf::trace::ops;
use ptrace_atf::trace::{Options, PtraceEvent, Want, child_thread, sys};
use ptrace_atf::{child_fail, harness, require, require_eq};

use crate::common::{self, EXIT_CODE, cont, raise_stop, traced_child, watched};

/// Where Linux copies DR7 into new threads: copy_thread() resets ptrace_bps only.
const DR7_INHERIT_BUG: &str = "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/arch/x86/kernel/process.c?h=v6.18 (copy_thread: ptrace_bps cleared, ptrace_dr7 kept)";

fn trap_code(tc: &Tc, slot: usize) {
    let w = common::setup(tc);
    let child = traced_child(&w, || {
        let r = common::call_bp_target();
        ptrace_atf::child_require_eq!(r, 124);
        raise_stop();
        EXIT_CODE
    });
    let pid = child.pid();
    let target = common::bp_target_addr();
    dbregs::arm(pid, slot, target, Cond::Exec, Len::One);
    cont(pid, 0);
    common::expect_hw_trap(&w, &child, slot);
    let rip = ptrace_atf::require_ok!(sys::getregs(pid), "PTRACE_GETREGS").rip;
    require_eq!(
        rip,
        target,
        "RIP at the execute breakpoint vs bp_target's address"
    );
    // Disable the slot: the tracee must run on to its SIGSTOP without trapping again.
    let dr7 = dbregs::read(pid, 7);
    dbregs::write(
        pid,
        7,
        dr7 & !dbregs::dr7_global(slot, Cond::ReadWrite, Len::Four),
    );
    require_eq!(
        dbregs::read(pid, 7),
        0,
        "DR7 after clearing the only enabled slot"
    );
    cont(pid, 0);
    child.expect_stopped(&w, libc::SIGSTOP);
    child.cont_to_exit(&w, EXIT_CODE);
}

/// A thread that writes the watched word its creator's DR`slot` watches (arg: the address).
extern "C" fn writer_thread(arg: *mut c_void) -> *mut c_void {
    common::access(arg as u64, Len::Eight, true);
    std::ptr::null_mut()
}

/// Which register of the new thread a case looks at.
#[derive(Clone, Copy, PartialEq)]
enum Look {
    /// DRn (the NetBSD assertion: the address is not inherited, and the write does not trap).
    Address,
    /// DR7 (Linux keeps the creator's DR7 value in the new thread's ptrace view).
    Control,
}

fn dont_inherit_lwp(tc: &Tc, slot: usize, look: Look) {
    let w = common::setup(tc);
    harness::require_waiter_options(tc, &w);
    if look == Look::Control {
        tc.expect_fail(
            "copy_thread() clears ptrace_bps but not thread.ptrace_dr7: PEEKUSER DR7 of a new \
             thread shows its creator's DR7 although no breakpoint is armed in it",
        );
    }
    let addr = watched(8 * slot);
    let child = traced_child(&w, move || {
        // The thread only writes the watched word.
        child_thread::join(child_thread::spawn(writer_thread, addr as usize));
        EXIT_CODE
    });
    let pid = child.pid();
    ops::setoptions(pid, Options::EXITKILL | Options::TRACECLONE);
    dbregs::arm(pid, slot, addr, Cond::Write, Len::Eight);
    let (dr_main, dr7_main) = (dbregs::read(pid, slot), dbregs::read(pid, 7));
    require_eq!(dr_main, addr, "DR{slot} of the main thread");
    cont(pid, 0);
    let (tid, _) = w.expect_creation(pid, PtraceEvent::Clone);
    match look {
        Look::Address => {
            let dr_new = dbregs::read(tid, slot);
            require!(
                dr_new != dr_main,
                "DR{slot} of the new thread is {dr_new:#x}, the main thread's value: inherited"
            );
            require_eq!(dr_new, 0, "DR{slot} of the new thread");
        }
        Look::Control => {
            let dr7_new = dbregs::read(tid, 7);
            require!(
                dr7_new != dr7_main,
                "DR7 of the new thread is {dr7_new:#x}, the main thread's value: inherited"
            );
            require_eq!(dr7_new, 0, "DR7 of the new thread");
        }
    }
    require_eq!(
        dbregs::read(pid, slot),
        addr,
        "DR{slot} of the main thread, still"
    );
    // The new thread writes the word the main thread watches: no trap, it just exits.
    cont(tid, 0);
    common::expect_tid(&w, tid, Want::Exited(0));
    child.cont_to_exit(&w, EXIT_CODE);
}

fn dont_inherit_execve(tc: &Tc, slot: usize) {
    let w = common::setup_state(tc);
    let child = traced_child(&w, || {
        let path = c"/bin/true";
        let argv = [path.as_ptr(), std::ptr::null()];
        // SAFETY: execv with NUL-terminated strings and a NULL-terminated argv.
        unsafe { libc::execv(path.as_ptr(), argv.as_ptr()) };
        child_fail!("execv /bin/true failed");
    });
    let pid = child.pid();
    ops::setoptions(pid, Options::EXITKILL | Options::TRACEEXEC);
    let addr = watched(8 * slot);
    dbregs::arm(pid, slot, addr, Cond::ReadWrite, Len::Four);
    require_eq!(dbregs::read(pid, slot), addr, "DR{slot} before exec");
    cont(pid, 0);
    child.expect_event(&w, PtraceEvent::Exec);
    require_eq!(dbregs::read(pid, slot), 0, "DR{slot} after exec");
    require_eq!(dbregs::read(pid, 7), 0, "DR7 after exec");
    child.cont_to_exit(&w, 0);
}

/// The dbregs_dr*_trap_code cases: (name, the debug register used).
const TRAP_CODE: &[(&str, usize)] = &[
    ("dbregs_dr0_trap_code", 0),
    ("dbregs_dr1_trap_code", 1),
    ("dbregs_dr2_trap_code", 2),
    ("dbregs_dr3_trap_code", 3),
];

/// The dbregs_dr*_dont_inherit_lwp cases: (name, the debug register used).
const DONT_INHERIT_LWP: &[(&str, usize)] = &[
    ("dbregs_dr0_dont_inherit_lwp", 0),
    ("dbregs_dr1_dont_inherit_lwp", 1),
    ("dbregs_dr2_dont_inherit_lwp", 2),
    ("dbregs_dr3_dont_inherit_lwp", 3),
];

/// The dbregs_dr*_dont_inherit_execve cases: (name, the debug register used).
const DONT_INHERIT_EXECVE: &[(&str, usize)] = &[
    ("dbregs_dr0_dont_inherit_execve", 0),
    ("dbregs_dr1_dont_inherit_execve", 1),
    ("dbregs_dr2_dont_inherit_execve", 2),
    ("dbregs_dr3_dont_inherit_execve", 3),
];

pub fn cases() -> Vec<TestCase> {
    let mut v = Vec::new();
    for &(name, slot) in TRAP_CODE {
        v.push(
            TestCase::new(name)
                .descr(&format!(
                    "An execute breakpoint in DR{slot} on a function traps (TRAP_HWBKPT, DR6 \
                     B{slot}, RIP at the function); clearing it in DR7 lets the tracee run on"
                ))
                .timeout(15)
                .netbsd_same_name()
                .body(move |tc| trap_code(tc, slot)),
        );
    }
    for &(name, slot) in DONT_INHERIT_LWP {
        v.push(
            TestCase::new(name)
                .descr(&format!(
                    "A thread created by a tracee whose DR{slot} is armed starts with DR{slot} \
                     clear, and its write to the watched word does not trap"
                ))
                .timeout(15)
                .netbsd_same_name()
                .body(move |tc| dont_inherit_lwp(tc, slot, Look::Address)),
        );
    }
    v.push(
        TestCase::new("dbregs_dr7_clear_in_new_thread")
            .descr(
                "A thread created by a tracee whose DR0/DR7 are armed reads DR7 as 0 (no slot \
                 is armed in it)",
            )
            .timeout(15)
            .bug(DR7_INHERIT_BUG)
            .body(|tc| dont_inherit_lwp(tc, 0, Look::Control)),
    );
    for &(name, slot) in DONT_INHERIT_EXECVE {
        v.push(
            TestCase::new(name)
                .descr(&format!(
                    "execve clears an armed DR{slot} and DR7 (PTRACE_EVENT_EXEC stop shows 0)"
                ))
                .timeout(15)
                .require_files(&["/bin/true"])
                .netbsd_same_name()
                .body(move |tc| dont_inherit_execve(tc, slot)),
        );
    }
    v
}
