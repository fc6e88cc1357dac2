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
