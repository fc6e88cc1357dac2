//! docs/netbsd-map.md, the map of every NetBSD ptrace(2) test case to this suite, is generated
//! from the programs' own metadata (`X-netbsd`), the list of NetBSD cases
//! (docs/netbsd/cases.tsv) and the reasons kept beside it (docs/netbsd/reasons.tsv). This test
//! regenerates it and fails when the file differs, or when the three sources disagree: an
//! `X-netbsd` value not of the form `file:case` or not in the list, a NetBSD case claimed by
//! two cases here, a case neither ported nor given a reason, a reason that matches nothing.
//! `PTRACE_ATF_BLESS=1 cargo test --test netbsd_map` rewrites the file.

use ptrace_atf::netbsd::{self, NetbsdCase};
use ptrace_atf::suite::AREAS;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const MAP: &str = "docs/netbsd-map.md";
const REASONS: &str = "docs/netbsd/reasons.tsv";
const BLESS: &str = "PTRACE_ATF_BLESS";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_ptrace-atf"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A case of this suite that keeps a NetBSD name.
#[derive(Clone, Debug)]
struct Here {
    program: String,
    case: String,
    /// `X-bug` or `X-deviation`, when it expects a failure.
    xfail: Option<&'static str>,
}

/// Every `X-netbsd` value of every program, with the case carrying it.
fn ported() -> Vec<(String, Here)> {
    let mut out = Vec::new();
    for a in AREAS {
        let prog = bin_dir().join(a.program);
        let o = Command::new(&prog).arg("-l").output().unwrap();
        assert!(o.status.success(), "{} -l failed", prog.display());
        for block in String::from_utf8_lossy(&o.stdout).split("\n\n").skip(1) {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
                    .map(str::to_string)
            };
            let (Some(ident), Some(value)) = (field("ident"), field("X-netbsd")) else {
                continue;
            };
            let xfail = ["X-bug", "X-deviation"]
                .into_iter()
                .find(|k| field(k).is_some());
            out.push((
                value,
                Here {
                    program: a.program.to_string(),
                    case: ident,
                    xfail,
                },
            ));
        }
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    NotPorted,
    Otherwise,
    Note,
}

struct Rule {
    kind: Kind,
    file: String,
    pattern: String,
    text: String,
    line: usize,
}

fn rules(text: &str) -> Vec<Rule> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.is_empty())
        .skip(1)
        .map(|(i, l)| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 3, "{REASONS}:{}: three fields", i + 1);
            let kind = match f[0] {
                "not-ported" => Kind::NotPorted,
                "otherwise" => Kind::Otherwise,
                "note" => Kind::Note,
                k => panic!("{REASONS}:{}: unknown status {k}", i + 1),
            };
            let (file, pattern) = f[1]
                .split_once(':')
                .unwrap_or_else(|| panic!("{REASONS}:{}: pattern is file:glob", i + 1));
            Rule {
                kind,
                file: file.to_string(),
                pattern: pattern.to_string(),
                text: f[2].to_string(),
                line: i + 1,
            }
        })
        .collect()
}

/// Whether `name` matches the glob `pat` (`*`, `?`, `[a-z]`), whole.
fn glob(pat: &[u8], name: &[u8]) -> bool {
    match pat.first() {
        None => name.is_empty(),
        Some(b'*') => (0..=name.len()).any(|i| glob(&pat[1..], &name[i..])),
        Some(b'?') => !name.is_empty() && glob(&pat[1..], &name[1..]),
        Some(b'[') => {
            let end = pat.iter().position(|&c| c == b']').expect("a closed [");
            let set = &pat[1..end];
            let Some(&c) = name.first() else {
                return false;
            };
            let hit = if set.len() == 3 && set[1] == b'-' {
                set[0] <= c && c <= set[2]
            } else {
                set.contains(&c)
            };
            hit && glob(&pat[end + 1..], &name[1..])
        }
        Some(&p) => name.first() == Some(&p) && glob(&pat[1..], &name[1..]),
    }
}

/// One NetBSD case's row.
struct Row {
    nb: NetbsdCase,
    status: &'static str,
    here: Option<Here>,
    why: String,
}

/// Builds the rows; every disagreement between the sources is a line of the error.
fn rows() -> Result<Vec<Row>, Vec<String>> {
    let mut errs = Vec::new();
    let list = netbsd::cases();
    let reasons = std::fs::read_to_string(root().join(REASONS)).unwrap();
    let rules = rules(&reasons);
    let mut by_id: BTreeMap<String, Here> = BTreeMap::new();
    for (value, here) in ported() {
        let well_formed = value.split_once(':').is_some_and(|(f, c)| {
            (f.ends_with(".h") || f.ends_with(".c")) && !c.is_empty() && !c.contains(':')
        });
        if !well_formed {
            errs.push(format!(
                "{}:{}: X-netbsd '{value}' is not file:case (t_ptrace_fork_wait.h:fork1)",
                here.program, here.case
            ));
            continue;
        }
        if !list.iter().any(|c| c.id() == value) {
            errs.push(format!(
                "{}:{}: X-netbsd '{value}' is no NetBSD case of docs/netbsd/cases.tsv",
                here.program, here.case
            ));
            continue;
        }
        if let Some(other) = by_id.insert(value.clone(), here.clone()) {
            errs.push(format!(
                "{value}: claimed by {}:{} and {}:{}",
                other.program, other.case, here.program, here.case
            ));
        }
    }
    let mut used = vec![false; rules.len()];
    let mut out = Vec::new();
    for nb in list {
        let matching = |kinds: &[Kind]| -> Vec<usize> {
            rules
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    kinds.contains(&r.kind)
                        && r.file == nb.file
                        && glob(r.pattern.as_bytes(), nb.case.as_bytes())
                })
                .map(|(i, _)| i)
                .collect()
        };
        let status_rules = matching(&[Kind::NotPorted, Kind::Otherwise]);
        let notes = matching(&[Kind::Note]);
        for set in [&status_rules, &notes] {
            if set.len() > 1 {
                errs.push(format!(
                    "{}: matched by several rules of {REASONS} (lines {:?})",
                    nb.id(),
                    set.iter().map(|&i| rules[i].line).collect::<Vec<_>>()
                ));
            }
            for &i in set.iter() {
                used[i] = true;
            }
        }
        let here = by_id.get(&nb.id()).cloned();
        let rule = status_rules.first().map(|&i| &rules[i]);
        let (status, mut why) = match (&here, rule) {
            (Some(_), None) => ("same assertion", String::new()),
            (Some(_), Some(r)) if r.kind == Kind::Otherwise => {
                ("Linux asserts otherwise", r.text.clone())
            }
            (None, Some(r)) if r.kind == Kind::NotPorted => ("not ported", r.text.clone()),
            (Some(h), Some(r)) => {
                errs.push(format!(
                    "{}: {REASONS} line {} says not ported, but {}:{} carries it",
                    nb.id(),
                    r.line,
                    h.program,
                    h.case
                ));
                continue;
            }
            (None, r) => {
                errs.push(format!(
                    "{}: no case here carries it (X-netbsd) and {REASONS} gives no reason{}",
                    nb.id(),
                    r.map_or(String::new(), |r| format!(
                        " (line {} says 'otherwise', which needs a case)",
                        r.line
                    ))
                ));
                continue;
            }
        };
        if let Some(&i) = notes.first() {
            if !why.is_empty() {
                why.push_str(". ");
            }
            why.push_str(&rules[i].text);
        }
        if let Some(k) = here.as_ref().and_then(|h| h.xfail) {
            if !why.is_empty() {
                why.push_str(". ");
            }
            let _ = write!(why, "Expected to fail here ({k})");
        }
        out.push(Row {
            nb,
            status,
            here,
            why,
        });
    }
    for (i, r) in rules.iter().enumerate() {
        if !used[i] {
            errs.push(format!(
                "{REASONS} line {}: '{}:{}' matches no NetBSD case",
                r.line, r.file, r.pattern
            ));
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

const STATUSES: [&str; 3] = ["same assertion", "Linux asserts otherwise", "not ported"];

fn render(rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str(
        "# NetBSD's ptrace(2) tests in this suite\n\n\
         <!-- Generated by `cargo test --test netbsd_map`; do not edit. Regenerate with \
         `PTRACE_ATF_BLESS=1 cargo test --test netbsd_map`. -->\n\n\
         Every test case of NetBSD's ptrace(2) suite (tests/lib/libc/sys/t_ptrace_wait*.h, \
         t_ptrace.c, t_ptrace_kill.c, t_ptrace_sigchld.c and tests/kernel/t_zombie.c, listed in \
         [docs/netbsd/cases.tsv](netbsd/cases.tsv) with NetBSD's Linux class P/O/N), and what \
         this suite does with it. A case here that keeps a NetBSD name says so in its metadata, \
         `X-netbsd: <file>:<case>` (`t_ptrace_fork_wait.h:fork1`); it runs under every waiter \
         program (`t_fork` stands for `t_fork_wait`, `_wait3`, `_wait4`, `_waitid`, `_waitpid`, \
         `_pidfd`). The reasons are kept in [docs/netbsd/reasons.tsv](netbsd/reasons.tsv).\n\n\
         - **same assertion**: the case asserts the behaviour NetBSD's asserts, in Linux's \
         spelling: a thread-directed signal's si_code SI_TKILL for SI_LWP, TRAP_HWBKPT for \
         TRAP_DBREG, PTRACE_EVENT_* and PTRACE_GETEVENTMSG for PT_GET_PROCESS_STATE, SIGSTOP as \
         an auto-attached child's first stop and as PTRACE_ATTACH's stop (si_code SI_KERNEL), \
         ESRCH from a request on a dead tracee, /proc for sysctl, PTRACE_PEEKUSER/POKEUSER for \
         PT_GETDBREGS/SETDBREGS, process_vm_readv, /proc/PID/mem and PEEK/POKE for PT_IO \
         (src/trace/expect/linux.rs holds these values). Many check more than NetBSD's.\n\
         - **Linux asserts otherwise**: the case keeps the name, but Linux behaves otherwise on \
         purpose and the case asserts Linux's behaviour; the reason says what differs.\n\
         - **not ported**: no case keeps the name; the reason says why (a NetBSD-only \
         interface, a scenario that deadlocks on Linux...).\n\n",
    );
    let mut files: Vec<&'static str> = Vec::new();
    for r in rows {
        if !files.contains(&r.nb.file) {
            files.push(r.nb.file);
        }
    }
    s.push_str("| NetBSD file | cases |");
    for st in STATUSES {
        let _ = write!(s, " {st} |");
    }
    s.push_str("\n|---|---|---|---|---|\n");
    let count = |f: Option<&str>, st: &str| {
        rows.iter()
            .filter(|r| f.is_none_or(|f| r.nb.file == f) && r.status == st)
            .count()
    };
    for f in &files {
        let n = rows.iter().filter(|r| r.nb.file == *f).count();
        let _ = write!(s, "| [{f}](#{}) | {n} |", anchor(f));
        for st in STATUSES {
            let _ = write!(s, " {} |", count(Some(f), st));
        }
        s.push('\n');
    }
    let _ = write!(s, "| total | {} |", rows.len());
    for st in STATUSES {
        let _ = write!(s, " {} |", count(None, st));
    }
    s.push('\n');
    for f in &files {
        let _ = write!(
            s,
            "\n## {f}\n\n| NetBSD case | class | status | here | why |\n|---|---|---|---|---|\n"
        );
        for r in rows.iter().filter(|r| r.nb.file == *f) {
            let here = r
                .here
                .as_ref()
                .map_or(String::new(), |h| format!("`{}:{}`", h.program, h.case));
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {here} | {} |",
                r.nb.case,
                r.nb.class,
                r.status,
                r.why.replace('|', "\\|")
            );
        }
    }
    s
}

/// GitHub's anchor of a heading: lower case, dots dropped.
fn anchor(heading: &str) -> String {
    heading.to_lowercase().replace('.', "")
}

#[test]
fn netbsd_map_is_generated_and_complete() {
    let rows = match rows() {
        Ok(r) => r,
        Err(errs) => panic!("the NetBSD map's sources disagree:\n{}", errs.join("\n")),
    };
    // Every NetBSD case of the list appears exactly once, with one status.
    let mut seen = std::collections::BTreeSet::new();
    for r in &rows {
        assert!(seen.insert(r.nb.id()), "{} twice", r.nb.id());
        assert!(STATUSES.contains(&r.status));
    }
    assert_eq!(seen.len(), netbsd::cases().len());
    let text = render(&rows);
    let path = root().join(MAP);
    if std::env::var_os(BLESS).is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == text,
        "{MAP} is not what the metadata, docs/netbsd/cases.tsv and {REASONS} give: \
         regenerate it with `{BLESS}=1 cargo test --test netbsd_map` and commit it"
    );
}

#[test]
fn globs() {
    assert!(glob(b"*fork9", b"unrelated_tracer_vfork9"));
    assert!(glob(b"posix_spawn[1-8]", b"posix_spawn8"));
    assert!(!glob(b"posix_spawn[1-8]", b"posix_spawn10"));
    assert!(glob(
        b"traceme_lwpinfo?_lwpstatus",
        b"traceme_lwpinfo3_lwpstatus"
    ));
    assert!(!glob(b"fork1", b"fork10"));
}
