//! The shared libraries a dynamically linked program needs, as ldd(1) names them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The absolute paths in ldd's output: `libc.so.6 => /lib/.../libc.so.6 (0x...)` and the
/// loader's own line `/lib64/ld-linux-x86-64.so.2 (0x...)`. A "not found" library is an
/// error naming it; a static program ("not a dynamic executable") needs nothing.
pub fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.contains("not a dynamic executable") || line.contains("statically linked") {
            continue;
        }
        let path = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(format!("library {} not found", name.trim()));
                }
                rest.split_whitespace().next().unwrap_or("")
            }
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if path.starts_with('/') {
            out.push(PathBuf::from(path));
        }
    }
    Ok(out)
}

/// The libraries every one of `programs` needs, each once, in path order.
pub fn needed(programs: &[&Path]) -> Result<Vec<PathBuf>, String> {
    let mut all = BTreeSet::new();
    for p in programs {
        let out = Command::new("ldd")
            .arg(p)
            .output()
            .map_err(|e| format!("cannot run ldd (part of libc-bin): {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        let libs = parse_ldd(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        let is_static = text.contains("not a dynamic") || err.contains("not a dynamic");
        if !out.status.success() && libs.is_empty() && !is_static {
            return Err(format!(
                "ldd {} failed: {}",
                p.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        all.extend(libs);
    }
    Ok(all.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KYUA_LDD: &str = "\tlinux-vdso.so.1 (0x00007f78401a0000)
\tliblutok.so.3 => /lib/x86_64-linux-gnu/liblutok.so.3 (0x00007f7840076000)
\tlibsqlite3.so.0 => /lib/x86_64-linux-gnu/libsqlite3.so.0 (0x00007f783ff17000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f783fa1e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f78401a2000)
";

    #[test]
    fn ldd_output_gives_the_paths_and_the_loader() {
        let libs = parse_ldd(KYUA_LDD).unwrap();
        let want = [
            "/lib/x86_64-linux-gnu/liblutok.so.3",
            "/lib/x86_64-linux-gnu/libsqlite3.so.0",
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/ld-linux-x86-64.so.2",
        ];
        assert_eq!(libs, want.iter().map(PathBuf::from).collect::<Vec<_>>());
    }

    #[test]
    fn a_missing_library_is_an_error() {
        let err = parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(err.contains("libfoo.so.1"), "{err}");
    }

    #[test]
    fn static_programs_need_nothing() {
        assert!(
            parse_ldd("\tnot a dynamic executable\n")
                .unwrap()
                .is_empty()
        );
        assert!(parse_ldd("\tstatically linked\n").unwrap().is_empty());
    }
}
