//! One way to name a case everywhere: `area/program:case`, the name kyua gives it, with the
//! waiter program (`fork/t_fork_waitpid:fork1`). `list`, `test` and `loop` take the same
//! filters:
//!
//! - `area`, `area/program` or `area/program:case`, as kyua takes them;
//! - `program` or `program:case` without the area (`t_fork_wait4:fork1`); a program named
//!   without its waiter (`t_fork`) stands for its six waiter programs;
//! - a bare case name or glob (`fork1`, `*vfork*`): that case in every program, as cargo
//!   test filters match across test binaries. In `program:case` the case may be a glob too.
//!
//! A malformed filter (empty, an absolute path, an empty program or case) is a usage error.

use ptrace_atf::atf::listing::{self, Listed};
use ptrace_atf::suite::AREAS;
use std::path::Path;
use std::process::{Command, Stdio};

/// One case of one installed (waiter) program.
#[derive(Clone)]
pub struct Case {
    pub area: &'static str,
    /// The binary it is built as (`t_fork`).
    pub base: &'static str,
    /// The installed program (`t_fork_waitpid`).
    pub program: String,
    pub listed: Listed,
}

impl Case {
    /// kyua's name: `fork/t_fork_waitpid:fork1`.
    pub fn id(&self) -> String {
        format!("{}/{}:{}", self.area, self.program, self.listed.ident)
    }

    /// kyua's program path: `fork/t_fork_waitpid`.
    pub fn program_path(&self) -> String {
        format!("{}/{}", self.area, self.program)
    }

    /// The waiter of its program (`waitpid`).
    pub fn waiter(&self) -> &str {
        self.program
            .strip_prefix(self.base)
            .and_then(|w| w.strip_prefix('_'))
            .unwrap_or("")
    }
}

/// Lists every case of every installed program, in Kyuafile order, from the built programs
/// in `bins` (each lists the same cases under every waiter). A program that is missing or
/// lists badly is an error naming it.
pub fn catalog(bins: &Path) -> Result<Vec<Case>, String> {
    let mut all = Vec::new();
    for a in AREAS {
        let exe = bins.join(a.program);
        if !exe.is_file() {
            return Err(format!(
                "test program {} not found (build it with `cargo build --release --bins`, or pass --bin-dir)",
                exe.display()
            ));
        }
        let out = Command::new(&exe)
            .arg("-l")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        let cases = listing::parse(&String::from_utf8_lossy(&out.stdout))
            .map_err(|e| format!("{}: bad listing: {e}", exe.display()))?;
        for program in ptrace_atf::suite::kyuafile_programs(a.kyuafile) {
            for c in &cases {
                all.push(Case {
                    area: a.dir,
                    base: a.program,
                    program: program.clone(),
                    listed: c.clone(),
                });
            }
        }
    }
    Ok(all)
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `area` or `area/program` (kyua's path filters).
    Path { area: String, program: String },
    /// `[area/]program:case`, the case possibly a glob.
    Case {
        area: Option<String>,
        program: String,
        case: String,
    },
    /// A word: an area, a program, or a case name or glob.
    Word(String),
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// Parses a filter; `Err` is a usage error's message.
pub fn parse(f: &str) -> Result<Filter, String> {
    let bad = |why: &str| Err(format!("malformed filter '{f}': {why}"));
    if f.is_empty() {
        return bad("it is empty");
    }
    if f.starts_with('/') {
        return bad("filters are relative to the suite (area/program:case), not absolute paths");
    }
    if f.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it holds a space or a control character");
    }
    let (path, case) = match f.split_once(':') {
        Some((p, c)) => (p, Some(c)),
        None => (f, None),
    };
    if let Some(c) = case {
        if c.is_empty() {
            return bad("the case after ':' is empty");
        }
        if c.contains([':', '/']) {
            return bad("a case name holds no ':' or '/'");
        }
        if path.is_empty() {
            return bad("the program before ':' is empty");
        }
    }
    let path = path.strip_suffix('/').unwrap_or(path);
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() > 2
        || parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return bad("expected area, area/program or area/program:case");
    }
    if (case.is_some() || parts.len() == 2) && parts.iter().any(|p| is_glob(p)) {
        return bad("only the case may be a glob (area/program:*vfork*)");
    }
    Ok(match (parts.as_slice(), case) {
        ([area, program], None) => Filter::Path {
            area: area.to_string(),
            program: program.to_string(),
        },
        ([area, program], Some(c)) => Filter::Case {
            area: Some(area.to_string()),
            program: program.to_string(),
            case: c.to_string(),
        },
        ([program], Some(c)) => Filter::Case {
            area: None,
            program: program.to_string(),
            case: c.to_string(),
        },
        _ => Filter::Word(path.to_string()),
    })
}

/// Shell-style glob match with `*` and `?`.
pub fn glob(pat: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl Filter {
    fn program_matches(program: &str, c: &Case) -> bool {
        program == c.program || program == c.base
    }

    /// Whether the filter selects `c`.
    pub fn matches(&self, c: &Case) -> bool {
        match self {
            Filter::Path { area, program } => area == c.area && Self::program_matches(program, c),
            Filter::Case {
                area,
                program,
                case,
            } => {
                area.as_deref().is_none_or(|a| a == c.area)
                    && Self::program_matches(program, c)
                    && glob(case, &c.listed.ident)
            }
            Filter::Word(w) if is_glob(w) => glob(w, &c.listed.ident),
            Filter::Word(w) => w == c.area || Self::program_matches(w, c) || *w == c.listed.ident,
        }
    }
}

/// Parses every filter (`Err`: the first malformed one's message).
pub fn parse_all(filters: &[String]) -> Result<Vec<Filter>, String> {
    filters.iter().map(|f| parse(f)).collect()
}

/// The cases the filters select (every case without filters), in catalog order; `Err`
/// names a filter that matched nothing.
pub fn select(catalog: &[Case], raw: &[String], filters: &[Filter]) -> Result<Vec<Case>, String> {
    for (r, f) in raw.iter().zip(filters) {
        if !catalog.iter().any(|c| f.matches(c)) {
            return Err(format!(
                "filter '{r}' matched no test case (see: ptrace-atf list)"
            ));
        }
    }
    Ok(catalog
        .iter()
        .filter(|c| filters.is_empty() || filters.iter().any(|f| f.matches(c)))
        .cloned()
        .collect())
}

/// The catalog and the cases `filters` (parsed from `raw`) select; `Err` carries the exit
/// status with the message: 3 when the programs cannot be listed, 1 when a filter matches
/// nothing.
pub fn selection(
    bins: &Path,
    raw: &[String],
    filters: &[Filter],
) -> Result<(Vec<Case>, Vec<Case>), (u8, String)> {
    let catalog = catalog(bins).map_err(|e| (3, e))?;
    let selected = select(&catalog, raw, filters).map_err(|e| (1, e))?;
    Ok((catalog, selected))
}

/// The user's filters checked against the suite before anything else is done (`vm` and
/// `lava job`, which run them elsewhere): 2 when one is malformed, else as `selection`.
pub fn check(bins: &Path, raw: &[String]) -> Result<(), (u8, String)> {
    let filters = parse_all(raw).map_err(|e| (2, e))?;
    selection(bins, raw, &filters).map(drop)
}

/// kyua's spelling of a listed property (`kyua list -v`): `descr` is `description`, `X-bug`
/// is `custom.bug`, `require.user` is `required_user` ...; `None` for a default kyua omits.
pub fn kyua_property(name: &str, value: &str) -> Option<(String, String)> {
    let k = match name {
        "descr" => "description",
        "has.cleanup" if value == "true" => "has_cleanup",
        "has.cleanup" => return None,
        "require.arch" => "allowed_architectures",
        "require.machine" => "allowed_platforms",
        "require.config" => "required_configs",
        "require.files" => "required_files",
        "require.memory" => "required_memory",
        "require.progs" => "required_programs",
        "require.user" => "required_user",
        "timeout" if value == "300" => return None,
        "timeout" => "timeout",
        "ident" => return None,
        other => match other.strip_prefix("X-") {
            Some(custom) => return Some((format!("custom.{custom}"), value.to_string())),
            None => other,
        },
    };
    Some((k.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(area: &'static str, base: &'static str, w: &str, ident: &str) -> Case {
        Case {
            area,
            base,
            program: format!("{base}_{w}"),
            listed: Listed {
                ident: ident.into(),
                props: vec![],
            },
        }
    }

    #[test]
    fn filters() {
        let c = case("fork", "t_fork", "waitpid", "vfork3");
        for ok in [
            "fork",
            "fork/",
            "fork/t_fork_waitpid",
            "fork/t_fork",
            "t_fork",
            "t_fork_waitpid",
            "fork/t_fork_waitpid:vfork3",
            "t_fork_waitpid:vfork3",
            "t_fork:vfork3",
            "t_fork:*vfork*",
            "vfork3",
            "*vfork*",
            "vfork?",
        ] {
            assert!(parse(ok).unwrap().matches(&c), "{ok}");
        }
        for no in [
            "lwp",
            "fork/t_fork_wait4",
            "t_fork_wait4:vfork3",
            "fork1",
            "*fork1*",
            "lwp/t_fork:vfork3",
        ] {
            assert!(!parse(no).unwrap().matches(&c), "{no}");
        }
        for bad in [
            "",
            "fork/t_fork_waitpid:",
            ":fork1",
            "/fork",
            "a/b/c",
            "fork//x",
            "fork/t_fork:a:b",
            "fo*/t_fork:x",
            "a b",
            "../fork",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(glob("*", "") && glob("a*b?", "axxbc") && !glob("a*b", "axxbc"));
    }

    #[test]
    fn kyua_spelling() {
        assert_eq!(
            kyua_property("X-netbsd", "fork1"),
            Some(("custom.netbsd".into(), "fork1".into()))
        );
        assert_eq!(kyua_property("timeout", "300"), None);
        assert_eq!(
            kyua_property("descr", "d"),
            Some(("description".into(), "d".into()))
        );
    }
}
