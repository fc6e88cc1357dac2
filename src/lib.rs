//! ptrace-atf: kernel regression tests for ptrace(2) and the wait(2) family, written as
//! ATF test programs that kyua runs.
//!
//! `atf` is the test-program runtime (it knows nothing about ptrace); `trace` is the
//! tracer's toolkit, the one place that talks to the OS.

pub mod atf;
pub mod harness;
pub mod kyua;
pub mod netbsd;
pub mod source;
pub mod suite;
pub mod trace;
