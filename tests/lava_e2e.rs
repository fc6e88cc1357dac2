//! End to end with LAVA's own dispatcher: `ptrace-atf lava job` for a Debian kernel and one
//! program of the suite, a QEMU device rendered from Debian's qemu.jinja2
//! (scripts/lava-qemu-device.sh), `lava-run` standalone, `ptrace-atf lava results` on its
//! log; then `ptrace-atf vm` on the same kernel and program, and the two compared case by
//! case.
//!
//! Needs root, lava-dispatcher (`lava-run`), qemu-system-x86, busybox-static and a kernel:
//! PTRACE_ATF_LAVA_KERNEL (a linux-image-*.deb or a vmlinuz; .ci/run passes the one it
//! downloads). Without them the test is skipped and says why; with
//! PTRACE_ATF_REQUIRE_LAVA=1 (CI) it fails instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ME: &str = env!("CARGO_BIN_EXE_ptrace-atf");
/// One program, plus cases that give the other result types under TCG: a skip (the
/// emulator is detected from CPUID), an expected failure, and a failure (`-v
/// dbregs_lie=read_zero` makes the toolkit read every debug register as 0: a case that
/// checks one fails, as tests/dbregs_lie.rs shows).
const FILTERS: &[&str] = &[
    "zombie/t_zombie_waitpid",
    "dbregs_x86/t_dbregs_x86_waitpid:dbregs_cve_2018_8897_pop_ss_int3",
    "dbregs_x86/t_dbregs_x86_waitpid:dbregs_preserve_dr1",
    "signals/t_signals_waitpid:sigchld_nocldwait_traceme_raise1",
];
const VAR: &str = "dbregs_lie=read_zero";
const FAILING: &str = "dbregs_x86/t_dbregs_x86_waitpid:dbregs_preserve_dr1";
fn in_path(name: &str) -> bool {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| Path::new(d).join(name).is_file())
}

/// The kernel: only from PTRACE_ATF_LAVA_KERNEL, so that a plain `cargo test` never boots
/// twice what CI runs once.
fn kernel() -> Option<PathBuf> {
    std::env::var_os("PTRACE_ATF_LAVA_KERNEL").map(PathBuf::from)
}

/// Why the test cannot run here, if it cannot.
fn missing() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("lava-run must run as root".into());
    }
    for (tool, pkg) in [
        ("lava-run", "lava-dispatcher"),
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("busybox", "busybox-static"),
        ("cpio", "cpio"),
        ("gzip", "gzip"),
    ] {
        if !in_path(tool) {
            return Some(format!("{tool} is not installed (apt-get install {pkg})"));
        }
    }
    match kernel() {
        Some(k) if k.is_file() => None,
        Some(k) => Some(format!("kernel {} does not exist", k.display())),
        None => {
            Some("no kernel: set PTRACE_ATF_LAVA_KERNEL to a linux-image-*.deb or a vmlinuz".into())
        }
    }
}

/// Runs `cmd` with its stdout and stderr to files, for at most `limit`; a command past it
/// gets SIGTERM (lava-run then stops its qemu), then SIGKILL a minute later.
fn run_limited(cmd: &mut Command, out: &Path, err: &Path, limit: Duration) -> Option<i32> {
    let mut child = cmd
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(std::fs::File::create(err).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut termed = None;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return if termed.is_some() { None } else { st.code() };
        }
        match termed {
            None if start.elapsed() > limit => {
                // SAFETY: signals the child we spawned and have not reaped.
                unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
                termed = Some(Instant::now());
            }
            Some(t) if t.elapsed() > Duration::from_secs(60) => {
                let _ = child.kill();
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `id -> result type` of every kyua-style line (`id  ->  type[: reason]  [..s]`).
fn types(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (id, rest) = l.trim().split_once("  ->  ")?;
            if !id.contains('/') || !id.contains(':') || id.contains(' ') {
                return None;
            }
            let word = rest
                .split([':', ' '])
                .next()
                .unwrap_or_default()
                .to_string();
            Some((id.to_string(), word))
        })
        .collect()
}

#[test]
fn lava_run_records_what_vm_reports_case_by_case() {
    if let Some(why) = missing() {
        if std::env::var_os("PTRACE_ATF_REQUIRE_LAVA").is_some() {
            panic!("PTRACE_ATF_REQUIRE_LAVA is set but: {why}");
        }
        eprintln!("skipped: {why}");
        return;
    }
    let kernel = kernel().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    let job = Command::new(ME)
        .args(["lava", "job", "--kernel"])
        .arg(&kernel)
        .arg("--output")
        .arg(t.join("job"))
        .args(["--test-minutes", "20", "-v", VAR])
        .args(FILTERS)
        .output()
        .unwrap();
    assert!(
        job.status.success(),
        "lava job: {}{}",
        String::from_utf8_lossy(&job.stdout),
        String::from_utf8_lossy(&job.stderr)
    );
    let job_yaml = t.join("job/job.yaml");
    // The job, and the same for a real machine booted by grub over TFTP, pass LAVA's own
    // job schema, strictly.
    let tftp = Command::new(ME)
        .args(["lava", "job", "--kernel-url", "https://lab.example/vmlinuz"])
        .args([
            "--ramdisk-url",
            "https://lab.example/ptrace-atf-ramdisk.cpio.gz",
        ])
        .args(["--device-type", "x86-example", "--boot-method", "grub"])
        .arg("--output")
        .arg(t.join("tftp"))
        .args(FILTERS)
        .output()
        .unwrap();
    assert!(tftp.status.success());
    let validate = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(
            "import sys, yaml\n\
             from lava_common.schemas import validate\n\
             for f in sys.argv[1:]:\n\
             \x20   validate(yaml.safe_load(open(f)), strict=True, extra_context_variables=[])\n",
        )
        .arg(&job_yaml)
        .arg(t.join("tftp/job.yaml"))
        .output()
        .unwrap();
    assert!(
        validate.status.success(),
        "LAVA's schema rejects the job: {}",
        String::from_utf8_lossy(&validate.stderr)
    );
    let device = t.join("device.yaml");
    let render = Command::new(root.join("scripts/lava-qemu-device.sh"))
        .arg(&job_yaml)
        .arg(&device)
        .arg(root.join("target/lava-server"))
        .output()
        .unwrap();
    assert!(
        render.status.success(),
        "lava-qemu-device.sh: {}",
        String::from_utf8_lossy(&render.stderr)
    );

    let log = t.join("job.log");
    let code = run_limited(
        Command::new("lava-run")
            .arg("--job-id")
            .arg(std::process::id().to_string())
            .arg("--output-dir")
            .arg(t.join("lava-out"))
            .arg("--device")
            .arg(&device)
            .arg(&job_yaml),
        &t.join("lava-run.out"),
        &log,
        Duration::from_secs(25 * 60),
    );
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let tail: String = {
        let lines: Vec<&str> = log_text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    assert_eq!(code, Some(0), "lava-run failed; its log ends:\n{tail}");
    // LAVA recorded one result per case, plus suite-run and kernel-health.
    let recorded = log_text
        .lines()
        .filter(|l| {
            l.contains("\"lvl\": \"results\"") && l.contains("\"definition\": \"0_ptrace-atf\"")
        })
        .count();

    let bridge = Command::new(ME)
        .args(["lava", "results"])
        .arg(&log)
        .output()
        .unwrap();
    let bridge_out = String::from_utf8_lossy(&bridge.stdout).into_owned();
    // The one failure is the only thing wrong: LAVA's job passed, the suite ran to its
    // end, the kernel stayed healthy, LAVA agrees with the suite, the ledger is calm.
    assert_eq!(
        bridge.status.code(),
        Some(1),
        "lava results:\n{bridge_out}{}",
        String::from_utf8_lossy(&bridge.stderr)
    );
    assert!(
        bridge_out.contains("\nptrace-atf lava: not good: 1 failed, 0 broken\n"),
        "{bridge_out}"
    );
    assert!(bridge_out.contains("suite-run: pass; kernel-health: pass; LAVA job: pass"));
    assert!(
        bridge_out.contains(&format!("{FAILING}  ->  failed: ")),
        "the failure and its reason:\n{bridge_out}"
    );
    // LAVA itself recorded it as a failure.
    assert!(
        log_text.lines().any(|l| l.contains("\"lvl\": \"results\"")
            && l.contains("\"case\": \"t_dbregs_x86_waitpid.dbregs_preserve_dr1\"")
            && l.contains("\"result\": \"fail\"")),
        "LAVA recorded no fail for {FAILING}"
    );
    let from_lava = types(&bridge_out);
    assert!(!from_lava.is_empty(), "no case in:\n{bridge_out}");
    assert_eq!(recorded, from_lava.len() + 2, "LAVA's results records");

    let kinds: std::collections::BTreeSet<&str> = from_lava.values().map(String::as_str).collect();
    for k in ["passed", "skipped", "expected_failure", "failed"] {
        assert!(kinds.contains(k), "no {k} case in:\n{bridge_out}");
    }
    assert!(
        bridge_out.contains("still fail as expected (1)"),
        "the ledger:\n{bridge_out}"
    );

    let vm = Command::new(ME)
        .arg("vm")
        .arg("--kernel")
        .arg(&kernel)
        .arg("--output")
        .arg(t.join("vm"))
        .args(["--accel", "tcg", "--timeout", "1200", "-v", VAR])
        .args(FILTERS)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let vm_out = String::from_utf8_lossy(&vm.stdout).into_owned();
    assert_eq!(vm.status.code(), Some(1), "vm (one case fails):\n{vm_out}");
    let from_vm = types(&vm_out);
    assert_eq!(
        from_lava, from_vm,
        "LAVA and vm differ (left: LAVA, right: vm)"
    );
}
