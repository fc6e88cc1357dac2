//! t_dbregs_x86: x86 debug registers through PTRACE_PEEKUSER/POKEUSER (u_debugreg):
//! watchpoints, execute breakpoints, DR6, single-step, inheritance, CVE pins.

mod code;
mod common;
mod concurrent;
mod movss;
mod pins;
mod popss;
mod step;
mod variable;

use ptrace_atf::harness;

fn main() {
    let mut p = harness::program();
    p.extend(variable::cases());
    p.extend(code::cases());
    p.extend(step::cases());
    p.extend(pins::cases());
    p.extend(concurrent::cases());
    p.extend(movss::cases());
    p.extend(popss::cases());
    p.main()
}
