//! t_bytetransfer: moving bytes between a tracer and its tracee through every way Linux
//! offers (process_vm_readv/writev, /proc/PID/mem, PTRACE_PEEK/POKE{DATA,TEXT}): values of
//! each size to data and text, every alignment, ends of mappings and files, zero-byte and
//! invalid requests, and the auxiliary vector.

mod alignment;
mod common;
mod edges;
mod files;
mod text;
mod transfer;

use ptrace_atf::harness;

fn main() {
    let mut p = harness::program();
    p.extend(transfer::cases());
    p.extend(alignment::cases());
    p.extend(files::cases());
    p.extend(edges::cases());
    p.main()
}
