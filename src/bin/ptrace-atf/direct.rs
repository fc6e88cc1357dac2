//! The direct driver: runs an installed tree without kyua, through the same protocol and
//! with kyua's rules (requirements, isolation, timeouts, result judgement, cleanup).

use ptrace_atf::atf::TestResult;
use ptrace_atf::atf::listing::{self, Listed};
use ptrace_atf::atf::verdict::{Termination, judge};
use std::collections::BTreeMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the driver needs to know about the run.
pub struct Settings {
    pub vars: BTreeMap<String, String>,
    pub unprivileged: Option<(String, u32, u32)>,
    pub jobs: usize,
    pub verbose: bool,
}

/// One executed case.
pub struct Outcome {
    pub id: String,
    pub result: TestResult,
    pub secs: f64,
}

/// Runs `exe args` with kyua's isolation, killing its process group at `timeout`.
fn run_isolated(
    exe: &Path,
    args: &[String],
    work: &Path,
    control: &Path,
    timeout: Duration,
    user: Option<(u32, u32)>,
) -> Result<Termination, String> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(control.join("stdout.txt"))
        .map_err(|e| e.to_string())?;
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(control.join("stderr.txt"))
        .map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .current_dir(work)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .env("HOME", work)
        .env("TMPDIR", work)
        .env("TZ", "UTC")
        .env("__RUNNING_INSIDE_ATF_RUN", "internal-yes-value");
    for v in [
        "LANG",
        "LC_ALL",
        "LC_COLLATE",
        "LC_CTYPE",
        "LC_MESSAGES",
        "LC_MONETARY",
        "LC_NUMERIC",
        "LC_TIME",
    ] {
        cmd.env_remove(v);
    }
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            libc::umask(0o022);
            no_inherited_fds();
            if let Some((uid, gid)) = user
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let pid = child.id() as i32;
    let start = Instant::now();
    let mut nap = Duration::from_micros(200);
    let end = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break match (st.code(), st.signal()) {
                (Some(c), _) => Termination::Exited(c),
                (None, Some(sig)) => Termination::Signaled {
                    sig,
                    core: st.core_dumped(),
                },
                _ => Termination::Exited(-1),
            };
        }
        let interrupted = crate::signals::caught().is_some();
        if interrupted || start.elapsed() >= timeout {
            // SAFETY: kill(2) of the child's process group (its own session) and the child.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
            let _ = child.wait();
            if interrupted {
                return Err("interrupted".into());
            }
            break Termination::TimedOut;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(10));
    };
    // Like kyua: whatever is left in the process group dies with the body.
    // SAFETY: kill(2) of the (former) child's process group.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    Ok(end)
}

/// Bytes in a `require.memory` value (`512m`, `1G`, `1024`), as kyua reads it.
fn memory_bytes(v: &str) -> Option<u64> {
    let v = v.trim();
    let (num, mult) = match v.chars().last()?.to_ascii_lowercase() {
        'k' => (&v[..v.len() - 1], 1u64 << 10),
        'm' => (&v[..v.len() - 1], 1 << 20),
        'g' => (&v[..v.len() - 1], 1 << 30),
        't' => (&v[..v.len() - 1], 1 << 40),
        _ => (v, 1),
    };
    let n: f64 = num.parse().ok()?;
    (n.is_finite() && n >= 0.0).then_some((n * mult as f64) as u64)
}

/// Physical memory in bytes.
fn physical_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (pages.max(0) as u64).saturating_mul(size.max(0) as u64)
}

/// kyua's requirement checks, in its order; `Some(reason)` skips the case.
pub(crate) fn unmet_requirement(case: &Listed, s: &Settings) -> Option<String> {
    for c in case.words("require.config") {
        let key = if c == "unprivileged_user" {
            "unprivileged-user".to_string()
        } else {
            c
        };
        let have = key == "unprivileged-user" && s.unprivileged.is_some();
        if !have && !s.vars.contains_key(&key) {
            return Some(format!(
                "Required configuration property '{key}' not defined"
            ));
        }
    }
    let arch = s
        .vars
        .get("architecture")
        .map(String::as_str)
        .unwrap_or("unknown");
    let archs = case.words("require.arch");
    if !archs.is_empty() && !archs.iter().any(|a| a == arch) {
        return Some(format!("Current architecture '{arch}' not supported"));
    }
    let machines = case.words("require.machine");
    if !machines.is_empty() && !machines.iter().any(|m| m == std::env::consts::ARCH) {
        return Some(format!(
            "Current platform '{}' not supported",
            std::env::consts::ARCH
        ));
    }
    let root = crate::is_root();
    match case.get("require.user") {
        Some("root") if !root => return Some("Requires root privileges".into()),
        Some("unprivileged") if root && s.unprivileged.is_none() => {
            return Some("Requires an unprivileged user but the unprivileged-user configuration variable is not defined".into());
        }
        _ => {}
    }
    if let Some(need) = case.get("require.memory").and_then(memory_bytes) {
        let have = physical_memory();
        if have > 0 && have < need {
            return Some(format!(
                "Requires {need} bytes of physical memory but only {have} available"
            ));
        }
    }
    for f in case.words("require.files") {
        if !Path::new(&f).exists() {
            return Some(format!("Required file '{f}' not found"));
        }
    }
    for p in case.words("require.progs") {
        if p.starts_with('/') {
            if !Path::new(&p).exists() {
                return Some(format!("Required program '{p}' not found"));
            }
        } else {
            let path = std::env::var("PATH").unwrap_or_default();
            if !path.split(':').any(|d| Path::new(d).join(&p).is_file()) {
                return Some(format!("Required program '{p}' not found in PATH"));
            }
        }
    }
    None
}

fn vflags(s: &Settings) -> Vec<String> {
    let mut v: BTreeMap<String, String> = s.vars.clone();
    v.remove("architecture");
    if let Some((name, ..)) = &s.unprivileged {
        v.insert("unprivileged-user".into(), name.clone());
    }
    v.iter().map(|(k, val)| format!("-v{k}={val}")).collect()
}

/// Runs one listed case of `exe` (kyua id `id`).
fn run_case(exe: &Path, id: &str, case: &Listed, s: &Settings) -> TestResult {
    if let Some(reason) = unmet_requirement(case, s) {
        return TestResult::Skipped(reason);
    }
    let control = match tempfile::Builder::new().prefix("ptrace-atf.").tempdir() {
        Ok(d) => d,
        Err(e) => return TestResult::Broken(format!("cannot create a work directory: {e}")),
    };
    let work = control.path().join("work");
    let user = match (case.get("require.user"), &s.unprivileged) {
        (Some("unprivileged"), Some((_, uid, gid))) => Some((*uid, *gid)),
        _ => None,
    };
    if std::fs::create_dir(&work).is_err() {
        return TestResult::Broken("cannot create a work directory".into());
    }
    if let Some((uid, gid)) = user {
        let _ = std::os::unix::fs::chown(&work, Some(uid), Some(gid));
        let _ = std::os::unix::fs::chown(control.path(), Some(uid), Some(gid));
    }
    let resfile = control.path().join("result.atf");
    let mut args = vflags(s);
    args.push(format!("-r{}", resfile.display()));
    args.push(case.ident.clone());
    let timeout = Duration::from_secs(case.timeout());
    let end = match run_isolated(exe, &args, &work, control.path(), timeout, user) {
        Ok(e) => e,
        Err(e) => return TestResult::Broken(e),
    };
    let content = std::fs::read_to_string(&resfile).ok();
    let mut result = judge(content.as_deref(), end);
    if case.has_cleanup() {
        let mut args = vflags(s);
        args.push(format!("{}:cleanup", case.ident));
        let cleaned = run_isolated(
            exe,
            &args,
            &work,
            control.path(),
            Duration::from_secs(60),
            user,
        );
        if result.is_good() {
            match cleaned {
                Ok(Termination::Exited(0)) => {}
                Ok(Termination::TimedOut) => {
                    result = TestResult::Broken("Test case cleanup timed out".into())
                }
                _ => {
                    result = TestResult::Broken(
                        "Test case cleanup did not terminate successfully".into(),
                    )
                }
            }
        }
    }
    if s.verbose || !result.is_good() {
        for f in ["stdout.txt", "stderr.txt"] {
            let text = std::fs::read_to_string(control.path().join(f)).unwrap_or_default();
            if !text.is_empty() {
                eprintln!("--- {id} {f}:\n{}", text.trim_end());
            }
        }
    }
    let _ = id;
    result
}

/// Lists a program as kyua does; a listing failure is one broken pseudo-case.
fn list_program(exe: &Path, s: &Settings) -> Result<Vec<Listed>, String> {
    let out = Command::new(exe)
        .args(vflags(s))
        .arg("-l")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "Cannot find test program".to_string(),
            std::io::ErrorKind::PermissionDenied => "Permission denied to run test program".into(),
            _ => format!("Invalid test program format: {e}"),
        })?;
    let cases = listing::parse(&String::from_utf8_lossy(&out.stdout))?;
    if !out.stderr.is_empty() {
        return Err("Test case list wrote to stderr".into());
    }
    if !out.status.success() {
        return Err("Test program did not exit cleanly".into());
    }
    Ok(cases)
}

/// Runs the cases named in `ids` (`area/program:case`) of the installed `programs` under
/// `tree`; prints a line per case as kyua does and returns the outcomes. An interrupt
/// (see `signals`) kills the running cases and starts no more.
pub fn run(
    tree: &Path,
    programs: &[String],
    ids: &std::collections::HashSet<String>,
    s: &Settings,
) -> Vec<Outcome> {
    let mut work: Vec<(PathBuf, String, Listed)> = Vec::new();
    let mut outcomes = Vec::new();
    for prog in programs {
        let exe = tree.join(prog);
        match list_program(&exe, s) {
            Ok(cases) => {
                for c in cases {
                    if ids.contains(&format!("{prog}:{}", c.ident)) {
                        work.push((exe.clone(), format!("{prog}:{}", c.ident), c));
                    }
                }
            }
            Err(msg) => {
                let prefix = format!("{prog}:");
                if ids.iter().any(|i| i.starts_with(&prefix)) {
                    let id = format!("{prog}:__test_cases_list__");
                    crate::signals::say(&format!("{id}  ->  broken: {msg}  [0.000s]"));
                    outcomes.push(Outcome {
                        id,
                        result: TestResult::Broken(msg),
                        secs: 0.0,
                    });
                }
            }
        }
    }
    let queue = Mutex::new(work.into_iter());
    let done = Mutex::new(outcomes);
    std::thread::scope(|scope| {
        for _ in 0..s.jobs.max(1) {
            scope.spawn(|| {
                while crate::signals::caught().is_none() {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                    let Some((exe, id, case)) = next else { break };
                    let start = Instant::now();
                    let result = run_case(&exe, &id, &case, s);
                    if crate::signals::caught().is_some() {
                        break;
                    }
                    let secs = start.elapsed().as_secs_f64();
                    crate::signals::say(&format!("{id}  ->  {result}  [{secs:.3}s]"));
                    done.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(Outcome { id, result, secs });
                }
            });
        }
    });
    let mut v = done.into_inner().unwrap_or_else(|p| p.into_inner());
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// In a child between fork and exec: every descriptor above stderr is closed at exec, as
/// kyua does, so a test program starts with fds 0-2 only (an inherited high descriptor would
/// also make each fork(2) of the program copy a larger descriptor table). CLOSE_RANGE_CLOEXEC
/// rather than closing now: std's exec-error pipe must stay open until the exec.
pub(crate) fn no_inherited_fds() {
    // SAFETY: close_range(2) with flags only marks descriptors; async-signal-safe.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
}
