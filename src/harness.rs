//! The glue between the ATF runtime and the tracer's toolkit that every area program uses:
//! a `Program` whose teardown kills and reaps what a case left behind, and the waiter a
//! program run was asked for.

use crate::atf::monitor::Monitor;
use crate::atf::{Program, Tc};
use crate::trace::health::Health;
use crate::trace::{Waiter, reap_all};

/// A program whose every body ends by killing and reaping what is left; a case that
/// passed but left a process behind fails; a case during which the kernel oopsed, warned
/// or became tainted fails whatever its own result (`KernelHealth`).
pub fn program() -> Program {
    let mut p = Program::new();
    p.monitor(KernelHealth::default());
    p.teardown(|_tc| {
        let left = reap_all();
        if left.is_clean() {
            Ok(())
        } else {
            Err(format!("the case left processes behind: {left}"))
        }
    });
    p
}

/// The kernel-health monitor of every area program: the kernel log and taint mask are
/// opened when the first body starts and compared across each body (and each loop
/// iteration: one read(2) when the kernel logged nothing); a problem fails the case with its first log line, and the log excerpt goes
/// to stderr.
#[derive(Default)]
pub struct KernelHealth {
    health: Option<Health>,
    ends: u64,
}

impl Monitor for KernelHealth {
    /// The first body opens the log; later ones (loop iterations) continue from where the
    /// last `end` stopped reading, which costs no system call here.
    fn begin(&mut self) {
        if self.health.is_none() {
            self.health.insert(Health::open()).begin();
        }
    }

    fn end(&mut self) -> Result<(), String> {
        let Some(h) = self.health.as_mut() else {
            return Ok(());
        };
        // A case's one body gets the full comparison; later loop iterations read the taint
        // mask only when the kernel logged something (`Health::end_quiet_fast`), so a quiet
        // iteration costs one read(2).
        self.ends += 1;
        let f = if self.ends == 1 {
            h.end()
        } else {
            h.end_quiet_fast()
        };
        if f.is_clean() {
            return Ok(());
        }
        eprintln!(
            "*** kernel health: {}\n*** kernel log excerpt:\n{}",
            f.summary(),
            f.excerpt_text()
        );
        Err(format!("kernel problem during this case: {}", f.summary()))
    }
}

/// The waiter this run uses: config variable `waiter`, else the program's name suffix
/// (`t_fork_wait4`), else waitpid. A bad name fails the case.
pub fn waiter(tc: &Tc) -> Waiter {
    Waiter::from_env(tc.config("waiter"), tc.program()).unwrap_or_else(|e| tc.fail(e))
}

/// Skips the case when the waiter cannot wait for one named process (wait, wait3).
pub fn require_pid_waiter(tc: &Tc, w: &Waiter) {
    if !w.kind().names_pid() {
        tc.skip(format!(
            "{}() cannot wait for a chosen pid, and this case waits for several processes",
            w.kind().call_name()
        ));
    }
}

/// Skips the case when the waiter takes no options (wait(2): no __WALL, no WNOHANG).
pub fn require_waiter_options(tc: &Tc, w: &Waiter) {
    if !w.kind().takes_options() {
        tc.skip(format!(
            "{}() takes no options (no __WALL or WNOHANG), which this case needs",
            w.kind().call_name()
        ));
    }
}

/// Skips the case when Yama forbids PTRACE_ATTACH/PTRACE_SEIZE here (`ops::attach_refusal`:
/// scope 3, or scope 2 without CAP_SYS_PTRACE), naming the scope.
pub fn require_attach_allowed(tc: &Tc) {
    if let Some(why) = crate::trace::ops::attach_refusal() {
        tc.skip(why);
    }
}

#[cfg(test)]
mod tests {
    use crate::atf::state::{self, Sink};
    use crate::trace::{Forkee, Waiter, WaiterKind};

    /// A failed `require!` inside a forked child is reported by the parent with its text,
    /// not as an opaque payload.
    #[test]
    #[serial_test::serial]
    fn require_in_a_forkee_reaches_the_parent() {
        state::begin(Sink::File("/dev/null".into()));
        let child = Forkee::spawn(|| {
            crate::require!(1 + 1 == 3);
            0
        });
        let w = Waiter::new(WaiterKind::Waitpid);
        let err =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child.expect_exited(&w, 0)))
                .expect_err("the child's failure must fail the parent");
        state::end();
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("1 + 1 == 3 not met"), "{msg}");
    }
}
