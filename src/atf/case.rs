//! A test case: a name, typed metadata, a body closure and an optional cleanup; and `Tc`,
//! what a body sees of its run (config variables, srcdir, expectations).

use super::metadata::{Metadata, User};
use super::state;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A body or cleanup routine.
pub type Routine = Box<dyn Fn(&Tc)>;

/// One test case, built with chained setters; bad metadata is recorded and reported by
/// `Program::validate`, never printed to kyua.
pub struct TestCase {
    pub(crate) name: String,
    pub(crate) meta: Metadata,
    pub(crate) body: Option<Routine>,
    pub(crate) cleanup: Option<Routine>,
}

impl TestCase {
    /// A case named `name` (letters, digits and `_` only, so kyua filters can name it).
    pub fn new(name: impl Into<String>) -> TestCase {
        TestCase {
            name: name.into(),
            meta: Metadata::default(),
            body: None,
            cleanup: None,
        }
    }

    /// The case's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The case's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// `descr`.
    pub fn descr(mut self, text: &str) -> Self {
        self.meta.descr(text);
        self
    }

    /// `timeout` in seconds.
    pub fn timeout(mut self, secs: u32) -> Self {
        self.meta.timeout(secs);
        self
    }

    /// `require.user`.
    pub fn require_user(mut self, user: User) -> Self {
        self.meta.require_user(user);
        self
    }

    /// `require.arch`.
    pub fn require_arch(mut self, archs: &[&str]) -> Self {
        self.meta.require_arch(archs);
        self
    }

    /// `require.machine`.
    pub fn require_machine(mut self, machines: &[&str]) -> Self {
        self.meta.require_machine(machines);
        self
    }

    /// `require.config`.
    pub fn require_config(mut self, vars: &[&str]) -> Self {
        self.meta.require_config(vars);
        self
    }

    /// `require.files`.
    pub fn require_files(mut self, files: &[&str]) -> Self {
        self.meta.require_files(files);
        self
    }

    /// `require.progs`.
    pub fn require_progs(mut self, progs: &[&str]) -> Self {
        self.meta.require_progs(progs);
        self
    }

    /// `require.memory`.
    pub fn require_memory(mut self, amount: &str) -> Self {
        self.meta.require_memory(amount);
        self
    }

    /// `X-<name>: value`.
    pub fn custom(mut self, name: &str, value: &str) -> Self {
        self.meta.custom(name, value);
        self
    }

    /// `X-netbsd`: the NetBSD test case this one keeps the name of, as `file:case`
    /// (`t_ptrace_fork_wait.h:fork1`; `ptrace_atf::netbsd::id` gives it from the name).
    pub fn netbsd(self, name: &str) -> Self {
        self.custom("netbsd", name)
    }

    /// `X-bug`: the bug an expected failure is tied to (fixed in a later kernel, or to be
    /// fixed).
    pub fn bug(self, reference: &str) -> Self {
        self.custom("bug", reference)
    }

    /// `X-deviation`: an expected failure that is no bug but a documented, deliberate
    /// difference of the kernel from the standard the case asserts (POSIX, NetBSD), with the
    /// reference that documents it (a kernel source line, its documentation, an LKML thread).
    pub fn deviation(self, reference: &str) -> Self {
        self.custom("deviation", reference)
    }

    /// The body.
    pub fn body(mut self, f: impl Fn(&Tc) + 'static) -> Self {
        self.body = Some(Box::new(f));
        self
    }

    /// The cleanup routine; sets `has.cleanup`.
    pub fn cleanup(mut self, f: impl Fn(&Tc) + 'static) -> Self {
        self.meta.has_cleanup();
        self.cleanup = Some(Box::new(f));
        self
    }

    /// Problems found in this case's definition.
    pub fn errors(&self) -> Vec<String> {
        let mut errs: Vec<String> = self
            .meta
            .errors()
            .iter()
            .map(|e| format!("test case '{}': {e}", self.name))
            .collect();
        let valid = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            errs.push(format!(
                "test case '{}': a name is letters, digits and '_' only",
                self.name
            ));
        }
        if self.body.is_none() {
            errs.push(format!("test case '{}': no body", self.name));
        }
        errs
    }
}

/// What a running body or cleanup sees.
pub struct Tc {
    name: String,
    config: BTreeMap<String, String>,
    srcdir: PathBuf,
    program: String,
}

impl Tc {
    pub(crate) fn new(
        name: &str,
        config: BTreeMap<String, String>,
        srcdir: PathBuf,
        program: &str,
    ) -> Tc {
        Tc {
            name: name.to_string(),
            config,
            srcdir,
            program: program.to_string(),
        }
    }

    /// The test case's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The program's name as invoked (basename of argv[0]).
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The directory holding the program (config variable `srcdir`).
    pub fn srcdir(&self) -> &Path {
        &self.srcdir
    }

    /// A config variable given with `-v name=value`.
    pub fn config(&self, name: &str) -> Option<&str> {
        self.config.get(name).map(String::as_str)
    }

    /// A config variable, or `default`.
    pub fn config_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.config(name).unwrap_or(default)
    }

    /// A numeric config variable, or `default`; a malformed value fails the case as atf-c
    /// does.
    pub fn config_u64(&self, name: &str, default: u64) -> u64 {
        match self.config(name) {
            None => default,
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                state::fail(format!(
                    "Configuration variable {name} does not have a valid long value; found {v}"
                ))
            }),
        }
    }

    /// The unprivileged user kyua was configured with, if any.
    pub fn unprivileged_user(&self) -> Option<&str> {
        self.config("unprivileged-user")
            .or_else(|| self.config("unprivileged_user"))
    }

    /// All config variables.
    pub fn config_vars(&self) -> &BTreeMap<String, String> {
        &self.config
    }

    /// Fails the case now.
    pub fn fail(&self, reason: impl Into<String>) -> ! {
        state::fail(reason.into())
    }

    /// Records a non-fatal failure and goes on.
    pub fn fail_nonfatal(&self, reason: impl Into<String>) {
        state::fail_check(reason.into())
    }

    /// Skips the case, naming the missing capability.
    pub fn skip(&self, reason: impl Into<String>) -> ! {
        state::skip(reason.into())
    }

    /// Ends the case as passed now.
    pub fn pass(&self) -> ! {
        state::pass()
    }

    /// From here on, failures are expected (`expect_fail`); `reason` names the bug.
    pub fn expect_fail(&self, reason: impl Into<String>) {
        state::expect_fail(reason.into())
    }

    /// From here on, failures are not expected.
    pub fn expect_pass(&self) {
        state::expect_pass()
    }

    /// The body is expected to exit with `code` (any code when `None`).
    pub fn expect_exit(&self, code: Option<i32>, reason: impl Into<String>) {
        state::expect_exit(code, reason.into())
    }

    /// The body is expected to die of `sig` (any signal when `None`).
    pub fn expect_signal(&self, sig: Option<i32>, reason: impl Into<String>) {
        state::expect_signal(sig, reason.into())
    }

    /// The body is expected to end abruptly in any way.
    pub fn expect_death(&self, reason: impl Into<String>) {
        state::expect_death(reason.into())
    }

    /// The body is expected to hang until kyua's timeout.
    pub fn expect_timeout(&self, reason: impl Into<String>) {
        state::expect_timeout(reason.into())
    }

    /// `atf_tc_require_prog`: skips when an absolute program is missing, fails when a bare
    /// name is not in PATH.
    pub fn require_prog(&self, prog: &str) {
        use std::os::unix::fs::PermissionsExt;
        let exec = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        };
        if prog.starts_with('/') {
            if !exec(Path::new(prog)) {
                state::skip(format!("The required program {prog} could not be found"));
            }
        } else if prog.contains('/') {
            state::fail(format!(
                "Relative paths are not allowed when searching for a program ({prog})"
            ));
        } else {
            let path = std::env::var("PATH").unwrap_or_default();
            if !path.split(':').any(|d| exec(&Path::new(d).join(prog))) {
                state::fail(format!(
                    "The required program {prog} could not be found in the PATH"
                ));
            }
        }
    }
}
