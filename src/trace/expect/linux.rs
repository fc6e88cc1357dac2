//! Linux values of the per-OS expectations (with what NetBSD has instead).

use nix::errno::Errno;

use crate::trace::sys::PtraceEvent;

/// First stop of a child auto-attached by a fork/vfork/clone event: SIGSTOP (NetBSD: SIGTRAP).
pub const AUTO_ATTACH_FIRST_STOP: i32 = libc::SIGSTOP;

/// Stop signal PTRACE_ATTACH produces: SIGSTOP (NetBSD PT_ATTACH: SIGSTOP too).
pub const ATTACH_STOP_SIGNAL: i32 = libc::SIGSTOP;

/// si_code of a signal sent with raise(3): SI_TKILL, glibc uses tgkill (NetBSD: SI_LWP).
pub const RAISE_SI_CODE: i32 = libc::SI_TKILL;

/// si_code of a signal sent with kill(2): SI_USER (NetBSD: SI_USER).
pub const KILL_SI_CODE: i32 = libc::SI_USER;

/// si_code of PTRACE_ATTACH's SIGSTOP: SI_KERNEL, the kernel sends it as a privileged
/// signal with si_pid 0, not as a kill(2) from the tracer (NetBSD: SI_USER).
pub const ATTACH_STOP_SI_CODE: i32 = libc::SI_KERNEL;

/// Event reporting posix_spawn(3): glibc clones with CLONE_VM|CLONE_VFORK, so a vfork event
/// followed by an exec event (NetBSD: its own PTRACE_POSIX_SPAWN event).
pub const SPAWN_EVENT: PtraceEvent = PtraceEvent::Vfork;

/// si_code of a hardware breakpoint or watchpoint trap: TRAP_HWBKPT (NetBSD: TRAP_DBREG).
pub const HWBKPT_SI_CODE: i32 = libc::TRAP_HWBKPT;

/// si_code of a single-step trap: TRAP_TRACE (NetBSD: TRAP_TRACE).
pub const TRACE_SI_CODE: i32 = libc::TRAP_TRACE;

/// si_code of a software breakpoint (int3) trap: SI_KERNEL on x86 (NetBSD: TRAP_BRKPT).
pub const BRKPT_SI_CODE: i32 = libc::SI_KERNEL;

/// Whether a thread that is not traced reports PTRACE_EVENT_EXIT: no (NetBSD reports LWP
/// exit events for every LWP of a traced process when PTRACE_LWP_EXIT is set).
pub const UNTRACED_THREAD_EXIT_EVENT: bool = false;

/// errno of a ptrace request on a tracee that is gone or not stopped: ESRCH (NetBSD: ESRCH).
pub const DEAD_TRACEE_ERRNO: Errno = Errno::ESRCH;

/// errno of PTRACE_PEEKDATA/POKEDATA on an unmapped address: EIO (NetBSD PT_READ_D: EINVAL
/// or EFAULT depending on the request).
pub const INVALID_ADDRESS_ERRNO: Errno = Errno::EIO;

/// errno of process_vm_readv/writev on an unmapped (or beyond-EOF) tracee address, and of
/// process_vm_writev on a page without write permission: EFAULT (NetBSD PT_IO: EINVAL or
/// EFAULT).
pub const VM_RW_INVALID_ADDRESS_ERRNO: Errno = Errno::EFAULT;

/// errno of pread/pwrite on /proc/PID/mem at an unmapped (or beyond-EOF) address: EIO
/// (NetBSD has no /proc/PID/mem; its PT_IO gives EINVAL or EFAULT).
pub const PROC_MEM_INVALID_ADDRESS_ERRNO: Errno = Errno::EIO;

/// Whether process_vm_writev may write to a read-only (text) page of the tracee: no, it
/// honours page protections (NetBSD PIOD_WRITE_I/D: yes, unless PaX MPROTECT).
pub const VM_WRITEV_REACHES_TEXT: bool = false;

/// si_code of a store to an unmapped address (NULL): SEGV_MAPERR (NetBSD: SEGV_MAPERR).
pub const NULL_STORE_SI_CODE: i32 = 1; // SEGV_MAPERR

/// si_code of an undefined instruction (ud2): ILL_ILLOPN on x86 (NetBSD: any of
/// ILL_ILLOPC..ILL_BADSTK).
pub const UD2_SI_CODE: i32 = 2; // ILL_ILLOPN

/// si_code of an integer division by zero: FPE_INTDIV (NetBSD: unchecked, "XXXQEMU").
pub const INT_DIVIDE_SI_CODE: i32 = 1; // FPE_INTDIV

/// si_code of a store to a shared file mapping past the end of the file: BUS_ADRERR
/// (NetBSD: BUS_ADRERR).
pub const MAPPING_PAST_EOF_SI_CODE: i32 = libc::BUS_ADRERR;

/// Whether a synchronous fault whose signal the tracee blocks is unblocked by the kernel
/// when it is forced (force_sig_info_to_task): yes, before the tracer sees the fault stop
/// (NetBSD: no, p_sigmask is unchanged).
pub const FAULT_UNBLOCKS_SIGNAL: bool = true;

/// Whether a synchronous fault whose signal the tracee ignores resets the disposition to
/// SIG_DFL when it is forced: yes (NetBSD: no, p_sigignore is unchanged).
pub const FAULT_RESETS_IGNORED_SIGNAL: bool = true;

/// errno of PTRACE_GETSIGINFO in a group-stop (no siginfo there): EINVAL (NetBSD has no
/// group-stop under trace; PT_GET_SIGINFO succeeds).
pub const GROUP_STOP_GETSIGINFO_ERRNO: Errno = Errno::EINVAL;

/// errno of PTRACE_ATTACH to pid 0: ESRCH, no such process (NetBSD: EPERM).
pub const ATTACH_PID0_ERRNO: Errno = Errno::ESRCH;

/// errno of PTRACE_ATTACH to the caller's own process: EPERM (NetBSD: EINVAL).
pub const ATTACH_SELF_ERRNO: Errno = Errno::EPERM;

/// errno of a second PTRACE_TRACEME: EPERM (NetBSD: EBUSY).
pub const TRACEME_TWICE_ERRNO: Errno = Errno::EPERM;

/// errno of an unprivileged PTRACE_ATTACH to another user's process (init): EPERM
/// (NetBSD: EPERM).
pub const ATTACH_DENIED_ERRNO: Errno = Errno::EPERM;

/// errno of PTRACE_INTERRUPT or PTRACE_LISTEN on a tracee not attached with PTRACE_SEIZE:
/// EIO (NetBSD: no such requests).
pub const NOT_SEIZED_ERRNO: Errno = Errno::EIO;

/// si_code of a syscall-entry stop under PTRACE_O_TRACESYSGOOD: SIGTRAP|0x80, the stop's
/// exit code (NetBSD: TRAP_SCE).
pub const SYSCALL_ENTRY_SI_CODE: i32 = libc::SIGTRAP | 0x80;

/// si_code of a syscall-exit stop under PTRACE_O_TRACESYSGOOD: SIGTRAP|0x80, the same as at
/// entry (NetBSD: TRAP_SCX); PTRACE_GETEVENTMSG or PTRACE_GET_SYSCALL_INFO tell them apart.
pub const SYSCALL_EXIT_SI_CODE: i32 = libc::SIGTRAP | 0x80;

/// PTRACE_GETEVENTMSG at a syscall-entry stop: PTRACE_EVENTMSG_SYSCALL_ENTRY (Linux 5.3;
/// NetBSD: no such message).
pub const SYSCALL_ENTRY_EVENTMSG: u64 = 1;

/// PTRACE_GETEVENTMSG at a syscall-exit stop: PTRACE_EVENTMSG_SYSCALL_EXIT (Linux 5.3).
pub const SYSCALL_EXIT_EVENTMSG: u64 = 2;

/// si_code of a signal a tracer passes when resuming from a syscall stop: SI_KERNEL, the
/// kernel re-sends it with send_sig(sig, current, 1) (NetBSD: unsettled, its
/// syscall_signal_on_sce is an expected failure, "behavior under investigation").
pub const SYSCALL_STOP_INJECTED_SI_CODE: i32 = libc::SI_KERNEL;

/// Whether a SIGTRAP forced by a trap (single step, debug-register hit) on a task that
/// blocks or ignores SIGTRAP unblocks it and resets its action to SIG_DFL: yes, the kernel
/// forces the signal with force_sig_fault (NetBSD: mask and ignore set stay as they were).
pub const FORCED_TRAP_RESETS_DISPOSITION: bool = true;

/// Signals the threads of the `thread_concurrent_*` scenarios send themselves, thread `tid`
/// sending `CONCURRENT_SIGNALS[tid % 9]` (see `concurrent_signal`): NetBSD's list, with
/// SIGURG for NetBSD's SIGINFO, which Linux lacks.
pub const CONCURRENT_SIGNALS: [i32; 9] = [
    libc::SIGIO,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGWINCH,
    libc::SIGURG,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// The signal thread `tid` of a `thread_concurrent_*` tracee sends itself.
pub const fn concurrent_signal(tid: i32) -> i32 {
    CONCURRENT_SIGNALS[tid as usize % CONCURRENT_SIGNALS.len()]
}
