//! t_fork: fork, vfork, clone, clone3 and posix_spawn events under ptrace.

mod common;
mod detach;
mod exec;
mod linux;
mod masked;
mod matrix;
mod nested;
mod property;
mod unrelated;

use ptrace_atf::harness;

fn main() {
    let mut p = harness::program();
    p.extend(matrix::cases());
    p.extend(unrelated::cases());
    p.extend(detach::cases());
    p.extend(masked::cases());
    p.extend(nested::cases());
    p.extend(exec::cases());
    p.extend(linux::cases());
    p.extend(property::cases());
    p.main()
}
