//! Threads in a forked child come from `ptrace_atf::trace::child_thread` (pthread_create),
//! never from `std::thread`: every std thread start takes a process-wide Rust mutex, which a
//! fork that caught another thread of the tracer (the watchdog) holding it leaves locked in
//! the child forever (see child_thread's documentation). Scenario files may start std threads
//! only on the tracer's side, in the files listed here with what the thread does.

use std::fs;
use std::path::Path;

use ptrace_atf::suite::AREAS;

/// Files whose std threads run in the tracer, never in a forked child.
const TRACER_SIDE: &[(&str, &str)] = &[(
    "tests/signals/kill.rs",
    "a tracer thread blocked in wait(2) while the main thread kills the tracee",
)];

const STD_THREADS: &[&str] = &["thread::spawn", "thread::Builder", "thread::scope"];

/// Whether `line` names a std thread constructor (`thread::spawn`, not `child_thread::spawn`).
fn starts_std_thread(line: &str) -> bool {
    STD_THREADS.iter().any(|s| {
        line.match_indices(s).any(|(at, _)| {
            !line[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    })
}

#[test]
fn forked_children_start_no_std_threads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut wrong = Vec::new();
    for a in AREAS {
        let dir = root.join("tests").join(a.dir);
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .collect();
        files.sort();
        for path in files {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if TRACER_SIDE.iter().any(|(f, _)| *f == rel) {
                continue;
            }
            let text = fs::read_to_string(&path).unwrap();
            for (i, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                if starts_std_thread(line) {
                    wrong.push(format!("{rel}:{}: {}", i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "std threads in scenario files (use ptrace_atf::trace::child_thread in a forked child, \
         or list a tracer-side file in TRACER_SIDE):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_tracer_side_files_still_start_std_threads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (file, _) in TRACER_SIDE {
        let text = fs::read_to_string(root.join(file)).unwrap();
        assert!(
            text.lines().any(starts_std_thread),
            "{file} starts no std thread any more: drop it from TRACER_SIDE"
        );
    }
}
