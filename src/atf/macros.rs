//! The tracer's one failure vocabulary, in atf-c's style (ATF_CHECK/ATF_REQUIRE):
//!
//! | macro | fatal | use |
//! |---|---|---|
//! | `require!(cond, "fmt", ..)` | yes | a condition; without a message, the condition is printed |
//! | `require_eq!(got, want, "fmt", ..)` | yes | equality; prints both expressions and both values |
//! | `require_ne!(a, b)` | yes | inequality |
//! | `require_ok!(result_or_option, "fmt", ..)` | yes | unwraps, else fails with `<message>: <error>` |
//! | `fail!("fmt", ..)` | yes | an unconditional failure (a `match` arm that must not happen) |
//! | `check!`, `check_eq!` | no | counted, printed, the body goes on (ATF_CHECK) |
//!
//! Every reason starts with the location of the check, `file:line: ` (atf-c's format; a panic
//! is reported in the same format), and that location follows `#[track_caller]`: in a helper
//! marked with it, the reason names the line that called the helper. A scenario is never marked,
//! so its failures name the check itself. The same macros work in a forked tracer (the failure
//! unwinds with its reason as text, which the forkee reports to the case) and in the main
//! thread; a forked *tracee* uses the child-side family instead (`child_require!`,
//! `child_require_eq!`, `child_fail!` in `trace::forkee`: no allocation, write(2) and `_exit`).

/// The shared body of `check!`/`require!`: `$fail` is the non-fatal or fatal reporter.
#[doc(hidden)]
#[macro_export]
macro_rules! __atf_cond {
    ($fail:path, $cond:expr $(,)?) => {
        if !$cond {
            $fail(format!("{} not met", stringify!($cond)));
        }
    };
    ($fail:path, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            $fail(format!($($fmt)+));
        }
    };
}

/// The shared body of `check_eq!`/`require_eq!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __atf_eq {
    ($fail:path, $a:expr, $b:expr $(,)?) => {
        match (&$a, &$b) {
            (a, b) if a != b => $fail(
                format!("{} != {} ({:?} != {:?})", stringify!($a), stringify!($b), a, b),
            ),
            _ => {}
        }
    };
    ($fail:path, $a:expr, $b:expr, $($fmt:tt)+) => {
        match (&$a, &$b) {
            (a, b) if a != b => $fail(
                format!("{} != {} ({:?} != {:?}): {}", stringify!($a), stringify!($b), a, b,
                    format!($($fmt)+)),
            ),
            _ => {}
        }
    };
}

/// Non-fatal: `check!(cond)` or `check!(cond, "fmt", args...)`.
#[macro_export]
macro_rules! check {
    ($($t:tt)+) => { $crate::__atf_cond!($crate::atf::fail_check_here, $($t)+) };
}

/// Fatal: `require!(cond)` or `require!(cond, "fmt", args...)`.
#[macro_export]
macro_rules! require {
    ($($t:tt)+) => { $crate::__atf_cond!($crate::atf::fail_here, $($t)+) };
}

/// Non-fatal equality: prints both expressions and both values.
#[macro_export]
macro_rules! check_eq {
    ($($t:tt)+) => { $crate::__atf_eq!($crate::atf::fail_check_here, $($t)+) };
}

/// Fatal equality: prints both expressions and both values.
#[macro_export]
macro_rules! require_eq {
    ($($t:tt)+) => { $crate::__atf_eq!($crate::atf::fail_here, $($t)+) };
}

/// Fatal inequality: `require_ne!(a, b)` or `require_ne!(a, b, "fmt", args...)`.
#[macro_export]
macro_rules! require_ne {
    ($a:expr, $b:expr $(,)?) => {
        match (&$a, &$b) {
            (a, b) if a == b => $crate::atf::fail_here(
                format!("{} == {} (both {:?})", stringify!($a), stringify!($b), a),
            ),
            _ => {}
        }
    };
    ($a:expr, $b:expr, $($fmt:tt)+) => {
        match (&$a, &$b) {
            (a, b) if a == b => $crate::atf::fail_here(
                format!("{} == {} (both {:?}): {}", stringify!($a), stringify!($b), a,
                    format!($($fmt)+)),
            ),
            _ => {}
        }
    };
}

/// Fatal, unconditional: `fail!("fmt", args...)`, reason `file:line: message`.
#[macro_export]
macro_rules! fail {
    ($($fmt:tt)+) => { $crate::atf::fail_here(format!($($fmt)+)) };
}

/// Fatal unless `Ok`/`Some`: `let v = require_ok!(expr, "what");` gives the value, or fails
/// with `file:line: what: <the error>` (`None` for an `Option`).
#[macro_export]
macro_rules! require_ok {
    ($e:expr, $($fmt:tt)+) => {
        match $crate::atf::Outcome::outcome($e) {
            Ok(v) => v,
            Err(e) => $crate::atf::fail_here(format!("{}: {}", format!($($fmt)+), e)),
        }
    };
}
