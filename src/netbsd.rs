//! The NetBSD ptrace(2) test cases this suite follows (`docs/netbsd/cases.tsv`, embedded):
//! the one form of an `X-netbsd` value, `<file>:<case>` (`t_ptrace_fork_wait.h:fork1`), and
//! the lookup that gives a case's file from its name.

/// The list of NetBSD cases: file, case, guard, family, class; `#` lines are comments, the
/// first other line is the header.
pub const CASES_TSV: &str = include_str!("../docs/netbsd/cases.tsv");

/// One NetBSD case of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetbsdCase {
    /// The file that registers it (`t_ptrace_fork_wait.h`, `t_zombie.c`).
    pub file: &'static str,
    /// Its name.
    pub case: &'static str,
    /// Its registration guard (`ALL`, `HAVE_PID`...).
    pub guard: &'static str,
    /// Its family (the scenario body).
    pub family: &'static str,
    /// Its Linux class: `P`, `O` or `N`.
    pub class: &'static str,
}

impl NetbsdCase {
    /// The `X-netbsd` value naming it: `file:case`.
    pub fn id(&self) -> String {
        format!("{}:{}", self.file, self.case)
    }
}

/// Every case of the list, in its order.
pub fn cases() -> Vec<NetbsdCase> {
    all().to_vec()
}

/// The list, parsed once per process (a program looks up every one of its cases while it
/// builds its table: parsing the file each time cost 15 ms of every program start).
fn all() -> &'static [NetbsdCase] {
    static ALL: std::sync::OnceLock<Vec<NetbsdCase>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        CASES_TSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&'static str> = l.split('\t').collect();
                (f.len() == 5).then(|| NetbsdCase {
                    file: f[0],
                    case: f[1],
                    guard: f[2],
                    family: f[3],
                    class: f[4],
                })
            })
            .collect()
    })
}

/// The `X-netbsd` value (`file:case`) for NetBSD case `name`: `name` itself when it is
/// already `file:case` and listed, else the one listed case of that name. Panics (when the
/// program builds its case table) for a name the list does not hold or holds in two files.
#[track_caller]
pub fn id(name: &str) -> String {
    let all = all();
    if let Some((file, case)) = name.split_once(':') {
        if all.iter().any(|c| c.file == file && c.case == case) {
            return name.to_string();
        }
        panic!("X-netbsd {name}: no such case in docs/netbsd/cases.tsv");
    }
    let found: Vec<&NetbsdCase> = all.iter().filter(|c| c.case == name).collect();
    match found.as_slice() {
        [one] => one.id(),
        [] => panic!("X-netbsd {name}: no such case in docs/netbsd/cases.tsv"),
        many => panic!(
            "X-netbsd {name}: the name is in {} files; name the file ({})",
            many.len(),
            many.iter().map(|c| c.id()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// `TestCase::netbsd_same_name()`: `X-netbsd` for a case that keeps its NetBSD name, taken
/// from the case's own name, so the name is written once (where the case is registered).
pub trait SameName {
    /// `self.netbsd(&id(self.name()))`.
    fn netbsd_same_name(self) -> Self;
}

impl SameName for crate::atf::TestCase {
    #[track_caller]
    fn netbsd_same_name(self) -> Self {
        let id = id(self.name());
        self.netbsd(&id)
    }
}

/// `id` of `name` in `file` (for a name several files register).
#[track_caller]
pub fn id_in(file: &str, name: &str) -> String {
    id(&format!("{file}:{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(id("fork1"), "t_ptrace_fork_wait.h:fork1");
        assert_eq!(
            id("t_ptrace_sigchld.c:traceme_raise1"),
            "t_ptrace_sigchld.c:traceme_raise1"
        );
        assert_eq!(
            id_in("t_ptrace_signal_wait.h", "traceme_raise1"),
            "t_ptrace_signal_wait.h:traceme_raise1"
        );
        assert!(std::panic::catch_unwind(|| id("traceme_raise1")).is_err());
        assert!(std::panic::catch_unwind(|| id("no_such_case")).is_err());
        assert_eq!(cases().len(), 598);
    }
}
