//! t_signals: signals under trace — raised, injected, blocked, ignored and crash signals and
//! their si_codes, kill, PTRACE_SEIZE/INTERRUPT/LISTEN, exit events, siginfo and sigmask
//! requests, attach errors.

mod attach;
mod common;
mod coredump;
mod crash;
mod exit;
mod fault;
mod kill;
mod raise;
mod seize;
mod sendsignal;
mod siginfo;
mod threads;
mod unrelated;

fn main() {
    let mut p = ptrace_atf::harness::program();
    p.extend(raise::cases());
    p.extend(crash::cases());
    p.extend(unrelated::cases());
    p.extend(sendsignal::cases());
    p.extend(kill::cases());
    p.extend(exit::cases());
    p.extend(seize::cases());
    p.extend(siginfo::cases());
    p.extend(attach::cases());
    p.extend(threads::cases());
    p.main()
}
