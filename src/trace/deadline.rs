//! Deadlines for blocking syscalls: a per-thread POSIX timer sends SIGALRM to the waiting
//! thread, whose handler (installed without SA_RESTART) marks the deadline as passed and
//! makes the syscall fail with EINTR. Nothing sleeps or polls.
//!
//! The timer is left running between calls: a call whose deadline is at most an eighth of
//! its limit later than the armed expiry reuses it, so a thread that waits again and again
//! (a loop iteration, a stress case) reads the clock once a call and re-arms a few times a
//! second, instead of two timer_settime(2) a call. An early expiry re-arms for the call's
//! own deadline, so no call ever times out early or late. An expiry that finds the thread
//! outside a call stops the timer; it can only come after the thread went seven eighths of
//! its last limit without a blocking call.
//!
//! The toolkit owns SIGALRM in the tracer process: scenarios must not use alarm(2) there.

use std::cell::{Cell, RefCell};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use std::time::Duration;

use nix::errno::Errno;

/// After the deadline passes, the timer keeps firing at this period so that a signal that
/// arrived between two blocking calls cannot leave the next one blocked forever.
const REFIRE: Duration = Duration::from_millis(50);

/// Marks the thread's deadline as passed (the interrupted call then fails with EINTR); out
/// of a call, stops the timer.
extern "C" fn on_alarm(_sig: libc::c_int) {
    // Async-signal-safe: const-initialized thread-locals without destructor are plain TLS
    // slots, timer_settime is a system call, and the timer signals the thread that armed it.
    if IN_CALL.get() {
        FIRED.set(true);
    } else {
        stop();
    }
}

fn install_handler() {
    if HANDLER_INSTALLED.get() {
        return;
    }
    // SAFETY: installing a handler that only touches thread-locals; no SA_RESTART.
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

// Thread-local: one timer per waiting thread. A forked child's writes land in the thread's
// TLS page, which fork(2) has already made the child's own (the kernel writes the child's
// tid there), instead of dirtying one more page of the program.
thread_local! {
    static TIMER: RefCell<Option<Timer>> = const { RefCell::new(None) };
    /// The timer's id for the signal handler (null: none).
    static TIMER_ID: Cell<libc::timer_t> = const { Cell::new(ptr::null_mut()) };
    /// When the armed timer first fires (CLOCK_MONOTONIC nanoseconds); 0: stopped.
    static EXPIRY: Cell<u64> = const { Cell::new(0) };
    /// Whether this thread is inside `blocking`.
    static IN_CALL: Cell<bool> = const { Cell::new(false) };
    /// Whether this thread installed `on_alarm` (dispositions are per process; installing
    /// again from another thread is harmless).
    static HANDLER_INSTALLED: Cell<bool> = const { Cell::new(false) };
    /// Whether this thread's timer fired during the current call.
    static FIRED: Cell<bool> = const { Cell::new(false) };
}

/// One byte in a page that fork(2) hands to a child zeroed (MADV_WIPEONFORK): set once a
/// thread of this process has set up its deadline state, so a zero tells a forked child
/// that the state it inherited in TLS belongs to its parent. The page is not copied on
/// fork, so the parent never pays a copy for writing it.
static OWN_STATE: AtomicPtr<AtomicU8> = AtomicPtr::new(ptr::null_mut());

fn own_state_flag() -> &'static AtomicU8 {
    let p = OWN_STATE.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: the page is mapped for the process's life, zeroed or not.
        return unsafe { &*p };
    }
    // SAFETY: a fresh anonymous page, never unmapped.
    let page = unsafe {
        let page = libc::mmap(
            ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if page == libc::MAP_FAILED || libc::madvise(page, 4096, libc::MADV_WIPEONFORK) != 0 {
            panic!("a wipe-on-fork page for wait deadlines: {}", Errno::last());
        }
        page.cast::<AtomicU8>()
    };
    match OWN_STATE.compare_exchange(ptr::null_mut(), page, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: as above.
        Ok(_) => unsafe { &*page },
        Err(other) => {
            // SAFETY: our page lost the race and was never shared.
            unsafe { libc::munmap(page.cast(), 4096) };
            // SAFETY: as above.
            unsafe { &*other }
        }
    }
}

/// Forgets deadline state inherited from the parent if this process is a fork that has not
/// set up its own yet.
#[inline]
fn adopt_state() {
    let flag = own_state_flag();
    if flag.load(Ordering::Relaxed) == 0 {
        forget_timer();
        HANDLER_INSTALLED.set(false);
        flag.store(1, Ordering::Relaxed);
    }
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
        let id = t.get_or_insert_with(|| Timer(create_timer())).0;
        TIMER_ID.set(id);
        id
    })
}

/// Drops the thread's timer id without deleting it (it belongs to the parent after fork).
fn forget_timer() {
    TIMER.with(|t| std::mem::forget(t.borrow_mut().take()));
    TIMER_ID.set(ptr::null_mut());
    EXPIRY.set(0);
}

const NO_PERIOD: u64 = 0;

/// timer_settime(2) with an absolute CLOCK_MONOTONIC expiry in nanoseconds (0: stop) and a
/// period; async-signal-safe.
fn settime_raw(id: libc::timer_t, expiry: u64, period: u64) -> libc::c_int {
    if id.is_null() {
        return -1;
    }
    let ts = |ns: u64| libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    let spec = libc::itimerspec {
        it_interval: ts(period),
        it_value: ts(expiry),
    };
    // SAFETY: id is a live timer of this process; spec is a valid itimerspec.
    unsafe { libc::timer_settime(id, libc::TIMER_ABSTIME, &spec, ptr::null_mut()) }
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec out-pointer; CLOCK_MONOTONIC is answered by the vDSO.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// In a freshly forked child: restores SIGALRM's default disposition (the child's code may
/// rely on it). The inherited timer and handler state is dropped by the child's first
/// `blocking` call, which finds the wipe-on-fork flag zero.
#[inline(always)]
pub(crate) fn after_fork_in_child() {
    default_sigalrm();
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

/// Arms the thread's timer to fire first at `expiry`, then every REFIRE.
fn arm_at(expiry: u64) {
    let mut id = timer();
    let period = REFIRE.as_nanos() as u64;
    if settime_raw(id, expiry, period) != 0 {
        // A timer id inherited across a fork the wipe-on-fork flag did not see: make a new
        // one once.
        forget_timer();
        id = timer();
        if settime_raw(id, expiry, period) != 0 {
            panic!("timer_settime for wait deadlines failed: {}", Errno::last());
        }
    }
    EXPIRY.set(expiry);
}

/// Stops the thread's timer (async-signal-safe).
fn stop() {
    settime_raw(TIMER_ID.get(), 0, NO_PERIOD);
    EXPIRY.set(0);
}

/// The thread is inside `blocking` while this lives; a timer that fired during the call is
/// overdue and refiring, so it is stopped on the way out.
struct InCall;

impl InCall {
    fn enter() -> InCall {
        IN_CALL.set(true);
        FIRED.set(false);
        InCall
    }
}

impl Drop for InCall {
    fn drop(&mut self) {
        IN_CALL.set(false);
        if FIRED.get() {
            stop();
        }
    }
}

/// The deadline passed before the blocking call completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

/// Runs `call` (a blocking syscall) until it does not fail with EINTR or `limit` passes.
/// Another signal's EINTR retries the call; the timer's own says the deadline may have
/// passed, which the clock confirms (an early expiry re-arms for this call's deadline).
pub fn blocking<T>(
    limit: Duration,
    mut call: impl FnMut() -> nix::Result<T>,
) -> Result<nix::Result<T>, TimedOut> {
    adopt_state();
    install_handler();
    let limit = (limit.as_nanos() as u64).max(1);
    let _in_call = InCall::enter();
    let deadline = now_ns().saturating_add(limit);
    let armed = EXPIRY.get();
    if armed == 0 || armed > deadline || armed < deadline - limit / 8 {
        arm_at(deadline);
    }
    loop {
        match call() {
            Err(Errno::EINTR) if FIRED.get() => {
                FIRED.set(false);
                if now_ns() >= deadline {
                    stop();
                    return Err(TimedOut);
                }
                arm_at(deadline);
            }
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
        assert_eq!(EXPIRY.get(), 0, "a timed-out call leaves the timer stopped");
        assert_eq!(human(Duration::from_secs(10)), "10s");
        assert_eq!(human(Duration::from_millis(200)), "200ms");
    }

    fn ready_read(limit: Duration) {
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w, b"x").unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(
            blocking(limit, || nix::unistd::read(&r, &mut buf)),
            Ok(Ok(1))
        );
    }

    fn empty_read(limit: Duration) -> (Result<nix::Result<usize>, TimedOut>, Duration) {
        let (r, _w) = nix::unistd::pipe().unwrap();
        let mut buf = [0u8; 1];
        let t0 = Instant::now();
        let res = blocking(limit, || nix::unistd::read(&r, &mut buf));
        (res, t0.elapsed())
    }

    #[test]
    fn a_timer_left_running_never_ends_a_call_early_or_late() {
        let limit = Duration::from_millis(400);
        // The first call arms the timer and leaves it running; the second comes 40 ms
        // later, reuses it (its deadline is within an eighth of the limit), sees it fire
        // 40 ms before its own deadline, and must wait those out.
        ready_read(limit);
        let armed = EXPIRY.get();
        assert_ne!(armed, 0, "the timer stays armed after a call that returned");
        std::thread::sleep(Duration::from_millis(40));
        let (res, took) = empty_read(limit);
        assert_eq!(res, Err(TimedOut));
        assert!(
            took >= limit,
            "timed out after {took:?}, before its {limit:?}"
        );
        assert!(
            took < limit * 3,
            "timed out after {took:?}, long past its {limit:?}"
        );
        // A shorter limit after a longer one re-arms for the earlier deadline.
        ready_read(Duration::from_secs(10));
        let (res, took) = empty_read(Duration::from_millis(100));
        assert_eq!(res, Err(TimedOut));
        assert!((Duration::from_millis(100)..Duration::from_secs(2)).contains(&took));
    }

    #[test]
    fn an_expiry_outside_a_call_stops_the_timer() {
        ready_read(Duration::from_millis(50));
        assert_ne!(EXPIRY.get(), 0);
        // Past the expiry and several refire periods: the first signal stops the timer
        // (std's sleep resumes after EINTR).
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(
            EXPIRY.get(),
            0,
            "the handler stops a timer that fires between calls"
        );
        ready_read(Duration::from_secs(1));
    }

    #[test]
    fn a_forked_child_makes_its_own_timer() {
        let limit = Duration::from_millis(300);
        ready_read(limit);
        // SAFETY: the child only runs a deadline-bound read and _exits.
        match unsafe { libc::fork() } {
            0 => {
                // The inherited expiry would fit this deadline, but the timer is the parent's.
                let (res, took) = empty_read(limit);
                let ok = res == Err(TimedOut) && took < Duration::from_secs(2);
                // SAFETY: _exit ends the forked child.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            pid => {
                let mut status = 0;
                let t0 = Instant::now();
                // SAFETY: polling and, past 3 s, killing our own child.
                while unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == 0 {
                    if t0.elapsed() > Duration::from_secs(3) {
                        // SAFETY: killing our own child.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                        // SAFETY: reaping it into a local status word.
                        unsafe { libc::waitpid(pid, &mut status, 0) };
                        panic!("the child's read never timed out");
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                assert!(
                    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                    "{status:#x}"
                );
            }
        }
    }
}
