//! t_syscall: placeholder until the area lands.
use ptrace_atf::atf::{Program, TestCase};

fn main() {
    let mut p = Program::new();
    p.add(
        TestCase::new("pipeline")
            .descr("placeholder")
            .body(|_tc| {}),
    );
    p.main()
}
