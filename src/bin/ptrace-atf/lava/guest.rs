//! What the LAVA ramdisk holds beyond `vm`'s image: an /init that gives LAVA a root shell
//! on the console (LAVA drives the test itself, over that shell), and `lava-test`, the
//! script the job's test definition runs: it runs the suite and reports each ATF case with
//! `lava-test-case`, then the kernel's health. Pure: strings only.

use crate::vm::console::TROUBLE;
use crate::vm::guest::{BIN, DB, TREE, WRAP};

/// The shell prompt the ramdisk's shell prints (the job's boot `prompts`).
pub const PROMPT: &str = "ptrace-atf-lava# ";
/// The script the test definition runs, in the guest.
pub const LAVA_TEST: &str = "/opt/ptrace-atf/lava-test";
/// What the script prints before each case's `lava-test-case` call: the case's kyua line
/// (type and reason, which LAVA's pass/fail/skip cannot hold). The results bridge reads it.
pub const RESULT_MARK: &str = "ptrace-atf-lava: result ";
/// The kernel-log marks around the run (the health check reads the log between them).
pub const START_MARK: &str = "ptrace-atf-lava: suite start";
/// The name of the whole-run kernel health test case.
pub const HEALTH_CASE: &str = "kernel-health";
/// The name of the test case saying whether the suite ran to its end.
pub const RUN_CASE: &str = "suite-run";

/// The LAVA test case name of an ATF case `area/program:case`: `program.case` (LAVA
/// turns `/` into `_`; program names are unique across areas and hold no dot).
pub fn lava_name(id: &str) -> Option<String> {
    let (prog, case) = id.split_once(':')?;
    let prog = prog.rsplit('/').next()?;
    (!prog.is_empty() && !case.is_empty()).then(|| format!("{prog}.{case}"))
}

/// The ramdisk's /init: mounts, then a root shell on the console for LAVA, forever.
pub fn init_script() -> String {
    format!(
        r#"#!/bin/busybox sh
# The ramdisk's init, written by `ptrace-atf lava`: a root shell on the console, which
# LAVA drives (its overlay, /lava-*, was unpacked into this ramdisk by LAVA).
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin:/sbin:/usr/sbin HOME=/root TMPDIR=/tmp
{setup}hostname ptrace-atf-lava
echo "ptrace-atf-lava: kernel $(uname -r), $(nproc) CPUs; overlay: $(ls -d /lava-* 2>/dev/null || echo none)"
export PS1='{PROMPT}'
while :; do
    setsid cttyhack sh
    sleep 1
done
"#,
        setup = crate::vm::guest::setup(),
    )
}

/// `lava-test [-j JOBS] [-s TIME_SCALE] [-v NAME=VALUE]... [FILTER...]`: runs the suite (kyua when the ramdisk
/// has it) and reports each case as it finishes.
pub fn lava_test_script(with_kyua: bool) -> String {
    let db_opt = if with_kyua {
        format!("--results-file {DB}")
    } else {
        "--direct".to_string()
    };
    let trouble = TROUBLE.join("|").replace('(', "\\(");
    format!(
        r#"#!/bin/sh
# Written by `ptrace-atf lava`: runs the ptrace-atf suite under LAVA's test shell and
# reports every ATF case with lava-test-case (passed, expected_failure -> pass;
# skipped -> skip; failed, broken -> fail), printing its kyua line (type and reason) just
# before; then the whole run's kernel health (taint, kernel log) as {HEALTH_CASE}.
jobs=$(nproc)
scale=${{PTRACE_ATF_TIME_SCALE:-1}}
vars=
while getopts j:s:v: o; do
    case $o in
    j) [ -n "$OPTARG" ] && jobs=$OPTARG ;;
    s) [ -n "$OPTARG" ] && scale=$OPTARG ;;
    v) vars="$vars -v $OPTARG" ;;
    *) echo "usage: lava-test [-j JOBS] [-s TIME_SCALE] [-v NAME=VALUE]... [FILTER...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
export PTRACE_ATF_TIME_SCALE=$scale
report() {{
    if command -v lava-test-case >/dev/null 2>&1; then
        lava-test-case "$@"
    else
        echo "(no lava-test-case here) $*"
    fi
}}
t0=$(cat /proc/sys/kernel/tainted)
echo "ptrace-atf-lava: kernel $(uname -r), $(nproc) CPUs, tainted $t0 at start, PTRACE_ATF_TIME_SCALE=$scale, -j $jobs"
[ "$t0" = 0 ] || echo "ptrace-atf-lava: the kernel was already tainted ($t0) before the suite started"
echo "{START_MARK}" > /dev/kmsg
rm -f {DB} /tmp/status
n=0
{{ {BIN}/ptrace-atf --bin-dir {WRAP} test --tree {TREE} -j "$jobs" {db_opt} $vars "$@"; echo $? > /tmp/status; }} 2>&1 |
while IFS= read -r l; do
    echo "$l"
    case "$l" in
    *"  ->  "*) ;;
    *) continue ;;
    esac
    id=${{l%%  ->  *}}
    rest=${{l#*  ->  }}
    prog=${{id%%:*}}
    prog=${{prog##*/}}
    name="$prog.${{id#*:}}"
    type=${{rest%%[: ]*}}
    secs=$(echo "$rest" | sed -n 's/.*  \[\([0-9.]*\)s\]$/\1/p')
    case $type in
    passed | expected_failure) r=pass ;;
    skipped) r=skip ;;
    *) r=fail ;;
    esac
    echo "{RESULT_MARK}$l"
    if [ -n "$secs" ]; then
        report "$name" --result $r --measurement "$secs" --units seconds
    else
        report "$name" --result $r
    fi
done
st=$(cat /tmp/status 2>/dev/null || echo 255)
t1=$(cat /proc/sys/kernel/tainted)
dmesg | sed -n '\|{START_MARK}|,$p' | grep -E '{trouble}' > /tmp/trouble
if [ "$st" = 0 ] || [ "$st" = 1 ]; then
    echo "ptrace-atf-lava: the suite ran to its end (status $st)"
    report {RUN_CASE} --result pass
else
    echo "ptrace-atf-lava: the suite did not run to its end (status $st: 3 programs missing, 4 kyua's error)"
    report {RUN_CASE} --result fail
fi
if [ "$t1" != "$t0" ] || [ -s /tmp/trouble ]; then
    echo "ptrace-atf-lava: kernel health: tainted $t0 -> $t1; kernel log during the run:"
    sed 's/^/ptrace-atf-lava:   /' /tmp/trouble
    report {HEALTH_CASE} --result fail
else
    echo "ptrace-atf-lava: kernel health: tainted $t1, no BUG/Oops/WARNING/stall in the kernel log"
    report {HEALTH_CASE} --result pass
fi
exit 0
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lava_names_are_program_dot_case() {
        assert_eq!(
            lava_name("fork/t_fork_waitpid:fork1").as_deref(),
            Some("t_fork_waitpid.fork1")
        );
        assert_eq!(lava_name("t_zombie:a_b").as_deref(), Some("t_zombie.a_b"));
        assert_eq!(lava_name("fork/t_fork"), None);
        assert_eq!(lava_name("fork/t_fork:"), None);
    }

    #[test]
    fn init_gives_lava_a_shell_with_the_prompt() {
        let s = init_script();
        assert!(s.starts_with("#!/bin/busybox sh\n"));
        assert!(s.contains(&format!("export PS1='{PROMPT}'")));
        assert!(s.contains("setsid cttyhack sh"));
    }

    #[test]
    fn the_script_reports_each_case_and_the_health() {
        let s = lava_test_script(true);
        assert!(s.contains("--results-file /tmp/results.db $vars \"$@\""));
        assert!(s.contains("passed | expected_failure) r=pass"));
        assert!(s.contains("report kernel-health --result fail"));
        assert!(s.contains("grep -E 'BUG:|Oops:|WARNING:|general protection fault|"));
        assert!(lava_test_script(false).contains(" --direct $vars \"$@\""));
    }

    /// `lava-test` with the suite replaced by `suite` (sh text) and the kernel's files by
    /// `tainted` (two lines: before, after) and `dmesg` (the kernel log); its output.
    fn run_script(suite: &str, tainted: (&str, &str), dmesg: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("suite.sh");
        std::fs::write(&fake, suite).unwrap();
        let t = dir.path().join("tainted");
        std::fs::write(&t, tainted.0).unwrap();
        let log = dir.path().join("dmesg");
        std::fs::write(&log, dmesg).unwrap();
        // The script's own files go to the temporary directory (tests run at once).
        let script = lava_test_script(true).replace("/tmp/", &format!("{}/", dir.path().display()));
        let start = script.find("{ /opt/ptrace-atf/bin/ptrace-atf").unwrap();
        let end = start + script[start..].find("; echo $?").unwrap();
        let mut s = script.clone();
        s.replace_range(
            start..end,
            &format!(
                "{{ sh {}; s=$?; echo {} > {}; (exit $s)",
                fake.display(),
                tainted.1,
                t.display()
            ),
        );
        let s = s
            .replace("/proc/sys/kernel/tainted", &t.to_string_lossy())
            .replace("> /dev/kmsg", "> /dev/null")
            .replace("dmesg |", &format!("cat {} |", log.display()));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&s)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn health_fails_on_new_taint_or_kernel_trouble() {
        let ok = "echo 'z/t_z:a  ->  passed  [0.1s]'\n";
        let start = format!("[ 1.0] {START_MARK}\n");
        let quiet = run_script(ok, ("0", "0"), &format!("[ 0.5] WARNING: before\n{start}"));
        assert!(quiet.contains("kernel-health --result pass"), "{quiet}");
        let tainted = run_script(ok, ("0", "512"), &start);
        assert!(tainted.contains("tainted 0 -> 512"), "{tainted}");
        assert!(tainted.contains("kernel-health --result fail"), "{tainted}");
        let oops = run_script(
            ok,
            ("0", "0"),
            &format!("{start}[ 2.0] BUG: unable to handle page fault\n[ 2.1] Oops: 0001 [#1]\n"),
        );
        assert!(oops.contains("kernel-health --result fail"), "{oops}");
        assert!(
            oops.contains("ptrace-atf-lava:   [ 2.1] Oops: 0001 [#1]"),
            "{oops}"
        );
        let pre = run_script(ok, ("4096", "4096"), &start);
        assert!(pre.contains("already tainted (4096)"), "{pre}");
        assert!(pre.contains("kernel-health --result pass"), "{pre}");
        let died = run_script("exit 4\n", ("0", "0"), &start);
        assert!(died.contains("suite-run --result fail"), "{died}");
    }

    /// The script's parsing of kyua lines, run by the host's sh with a fake suite.
    #[test]
    fn the_script_maps_kyua_lines_to_lava_results() {
        let text = run_script(
            "echo 'zombie/t_zombie_waitpid:a  ->  passed  [0.010s]'\n\
             echo 'zombie/t_zombie_waitpid:b  ->  skipped: no debug registers  [0.002s]'\n\
             echo 'zombie/t_zombie_waitpid:c  ->  expected_failure: bug 1: x != y  [1.5s]'\n\
             echo 'zombie/t_zombie_waitpid:d  ->  failed: x != y at a.rs:1  [0.3s]'\n\
             echo 'zombie/t_zombie_waitpid:e  ->  broken: timed out'\n\
             echo 'other output'\n\
             exit 1\n",
            ("0", "0"),
            "",
        );
        for want in [
            "(no lava-test-case here) t_zombie_waitpid.a --result pass --measurement 0.010 --units seconds",
            "(no lava-test-case here) t_zombie_waitpid.b --result skip --measurement 0.002",
            "(no lava-test-case here) t_zombie_waitpid.c --result pass --measurement 1.5",
            "(no lava-test-case here) t_zombie_waitpid.d --result fail --measurement 0.3",
            "(no lava-test-case here) t_zombie_waitpid.e --result fail\n",
            "ptrace-atf-lava: result zombie/t_zombie_waitpid:d  ->  failed: x != y at a.rs:1  [0.3s]",
            "(no lava-test-case here) suite-run --result pass",
            "(no lava-test-case here) kernel-health --result pass",
        ] {
            assert!(text.contains(want), "{want:?} not in:\n{text}");
        }
    }
}
