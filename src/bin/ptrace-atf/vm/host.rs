//! What the guest is made of, gathered from the host: the built programs, busybox, the
//! shared libraries they link, kyua and its data when installed here.

use super::{guest, libs};
use std::path::{Path, PathBuf};

/// The guest's image contents from the host (programs from `bins`, busybox, libraries,
/// kyua unless the guest runs the suite directly), to run the suite as `run` says.
pub fn spec(bins: &Path, run: guest::Run) -> Result<guest::Spec, String> {
    let runner = {
        let p = bins.join("ptrace-atf");
        if p.is_file() {
            p
        } else {
            std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?
        }
    };
    let mut programs = Vec::new();
    for a in ptrace_atf::suite::AREAS {
        let p = bins.join(a.program);
        if !p.is_file() {
            return Err(format!(
                "test program {} not found in {} (build it with `cargo build --release --bins`, or pass --bin-dir)",
                a.program,
                bins.display()
            ));
        }
        programs.push((a.program.to_string(), p));
    }
    let busybox = ["/usr/bin/busybox", "/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or("busybox is not installed (install busybox-static)")?;
    let kyua = if run.direct {
        None
    } else {
        crate::kyua::find().map(|bin| guest::Kyua {
            bin,
            data: files_under(Path::new("/usr/share/kyua")),
        })
    };
    let mut need: Vec<&Path> = vec![runner.as_path(), busybox.as_path()];
    need.extend(programs.iter().map(|(_, p)| p.as_path()));
    if let Some(k) = &kyua {
        need.push(&k.bin);
    }
    let libs = libs::needed(&need)?;
    Ok(guest::Spec {
        runner,
        programs,
        busybox,
        libs,
        kyua,
        run,
    })
}

/// Every regular file under `dir`, as (guest path without the leading `/`, host path).
fn files_under(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.is_file() {
                out.push((p.to_string_lossy().trim_start_matches('/').to_string(), p));
            }
        }
    }
    out.sort();
    out
}
