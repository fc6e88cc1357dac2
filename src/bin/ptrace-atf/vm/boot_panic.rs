//! A guest kernel that panics while booting, before the suite has started.
//!
//! Under TCG this was seen in CI and in 1 of 40 boots on a loaded host (6.12 cloud, `-cpu
//! max`): "Oops: int3" at a static-key site in `sched_clock_cpu` right after "sched_clock:
//! Marking stable", then "Kernel panic - not syncing: Fatal exception in interrupt". Most
//! likely the trap the kernel plants while it patches its own text, met by the other vCPU
//! after the patching was over: multi-threaded TCG's cross-modifying code, not something the
//! suite tests. Such a boot tested nothing, so `vm` boots again, a bounded number of times,
//! and keeps the failed boot's console beside the new one; the report names every such boot.
//! Only a panic that an oops (or BUG, fault) led to is retried: a panic of its own ("VFS:
//! Unable to mount root fs") comes back at every boot. A kernel that panics at every boot
//! still ends as a panic (exit status 5), and a panic once the suite has begun is never
//! retried.

use super::{channel, console};
use std::path::{Path, PathBuf};

/// How many more boots a boot-time panic under TCG gets.
pub const RETRIES: usize = 2;

/// A boot that panicked before the suite started: its console, kept aside, and the first
/// trouble line.
#[derive(Debug, Clone, PartialEq)]
pub struct BootPanic {
    pub console: PathBuf,
    pub first: String,
}

/// The first report (an oops, BUG, fault) when the boot in `dir` panicked because of it
/// before the guest began its report and before any case started. A panic that no such
/// report precedes ("VFS: Unable to mount root fs", "No working init found") comes back
/// at every boot and is not retried.
pub fn before_suite(dir: &Path) -> Option<String> {
    let read = |n: &str| {
        String::from_utf8_lossy(&std::fs::read(dir.join(n)).unwrap_or_default()).into_owned()
    };
    let scan = console::scan(&read("console.log"));
    let panic = scan.panic.as_ref()?;
    if channel::parse(&read("channel.txt")).begun || !scan.starts.is_empty() {
        return None;
    }
    let first = scan.troubles.first()?;
    (first.line < panic.line).then(|| first.text.clone())
}

/// Moves the console and channel of boot `n` (counted from 1) aside, so the next boot in
/// `dir` starts from nothing; returns the console's new path.
pub fn keep_aside(dir: &Path, n: usize, first: String) -> BootPanic {
    let console = dir.join(format!("console.boot{n}.log"));
    let _ = std::fs::rename(dir.join("console.log"), &console);
    let _ = std::fs::rename(
        dir.join("channel.txt"),
        dir.join(format!("channel.boot{n}.txt")),
    );
    BootPanic { console, first }
}

/// Removes what an earlier run's retried boots left in `dir`.
pub fn clear(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("console.boot") || name.starts_with("channel.boot") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot_dir(console: &str, channel: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("console.log"), console).unwrap();
        std::fs::write(d.path().join("channel.txt"), channel).unwrap();
        d
    }

    const BOOT_OOPS: &str = "\
[    1.932575] sched_clock: Marking stable (1896061452, 32940820)->(1982315643, -53313371)
[    1.935253] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI
[    1.935727] RIP: 0010:sched_clock_cpu+0x9/0x190
[    1.937743] Kernel panic - not syncing: Fatal exception in interrupt
";

    #[test]
    fn a_panic_while_booting_is_seen_and_kept_aside() {
        let d = boot_dir(BOOT_OOPS, "");
        let first = before_suite(d.path()).expect("a boot-time panic");
        assert!(first.starts_with("Oops: int3"), "{first}");
        let p = keep_aside(d.path(), 1, first);
        assert_eq!(p.console, d.path().join("console.boot1.log"));
        assert!(p.console.exists() && d.path().join("channel.boot1.txt").exists());
        assert!(!d.path().join("console.log").exists());
        assert_eq!(before_suite(d.path()), None, "nothing left to read");
        clear(d.path());
        assert!(!p.console.exists(), "a new run starts without it");
    }

    #[test]
    fn a_panic_once_the_suite_has_begun_is_the_runs_own() {
        let panic = include_str!("fixtures/console-panic.txt");
        assert_eq!(before_suite(boot_dir(panic, "").path()), None);
        let begun = format!("{}\n", channel::Tag::Begin.text());
        assert_eq!(before_suite(boot_dir(BOOT_OOPS, &begun).path()), None);
    }

    #[test]
    fn a_panic_without_an_oops_before_it_is_not_retried() {
        let no_root = "[    3.53] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n";
        assert_eq!(before_suite(boot_dir(no_root, "").path()), None);
    }

    #[test]
    fn a_clean_boot_is_not_a_panic() {
        let clean = include_str!("fixtures/console-clean.txt");
        assert_eq!(before_suite(boot_dir(clean, "").path()), None);
    }
}
