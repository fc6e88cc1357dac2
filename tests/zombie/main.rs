//! t_zombie: zombies stay visible and signallable until reaped; a tracer that is not the
//! parent reaps a dead tracee before its real parent; attach topologies; the tracee's view
//! of its original parent.

mod common;
mod signal;
mod tracer;

use ptrace_atf::harness;

fn main() {
    let mut p = harness::program();
    p.extend(signal::cases());
    p.extend(tracer::cases());
    p.main()
}
