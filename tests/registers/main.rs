//! t_registers: general, FP and XSAVE register access through ptrace, the PC rules (PC=0,
//! resume addresses, non-canonical PCs), syscall-stop registers, fs_base/gs_base and
//! XSAVE header validation.

mod access;
mod common;
mod pc;
mod probe;
mod x86;
mod x87;
mod xstate;

use ptrace_atf::harness;

fn main() {
    let mut p = harness::program();
    p.extend(access::cases());
    p.extend(x86::cases());
    p.extend(pc::cases());
    p.extend(xstate::cases());
    p.extend(x87::cases());
    p.main()
}
