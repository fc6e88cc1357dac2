//! t_fork: fork, vfork, clone, clone3 and posix_spawn events under ptrace.

use ptrace_atf::atf::TestCase;
use ptrace_atf::harness;
use ptrace_atf::trace::{Forkee, expect};

fn main() {
    let mut p = harness::program();
    p.add(
        TestCase::new("traceme_raise_stop")
            .descr("A PTRACE_TRACEME child that raises SIGSTOP is reported stopped, then exits 5")
            .timeout(15)
            .body(|tc| {
                let w = harness::waiter(tc);
                let child = Forkee::traceme(|| 5);
                child.expect_stopped(&w, expect::AUTO_ATTACH_FIRST_STOP);
                ptrace_atf::trace::sys::cont(child.pid(), 0).unwrap();
                child.expect_exited(&w, 5);
                w.expect_no_children();
            }),
    );
    p.main()
}
