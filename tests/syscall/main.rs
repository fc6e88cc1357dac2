//! t_syscall: syscall-entry and -exit stops, PTRACE_GET/SET_SYSCALL_INFO, syscall emulation
//! and skipping, seccomp under ptrace, and syscall restart.

mod common;
mod info;
mod netbsd;
mod restart;
mod seccomp;
mod set_info;

use ptrace_atf::harness;

fn main() {
    let mut p = harness::program();
    netbsd::register(&mut p);
    info::register(&mut p);
    set_info::register(&mut p);
    seccomp::register(&mut p);
    restart::register(&mut p);
    p.main()
}
