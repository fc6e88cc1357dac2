//! Driving QEMU: the only code that knows QEMU. Builds the command line, starts
//! qemu-system-x86_64 with the console and the channel on two serial ports backed by host
//! files, follows both files while it runs, and stops it when the guest is done, panicked,
//! went silent or ran out of time. It never waits forever.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// One boot.
#[derive(Debug, Clone)]
pub struct Boot {
    pub qemu: PathBuf,
    pub accel: Accel,
    pub cpu: String,
    pub smp: u16,
    pub mem_mb: u32,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// The kernel command line.
    pub append: String,
    pub console: PathBuf,
    pub channel: PathBuf,
    /// qemu's own stdout and stderr.
    pub log: PathBuf,
}

/// The package that provides qemu-system-x86_64 on Debian.
pub const PACKAGE: &str = "qemu-system-x86";

/// qemu-system-x86_64 in PATH.
pub fn find() -> Option<PathBuf> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join("qemu-system-x86_64"))
        .find(|p| p.is_file())
}

/// The CPU models `qemu -cpu help` lists (`None` when it cannot be asked).
pub fn cpu_models(qemu: &Path) -> Option<Vec<String>> {
    let out = std::process::Command::new(qemu)
        .args(["-cpu", "help"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| models_listed(&String::from_utf8_lossy(&out.stdout)))?
}

/// The model names in `-cpu help` output: lines `x86 NAME  description`.
fn models_listed(text: &str) -> Option<Vec<String>> {
    let names: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("x86 "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect();
    (!names.is_empty()).then_some(names)
}

/// Checks a `--qemu-cpu` value (`max`, `max,la57=off`) against the models qemu lists, so
/// a typo is a usage error and not a boot that fails twice (KVM, then TCG).
pub fn check_cpu(model: &str, known: Option<&[String]>) -> Result<(), String> {
    let name = model.split(',').next().unwrap_or_default();
    match known {
        Some(k) if !k.iter().any(|m| m == name) => Err(format!(
            "--qemu-cpu {model}: qemu-system-x86_64 has no CPU model '{name}' (see: qemu-system-x86_64 -cpu help)"
        )),
        _ => Ok(()),
    }
}

/// Whether /dev/kvm can be opened (KVM may still fail when it starts: nested KVM).
pub fn kvm_device_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// A value inside a QEMU option list: commas are doubled.
fn opt_value(p: &Path) -> String {
    p.to_string_lossy().replace(',', ",,")
}

/// qemu's arguments for `b`.
pub fn args(b: &Boot) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "-accel".into(),
        b.accel.name().into(),
        "-cpu".into(),
        b.cpu.clone(),
        "-smp".into(),
        b.smp.to_string(),
        "-m".into(),
        b.mem_mb.to_string(),
        "-nodefaults".into(),
        "-display".into(),
        "none".into(),
        "-no-reboot".into(),
        "-kernel".into(),
        b.kernel.to_string_lossy().into_owned(),
        "-initrd".into(),
        b.initrd.to_string_lossy().into_owned(),
        "-append".into(),
        b.append.clone(),
    ];
    for (id, path) in [("console", &b.console), ("channel", &b.channel)] {
        a.push("-chardev".into());
        a.push(format!("file,id={id},path={}", opt_value(path)));
        a.push("-serial".into());
        a.push(format!("chardev:{id}"));
    }
    a
}

/// How a boot ended.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// qemu exited by itself (the guest powered off, or the kernel panicked with
    /// `panic=-1` and `-no-reboot`), with its exit status.
    Exited(Option<i32>),
    /// Stopped by us after the guest's panic message, qemu not exiting by itself.
    Panicked,
    /// The overall time limit passed.
    TimedOut(Duration),
    /// Neither the console nor the channel grew for this long.
    Silent(Duration),
    /// The guest reported completely but qemu did not exit.
    NoPowerOff,
    /// qemu reported a KVM error (it may hang after one).
    KvmError(String),
    /// qemu could not be started.
    SpawnFailed(String),
}

/// What the monitor is told as the files grow.
pub trait Watcher {
    fn console_line(&mut self, _line: &str) {}
    fn channel_line(&mut self, _line: &str) {}
    /// Called about four times a second.
    fn tick(&mut self, _elapsed: Duration) {}
}

/// Limits of one boot.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub overall: Duration,
    pub silence: Duration,
    /// How long qemu may take to exit after a panic or a complete report.
    pub grace: Duration,
}

/// Follows a growing file, giving its complete lines.
struct Follow {
    path: PathBuf,
    pos: u64,
    partial: Vec<u8>,
}

impl Follow {
    fn new(path: &Path) -> Self {
        Follow {
            path: path.to_path_buf(),
            pos: 0,
            partial: Vec::new(),
        }
    }

    /// New complete lines since the last call.
    fn lines(&mut self) -> Vec<String> {
        let Ok(mut f) = File::open(&self.path) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.pos)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        if let Ok(n) = f.take(1 << 24).read_to_end(&mut buf) {
            self.pos += n as u64;
        }
        self.partial.extend_from_slice(&buf);
        let mut out = Vec::new();
        while let Some(i) = self.partial.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            out.push(
                String::from_utf8_lossy(&line[..line.len() - 1])
                    .trim_end_matches('\r')
                    .to_string(),
            );
        }
        out
    }
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Boots and follows until the end; the console and channel files are left in place.
pub fn run(b: &Boot, limits: Limits, w: &mut dyn Watcher) -> End {
    for p in [&b.console, &b.channel] {
        let _ = std::fs::remove_file(p);
        let _ = File::create(p);
    }
    let log = match File::create(&b.log) {
        Ok(f) => f,
        Err(e) => return End::SpawnFailed(format!("{}: {e}", b.log.display())),
    };
    let log2 = match log.try_clone() {
        Ok(f) => f,
        Err(e) => return End::SpawnFailed(e.to_string()),
    };
    let mut child = match Command::new(&b.qemu)
        .args(args(b))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return End::SpawnFailed(format!("cannot run {}: {e}", b.qemu.display())),
    };
    let start = Instant::now();
    let mut console = Follow::new(&b.console);
    let mut channel = Follow::new(&b.channel);
    let mut qlog = Follow::new(&b.log);
    let mut last_growth = Instant::now();
    let mut deadline_after: Option<(Instant, End)> = None;
    loop {
        let exited = child.try_wait().ok().flatten();
        let mut grew = false;
        for l in console.lines() {
            grew = true;
            if l.contains("Kernel panic") && deadline_after.is_none() {
                deadline_after = Some((Instant::now(), End::Panicked));
            }
            w.console_line(&l);
        }
        for l in channel.lines() {
            grew = true;
            if l.trim_end() == super::channel::Tag::End.text() && deadline_after.is_none() {
                deadline_after = Some((Instant::now(), End::NoPowerOff));
            }
            w.channel_line(&l);
        }
        for l in qlog.lines() {
            if l.contains("KVM internal error") || (l.contains("kvm") && l.contains("Assertion")) {
                stop(&mut child);
                return End::KvmError(l);
            }
        }
        if let Some(st) = exited {
            // Whatever the files got before the exit has been read above.
            return End::Exited(st.code());
        }
        if grew {
            last_growth = Instant::now();
        }
        let elapsed = start.elapsed();
        w.tick(elapsed);
        if let Some((since, why)) = &deadline_after
            && since.elapsed() >= limits.grace
        {
            let why = why.clone();
            stop(&mut child);
            return why;
        }
        if elapsed >= limits.overall {
            stop(&mut child);
            return End::TimedOut(limits.overall);
        }
        if last_growth.elapsed() >= limits.silence {
            stop(&mut child);
            return End::Silent(limits.silence);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot() -> Boot {
        Boot {
            qemu: "/usr/bin/qemu-system-x86_64".into(),
            accel: Accel::Tcg,
            cpu: "max,la57=off".into(),
            smp: 2,
            mem_mb: 2048,
            kernel: "/k/vmlinuz-6.1".into(),
            initrd: "/o/initramfs.cpio".into(),
            append: "console=ttyS0 panic=-1".into(),
            console: "/o/6.1 max,la57=off/console.log".into(),
            channel: "/o/x/channel.txt".into(),
            log: "/o/x/qemu.log".into(),
        }
    }

    #[test]
    fn cpu_models_are_read_from_qemus_list() {
        let list = "Available CPUs:\nx86 486                   (alias configured by machine type)\nx86 max                   Enables all features\n\nRecognized CPUID flags:\n  3dnow\n";
        let known = models_listed(list).unwrap();
        assert_eq!(known, ["486", "max"]);
        assert_eq!(check_cpu("max,la57=off", Some(&known)), Ok(()));
        let e = check_cpu("maxx", Some(&known)).unwrap_err();
        assert!(e.contains("no CPU model 'maxx'"), "{e}");
        assert_eq!(
            check_cpu("anything", None),
            Ok(()),
            "unknown list: qemu decides"
        );
        assert_eq!(models_listed("nothing here"), None);
    }

    #[test]
    fn the_command_line_has_two_serial_ports_and_no_reboot() {
        let a = args(&boot()).join(" ");
        assert!(a.starts_with("-accel tcg -cpu max,la57=off -smp 2 -m 2048 -nodefaults"));
        assert!(a.contains("-no-reboot"));
        assert!(a.contains("-kernel /k/vmlinuz-6.1 -initrd /o/initramfs.cpio"));
        assert!(a.contains(
            "-chardev file,id=console,path=/o/6.1 max,,la57=off/console.log -serial chardev:console"
        ));
        assert!(
            a.contains("-chardev file,id=channel,path=/o/x/channel.txt -serial chardev:channel")
        );
    }

    struct Lines(Vec<String>, Vec<String>);
    impl Watcher for Lines {
        fn console_line(&mut self, l: &str) {
            self.0.push(l.to_string());
        }
        fn channel_line(&mut self, l: &str) {
            self.1.push(l.to_string());
        }
    }

    /// A stand-in for qemu (a shell script) shows the monitor's endings without booting.
    fn fake(script: &str, limits: Limits) -> (End, Lines) {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("qemu");
        let text = format!(
            "#!/bin/sh\nC=\"{d}/console.log\"; H=\"{d}/channel.txt\"\n{script}\n",
            d = dir.path().display()
        );
        // Written by another process, so that no descriptor of ours open for writing can
        // make the exec fail with ETXTBSY.
        let mut w = Command::new("sh")
            .arg("-c")
            .arg("cat > \"$0\" && chmod 755 \"$0\"")
            .arg(&q)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut w.stdin.take().unwrap(), text.as_bytes()).unwrap();
        assert!(w.wait().unwrap().success());
        let mut b = boot();
        b.qemu = q;
        b.console = dir.path().join("console.log");
        b.channel = dir.path().join("channel.txt");
        b.log = dir.path().join("qemu.log");
        let mut w = Lines(vec![], vec![]);
        let end = run(&b, limits, &mut w);
        (end, w)
    }

    const QUICK: Limits = Limits {
        overall: Duration::from_secs(20),
        silence: Duration::from_secs(3),
        grace: Duration::from_secs(1),
    };

    #[test]
    fn a_guest_that_powers_off_is_followed_to_the_end() {
        let (end, w) = fake(
            "echo boot >> \"$C\"; echo '@ptrace-atf-vm begin 1' >> \"$H\"; echo '@ptrace-atf-vm end' >> \"$H\"; exit 0",
            QUICK,
        );
        assert_eq!(end, End::Exited(Some(0)));
        assert_eq!(w.0, ["boot"]);
        assert_eq!(w.1, ["@ptrace-atf-vm begin 1", "@ptrace-atf-vm end"]);
    }

    #[test]
    fn a_panic_that_does_not_end_qemu_is_stopped() {
        let (end, _) = fake(
            "echo '[ 1.0] Kernel panic - not syncing: test' >> \"$C\"; exec sleep 30",
            QUICK,
        );
        assert_eq!(end, End::Panicked);
    }

    #[test]
    fn a_silent_guest_is_stopped() {
        let (end, _) = fake("echo boot >> \"$C\"; exec sleep 30", QUICK);
        assert_eq!(end, End::Silent(QUICK.silence));
    }

    #[test]
    fn a_guest_that_talks_forever_meets_the_time_limit() {
        let limits = Limits {
            overall: Duration::from_secs(2),
            ..QUICK
        };
        let (end, _) = fake("while :; do echo alive >> \"$C\"; sleep 0.2; done", limits);
        assert_eq!(end, End::TimedOut(limits.overall));
    }

    #[test]
    fn a_kvm_error_stops_qemu() {
        let (end, _) = fake(
            "echo 'KVM internal error. Suberror: 1' >&2; exec sleep 30",
            QUICK,
        );
        assert!(matches!(end, End::KvmError(m) if m.contains("KVM internal error")));
    }
}
