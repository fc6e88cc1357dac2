//! `ptrace-atf truss`: runs the tracer on a threaded C program (built with cc) and on shell
//! pipelines, and checks its table against what the programs did: exact call and error counts
//! of the syscalls the program makes on purpose, zero missed entries and exits, the processes
//! followed, and a clean detach on SIGINT.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const THREADS: u64 = 4;
const CALLS: u64 = 300;
const FAILS: u64 = 40;

/// Each thread: CALLS getppid(), FAILS close(-1) (EBADF). With argument "forever", the
/// threads loop until killed.
const THREADED_C: &str = r#"
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static int forever;
static void *worker(void *arg) {
    (void)arg;
    do {
        for (int i = 0; i < CALLS; i++) syscall(SYS_getppid);
        for (int i = 0; i < FAILS; i++) syscall(SYS_close, -1);
    } while (forever);
    return NULL;
}
int main(int argc, char **argv) {
    pthread_t t[THREADS];
    forever = argc > 1 && strcmp(argv[1], "forever") == 0;
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    return 3;
}
"#;

fn truss() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ptrace-atf"))
}

/// Builds the threaded program into a temporary directory (kept alive by the returned guard).
fn threaded() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("threaded.c");
    let bin = dir.path().join("threaded");
    std::fs::write(&src, THREADED_C).expect("write C source");
    let st = Command::new("cc")
        .args(["-O1", "-pthread", "-o"])
        .arg(&bin)
        .arg(&src)
        .arg(format!("-DTHREADS={THREADS}"))
        .arg(format!("-DCALLS={CALLS}"))
        .arg(format!("-DFAILS={FAILS}"))
        .status()
        .expect("run cc");
    assert!(st.success(), "cc failed: {st}");
    (dir, bin)
}

/// One row of the table: seconds, calls, errors, missed entries, missed exits.
#[derive(Debug, PartialEq)]
struct Row {
    calls: u64,
    errors: u64,
    missed_entries: u64,
    missed_exits: u64,
}

fn row(table: &str, name: &str) -> Option<Row> {
    let line = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f.len(), 6, "malformed row {line:?}");
    assert!(f[1].parse::<f64>().is_ok(), "seconds column of {line:?}");
    let n = |i: usize| {
        f[i].parse::<u64>()
            .unwrap_or_else(|_| panic!("column {i} of {line:?}"))
    };
    Some(Row {
        calls: n(2),
        errors: n(3),
        missed_entries: n(4),
        missed_exits: n(5),
    })
}

/// The number before `word` in the header line, e.g. `3 process(es)`.
fn header_count(table: &str, word: &str) -> u64 {
    let head = table.lines().next().unwrap_or("");
    let words: Vec<&str> = head.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| w.starts_with(word))
        .unwrap_or_else(|| panic!("no {word:?} in {head:?}"));
    words[i - 1]
        .parse()
        .unwrap_or_else(|_| panic!("count before {word:?} in {head:?}"))
}

fn run(args: &[&str], cmd: &[&str]) -> (Output, String) {
    let out = truss()
        .arg("truss")
        .args(args)
        .arg("--")
        .args(cmd)
        .output()
        .expect("run truss");
    let table = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, table)
}

fn assert_clean(table: &str) {
    let total = row(table, "total").unwrap_or_else(|| panic!("no total row in\n{table}"));
    assert_eq!(
        (total.missed_entries, total.missed_exits),
        (0, 0),
        "missed events in\n{table}"
    );
}

#[test]
fn threaded_counts_match() {
    let (_dir, bin) = threaded();
    let (out, table) = run(&[], &[bin.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "truss exits with the command's status\n{table}"
    );
    assert_clean(&table);
    let getppid = row(&table, "getppid").unwrap_or_else(|| panic!("no getppid row\n{table}"));
    assert_eq!(
        (getppid.calls, getppid.errors),
        (THREADS * CALLS, 0),
        "\n{table}"
    );
    let close = row(&table, "close").unwrap_or_else(|| panic!("no close row\n{table}"));
    assert_eq!(close.errors, THREADS * FAILS, "close(-1) errors\n{table}");
    assert!(close.calls >= THREADS * FAILS, "close calls\n{table}");
    assert_eq!(
        header_count(&table, "task"),
        THREADS + 1,
        "tasks followed\n{table}"
    );
    assert_eq!(
        header_count(&table, "process"),
        1,
        "processes followed\n{table}"
    );
    assert!(
        table
            .lines()
            .next()
            .unwrap()
            .contains("exited with status 3"),
        "\n{table}"
    );
}

#[test]
fn follows_a_pipeline_with_f() {
    let (out, table) = run(
        &["-f"],
        &["/bin/sh", "-c", "echo a | cat >/dev/null; exit 4"],
    );
    assert_eq!(out.status.code(), Some(4), "\n{table}");
    assert_clean(&table);
    assert!(
        header_count(&table, "process") >= 3,
        "sh and both sides of the pipe\n{table}"
    );
    let execve = row(&table, "execve").unwrap_or_else(|| panic!("no execve row\n{table}"));
    assert!(execve.calls >= 2, "execve of sh and cat\n{table}");
    let pipe = row(&table, "pipe2").or_else(|| row(&table, "pipe"));
    assert!(pipe.is_some_and(|p| p.calls >= 1), "the pipe\n{table}");
}

#[test]
fn without_f_forks_are_not_followed() {
    let (out, table) = run(&[], &["/bin/sh", "-c", "echo a | cat >/dev/null"]);
    assert_eq!(out.status.code(), Some(0), "\n{table}");
    assert_clean(&table);
    assert_eq!(header_count(&table, "process"), 1, "\n{table}");
    let execve = row(&table, "execve").unwrap_or_else(|| panic!("no execve row\n{table}"));
    assert_eq!(execve.calls, 1, "only sh's own execve\n{table}");
}

#[test]
fn output_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("table");
    let (out, stderr) = run(&["-o", file.to_str().unwrap()], &["/bin/true"]);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr, "", "nothing on stderr with -o");
    let table = std::fs::read_to_string(&file).expect("read the table");
    assert_clean(&table);
    assert_eq!(
        row(&table, "exit_group").map(|r| r.calls),
        Some(1),
        "\n{table}"
    );
}

/// Kills a process when dropped, so that a failing test leaves nothing running (a leftover
/// would hold the test's output pipes open).
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0 as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

fn tracer_pid(pid: u32, tid: &str) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("TracerPid:")?.trim().parse().ok())
}

fn tasks(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name().to_str()?.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn interrupt_and_collect(mut t: Child, table_file: &Path) -> String {
    std::thread::sleep(Duration::from_millis(200));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(t.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT to truss");
    wait_until("truss exits after SIGINT", || {
        t.try_wait().expect("try_wait").is_some()
    });
    let st = t.wait().expect("wait truss");
    let table = std::fs::read_to_string(table_file).expect("read the table");
    assert!(st.success(), "truss after SIGINT: {st}\n{table}");
    assert!(
        table.lines().next().unwrap_or("").ends_with("detached"),
        "\n{table}"
    );
    assert_clean(&table);
    table
}

/// The target keeps running untraced after the detach: every thread has TracerPid 0 and
/// the process is not stopped.
fn assert_detached(pid: u32, table: &str) {
    for tid in tasks(pid) {
        assert_eq!(
            tracer_pid(pid, &tid),
            Some(0),
            "task {tid} still traced\n{table}"
        );
    }
    let state = state(pid);
    assert!(
        state == "R" || state == "S",
        "state {state} after detach\n{table}"
    );
}

/// The process's state letter from /proc/PID/stat (R, S, T, t, ...).
fn state(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("")
        .to_string()
}

/// The threaded program looping forever, once all its threads exist; killed when the guard
/// drops.
fn threaded_forever(bin: &Path) -> (Child, KillOnDrop) {
    let target = Command::new(bin)
        .arg("forever")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn target");
    let pid = target.id();
    wait_until("all threads exist", || {
        tasks(pid).len() as u64 == THREADS + 1
    });
    (target, KillOnDrop(pid))
}

/// `truss -o FILE -p PID`, its stderr discarded.
fn truss_attach(file: &Path, pid: u32) -> Child {
    truss()
        .args(["truss", "-o"])
        .arg(file)
        .args(["-p", &pid.to_string()])
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn truss")
}

#[test]
fn sigint_detaches_an_attached_process() {
    let (dir, bin) = threaded();
    let (mut target, guard) = threaded_forever(&bin);
    let pid = target.id();
    let file = dir.path().join("table");
    let t = truss_attach(&file, pid);
    wait_until("truss attached", || {
        tracer_pid(pid, &pid.to_string()) != Some(0)
    });
    let table = interrupt_and_collect(t, &file);
    assert_detached(pid, &table);
    assert!(
        row(&table, "getppid").is_some_and(|r| r.calls > 0),
        "\n{table}"
    );
    drop(guard);
    target.wait().expect("reap target");
}

/// SIGINT to truss (not from a terminal) while it traces a command it started: as with
/// strace, the command gets the signal, truss waits for it to end and returns its status
/// (130: killed by SIGINT); nothing is left running, the table says how the command ended.
#[test]
fn sigint_is_passed_on_to_a_launched_command() {
    let (dir, bin) = threaded();
    let file = dir.path().join("table");
    let mut t = truss()
        .args(["truss", "-o"])
        .arg(&file)
        .arg("--")
        .arg(&bin)
        .arg("forever")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn truss");
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(t.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT to truss");
    wait_until("truss exits after SIGINT", || {
        t.try_wait().expect("try_wait").is_some()
    });
    let st = t.wait().expect("wait truss");
    let table = std::fs::read_to_string(&file).expect("read the table");
    assert_eq!(st.code(), Some(130), "the command's status\n{table}");
    let head = table.lines().next().unwrap();
    assert!(head.ends_with("killed by SIGINT"), "\n{table}");
    let pid: u32 = head
        .split_whitespace()
        .nth(3)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {head:?}"));
    let _guard = KillOnDrop(pid);
    wait_until("the command is gone", || {
        let s = state(pid);
        s.is_empty() || s == "Z"
    });
}

/// The rows come sorted by time, the most first (strace -c), or as -S says; truss's own
/// search of PATH is not counted (one execve, no error).
#[test]
fn rows_sorted_and_path_search_not_counted() {
    let (out, table) = run(&[], &["ls", "/"]);
    assert!(out.status.success(), "{table}");
    let execve = row(&table, "execve").unwrap_or_else(|| panic!("no execve row\n{table}"));
    assert_eq!((execve.calls, execve.errors), (1, 0), "\n{table}");
    let column = |table: &str, i: usize| -> Vec<String> {
        table
            .lines()
            .skip(2)
            .take_while(|l| !l.starts_with("total"))
            .map(|l| l.split_whitespace().nth(i).unwrap().to_string())
            .collect()
    };
    let secs: Vec<f64> = column(&table, 1)
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(secs.windows(2).all(|w| w[0] >= w[1]), "by time\n{table}");
    let (_, table) = run(&["-S", "calls"], &["ls", "/"]);
    let calls: Vec<u64> = column(&table, 2)
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(calls.windows(2).all(|w| w[0] >= w[1]), "by calls\n{table}");
    let (_, table) = run(&["-c", "-S", "name"], &["ls", "/"]);
    let names = column(&table, 0);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "by name\n{table}");
}

/// A command that cannot run: the shell's status and the reason, and no table; `-o` that
/// cannot be written fails before the command runs.
#[test]
fn command_that_cannot_run() {
    let (out, err) = run(&[], &["no-such-command-anywhere"]);
    assert_eq!(out.status.code(), Some(127), "{err}");
    assert!(
        err.contains("No such file or directory") && !err.contains("syscall"),
        "{err}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let (out, err) = run(
        &["-o", "/nonexistent/dir/out"],
        &["/bin/sh", "-c", &format!("touch {}", marker.display())],
    );
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!marker.exists(), "the command ran although -o failed");
}

/// `-p` on a process stopped by SIGSTOP: truss attaches and leaves it stopped (a group stop is
/// the user's, not the tracer's), follows it once SIGCONT arrives, and detaches cleanly.
#[test]
fn attaches_to_a_stopped_process_and_follows_it_after_sigcont() {
    let (dir, bin) = threaded();
    let (mut target, guard) = threaded_forever(&bin);
    let pid = target.id();
    let nix_pid = nix::unistd::Pid::from_raw(pid as i32);
    nix::sys::signal::kill(nix_pid, nix::sys::signal::Signal::SIGSTOP).expect("SIGSTOP");
    wait_until("the target is stopped", || state(pid) == "T");
    let file = dir.path().join("table");
    let t = truss_attach(&file, pid);
    let _truss = KillOnDrop(t.id());
    wait_until("every thread traced", || {
        tasks(pid)
            .iter()
            .all(|tid| tracer_pid(pid, tid).is_some_and(|p| p != 0))
    });
    std::thread::sleep(Duration::from_millis(200));
    let stopped = state(pid);
    assert!(
        stopped == "t" || stopped == "T",
        "state {stopped} after attaching to a stopped process: truss resumed it"
    );
    nix::sys::signal::kill(nix_pid, nix::sys::signal::Signal::SIGCONT).expect("SIGCONT");
    let table = interrupt_and_collect(t, &file);
    assert_detached(pid, &table);
    assert!(
        row(&table, "getppid").is_some_and(|r| r.calls > 0),
        "no getppid counted after SIGCONT\n{table}"
    );
    drop(guard);
    target.wait().expect("reap target");
}
