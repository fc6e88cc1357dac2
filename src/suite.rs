//! The suite's layout: its areas (one ATF test program each, run once per waiter), their
//! Kyuafiles and Atffiles, and the tree `ptrace-atf install` lays out.

/// One area of the suite: `tests/<dir>/main.rs` built as `program`.
pub struct Area {
    pub dir: &'static str,
    pub program: &'static str,
    pub kyuafile: &'static str,
    pub atffile: &'static str,
}

macro_rules! area {
    ($dir:literal, $prog:literal) => {
        Area {
            dir: $dir,
            program: $prog,
            kyuafile: include_str!(concat!("../tests/", $dir, "/Kyuafile")),
            atffile: include_str!(concat!("../tests/", $dir, "/Atffile")),
        }
    };
}

/// Every area, in the order the top-level Kyuafile includes them.
pub const AREAS: &[Area] = &[
    area!("fork", "t_fork"),
    area!("lwp", "t_lwp"),
    area!("syscall", "t_syscall"),
    area!("signals", "t_signals"),
    area!("dbregs_x86", "t_dbregs_x86"),
    area!("zombie", "t_zombie"),
    area!("bytetransfer", "t_bytetransfer"),
    area!("registers", "t_registers"),
];

/// The waiter suffixes a program is installed under (`t_fork_wait4`, ...).
pub const WAITERS: &[&str] = &["wait", "wait3", "wait4", "waitid", "waitpid", "pidfd"];

/// The configuration variables the suite's code reads (`-v NAME=VALUE`), with what each
/// sets; `tests/config_vars.rs` keeps the list equal to the names the code reads (through
/// `config(`, `config_u64(`, `config_or(`, and kyua's two engine variables). Any other
/// name is passed on as atf and kyua do, with a warning (a typo would be ignored silently).
pub const CONFIG_VARS: &[(&str, &str)] = &[
    (
        "architecture",
        "kyua's: the machine `require.arch` is matched against",
    ),
    (
        "dbregs_lie",
        "dbregs_x86: make the debug-register calls misbehave, to test the suite",
    ),
    ("duration", "zombie: seconds each race case runs"),
    ("iterations", "rounds of a stress or property case"),
    (
        "platform",
        "kyua's: the machine `require.machine` is matched against",
    ),
    ("seed", "fork: the clone3 property case's random seed"),
    (
        "syscalls",
        "lwp: system calls per thread in the accounting cases",
    ),
    ("threads", "lwp: threads in the accounting cases"),
    (
        "time_scale",
        "multiply one body's deadlines (PTRACE_ATF_TIME_SCALE for one case)",
    ),
    (
        "unprivileged-user",
        "the user of unprivileged cases (kyua's spelling)",
    ),
    ("unprivileged_user", "the user of unprivileged cases"),
    (
        "waiter",
        "the wait(2) family call a program uses, instead of its name's suffix",
    ),
];

/// The suite's name in Kyuafiles and Atffiles.
pub const SUITE: &str = "ptrace-atf";

/// The program names an area's Kyuafile lists (`atf_test_program{name="..."}`).
pub fn kyuafile_programs(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .filter_map(|l| {
            let rest = &l[l.find("atf_test_program{")?..];
            let start = rest.find("name=\"")? + 6;
            let len = rest[start..].find('"')?;
            Some(rest[start..start + len].to_string())
        })
        .collect()
}

/// The `tp:` entries of an Atffile.
pub fn atffile_programs(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("tp: "))
        .map(|s| s.trim().to_string())
        .collect()
}

/// The binary an installed program name runs: `t_fork_wait4` -> `t_fork`.
pub fn base_program(name: &str) -> &str {
    WAITERS
        .iter()
        .find_map(|w| {
            name.strip_suffix(w)
                .and_then(|b| b.strip_suffix('_'))
                .filter(|b| AREAS.iter().any(|a| a.program == *b))
        })
        .unwrap_or(name)
}

/// The top-level Kyuafile of an installed tree.
pub fn top_kyuafile() -> String {
    let mut s = format!("syntax(2)\n\ntest_suite(\"{SUITE}\")\n\n");
    for a in AREAS {
        s.push_str(&format!("include(\"{}/Kyuafile\")\n", a.dir));
    }
    s
}

/// The top-level Atffile of an installed tree.
pub fn top_atffile() -> String {
    let mut s = format!(
        "Content-Type: application/X-atf-atffile; version=\"1\"\n\nprop: test-suite = {SUITE}\n\n"
    );
    for a in AREAS {
        s.push_str(&format!("tp: {}\n", a.dir));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kyuafiles_and_atffiles_name_the_same_programs() {
        for a in AREAS {
            let k = kyuafile_programs(a.kyuafile);
            let expected: Vec<String> = WAITERS
                .iter()
                .map(|w| format!("{}_{w}", a.program))
                .collect();
            assert_eq!(k, expected, "tests/{}/Kyuafile", a.dir);
            assert_eq!(atffile_programs(a.atffile), k, "tests/{}/Atffile", a.dir);
            assert!(k.iter().all(|p| base_program(p) == a.program));
        }
    }

    #[test]
    fn top_level_files_include_every_area() {
        let root = env!("CARGO_MANIFEST_DIR");
        let k = std::fs::read_to_string(format!("{root}/Kyuafile")).unwrap();
        let a = std::fs::read_to_string(format!("{root}/Atffile")).unwrap();
        for area in AREAS {
            assert!(k.contains(&format!("include(\"tests/{}/Kyuafile\")", area.dir)));
            assert!(a.contains(&format!("tp: tests/{}\n", area.dir)));
        }
        assert_eq!(k.matches("include(").count(), AREAS.len());
        assert_eq!(atffile_programs(&a).len(), AREAS.len());
        assert!(top_kyuafile().starts_with("syntax(2)\n"));
    }
}
