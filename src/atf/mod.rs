//! The ATF test-program runtime: cases, typed metadata, the command line, results,
//! expectations and cleanup, behaving like atf-c 0.21 wherever kyua can see it (see
//! `strict.rs` for where it is deliberately stricter). It knows nothing about ptrace.
//!
//! A body fails through one family of macros (documented in `macros.rs`): `require!`,
//! `require_eq!`, `require_ne!`, `require_ok!`, `fail!` (fatal) and `check!`, `check_eq!`
//! (non-fatal). Each reason is `file:line: message`; a panic (the tracer toolkit's own failure
//! mechanism) is reported the same way, from its location.

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

/// A fatal failure at the caller's location (`#[track_caller]`: a helper marked with it
/// reports its caller's line).
#[track_caller]
pub fn fail_here(msg: String) -> ! {
    let at = std::panic::Location::caller();
    fail_at(at.file(), at.line(), msg)
}

/// A non-fatal failure at the caller's location.
#[track_caller]
pub fn fail_check_here(msg: String) {
    let at = std::panic::Location::caller();
    fail_check_at(at.file(), at.line(), msg)
}

/// What `require_ok!` unwraps: a `Result` (its error printed with `Display`) or an `Option`.
pub trait Outcome<T> {
    /// The value, or the text of what went wrong.
    fn outcome(self) -> Result<T, String>;
}

impl<T, E: std::fmt::Display> Outcome<T> for Result<T, E> {
    fn outcome(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

impl<T> Outcome<T> for Option<T> {
    fn outcome(self) -> Result<T, String> {
        self.ok_or_else(|| "None".to_string())
    }
}

/// A non-fatal failure at `file:line` (used by `check!`).
pub fn fail_check_at(file: &str, line: u32, msg: String) {
    state::fail_check(format!("{file}:{line}: {msg}"))
}
