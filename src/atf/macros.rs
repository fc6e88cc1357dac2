//! Assertions in atf-c's style: `check*` are non-fatal (counted, the body goes on),
//! `require*` are fatal. Each reason starts with `file:line: `; the `_eq`/`_ne` forms print
//! both sides (atf-c prints only the expressions).

/// Non-fatal: `check!(cond)` or `check!(cond, "fmt", args...)`.
#[macro_export]
macro_rules! check {
    ($cond:expr $(,)?) => {
        if !$cond {
            $crate::atf::fail_check_at(file!(), line!(), format!("{} not met", stringify!($cond)));
        }
    };
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            $crate::atf::fail_check_at(file!(), line!(), format!($($fmt)+));
        }
    };
}

/// Fatal: `require!(cond)` or `require!(cond, "fmt", args...)`.
#[macro_export]
macro_rules! require {
    ($cond:expr $(,)?) => {
        if !$cond {
            $crate::atf::fail_at(file!(), line!(), format!("{} not met", stringify!($cond)));
        }
    };
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            $crate::atf::fail_at(file!(), line!(), format!($($fmt)+));
        }
    };
}

/// Non-fatal equality: prints both expressions and both values.
#[macro_export]
macro_rules! check_eq {
    ($a:expr, $b:expr $(,)?) => {
        match (&$a, &$b) {
            (a, b) if a != b => $crate::atf::fail_check_at(
                file!(),
                line!(),
                format!("{} != {} ({:?} != {:?})", stringify!($a), stringify!($b), a, b),
            ),
            _ => {}
        }
    };
    ($a:expr, $b:expr, $($fmt:tt)+) => {
        match (&$a, &$b) {
            (a, b) if a != b => $crate::atf::fail_check_at(
                file!(),
                line!(),
                format!("{} != {} ({:?} != {:?}): {}", stringify!($a), stringify!($b), a, b,
                    format!($($fmt)+)),
            ),
            _ => {}
        }
    };
}

/// Fatal equality: prints both expressions and both values.
#[macro_export]
macro_rules! require_eq {
    ($a:expr, $b:expr $(,)?) => {
        match (&$a, &$b) {
            (a, b) if a != b => $crate::atf::fail_at(
                file!(),
                line!(),
                format!("{} != {} ({:?} != {:?})", stringify!($a), stringify!($b), a, b),
            ),
            _ => {}
        }
    };
    ($a:expr, $b:expr, $($fmt:tt)+) => {
        match (&$a, &$b) {
            (a, b) if a != b => $crate::atf::fail_at(
                file!(),
                line!(),
                format!("{} != {} ({:?} != {:?}): {}", stringify!($a), stringify!($b), a, b,
                    format!($($fmt)+)),
            ),
            _ => {}
        }
    };
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
