//! The tracer's toolkit: the one place that talks to the OS about tracing.
//!
//! - `sys`: typed ptrace(2) requests;
//! - `event`: `Options` (PTRACE_O_*) and `PtraceEvent` (PTRACE_EVENT_*);
//! - `status`: typed wait statuses (`Status`) and signal names;
//! - `wait`: `Waiter`, the wait(2) family as variants, every wait with a deadline;
//! - `want`: typed expectations (`expect_stopped`, `expect_event`, ...);
//! - `ops`: the one helper set: checked resuming requests (`cont`, `syscall`, `step`,
//!   `detach`, `kill`, `setoptions`), the usual traced child (`traced_child`), the Yama
//!   question (`attach_refusal`) and `EXIT_CODE`;
//! - `forkee`: forked children running closures, with child-side assertions;
//! - `child_thread`: threads of a forked child (pthread_create, never `std::thread`);
//! - `report`: the shared slots through which forked children report failures;
//! - `vfork`: real vfork(2) and clone(2) children;
//! - `proc`: /proc readers;
//! - `syscall_info`: PTRACE_GET/SET_SYSCALL_INFO decoded into `SyscallInfo`;
//! - `cleanup`: kill and reap whatever a case left behind;
//! - `health`: the kernel's taint mask and log (oops, warnings) across a case or a run;
//! - `probe`: facts of the running kernel (top of user space, PIDFD_THREAD), probed once;
//! - `hypervisor`: the hypervisor or emulator named by CPUID, for emulator-limit skips;
//! - `expect`: per-OS expected values.
//!
//! Failures here panic with a one-line message naming both sides: a panic is the toolkit's
//! failure mechanism (it needs no ATF state, so it works alike in a body, a forked tracer and
//! a thread), and the runtime reports it as `file:line: message`, the format of `require!`.
//! The helpers carry `#[track_caller]`, so the location is the scenario's line that called
//! them; scenarios (tests/<area>) never panic themselves: they fail with the ATF family
//! (`require!`, `require_eq!`, `require_ok!`, `fail!`) and, in a forked tracee, the child
//! family (`child_require!`, `child_fail!`, see `forkee`).

pub mod child_thread;
pub mod cleanup;
pub mod dbregs;
pub mod deadline;
pub mod event;
pub mod expect;
pub mod forkee;
pub mod health;
pub mod hypervisor;
pub mod mem;
pub mod ops;
pub mod probe;
pub mod proc;
#[cfg(target_arch = "x86_64")]
pub mod regs;
pub mod report;
pub mod siginfo;
pub mod spawn;
pub mod status;
pub mod sys;
pub mod syscall_account;
pub mod syscall_info;
pub mod topology;
pub mod vfork;
pub mod wait;
pub mod waiter_kind;
pub mod want;

#[cfg(test)]
mod tests;

pub use cleanup::{Leftovers, exit_kill_default, reap_all};
pub use event::{Options, PtraceEvent};
pub use forkee::{CHILD_FAILED_CODE, Child, Forkee};
pub use status::{Status, sig_name};
pub use vfork::{clone_child, vfork_exec, vfork_exit};
pub use wait::{DEFAULT_DEADLINE, Waiter};
pub use waiter_kind::WaiterKind;
pub use want::Want;
