//! The ATF test-program runtime: cases, typed metadata, the command line, results,
//! expectations and cleanup, behaving like atf-c 0.21 wherever kyua can see it (see
//! `strict.rs` for where it is deliberately stricter). It knows nothing about ptrace.

pub mod case;
pub mod cli;
pub mod listing;
mod macros;
pub mod metadata;
pub mod monitor;
pub mod program;
pub mod repeat;
pub mod result;
pub mod state;
pub mod strict;
pub mod timescale;
pub mod verdict;
pub mod watchdog;

pub use case::{Tc, TestCase};
pub use metadata::User;
pub use program::Program;
pub use result::TestResult;

/// A fatal failure at `file:line` (used by `require!`).
pub fn fail_at(file: &str, line: u32, msg: String) -> ! {
    state::fail(format!("{file}:{line}: {msg}"))
}

/// A non-fatal failure at `file:line` (used by `check!`).
pub fn fail_check_at(file: &str, line: u32, msg: String) {
    state::fail_check(format!("{file}:{line}: {msg}"))
}
