//! Assertions in atf-c's style: `check*` are non-fatal (counted, the body goes on),
//! `require*` are fatal. Each reason starts with `file:line: `; the `_eq`/`_ne` forms print
//! both sides (atf-c prints only the expressions).

/// The shared body of `check!`/`require!`: `$fail` is the non-fatal or fatal reporter.
#[doc(hidden)]
#[macro_export]
macro_rules! __atf_cond {
    ($fail:path, $cond:expr $(,)?) => {
        if !$cond {
            $fail(file!(), line!(), format!("{} not met", stringify!($cond)));
        }
    };
    ($fail:path, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            $fail(file!(), line!(), format!($($fmt)+));
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
                file!(),
                line!(),
                format!("{} != {} ({:?} != {:?})", stringify!($a), stringify!($b), a, b),
            ),
            _ => {}
        }
    };
    ($fail:path, $a:expr, $b:expr, $($fmt:tt)+) => {
        match (&$a, &$b) {
            (a, b) if a != b => $fail(
                file!(),
                line!(),
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
    ($($t:tt)+) => { $crate::__atf_cond!($crate::atf::fail_check_at, $($t)+) };
}

/// Fatal: `require!(cond)` or `require!(cond, "fmt", args...)`.
#[macro_export]
macro_rules! require {
    ($($t:tt)+) => { $crate::__atf_cond!($crate::atf::fail_at, $($t)+) };
}

/// Non-fatal equality: prints both expressions and both values.
#[macro_export]
macro_rules! check_eq {
    ($($t:tt)+) => { $crate::__atf_eq!($crate::atf::fail_check_at, $($t)+) };
}

/// Fatal equality: prints both expressions and both values.
#[macro_export]
macro_rules! require_eq {
    ($($t:tt)+) => { $crate::__atf_eq!($crate::atf::fail_at, $($t)+) };
}

/// Fatal inequality.
#[macro_export]
macro_rules! require_ne {
    ($a:expr, $b:expr $(,)?) => {
        match (&$a, &$b) {
            (a, b) if a == b => $crate::atf::fail_at(
                file!(),
                line!(),
                format!("{} == {} (both {:?})", stringify!($a), stringify!($b), a),
            ),
            _ => {}
        }
    };
}
