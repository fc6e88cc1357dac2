//! Real hardware faults for the crash families (x86_64): each trigger runs in a forked child
//! and never returns; `Fault` names the signal and the si_code and si_addr Linux gives.

use std::arch::asm;

use ptrace_atf::child_fail;
use ptrace_atf::trace::expect;

/// One of NetBSD's five crash kinds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// int3: a software breakpoint trap.
    Trap,
    /// A 4-byte store to address 0.
    Segv,
    /// ud2: the architecturally undefined instruction.
    Ill,
    /// idiv by a zero register.
    Fpe,
    /// A store to a MAP_SHARED mapping of an empty file (past its end).
    Bus,
}

impl Fault {
    /// The signal the fault raises.
    pub const fn signal(self) -> i32 {
        match self {
            Fault::Trap => libc::SIGTRAP,
            Fault::Segv => libc::SIGSEGV,
            Fault::Ill => libc::SIGILL,
            Fault::Fpe => libc::SIGFPE,
            Fault::Bus => libc::SIGBUS,
        }
    }

    /// The si_code this OS reports for it.
    pub const fn si_code(self) -> i32 {
        match self {
            Fault::Trap => expect::BRKPT_SI_CODE,
            Fault::Segv => expect::NULL_STORE_SI_CODE,
            Fault::Ill => expect::UD2_SI_CODE,
            Fault::Fpe => expect::INT_DIVIDE_SI_CODE,
            Fault::Bus => expect::MAPPING_PAST_EOF_SI_CODE,
        }
    }

    /// Whether si_addr is meaningful and which value it must have: the faulting data
    /// address for SEGV (0) and BUS (the mapping), None for the others.
    pub fn expected_addr(self, bus_map: usize) -> Option<usize> {
        match self {
            Fault::Segv => Some(0),
            Fault::Bus => Some(bus_map),
            _ => None,
        }
    }

    /// In the tracer, before forking: prepare what the fault needs (the BUS mapping, which
    /// the child inherits at the same address); returns its address.
    pub fn prepare(self) -> usize {
        if self != Fault::Bus {
            return 0;
        }
        // SAFETY: memfd_create and mmap on a new, empty file; the mapping stays for the
        // process's life (the tracer never touches it).
        unsafe {
            let fd = libc::memfd_create(c"t_signals_bus".as_ptr(), 0);
            if fd < 0 {
                ptrace_atf::fail!("memfd_create failed: {}", nix::errno::Errno::last());
            }
            let p = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            if p == libc::MAP_FAILED {
                ptrace_atf::fail!(
                    "mmap of an empty memfd failed: {}",
                    nix::errno::Errno::last()
                );
            }
            libc::close(fd);
            p as usize
        }
    }

    /// In the child: fault now (`addr` from `prepare`). Never returns.
    pub fn trigger(self, addr: usize) -> ! {
        // SAFETY: each instruction faults on purpose; the kernel stops or kills the child
        // before execution could go on (after a PTRACE_CONT with 0 the fault repeats).
        unsafe {
            match self {
                Fault::Trap => asm!("int3"),
                Fault::Segv => asm!("mov dword ptr [{0}], 1", in(reg) 0usize),
                Fault::Ill => asm!("ud2"),
                Fault::Fpe => asm!(
                    "xor edx, edx",
                    "mov eax, 1",
                    "xor ecx, ecx",
                    "idiv ecx",
                    out("eax") _, out("edx") _, out("ecx") _,
                ),
                Fault::Bus => asm!("mov dword ptr [{0}], 1", in(reg) addr),
            }
        }
        child_fail!("the {self:?} fault did not stop the child")
    }
}
