//! One knob for slow kernels: a factor that multiplies every `timeout` a program lists,
//! its watchdog, and every deadline a body waits with.
//!
//! A kernel under TCG emulation, or built with KASAN or lockdep, runs the same cases 4 to
//! 20 times slower; with the knob set, it gives the same results, only later. The factor
//! comes from the environment variable `PTRACE_ATF_TIME_SCALE` (read once when the program
//! starts, so `-l` lists scaled timeouts and kyua applies them), and a body's config
//! variable `time_scale` overrides it for that body's deadlines (useful where nothing else
//! times the body, e.g. a case run by hand). `ptrace-atf test --time-scale N` and
//! `ptrace-atf vm` set the environment variable.
//!
//! The factor is a whole number from 1 to `MAX`; reading it is one relaxed atomic load, so
//! a forked child may call `scaled` (it allocates nothing and takes no lock).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The environment variable holding the factor.
pub const ENV: &str = "PTRACE_ATF_TIME_SCALE";
/// The config variable (`-v time_scale=N`) that overrides it for one body.
pub const CONFIG: &str = "time_scale";
/// The largest factor accepted (a 300 s timeout becomes 30,000 s).
pub const MAX: u32 = 100;

static FACTOR: AtomicU32 = AtomicU32::new(1);

/// Parses a factor: a whole number from 1 to `MAX`.
pub fn parse(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(f) if (1..=MAX).contains(&f) => Ok(f),
        _ => Err(format!(
            "'{text}' is not a time scale (a whole number from 1 to {MAX})"
        )),
    }
}

/// The factor the environment asks for: 1 when `PTRACE_ATF_TIME_SCALE` is unset or empty.
pub fn from_env() -> Result<u32, String> {
    match std::env::var(ENV) {
        Err(std::env::VarError::NotPresent) => Ok(1),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{ENV}: not valid text")),
        Ok(v) if v.is_empty() => Ok(1),
        Ok(v) => parse(&v).map_err(|e| format!("{ENV}: {e}")),
    }
}

/// Sets the factor for this process (and the children it forks from now on).
pub fn set(factor: u32) {
    FACTOR.store(factor.clamp(1, MAX), Ordering::Relaxed);
}

/// The factor in force.
pub fn factor() -> u32 {
    FACTOR.load(Ordering::Relaxed)
}

/// `d` multiplied by the factor.
pub fn scaled(d: Duration) -> Duration {
    d.saturating_mul(factor())
}

/// `secs` multiplied by `factor`, saturating.
pub fn scaled_secs(secs: u32, factor: u32) -> u32 {
    secs.saturating_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("1", Ok(1))]
    #[case("10", Ok(10))]
    #[case(" 4 ", Ok(4))]
    #[case("100", Ok(100))]
    #[case("0", Err(()))]
    #[case("101", Err(()))]
    #[case("-2", Err(()))]
    #[case("2.5", Err(()))]
    #[case("inf", Err(()))]
    #[case("", Err(()))]
    fn parse_accepts_whole_factors_only(#[case] text: &str, #[case] want: Result<u32, ()>) {
        assert_eq!(parse(text).map_err(|_| ()), want, "{text:?}");
    }

    #[test]
    #[serial_test::serial(timescale)]
    fn scaled_multiplies_by_the_factor_in_force() {
        set(4);
        assert_eq!(scaled(Duration::from_millis(250)), Duration::from_secs(1));
        set(1);
        assert_eq!(scaled(Duration::from_secs(10)), Duration::from_secs(10));
    }
}
