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

/// Installs the suite into `dest` from the programs in `bins`.
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
