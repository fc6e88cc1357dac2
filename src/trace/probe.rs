//! Facts about the running kernel that differ between machines, probed once and cached,
//! never written down: the top of user space (4- or 5-level paging) and the pidfd flags
//! this kernel knows. A case that needs a feature this kernel lacks skips with `Missing`,
//! which names the feature and the Linux version that brought it.

use std::fmt;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::unistd::Pid;

use super::waiter_kind::WaiterKind;

/// A kernel feature a case needs and this kernel lacks: `needs FEATURE (Linux VERSION): how
/// the probe saw it`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    /// The feature, as the kernel's headers name it (`PIDFD_THREAD`).
    pub feature: &'static str,
    /// The mainline release that brought it (`6.9`).
    pub since: &'static str,
    /// What the probe saw (`pidfd_open(tid, PIDFD_THREAD) failed with EINVAL`).
    pub seen: String,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "needs {} (Linux {}): {}",
            self.feature, self.since, self.seen
        )
    }
}

const PAGE: u64 = 4096;

/// Whether the page at `addr` is user space for this process: mmap(MAP_FIXED_NOREPLACE)
/// there succeeds (then it is unmapped again) or finds something already mapped (EEXIST).
/// Beyond TASK_SIZE the kernel answers ENOMEM.
fn user_page(addr: u64) -> bool {
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; a new PROT_NONE page
    // is unmapped right away and nothing refers to it.
    unsafe {
        let p = libc::mmap(
            addr as *mut libc::c_void,
            PAGE as usize,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return Errno::last() == Errno::EEXIST;
        }
        libc::munmap(p, PAGE as usize);
        // A kernel before 4.17 takes MAP_FIXED_NOREPLACE as a hint and maps elsewhere.
        p as u64 == addr
    }
}

/// Bits of a user-space address on x86_64: 47 with 4-level paging, 56 when the kernel runs
/// 5-level paging (then a process gets addresses above 1 << 47 only when it asks for them, as
/// this probe does). Probed by mapping the last page below each candidate TASK_SIZE_MAX.
pub fn user_address_bits() -> u32 {
    static BITS: OnceLock<u32> = OnceLock::new();
    *BITS.get_or_init(|| {
        [56, 47]
            .into_iter()
            .find(|bits| user_page((1u64 << bits) - 2 * PAGE))
            .unwrap_or_else(|| {
                panic!("probing the top of user space: the page below 1 << 47 is not user space")
            })
    })
}

/// The kernel's TASK_SIZE_MAX: the first address that is not user space, `(1 << bits) -
/// PAGE_SIZE` (the page below it is the guard page); a debug register must not watch it.
pub fn task_size_max() -> u64 {
    (1u64 << user_address_bits()) - PAGE
}

/// The lowest non-canonical address: one past the lower canonical half, `1 << 47` with
/// 4-level paging, `1 << 56` with 5-level paging.
pub fn lowest_noncanonical() -> u64 {
    1u64 << user_address_bits()
}

/// PIDFD_THREAD (= O_EXCL): pidfd_open(2) of any thread, not only a thread-group leader.
pub const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;

/// pidfd_open(2) with `flags`.
pub fn pidfd_open_flags(pid: Pid, flags: libc::c_uint) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), flags) };
    // SAFETY: on success the kernel returned a new fd that nothing else owns.
    Errno::result(fd).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Whether pidfd_open(2) takes PIDFD_THREAD (Linux 6.9), probed once on the calling thread.
/// Without it a pidfd names only a thread-group leader, so waitid(P_PIDFD) cannot wait for
/// one thread. pidfd_open itself came with Linux 5.3.
pub fn pidfd_thread() -> Result<(), Missing> {
    static HAVE: OnceLock<Result<(), Missing>> = OnceLock::new();
    HAVE.get_or_init(|| {
        let me = nix::unistd::gettid();
        match pidfd_open_flags(me, PIDFD_THREAD) {
            Ok(_) => Ok(()),
            Err(Errno::ENOSYS) => Err(Missing {
                feature: "pidfd_open(2)",
                since: "5.3",
                seen: "pidfd_open fails with ENOSYS".into(),
            }),
            Err(e) => Err(Missing {
                feature: "PIDFD_THREAD",
                since: "6.9",
                seen: format!("pidfd_open(own tid, PIDFD_THREAD) failed with {e}"),
            }),
        }
    })
    .clone()
}

/// Whether a waiter of `kind` can wait for one chosen thread that is not a thread-group
/// leader: wait(2) and wait3(2) name no pid at all, and the pidfd waiter needs a pidfd of
/// the thread (PIDFD_THREAD). `Err` says why not, for a skip.
pub fn waiter_names_threads(kind: WaiterKind) -> Result<(), String> {
    if !kind.names_pid() {
        return Err(format!(
            "{}() cannot wait for a chosen thread",
            kind.call_name()
        ));
    }
    if kind == WaiterKind::Pidfd {
        return pidfd_thread()
            .map_err(|m| format!("waitid(P_PIDFD) of a thread that is not the leader {m}"));
    }
    Ok(())
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn top_of_user_space_is_consistent() {
        let bits = user_address_bits();
        assert!(bits == 47 || bits == 56, "{bits}");
        let top = task_size_max();
        // The last page below TASK_SIZE_MAX is user space, TASK_SIZE_MAX itself is not.
        assert!(user_page(top - PAGE));
        assert!(!user_page(top));
        assert_eq!(lowest_noncanonical(), top + PAGE);
    }

    #[test]
    fn missing_names_feature_and_version() {
        let m = Missing {
            feature: "PIDFD_THREAD",
            since: "6.9",
            seen: "EINVAL".into(),
        };
        assert_eq!(m.to_string(), "needs PIDFD_THREAD (Linux 6.9): EINVAL");
    }

    #[test]
    fn wait_and_wait3_cannot_name_threads() {
        assert!(waiter_names_threads(WaiterKind::Wait).is_err());
        assert!(waiter_names_threads(WaiterKind::Wait3).is_err());
        assert!(waiter_names_threads(WaiterKind::Waitpid).is_ok());
        assert_eq!(
            waiter_names_threads(WaiterKind::Pidfd).is_ok(),
            pidfd_thread().is_ok()
        );
    }
}
