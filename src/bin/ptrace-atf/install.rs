//! `ptrace-atf install DIR`: a tree kyua runs as is, laid out as NetBSD installs its tests
//! (a Kyuafile and an Atffile at the top and in each area, the programs beside them).

use ptrace_atf::suite::{self, AREAS};
use std::fs;
use std::path::{Path, PathBuf};

/// Where the built test programs are: `--bin-dir`, or the directory of this executable.
pub fn bin_dir(given: Option<&Path>) -> Result<PathBuf, String> {
    match given {
        Some(d) => Ok(d.to_path_buf()),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find this executable: {e}"))
            .map(|p| p.parent().unwrap_or(Path::new("/")).to_path_buf()),
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The file that marks a directory as a tree `install` laid out: only such a directory (or a
/// new or empty one) is written into, and only the files `install` creates are replaced.
pub const MARKER: &str = ".ptrace-atf-tree";

/// Whether every entry of `dir` is one `install` creates (an area directory holding only its
/// Kyuafile, Atffile and programs, the top Kyuafile and Atffile), and the top Kyuafile is the
/// one `install` writes: a tree laid out before trees carried the marker.
fn unmarked_tree(dir: &Path) -> bool {
    let top_ok = fs::read_to_string(dir.join("Kyuafile")).is_ok_and(|k| k == suite::top_kyuafile());
    let names = |d: &Path| -> Option<Vec<String>> {
        fs::read_dir(d)
            .ok()?
            .map(|e| e.ok()?.file_name().into_string().ok())
            .collect()
    };
    let Some(top) = names(dir) else { return false };
    top_ok
        && top.iter().all(|n| {
            n == "Kyuafile"
                || n == "Atffile"
                || AREAS.iter().any(|a| {
                    a.dir == n
                        && names(&dir.join(n)).is_some_and(|inner| {
                            let progs = suite::kyuafile_programs(a.kyuafile);
                            inner.iter().all(|f| {
                                f == "Kyuafile"
                                    || f == "Atffile"
                                    || f == a.program
                                    || progs.contains(f)
                            })
                        })
                })
        })
}

/// Checks that `dest` may be installed into: it does not exist, is empty, or is a tree
/// `install` laid out. `Err` says why not (a usage error: nothing was touched).
pub fn check_dest(dest: &Path) -> Result<(), String> {
    let meta = match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot use {}: {e}", dest.display())),
        Ok(m) => m,
    };
    if !meta.is_dir() {
        return Err(format!("{} exists and is not a directory", dest.display()));
    }
    if dest.join(MARKER).is_file() {
        return Ok(());
    }
    let empty = fs::read_dir(dest)
        .map_err(|e| format!("cannot read {}: {e}", dest.display()))?
        .next()
        .is_none();
    if empty || unmarked_tree(dest) {
        return Ok(());
    }
    Err(format!(
        "{} is not empty and is not a ptrace-atf tree (no {MARKER} file): refusing to write \
         into it; give a new or empty directory",
        dest.display()
    ))
}

/// Installs the suite into `dest` from the programs in `bins`: `dest` must pass `check_dest`;
/// the files `install` creates are replaced, nothing else in `dest` is touched.
pub fn install(bins: &Path, dest: &Path) -> Result<usize, String> {
    for a in AREAS {
        let src = bins.join(a.program);
        if !src.is_file() {
            return Err(format!(
                "test program {} not found in {} (build it with `cargo build --release --bins`, or pass --bin-dir)",
                a.program,
                bins.display()
            ));
        }
    }
    fs::create_dir_all(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    write(
        &dest.join(MARKER),
        "A test tree laid out by `ptrace-atf install`: `ptrace-atf install` and `ptrace-atf test\n\
         --tree` replace the files they create here (Kyuafiles, Atffiles, test programs) and\n\
         touch nothing else.\n",
    )?;
    write(&dest.join("Kyuafile"), &suite::top_kyuafile())?;
    write(&dest.join("Atffile"), &suite::top_atffile())?;
    let mut count = 0;
    for a in AREAS {
        let dir = dest.join(a.dir);
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        write(&dir.join("Kyuafile"), a.kyuafile)?;
        write(&dir.join("Atffile"), a.atffile)?;
        let base = dir.join(a.program);
        let _ = fs::remove_file(&base);
        fs::copy(bins.join(a.program), &base)
            .map_err(|e| format!("cannot copy {} to {}: {e}", a.program, base.display()))?;
        for name in suite::kyuafile_programs(a.kyuafile) {
            let link = dir.join(&name);
            let _ = fs::remove_file(&link);
            if fs::hard_link(&base, &link).is_err() {
                fs::copy(&base, &link)
                    .map_err(|e| format!("cannot install {}: {e}", link.display()))?;
            }
            count += 1;
        }
    }
    Ok(count)
}

/// The installed programs as kyua names them (`fork/t_fork_wait4`), in Kyuafile order.
pub fn installed_programs() -> Vec<String> {
    AREAS
        .iter()
        .flat_map(|a| {
            suite::kyuafile_programs(a.kyuafile)
                .into_iter()
                .map(move |p| format!("{}/{p}", a.dir))
        })
        .collect()
}
