//! Deterministic core-dump expectations: the case sets RLIMIT_CORE in the child and, when a
//! dump is expected, runs it in a temporary directory so no core lands in kyua's work dir.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use ptrace_atf::child_fail;

/// Whether `sig`'s default action dumps core (signal(7): "Core").
pub const fn dumps_core(sig: i32) -> bool {
    matches!(
        sig,
        libc::SIGQUIT
            | libc::SIGILL
            | libc::SIGTRAP
            | libc::SIGABRT
            | libc::SIGBUS
            | libc::SIGFPE
            | libc::SIGSEGV
            | libc::SIGXCPU
            | libc::SIGXFSZ
            | libc::SIGSYS
    )
}

/// RLIMIT_CORE of 1 byte: below the ELF minimum (one page), so no core file is written, and
/// the kernel's guard against recursive pipe dumps skips a `|helper` pattern too.
const NO_DUMP_LIMIT: libc::rlim_t = 1;

/// What a child that may die of a core signal is set up with, and what the tracer expects.
pub struct CorePlan {
    /// Whether WCOREDUMP must be set when the signal's default action is Core.
    pub expect_core: bool,
    limit: libc::rlim_t,
    dir: Option<(tempfile::TempDir, CString)>,
}

impl CorePlan {
    /// A plan that dumps when this machine's core_pattern is a plain relative file name
    /// (the dump then goes to a temporary directory); otherwise one that never dumps (a
    /// pipe helper or an absolute path is outside the case's control).
    #[track_caller]
    pub fn for_this_machine() -> CorePlan {
        let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
        let pattern = pattern.trim();
        if pattern.is_empty() || pattern.starts_with('|') || pattern.starts_with('/') {
            return CorePlan::never();
        }
        let dir = tempfile::tempdir()
            .unwrap_or_else(|e| ptrace_atf::fail!("tempdir for core dumps: {e}"));
        let path = ptrace_atf::require_ok!(
            CString::new(dir.path().as_os_str().as_bytes()),
            "no NUL in a tempdir"
        );
        CorePlan {
            expect_core: true,
            limit: libc::RLIM_INFINITY,
            dir: Some((dir, path)),
        }
    }

    /// A plan that never dumps core.
    pub fn never() -> CorePlan {
        CorePlan {
            expect_core: false,
            limit: NO_DUMP_LIMIT,
            dir: None,
        }
    }

    /// In the child: apply the limit and directory.
    pub fn apply_in_child(&self) {
        let rl = libc::rlimit {
            rlim_cur: self.limit,
            rlim_max: self.limit,
        };
        // SAFETY: setrlimit and chdir are plain syscalls on valid pointers.
        unsafe {
            if libc::setrlimit(libc::RLIMIT_CORE, &rl) != 0 {
                child_fail!("setrlimit(RLIMIT_CORE) failed");
            }
            if let Some((_, path)) = &self.dir
                && libc::chdir(path.as_ptr()) != 0
            {
                child_fail!("chdir to the core directory failed");
            }
        }
    }

    /// The files the dump left (empty when no directory is used).
    pub fn dumped_files(&self) -> Vec<String> {
        let Some((dir, _)) = &self.dir else {
            return Vec::new();
        };
        std::fs::read_dir(dir.path())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A short description for messages.
    pub fn describe(&self) -> String {
        match &self.dir {
            Some((d, _)) => format!("RLIMIT_CORE unlimited, cwd {}", d.path().display()),
            None => format!("RLIMIT_CORE {} (no dump possible)", self.limit),
        }
    }
}
