//! The members of the wait(2) family a scenario can be run under, and how one is chosen.

use std::fmt;

/// One way of waiting for a child: each is a variant a scenario can run under.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum WaiterKind {
    /// wait(2): any child, no options, no rusage.
    Wait,
    /// wait3(2): any child, with options and rusage.
    Wait3,
    /// wait4(2): a named pid, with options and rusage.
    Wait4,
    /// waitid(2) with P_PID / P_ALL.
    Waitid,
    /// waitpid(2).
    Waitpid,
    /// pidfd_open(2) then waitid(2) with P_PIDFD.
    Pidfd,
}

impl WaiterKind {
    /// Every kind, in the order variant tables list them.
    pub const fn all() -> [WaiterKind; 6] {
        [
            WaiterKind::Wait,
            WaiterKind::Wait3,
            WaiterKind::Wait4,
            WaiterKind::Waitid,
            WaiterKind::Waitpid,
            WaiterKind::Pidfd,
        ]
    }

    /// The short name used in program names and the `waiter` config variable.
    pub const fn name(self) -> &'static str {
        match self {
            WaiterKind::Wait => "wait",
            WaiterKind::Wait3 => "wait3",
            WaiterKind::Wait4 => "wait4",
            WaiterKind::Waitid => "waitid",
            WaiterKind::Waitpid => "waitpid",
            WaiterKind::Pidfd => "pidfd",
        }
    }

    /// The call that does the waiting, for failure messages.
    pub const fn call_name(self) -> &'static str {
        match self {
            WaiterKind::Pidfd => "waitid(P_PIDFD)",
            k => k.name(),
        }
    }

    /// The kind called `name` (exact, as in `name()`).
    pub fn from_name(name: &str) -> Option<WaiterKind> {
        Self::all().into_iter().find(|k| k.name() == name)
    }

    /// The kind named by a program name's last `_suffix` (`t_fork_wait4` -> Wait4).
    pub fn from_program_name(program: &str) -> Option<WaiterKind> {
        let base = program.rsplit('/').next().unwrap_or(program);
        let (_, suffix) = base.rsplit_once('_')?;
        Self::from_name(suffix)
    }

    /// Whether it waits for a named pid (wait and wait3 wait for any child).
    pub const fn names_pid(self) -> bool {
        !matches!(self, WaiterKind::Wait | WaiterKind::Wait3)
    }

    /// Whether it takes options (wait cannot pass __WALL or WNOHANG).
    pub const fn takes_options(self) -> bool {
        !matches!(self, WaiterKind::Wait)
    }

    /// Whether it returns resource usage (wait3, wait4).
    pub const fn gives_rusage(self) -> bool {
        matches!(self, WaiterKind::Wait3 | WaiterKind::Wait4)
    }

    /// Whether it reports through a siginfo (waitid, pidfd) rather than a status word.
    pub const fn gives_siginfo(self) -> bool {
        matches!(self, WaiterKind::Waitid | WaiterKind::Pidfd)
    }
}

impl fmt::Display for WaiterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The list of valid names, for error messages: `wait, wait3, ...`.
pub fn valid_names() -> String {
    WaiterKind::all().map(WaiterKind::name).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        for k in WaiterKind::all() {
            assert_eq!(WaiterKind::from_name(k.name()), Some(k));
            let prog = format!("t_fork_{}", k.name());
            assert_eq!(WaiterKind::from_program_name(&prog), Some(k));
        }
        assert_eq!(WaiterKind::from_name("WAIT"), None);
        assert_eq!(WaiterKind::from_program_name("t_fork"), None);
        assert_eq!(WaiterKind::from_program_name("t_fork_"), None);
        assert_eq!(WaiterKind::from_program_name("waitpid"), None);
        assert_eq!(
            WaiterKind::from_program_name("/usr/tests/ptrace/t_fork_waitid"),
            Some(WaiterKind::Waitid)
        );
        assert_eq!(
            WaiterKind::from_program_name("t_wait_fork_wait3"),
            Some(WaiterKind::Wait3)
        );
    }

    #[test]
    fn capabilities() {
        assert!(!WaiterKind::Wait.names_pid() && !WaiterKind::Wait3.names_pid());
        assert!(WaiterKind::Pidfd.names_pid() && WaiterKind::Waitpid.names_pid());
        assert!(!WaiterKind::Wait.takes_options() && WaiterKind::Wait3.takes_options());
        let rusage: Vec<_> = WaiterKind::all()
            .into_iter()
            .filter(|k| k.gives_rusage())
            .collect();
        assert_eq!(rusage, [WaiterKind::Wait3, WaiterKind::Wait4]);
    }
}
