//! t_lwp: thread create/exit events, per-thread stops and signals, exec from a non-leader
//! thread, the thread list as /proc and the registers show it, and missed-event accounting
//! of syscall stops in threaded tracees.

mod accounting;
mod concurrent;
mod events;
mod group;
mod lwpinfo;
mod tracee;

use ptrace_atf::atf::TestCase;
use ptrace_atf::harness;
use ptrace_atf::netbsd::SameName;

fn main() {
    let mut p = harness::program();
    p.extend(events::THREAD_EVENTS.iter().map(|v| {
        TestCase::new(v.name)
            .descr(&v.descr())
            .timeout(20)
            .netbsd_same_name()
            .body(move |tc| events::trace_threads(tc, v))
    }));
    p.add(
        TestCase::new("threads_and_exec")
            .descr(
                "A non-leader thread execs: the leader reports PTRACE_EVENT_EXIT (status 0), \
                 PTRACE_EVENT_EXEC comes under the leader's pid with the former tid as message, \
                 ptrace on the stale tid fails with ESRCH and no death of it is reported",
            )
            .timeout(15)
            .netbsd_same_name()
            .body(events::threads_and_exec),
    );
    p.extend(concurrent::CONCURRENT.iter().map(|v| {
        TestCase::new(v.name)
            .descr(v.descr)
            .timeout(20)
            .netbsd_same_name()
            .body(move |tc| concurrent::concurrent_signals(tc, v))
    }));
    p.add(
        TestCase::new("resume")
            .descr(
                "One thread is held in its SIGUSR1 stop while the leader keeps running and \
                 nothing is reported; the leader is interrupted by SIGSTOP, both are resumed, \
                 and the held thread goes on to report SIGUSR2",
            )
            .timeout(15)
            .netbsd_same_name()
            .body(concurrent::resume),
    );
    p.extend(lwpinfo::LWPINFO.iter().map(|v| {
        TestCase::new(v.name)
            .descr(&v.descr())
            .timeout(15)
            .netbsd_same_name()
            .body(move |tc| lwpinfo::traceme_lwpinfo(tc, v))
    }));
    p.extend(lwpinfo::ATTACH_LWPINFO.iter().map(|&(name, threads)| {
        TestCase::new(name)
            .descr(&format!(
                "PTRACE_ATTACH of each of the {} threads of a running process: each reports its \
                 own attach SIGSTOP and shows this tracer in TracerPid; /proc/PID/task lists \
                 them all; after resuming, only the leader takes the SIGINT it raises",
                threads + 1
            ))
            .timeout(15)
            .netbsd_same_name()
            .body(move |tc| lwpinfo::attach_lwpinfo(tc, threads))
    }));
    p.extend(accounting::ACCOUNTING.iter().map(|v| {
        TestCase::new(v.name)
            .descr(v.descr)
            .timeout(30)
            .body(move |tc| accounting::accounting(tc, v))
    }));
    p.main()
}
