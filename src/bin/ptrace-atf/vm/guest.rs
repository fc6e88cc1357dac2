//! What the guest holds and does: the initramfs contents (the suite's programs, busybox,
//! the libraries, kyua when present, users) and its /init script, which runs the suite and
//! writes the results to the channel (the second serial port). Pure: nothing here touches
//! the host's files.

use super::channel;
use super::initramfs::Image;
use std::path::PathBuf;

/// Where the suite lives in the guest.
pub const BIN: &str = "/opt/ptrace-atf/bin";
/// Wrappers named like the test programs: each logs the case it starts to the kernel log
/// (so the console shows which case was running when the kernel died), then execs the
/// real program under the name it was called by (the name picks the waiter).
pub const WRAP: &str = "/opt/ptrace-atf/wrap";
/// The tree `ptrace-atf test` installs and runs in the guest.
pub const TREE: &str = "/tmp/tree";
/// The results database kyua writes in the guest.
pub const DB: &str = "/tmp/results.db";
/// The prefix of the start lines the wrappers write to /dev/kmsg.
pub const START_MARK: &str = "ptrace-atf-vm: start ";
/// The serial device of the channel in the guest (the second port, 8250: built into
/// every x86 distribution kernel, unlike virtio).
pub const CHANNEL_TTY: &str = "/dev/ttyS1";

/// kyua and the files it needs.
#[derive(Debug, Clone)]
pub struct Kyua {
    pub bin: PathBuf,
    /// (guest path, host path): its data directory (/usr/share/kyua: the store's schema).
    pub data: Vec<(String, PathBuf)>,
}

/// Everything the guest image is made of.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The `ptrace-atf` command (host path).
    pub runner: PathBuf,
    /// The test programs: (name, host path), e.g. ("t_fork", ...).
    pub programs: Vec<(String, PathBuf)>,
    /// busybox, statically linked.
    pub busybox: PathBuf,
    /// Shared libraries (host paths), copied to the same paths in the guest.
    pub libs: Vec<PathBuf>,
    pub kyua: Option<Kyua>,
    pub run: Run,
}

/// How the guest runs the suite.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub filters: Vec<String>,
    pub jobs: u16,
    pub vars: Vec<(String, String)>,
    /// Run without kyua even when it is in the image.
    pub direct: bool,
    pub verbose: bool,
    /// Seconds between the guest's heartbeats on the channel.
    pub heartbeat: u32,
    /// Shell commands run before the suite (testing `vm` itself).
    pub prelude: Option<String>,
}

/// A word quoted for sh.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=+,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The `ptrace-atf test` command line the guest runs.
pub fn test_command(run: &Run, with_kyua: bool) -> String {
    let mut words = vec![
        format!("{BIN}/ptrace-atf"),
        "--bin-dir".into(),
        WRAP.into(),
        "test".into(),
        "--tree".into(),
        TREE.into(),
        "-j".into(),
        run.jobs.max(1).to_string(),
    ];
    if run.direct || !with_kyua {
        words.push("--direct".into());
    } else {
        words.push("--results-file".into());
        words.push(DB.into());
    }
    if run.verbose {
        words.push("--verbose".into());
    }
    for (k, v) in &run.vars {
        words.push("-v".into());
        words.push(format!("{k}={v}"));
    }
    words.extend(run.filters.iter().cloned());
    words
        .iter()
        .map(|w| sh_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What every init of ours (`vm`'s, and the LAVA ramdisk's) does first: the filesystems the
/// suite needs, a kernel log the wrappers may write to (also as the unprivileged user), and,
/// under an emulated CPU only (the program decides from CPUID), the perf event that keeps the
/// kernel from patching its text while the suite runs (`hold.rs`).
pub fn setup() -> String {
    format!(
        "{}# The wrappers log each case's start, also when it runs as the unprivileged user.
chmod a+w /dev/kmsg
{BIN}/ptrace-atf hold-perf-event &
",
        "mount -t proc proc /proc\nmount -t sysfs sysfs /sys\nmount -t devtmpfs devtmpfs /dev 2>/dev/null\nmkdir -p /dev/pts /dev/shm\nmount -t devpts devpts /dev/pts\nmount -t tmpfs -o mode=1777 tmpfs /dev/shm\nmount -t tmpfs -o mode=1777 tmpfs /tmp\n"
    )
}

/// The guest's /init.
pub fn init_script(spec: &Spec) -> String {
    let with_kyua = spec.kyua.is_some();
    let cmd = test_command(&spec.run, with_kyua);
    let hb = spec.run.heartbeat.max(1);
    format!(
        r#"#!/bin/busybox sh
# The guest's init, written by `ptrace-atf vm`: runs the suite, sends the results to the
# host on {tty}, powers off.
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin HOME=/root TMPDIR=/tmp
{setup}hostname ptrace-atf-vm
stty -F {tty} 115200 raw -echo 2>/dev/null
exec 3>{tty}
ch() {{ echo "$*" >&3; }}
ch "{begin}"
ch "{kernel} $(uname -r)"
ch "{version} $(cat /proc/version)"
ch "{cpus} $(nproc)"
ch "{tainted} $(cat /proc/sys/kernel/tainted)"
ch "{scale} ${{PTRACE_ATF_TIME_SCALE:-1}}"
echo "ptrace-atf-vm: kernel $(uname -r), $(nproc) CPUs, PTRACE_ATF_TIME_SCALE=${{PTRACE_ATF_TIME_SCALE:-unset}}"
(while sleep {hb}; do ch "{alive} $(cut -d' ' -f1 /proc/uptime)"; done) &
hb=$!
{prelude}
echo "ptrace-atf-vm: running: {cmd_shown}"
{{ {cmd}; echo $? > /tmp/status; }} 2>&1 | while IFS= read -r l; do
    echo "$l"
    ch "{line} $l"
done
kill $hb
st=$(cat /tmp/status 2>/dev/null || echo 255)
ch "{tainted_end} $(cat /proc/sys/kernel/tainted)"
ch "{status} $st"
if [ -f {db} ]; then
    ch "{file} results.db $(wc -c < {db})"
    gzip -c {db} | base64 >&3
    ch "{end_file}"
fi
ch "{end}"
exec 3>&-
echo "ptrace-atf-vm: done (status $st); powering off"
sync
poweroff -f
echo o > /proc/sysrq-trigger
while :; do sleep 60; done
"#,
        tty = CHANNEL_TTY,
        begin = channel::Tag::Begin.text(),
        kernel = channel::Tag::Kernel.text(),
        version = channel::Tag::Version.text(),
        cpus = channel::Tag::Cpus.text(),
        tainted = channel::Tag::Tainted.text(),
        tainted_end = channel::Tag::TaintedEnd.text(),
        scale = channel::Tag::TimeScale.text(),
        alive = channel::Tag::Alive.text(),
        line = channel::Tag::Line.text(),
        status = channel::Tag::Status.text(),
        file = channel::Tag::File.text(),
        end_file = channel::Tag::EndFile.text(),
        end = channel::Tag::End.text(),
        db = DB,
        setup = setup(),
        prelude = spec.run.prelude.as_deref().unwrap_or(""),
        cmd_shown = cmd.replace(['"', '$', '`', '\\'], "_"),
    )
}

/// A wrapper for test program `name`: logs the case it starts, then execs the program.
pub fn wrapper(name: &str) -> String {
    format!(
        r#"#!/bin/sh
listing=
for a; do [ "$a" = -l ] && listing=1; last=$a; done
[ -n "$listing" ] || echo "{START_MARK}${{0#{TREE}/}}:$last" > /dev/kmsg 2>/dev/null
exec -a "$0" {BIN}/{name} "$@"
"#
    )
}

/// /etc/passwd: root and the unprivileged user the suite's cases need.
pub const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
pub const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

/// The guest's initramfs.
pub fn image(spec: &Spec) -> Image {
    let mut img = Image::new();
    for d in ["proc", "sys", "dev", "root", "run", "usr/bin"] {
        img.dir(d, 0o755);
    }
    img.dir("tmp", 0o1777);
    // The kernel opens /dev/console for init before devtmpfs is mounted.
    img.char_dev("dev/console", 0o600, 5, 1);
    img.char_dev("dev/null", 0o666, 1, 3);
    img.host_file("bin/busybox", 0o755, &spec.busybox);
    // The wrappers' interpreter; /init installs the other applets.
    img.symlink("bin/sh", "busybox");
    img.file("init", 0o755, init_script(spec));
    img.file("etc/passwd", 0o644, PASSWD);
    img.file("etc/group", 0o644, GROUP);
    img.file("etc/nsswitch.conf", 0o644, "passwd: files\ngroup: files\n");
    img.file("etc/hostname", 0o644, "ptrace-atf-vm\n");
    img.host_file(&format!("{BIN}/ptrace-atf"), 0o755, &spec.runner);
    for (name, host) in &spec.programs {
        img.host_file(&format!("{BIN}/{name}"), 0o755, host);
        img.file(&format!("{WRAP}/{name}"), 0o755, wrapper(name));
    }
    for lib in &spec.libs {
        img.host_file(&lib.to_string_lossy(), 0o755, lib);
    }
    if let Some(k) = &spec.kyua {
        img.host_file("usr/bin/kyua", 0o755, &k.bin);
        for (guest, host) in &k.data {
            img.host_file(guest, 0o644, host);
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::initramfs::{Body, read_newc};

    fn spec(kyua: bool) -> Spec {
        Spec {
            runner: "/host/target/release/ptrace-atf".into(),
            programs: vec![
                ("t_fork".into(), "/host/target/release/t_fork".into()),
                ("t_lwp".into(), "/host/target/release/t_lwp".into()),
            ],
            busybox: "/usr/bin/busybox".into(),
            libs: vec![
                "/lib/x86_64-linux-gnu/libc.so.6".into(),
                "/lib64/ld-linux-x86-64.so.2".into(),
            ],
            kyua: kyua.then(|| Kyua {
                bin: "/usr/bin/kyua".into(),
                data: vec![(
                    "usr/share/kyua/store/schema_v3.sql".into(),
                    "/usr/share/kyua/store/schema_v3.sql".into(),
                )],
            }),
            run: Run {
                filters: vec!["fork/t_fork_waitpid".into(), "lwp".into()],
                jobs: 2,
                heartbeat: 10,
                ..Run::default()
            },
        }
    }

    #[test]
    fn the_image_holds_init_programs_libraries_and_users() {
        let img = image(&spec(true));
        let paths: Vec<_> = img.paths().collect();
        for p in [
            "init",
            "bin/busybox",
            "dev/console",
            "opt/ptrace-atf/bin/ptrace-atf",
            "opt/ptrace-atf/bin/t_fork",
            "opt/ptrace-atf/bin/t_lwp",
            "opt/ptrace-atf/wrap/t_fork",
            "lib/x86_64-linux-gnu/libc.so.6",
            "lib64/ld-linux-x86-64.so.2",
            "usr/bin/kyua",
            "usr/share/kyua/store/schema_v3.sql",
            "etc/passwd",
            "etc/group",
            "tmp",
            "proc",
            "sys",
        ] {
            assert!(paths.contains(&p), "{p} missing from {paths:?}");
        }
        let Some(Body::File(crate::vm::initramfs::Content::Bytes(pw))) =
            img.get("etc/passwd").map(|e| e.body.clone())
        else {
            panic!("no passwd")
        };
        assert!(String::from_utf8_lossy(&pw).contains("\nnobody:x:65534:65534:"));
        assert_eq!(img.get("tmp").map(|e| e.mode), Some(0o1777));
    }

    #[test]
    fn the_archive_of_a_small_image_lists_init_and_users() {
        let mut s = spec(false);
        // Host files that exist everywhere stand in for the programs.
        s.runner = "/bin/sh".into();
        s.programs = vec![("t_fork".into(), "/bin/sh".into())];
        s.busybox = "/bin/sh".into();
        s.libs = vec![];
        let mut buf = Vec::new();
        image(&s).write_newc(&mut buf).unwrap();
        let names: Vec<String> = read_newc(&buf)
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        for p in [
            "init",
            "etc/passwd",
            "opt/ptrace-atf/bin/t_fork",
            "dev/console",
        ] {
            assert!(names.iter().any(|n| n == p), "{p} missing");
        }
    }

    #[test]
    fn init_runs_the_filters_and_reports_on_the_channel() {
        let with = init_script(&spec(true));
        assert!(with.starts_with("#!/bin/busybox sh\n"));
        assert!(with.contains(
            "/opt/ptrace-atf/bin/ptrace-atf --bin-dir /opt/ptrace-atf/wrap test --tree /tmp/tree -j 2 --results-file /tmp/results.db fork/t_fork_waitpid lwp"
        ));
        assert!(with.contains("exec 3>/dev/ttyS1"));
        assert!(with.contains("poweroff -f"));
        let without = init_script(&spec(false));
        assert!(without.contains("test --tree /tmp/tree -j 2 --direct fork/t_fork_waitpid lwp"));
    }

    #[test]
    fn vars_and_odd_words_are_quoted() {
        let run = Run {
            vars: vec![("iterations".into(), "10 0".into())],
            filters: vec!["it's".into()],
            ..Run::default()
        };
        let c = test_command(&run, false);
        assert!(c.ends_with("-v 'iterations=10 0' 'it'\\''s'"), "{c}");
    }

    #[test]
    fn the_wrapper_keeps_the_name_and_logs_the_case() {
        let w = wrapper("t_fork");
        assert!(w.contains("exec -a \"$0\" /opt/ptrace-atf/bin/t_fork \"$@\""));
        assert!(w.contains("ptrace-atf-vm: start ${0#/tmp/tree/}:$last"));
    }
}
