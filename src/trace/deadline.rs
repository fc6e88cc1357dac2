//! Deadlines for blocking syscalls: a per-thread POSIX timer sends SIGALRM to the waiting
//! thread, whose no-op handler (installed without SA_RESTART) makes the syscall fail with
//! EINTR. Arming and disarming cost one timer_settime(2) each; nothing sleeps or polls.
//!
//! The toolkit owns SIGALRM in the tracer process: scenarios must not use alarm(2) there.

use std::cell::{Cell, RefCell};
use std::ptr;
use std::time::Duration;

use nix::errno::Errno;

/// After the deadline passes, the timer keeps firing at this period so that a signal that
/// arrived between two blocking calls cannot leave the next one blocked forever.
const REFIRE: Duration = Duration::from_millis(50);

/// Marks the thread's deadline as passed; the interrupted call then fails with EINTR.
extern "C" fn on_alarm(_sig: libc::c_int) {
    // Async-signal-safe: a const-initialized thread-local without destructor is a plain TLS
    // slot, and the timer signals the thread that armed it.
    FIRED.set(true);
}

fn install_handler() {
    if HANDLER_INSTALLED.get() {
        return;
    }
    // SAFETY: installing a handler that does nothing; sa_flags has no SA_RESTART.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_alarm as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = 0;
        libc::sigaction(libc::SIGALRM, &sa, ptr::null_mut());
    }
    HANDLER_INSTALLED.set(true);
}

struct Timer(libc::timer_t);

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: the timer was created by this thread and is deleted once.
        unsafe { libc::timer_delete(self.0) };
    }
}

// Thread-local rather than static: a forked child resets them, and its writes then land in
// the thread's TLS page, which fork(2) has already made the child's own (the kernel writes
// the child's tid there), instead of dirtying one more page of the program.
thread_local! {
    static TIMER: RefCell<Option<Timer>> = const { RefCell::new(None) };
    /// Whether this thread installed `on_alarm` (dispositions are per process; installing
    /// again from another thread is harmless).
    static HANDLER_INSTALLED: Cell<bool> = const { Cell::new(false) };
    /// Whether this thread's timer fired since it was last armed.
    static FIRED: Cell<bool> = const { Cell::new(false) };
}

fn create_timer() -> libc::timer_t {
    // SAFETY: plain syscalls on locals; the sigevent targets the calling thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGALRM);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, ptr::null_mut());

        let mut sev: libc::sigevent = std::mem::zeroed();
        sev.sigev_notify = libc::SIGEV_THREAD_ID;
        sev.sigev_signo = libc::SIGALRM;
        sev.sigev_notify_thread_id = libc::gettid();
        let mut id: libc::timer_t = ptr::null_mut();
        if libc::timer_create(libc::CLOCK_MONOTONIC, &mut sev, &mut id) != 0 {
            panic!("timer_create for wait deadlines failed: {}", Errno::last());
        }
        id
    }
}

fn timer() -> libc::timer_t {
    TIMER.with(|t| {
        let mut t = t.borrow_mut();
        t.get_or_insert_with(|| Timer(create_timer())).0
    })
}

/// Drops the thread's timer id without deleting it (it belongs to the parent after fork).
#[inline(always)]
fn forget_timer() {
    TIMER.with(|t| std::mem::forget(t.borrow_mut().take()));
}

fn settime(id: libc::timer_t, value: Duration, interval: Duration) -> libc::c_int {
    let ts = |d: Duration| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    };
    let spec = libc::itimerspec {
        it_interval: ts(interval),
        it_value: ts(value),
    };
    // SAFETY: id is a live timer of this process; spec is a valid itimerspec.
    unsafe { libc::timer_settime(id, 0, &spec, ptr::null_mut()) }
}

/// In a freshly forked child: restores SIGALRM's default disposition (the child's code may
/// rely on it) and forgets the inherited timer and handler state.
#[inline(always)]
pub(crate) fn after_fork_in_child() {
    default_sigalrm();
    forget_timer();
    HANDLER_INSTALLED.set(false);
}

/// rt_sigaction(SIGALRM, SIG_DFL) as one inline system call: the child's path then touches
/// no libc code page beyond those fork(2) itself runs.
#[inline(always)]
fn default_sigalrm() {
    #[cfg(target_arch = "x86_64")]
    {
        // struct kernel_sigaction { handler, flags, restorer, mask }: all zero is SIG_DFL.
        let act = [0u64; 4];
        // SAFETY: rt_sigaction reads `act`, writes nothing (oldact NULL), clobbers only
        // rax, rcx and r11.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") libc::SYS_rt_sigaction => _,
                in("rdi") libc::SIGALRM,
                in("rsi") act.as_ptr(),
                in("rdx") 0usize,
                in("r10") 8usize,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: resetting a disposition in the single-threaded child.
    unsafe {
        libc::signal(libc::SIGALRM, libc::SIG_DFL);
    }
}

/// An armed deadline; disarms the timer when dropped.
struct Armed {
    id: libc::timer_t,
}

impl Drop for Armed {
    fn drop(&mut self) {
        settime(self.id, Duration::ZERO, Duration::ZERO);
    }
}

fn arm(limit: Duration) -> Armed {
    install_handler();
    FIRED.set(false);
    let mut id = timer();
    let value = limit.max(Duration::from_nanos(1));
    if settime(id, value, REFIRE) != 0 {
        // A timer id inherited across fork(2) is invalid: make a new one once.
        forget_timer();
        id = timer();
        if settime(id, value, REFIRE) != 0 {
            panic!("timer_settime for wait deadlines failed: {}", Errno::last());
        }
    }
    Armed { id }
}

/// The deadline passed before the blocking call completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

/// Runs `call` (a blocking syscall) until it does not fail with EINTR or `limit` passes.
/// Another signal's EINTR retries the call; the timer's own says the deadline passed (no
/// clock is read on the way: a wait costs two timer_settime(2) and nothing else).
pub fn blocking<T>(
    limit: Duration,
    mut call: impl FnMut() -> nix::Result<T>,
) -> Result<nix::Result<T>, TimedOut> {
    let _armed = arm(limit);
    loop {
        match call() {
            Err(Errno::EINTR) if FIRED.get() => return Err(TimedOut),
            Err(Errno::EINTR) => {}
            other => return Ok(other),
        }
    }
}

/// Formats a duration the way failure messages print deadlines: `10s`, `200ms`.
pub fn human(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:?}", d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn interrupts_a_blocking_read() {
        let (r, _w) = nix::unistd::pipe().unwrap();
        let t0 = Instant::now();
        let mut buf = [0u8; 1];
        let res = blocking(Duration::from_millis(100), || {
            nix::unistd::read(&r, &mut buf)
        });
        assert_eq!(res, Err(TimedOut));
        assert!(t0.elapsed() >= Duration::from_millis(100));
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert_eq!(human(Duration::from_secs(10)), "10s");
        assert_eq!(human(Duration::from_millis(200)), "200ms");
    }
}
