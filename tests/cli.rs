//! The `ptrace-atf` command's workflows: install layout, the direct driver, `loop` and
//! `xfail` on real runs.

use std::path::{Path, PathBuf};
use std::process::Command;

const ME: &str = env!("CARGO_BIN_EXE_ptrace-atf");

fn bin_dir() -> PathBuf {
    Path::new(ME).parent().unwrap().to_path_buf()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(ME).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn kyua() -> Option<PathBuf> {
    ptrace_atf::kyua::find()
}

#[test]
fn install_lays_out_a_tree_kyua_can_list() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("t");
    let bins = bin_dir();
    let (code, _, err) = run(&[
        "--bin-dir",
        bins.to_str().unwrap(),
        "install",
        tree.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    for a in ptrace_atf::suite::AREAS {
        let dir = tree.join(a.dir);
        assert!(dir.join("Kyuafile").is_file() && dir.join("Atffile").is_file());
        for w in ptrace_atf::suite::WAITERS {
            assert!(
                dir.join(format!("{}_{w}", a.program)).is_file(),
                "{}/{}_{w}",
                a.dir,
                a.program
            );
        }
    }
    assert!(tree.join("Kyuafile").is_file() && tree.join("Atffile").is_file());
    let Some(kyua) = kyua() else { return };
    let out = Command::new(kyua)
        .arg("list")
        .current_dir(&tree)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kyua list: {text}");
    assert!(
        !text.contains("__test_cases_list__"),
        "a program's listing broke:\n{text}"
    );
    assert!(text.contains("fork/t_fork_pidfd:"), "{text}");
}

#[test]
fn direct_driver_runs_a_filtered_program() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = run(&[
        "test",
        "--direct",
        "--tree",
        tmp.path().join("t").to_str().unwrap(),
        "fork/t_fork_wait4:traceme_stop_exit",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("fork/t_fork_wait4:traceme_stop_exit  ->  passed"),
        "{out}"
    );
    assert!(out.contains("1/1 passed (0 failed)"), "{out}");
}

#[test]
fn loop_counts_iterations_and_reports_the_failing_one() {
    let (code, out, err) = run(&["loop", "t_fork_wait4:traceme_stop_exit", "-n", "200"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("200 iterations, 0 failed"), "{out}");
    let (code, out, _) = run(&[
        "loop",
        "fork/t_fork:traceme_stop_exit",
        "-n",
        "5",
        "--until-fail",
        "-v",
        "waiter=nosuch",
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains("iteration 1: failed: unknown waiter 'nosuch'"),
        "{out}"
    );
    assert!(out.contains(": 1 iteration, 1 failed"), "{out}");
    let (code, _, err) = run(&["loop", "t_fork:nosuch"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["loop", "t_fork:x", "--cpu", "a"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn xfail_sorts_a_real_run() {
    let Some(kyua) = kyua() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_BIN_EXE_atf-fixture"));
    std::fs::copy(fixture, tmp.path().join("fixture")).unwrap();
    // Every fixture case declares a bug, so the ledger has all three fates.
    std::fs::write(
        tmp.path().join("Kyuafile"),
        "syntax(2)\ntest_suite(\"x\")\natf_test_program{name=\"fixture\", [\"custom.bug\"]=\"PR 1\"}\n",
    )
    .unwrap();
    let db = tmp.path().join("r.db");
    let st = Command::new(kyua)
        .args(["test", &format!("--results-file={}", db.display())])
        .args([
            "fixture:xfail_fatal",
            "fixture:xfail_none",
            "fixture:require",
        ])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(db.is_file(), "{st:?}");
    let (code, out, err) = run(&["xfail", "--results-file", db.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    let section = |title: &str| {
        let start = out
            .find(title)
            .unwrap_or_else(|| panic!("no '{title}' in {out}"));
        out[start..].lines().nth(1).unwrap_or("").to_string()
    };
    assert!(
        section("still fail as expected").contains("fixture:xfail_fatal"),
        "{out}"
    );
    assert!(section("NOW PASS").contains("fixture:xfail_none"), "{out}");
    assert!(
        section("failed in another way").contains("fixture:require"),
        "{out}"
    );
    assert!(
        out.contains(&format!("In {} (given with --results-file, ", db.display())),
        "{out}"
    );
    // The suite's own expected failures are not in this database: listed as not run.
    let not_run = out
        .find("not run (not in this database)")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        out[not_run..]
            .contains("signals/t_signals_waitpid:sigchld_nocldwait_traceme_raise1  [deviation: "),
        "{out}"
    );
    // The two kinds are listed apart: a kernel bug to be fixed, a documented deviation.
    let bugs = out
        .find("Kernel bugs (X-bug")
        .unwrap_or_else(|| panic!("{out}"));
    let devs = out
        .find("Documented deviations (X-deviation")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(bugs < devs, "{out}");
    assert!(
        out[devs..].contains(
            "t_signals:sigchld_nocldwait_traceme_raise1 (under every waiter)  deviation: "
        ),
        "{out}"
    );
    assert!(
        out[bugs..devs]
            .contains("t_dbregs_x86:dbregs_dr7_clear_in_new_thread (under every waiter)  bug: "),
        "{out}"
    );
}

#[test]
fn an_unread_config_variable_draws_a_warning() {
    // (variable, the warning it must draw, or None for a name the suite reads)
    let rows: &[(&str, Option<&str>)] = &[
        (
            "iteration=5",
            Some("warning: -v iteration: no case of this suite reads 'iteration'"),
        ),
        ("iterations=5", None),
    ];
    for (var, warning) in rows {
        let (code, _, err) = run(&["loop", "t_fork_waitpid:fork1", "-n", "1", "-v", var]);
        assert_eq!(code, 0, "{var}: {err}");
        match warning {
            Some(w) => assert!(
                err.contains(w) && err.contains("iterations"),
                "{var}: {err}"
            ),
            None => assert!(!err.contains("warning"), "{var}: {err}"),
        }
    }
}

/// Every bad input of issue 16 and its exit status, with a word the message must hold; each
/// status is also documented in the subcommand's --help.
#[test]
fn exit_codes_match_help() {
    let tmp = tempfile::tempdir().unwrap();
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(foreign.join("notes")).unwrap();
    std::fs::write(foreign.join("notes/thesis.txt"), "years of work").unwrap();
    let f = foreign.to_str().unwrap();
    let table: &[(&[&str], i32, &str)] = &[
        (&["loop", "t_fork:fork1", "--duration", "inf"], 2, "finite"),
        (&["loop", "t_fork:fork1", "--duration", "nan"], 2, "finite"),
        (
            &["loop", "t_fork:fork1", "--duration", "-1"],
            2,
            "more than 0",
        ),
        (
            &["loop", "t_fork:fork1", "--duration", "0"],
            2,
            "more than 0",
        ),
        (
            &["loop", "t_fork:fork1", "--duration", "1e12"],
            2,
            "at most a year",
        ),
        (&["loop", "t_fork:fork1", "-n", "0"], 2, "at least 1"),
        (&["loop", "t_fork:fork1", "-n", "-1"], 2, "-n"),
        (&["loop", "t_fork:fork1", "--load", "10000"], 2, "bound"),
        (
            &["loop", "t_fork:fork1", "--cpu", "99"],
            2,
            "CPU 99 is not online",
        ),
        (&["loop", "t_fork:fork1", "--cpu", "a"], 2, "CPU list"),
        (&["loop", "t_fork:nosuch"], 2, "names no test case"),
        (&["loop", "*vfork*"], 2, "loop runs one"),
        (&["loop", "fork/t_fork_waitpid:"], 2, "malformed filter"),
        (&["test", "fork/t_fork_waitpid:"], 2, "malformed filter"),
        (
            &["test", "--direct", "fork/t_fork_waitpid:"],
            2,
            "malformed filter",
        ),
        (&["test", "/abs"], 2, "malformed filter"),
        (
            &["test", "--direct", "nosuchcase"],
            1,
            "matched no test case",
        ),
        (
            &["test", "--tree", f, "fork/t_fork_waitpid:"],
            2,
            "malformed filter",
        ),
        (
            &["test", "--tree", f, "--direct", "fork1"],
            2,
            "not a ptrace-atf tree",
        ),
        (&["test", "-j", "0"], 2, "-j"),
        (
            &["test", "--results-file", "/nonexistent/dir/x.db", "fork1"],
            2,
            "--results-file /nonexistent/dir/x.db: ",
        ),
        (
            &["test", "--direct", "--results-file", "/tmp/x.db", "fork1"],
            2,
            "cannot be used with",
        ),
        (&["install", f], 2, "not a ptrace-atf tree"),
        (&["list", "nosuchcase"], 1, "matched no test case"),
        (&["list", "a/b/c"], 2, "malformed filter"),
        (&["--bin-dir", "/nonexistent", "list"], 3, "not found"),
        (
            &["xfail", "--results-file", "/nonexistent"],
            2,
            "no such results database",
        ),
        (
            &["truss", "--", "/nonexistent/prog"],
            127,
            "No such file or directory",
        ),
        (
            &["truss", "--", "no-such-program-anywhere"],
            127,
            "No such file or directory",
        ),
        (&["truss", "--", "/etc/passwd"], 126, "Permission denied"),
        (
            &["truss", "-o", "/nonexistent/dir/out", "--", "true"],
            1,
            "-o /nonexistent/dir/out",
        ),
        (&["truss"], 2, "-p PID or -- COMMAND"),
        (&["truss", "-S", "bogus", "--", "true"], 2, "-S"),
        (&["lava", "job", "zombie"], 2, "--kernel"),
        (
            &["lava", "job", "--kernel", "/nonexistent/vmlinuz"],
            2,
            "/nonexistent/vmlinuz",
        ),
        (
            &["lava", "results", "/nonexistent/job.log"],
            2,
            "No such file",
        ),
        (&["lava", "results", "/etc/passwd"], 2, "not a LAVA job log"),
        (
            &["vm", "--kernel", "/etc/passwd", "nosuchcase"],
            1,
            "matched no test case",
        ),
        (
            &["vm", "--kernel", "/etc/passwd", "fork/t_fork_waitpid:"],
            2,
            "malformed filter",
        ),
        (
            &["lava", "job", "--kernel", "/etc/passwd", "nosuchcase"],
            1,
            "matched no test case",
        ),
        (&["nosuchcommand"], 2, "unrecognized subcommand"),
    ];
    for (args, want, word) in table {
        let (code, out, err) = run(args);
        assert_eq!(code, *want, "{args:?}\n{out}{err}");
        assert!(err.contains(word), "{args:?}: no {word:?} in\n{err}");
        assert!(!err.contains("panicked"), "{args:?}\n{err}");
        if *args == ["truss", "--", "/nonexistent/prog"] {
            assert!(!err.contains("syscall"), "no table when nothing ran\n{err}");
        }
        let sub: Vec<&str> = args
            .iter()
            .copied()
            .skip_while(|a| a.starts_with('-') || a.starts_with('/'))
            .take(1)
            .collect();
        if sub == ["nosuchcommand"] {
            continue;
        }
        let help = run(&[sub[0], "--help"]).1;
        assert!(
            help.contains(&format!("\n  {want}  ")),
            "`{} --help` does not document status {want}:\n{help}",
            sub[0]
        );
    }
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes/thesis.txt")).unwrap(),
        "years of work"
    );
}

#[test]
fn trees_are_marked_and_foreign_directories_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("t");
    let t = tree.to_str().unwrap();
    let (code, out, err) = run(&["test", "--direct", "--tree", t, "fork/t_fork_waitpid:fork1"]);
    assert_eq!(code, 0, "a new directory: {out}{err}");
    assert!(tree.join(".ptrace-atf-tree").is_file());
    // A file of the user's inside a marked tree survives a second run.
    std::fs::write(tree.join("mine.txt"), "keep").unwrap();
    let (code, out, err) = run(&["test", "--direct", "--tree", t, "fork/t_fork_waitpid:fork1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(tree.join("mine.txt")).unwrap(),
        "keep"
    );
    // A tree laid out before trees were marked is still recognised.
    std::fs::remove_file(tree.join(".ptrace-atf-tree")).unwrap();
    std::fs::remove_file(tree.join("mine.txt")).unwrap();
    let (code, _, err) = run(&["install", t]);
    assert_eq!(code, 0, "{err}");
    // An empty directory is fine; one with someone else's Kyuafile is not.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(run(&["install", empty.to_str().unwrap()]).0, 0);
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("Kyuafile"), "syntax(2)\n").unwrap();
    assert_eq!(run(&["install", other.to_str().unwrap()]).0, 2);
    assert_eq!(
        std::fs::read_to_string(other.join("Kyuafile")).unwrap(),
        "syntax(2)\n"
    );
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert_eq!(run(&["install", file.to_str().unwrap()]).0, 2);
}

#[test]
fn one_name_everywhere() {
    let (code, out, err) = run(&["list", "fork1"]);
    assert_eq!(code, 0, "{err}");
    let names: Vec<&str> = out.lines().collect();
    let want: Vec<String> = ptrace_atf::suite::WAITERS
        .iter()
        .map(|w| format!("fork/t_fork_{w}:fork1"))
        .collect();
    assert_eq!(names, want, "{out}");
    let (_, all, _) = run(&["list"]);
    assert!(
        !all.contains("fork/t_fork:"),
        "list names only installed programs"
    );
    assert_eq!(
        all.lines().count(),
        6 * run(&[
            "list",
            "t_fork_waitpid",
            "t_lwp_wait",
            "t_syscall_wait3",
            "signals/t_signals_wait4",
            "dbregs_x86/t_dbregs_x86_waitid",
            "zombie/t_zombie_pidfd",
            "t_bytetransfer_wait",
            "registers/t_registers_waitpid"
        ])
        .1
        .lines()
        .count()
    );
    let (_, globbed, _) = run(&["list", "t_fork_waitpid:*vfork*"]);
    assert!(
        globbed.lines().count() > 5 && globbed.lines().all(|l| l.contains("vfork")),
        "{globbed}"
    );
    // The names list prints are the names test takes; a bare case name runs it everywhere.
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("t");
    let mut args = vec!["test", "--direct", "--tree", t.to_str().unwrap()];
    args.extend(names.iter().copied());
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("6/6 passed"), "{out}");
    let (code, out, err) = run(&["test", "--direct", "--tree", t.to_str().unwrap(), "fork1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("6/6 passed"), "{out}");
    assert!(!out.contains("-0.0s"), "{out}");
    // -v speaks kyua's `list -v`, byte for byte.
    let (code, ours, err) = run(&[
        "list",
        "-v",
        "fork/t_fork_waitpid:fork1",
        "signals/t_signals_wait",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        ours.contains("    custom.netbsd = t_ptrace_fork_wait.h:fork1\n    description = "),
        "{ours}"
    );
    let Some(kyua) = kyua() else { return };
    let theirs = Command::new(kyua)
        .args([
            "list",
            "-v",
            "fork/t_fork_waitpid:fork1",
            "signals/t_signals_wait",
        ])
        .current_dir(&t)
        .output()
        .unwrap();
    assert_eq!(ours, String::from_utf8_lossy(&theirs.stdout));
}

#[test]
fn loop_honours_requirements() {
    let case = "syscall/t_syscall_waitpid:seccomp_suspend_unprivileged_eperm";
    let (code, out, err) = run(&["loop", case, "-n", "3"]);
    assert_eq!(
        code, 0,
        "as root it runs as nobody, as not root as itself\n{out}{err}"
    );
    assert!(out.contains("3 iterations, 0 failed"), "{out}");
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        let (code, out, _) = run(&[
            "loop",
            case,
            "-n",
            "3",
            "--unprivileged-user",
            "no-such-user",
        ]);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("skipped: Requires an unprivileged user"),
            "{out}"
        );
    }
    let (code, out, _) = run(&["loop", "t_fork:fork1", "-n", "1"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("fork/t_fork_waitpid:fork1: 1 iteration, 0 failed"),
        "{out}"
    );
}

/// A tiny xorshift generator seeded from the clock (no dependency for random delays).
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng(t | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const TAG: &str = "PTRACE_ATF_CLI_TEST_TAG";

/// Live (non-zombie) processes whose environment holds `TAG=tag`: `(pid, state, comm)`.
fn tagged(tag: &str) -> Vec<(i32, String, String)> {
    let needle = format!("{TAG}={tag}\0");
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if !String::from_utf8_lossy(&env).contains(&needle) {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next())
            .unwrap_or("?")
            .to_string();
        let comm = stat
            .split_once('(')
            .and_then(|(_, r)| r.rsplit_once(')'))
            .map(|(c, _)| c.to_string())
            .unwrap_or_default();
        if state != "Z" && !state.is_empty() {
            found.push((pid, state, comm));
        }
    }
    found
}

/// The interrupts a user sends.
const INTERRUPTS: &[i32] = &[libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Runs `make()` `n` times, each time sending a random one of SIGINT, SIGTERM, SIGHUP after
/// a random delay below `max_ms`; the command must end by that signal (or exit 128+N), and
/// no process it started may be left: none alive, none stopped or traced.
fn interrupt_many(what: &str, n: usize, max_ms: u64, make: impl Fn() -> Command) {
    signal_many(what, INTERRUPTS, n, max_ms, make)
}

/// `interrupt_many` with the signals `sigs`.
fn signal_many(what: &str, sigs: &[i32], n: usize, max_ms: u64, make: impl Fn() -> Command) {
    use std::os::unix::process::ExitStatusExt;
    let mut rng = Rng::new();
    for i in 0..n {
        let tag = format!("{what}-{i}-{}", std::process::id());
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = make()
            .env(TAG, &tag)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let delay = rng.below(max_ms);
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let sig = sigs[rng.below(sigs.len() as u64) as usize];
        // SAFETY: kill(2) of our own child.
        unsafe { libc::kill(child.id() as i32, sig) };
        let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let st = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if std::time::Instant::now() > end {
                let _ = child.kill();
                panic!("{what} #{i}: still running 30 s after signal {sig} at {delay} ms");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let err = std::fs::read_to_string(log.path()).unwrap_or_default();
        assert!(
            st.signal() == Some(sig) || st.code() == Some(128 + sig),
            "{what} #{i}: signal {sig} at {delay} ms: {st:?}\n{err}"
        );
        assert!(!err.contains("panicked"), "{what} #{i}\n{err}");
        // Killed processes take a moment to disappear.
        let end = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            let left = tagged(&tag);
            if left.is_empty() {
                break;
            }
            if std::time::Instant::now() > end {
                for (p, ..) in &left {
                    // SAFETY: kill(2) of a process this test started.
                    unsafe { libc::kill(*p, libc::SIGKILL) };
                }
                panic!("{what} #{i}: signal {sig} at {delay} ms left {left:?}\n{err}");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[test]
#[serial_test::serial(interrupts)]
fn interrupting_loop_ends_everything() {
    interrupt_many("loop", 20, 1500, || {
        let mut c = Command::new(ME);
        c.args(["loop", "fork/t_fork_waitpid:fork1", "--until-fail"]);
        c
    });
    interrupt_many("loop-fork", 6, 1000, || {
        let mut c = Command::new(ME);
        c.args([
            "loop",
            "signals/t_signals_wait4:kill1",
            "--fork",
            "--duration",
            "60",
        ]);
        c
    });
}

/// SIGKILL of the command itself: the program dies with it (PR_SET_PDEATHSIG), and a tracee
/// it had just forked dies too instead of making init its tracer before its first stop.
#[test]
#[serial_test::serial(interrupts)]
fn killing_loop_leaves_nothing() {
    signal_many("loop-kill", &[libc::SIGKILL], 20, 800, || {
        let mut c = Command::new(ME);
        c.args([
            "loop",
            "fork/t_fork_waitpid:traceme_stop_exit",
            "--until-fail",
        ]);
        c
    });
}

#[test]
#[serial_test::serial(interrupts)]
fn interrupting_test_ends_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("t");
    let tree = t.to_str().unwrap().to_string();
    interrupt_many("direct", 12, 2500, || {
        let mut c = Command::new(ME);
        c.args(["test", "--direct", "--tree", &tree, "fork"]);
        c
    });
    if kyua().is_none() {
        return;
    }
    interrupt_many("kyua", 6, 3000, || {
        let mut c = Command::new(ME);
        c.args(["test", "--tree", &tree, "fork"]);
        c
    });
}

#[test]
#[serial_test::serial(interrupts)]
fn interrupting_truss_ends_the_command() {
    interrupt_many("truss", 20, 800, || {
        let mut c = Command::new(ME);
        c.args([
            "truss",
            "-f",
            "--",
            "/bin/sh",
            "-c",
            "while :; do /bin/true; done",
        ]);
        c
    });
}

/// A closed stdout ends each command quietly: by SIGPIPE (141 in a shell), no panic, and
/// nothing it started left running.
#[test]
#[serial_test::serial(interrupts)]
fn closed_stdout_ends_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("t");
    let cases: &[&[&str]] = &[
        &["list"],
        &["list", "-v"],
        &["xfail"],
        &["loop", "fork/t_fork_waitpid:fork1", "--until-fail"],
        &["test", "--direct", "--tree", tree.to_str().unwrap(), "fork"],
    ];
    for args in cases {
        let tag = format!("pipe-{}", args.join("-"));
        let mut child = Command::new(ME)
            .args(*args)
            .env(TAG, &tag)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut buf = [0u8; 10];
        out.read_exact(&mut buf).unwrap();
        drop(out);
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let st = child.wait().unwrap();
        assert!(
            st.signal() == Some(libc::SIGPIPE) || st.code() == Some(141) || st.success(),
            "{args:?}: {st:?}\n{err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}\n{err}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(tagged(&tag).is_empty(), "{args:?} left {:?}", tagged(&tag));
    }
}

#[test]
fn loop_until_fail_alone_runs_until_a_failure() {
    let (code, out, err) = run(&[
        "loop",
        "fork/t_fork_wait4:traceme_stop_exit",
        "--until-fail",
        "-v",
        "waiter=nosuch",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("looping until an iteration fails"), "{err}");
}

#[test]
fn loop_reports_a_hung_iteration_and_ends_it() {
    let child = Command::new(ME)
        .args([
            "loop",
            "t_fork_waitpid:fork1",
            "--duration",
            "60",
            "--hang-after",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The looping program is the command's child (`t_fork ... fork1`): stop it, and so its
    // iterations.
    let driver = child.id().to_string();
    let start = std::time::Instant::now();
    let program = loop {
        let found = std::fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 2..];
            // The looping program, not the listing `loop` reads first (`t_fork -l`).
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let looping = String::from_utf8_lossy(&cmdline).ends_with("\0fork1\0");
            (rest.split(' ').nth(1)? == driver && stat.contains("(t_fork)") && looping)
                .then_some(pid)
        });
        if let Some(pid) = found {
            break pid;
        }
        assert!(
            start.elapsed().as_secs() < 10,
            "the looping program never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    // SAFETY: kill(2) of the program this test's command started.
    unsafe { libc::kill(program, libc::SIGSTOP) };
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("hung: it did not end within --hang-after (1s)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{program} t_fork: {program} T")),
        "the report shows the stopped program: {text}"
    );
    assert!(text.contains("1 failed"), "{text}");
    assert!(
        !std::path::Path::new(&format!("/proc/{program}")).exists(),
        "the program outlived the loop"
    );
}
