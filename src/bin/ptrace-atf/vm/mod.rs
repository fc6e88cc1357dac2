//! `ptrace-atf vm`: boot another kernel under QEMU with an initramfs made of the suite's
//! own programs, run the suite inside, bring the results back as `test` gives them.
//!
//! The parts are kept apart: the initramfs (`initramfs`, `guest`: pure), QEMU (`qemu`:
//! the only code that knows it), the results' way back (`channel`, `results`, `console`:
//! one format, read without booting). This file wires them together.

mod channel;
pub(crate) mod console;
pub(crate) mod guest;
pub(crate) mod initramfs;
pub(crate) mod kernel;
pub(crate) mod libs;
mod matrix;
mod progress;
mod qemu;
pub(crate) mod results;

use qemu::{Accel, End};
use results::CaseResult;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Exit status of `vm` (the same as `test`, plus 5).
pub const EXIT_CODES: &str = "\
Exit status:
  0  every result is good (passed, skipped, expected failure) on every kernel
  1  a test case failed or was broken, or a filter matched nothing
  2  usage error (bad option or argument, a kernel file that is missing or no kernel)
  3  the test programs, qemu (install qemu-system-x86) or busybox (install busybox-static)
     are missing, or the initramfs cannot be built
  4  kyua could not run the suite in the guest (kyua's own error)
  5  the guest did not report: its kernel panicked, it hung or went silent, it passed the
     time limit, or qemu failed; the partial results and a console excerpt are printed
With several kernels, the highest status of any boot.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AccelChoice {
    /// KVM when it works (tried), TCG otherwise.
    Auto,
    Kvm,
    Tcg,
}

/// Options of `ptrace-atf vm`.
#[derive(clap::Args)]
pub struct Args {
    /// The kernel to boot: a bzImage/vmlinuz, or a Debian linux-image-*.deb (its
    /// boot/vmlinuz-* is unpacked for you). Repeat for a matrix.
    #[arg(long = "kernel", value_name = "IMAGE", required = true)]
    kernels: Vec<PathBuf>,
    /// kyua filters, as `test` takes them: an area (`fork`), a program
    /// (`fork/t_fork_waitpid`) or a case (`fork/t_fork_waitpid:fork1`).
    #[arg(value_parser = parse_filter)]
    filters: Vec<String>,
    /// QEMU CPU model (`max` has 5-level paging; `max,la57=off` has not). Repeat for a
    /// matrix: every kernel boots with every model.
    #[arg(long = "qemu-cpu", value_name = "MODEL")]
    cpus: Vec<String>,
    /// Guest CPUs (qemu -smp); also the number of cases run at once in the guest.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    smp: u16,
    /// Guest memory in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(256..))]
    memory: u32,
    /// Extra kernel command-line arguments (repeatable).
    #[arg(long, value_name = "ARGS")]
    append: Vec<String>,
    /// The accelerator.
    #[arg(long, value_enum, default_value = "auto")]
    accel: AccelChoice,
    /// PTRACE_ATF_TIME_SCALE in the guest: every deadline, watchdog and timeout is
    /// multiplied by it (default: 4 under TCG, 1 under KVM).
    #[arg(long, value_name = "N", value_parser = parse_scale)]
    time_scale: Option<String>,
    /// The time limit of one boot, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// A guest whose console and results channel both stay silent this long (it sends
    /// a heartbeat every 10 s) is taken as hung, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    silence: u64,
    /// Run the suite in the guest without kyua even when kyua is installed here.
    #[arg(long)]
    direct: bool,
    /// A configuration variable passed to every program (`-v iterations=1000`).
    #[arg(short = 'v', long = "var", value_name = "NAME=VALUE", value_parser = crate::parse_var)]
    vars: Vec<(String, String)>,
    /// Print every case's line (the default with one boot; with several, only the bad).
    #[arg(long)]
    verbose: bool,
    /// Where the initramfs, console logs, channels and results databases go
    /// (default: BIN_DIR/ptrace-atf-vm).
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Shell commands the guest runs before the suite (for testing `vm` itself, e.g.
    /// `(sleep 30; echo c > /proc/sysrq-trigger) &`).
    #[arg(long, value_name = "SH", hide = true)]
    guest_prelude: Option<String>,
}

fn parse_filter(s: &str) -> Result<String, String> {
    if s.is_empty()
        || s.starts_with('-')
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_/:.-".contains(c))
    {
        Err(format!(
            "'{s}' is not a kyua filter (an area, area/program or area/program:case)"
        ))
    } else {
        Ok(s.to_string())
    }
}

fn parse_scale(s: &str) -> Result<String, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(s.to_string()),
        _ => Err(format!("'{s}' is not a positive number")),
    }
}

fn fail(code: u8, msg: &str) -> ExitCode {
    eprintln!("ptrace-atf vm: {msg}");
    ExitCode::from(code)
}

/// A directory name for a label.
fn dir_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The guest's image contents from the host: programs, busybox, libraries, kyua.
fn collect_spec(bins: &Path, args: &Args) -> Result<guest::Spec, String> {
    suite_spec(
        bins,
        args.direct,
        guest::Run {
            filters: args.filters.clone(),
            jobs: args.smp,
            vars: args.vars.clone(),
            direct: args.direct,
            verbose: false,
            heartbeat: 10,
            prelude: args.guest_prelude.clone(),
        },
    )
}

/// The guest's image contents from the host for `run` (also used by `ptrace-atf lava`):
/// programs, busybox, libraries, kyua (unless `direct`).
pub(crate) fn suite_spec(
    bins: &Path,
    direct: bool,
    run: guest::Run,
) -> Result<guest::Spec, String> {
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
    let kyua = if direct {
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

/// How one boot went.
struct Outcome {
    kernel: kernel::Kernel,
    cpu: String,
    accel: Accel,
    end: End,
    report: channel::Report,
    results: BTreeMap<String, CaseResult>,
    scan: console::Scan,
    dir: PathBuf,
    secs: f64,
    /// `None` when the guest did not report completely.
    status: Option<i32>,
    db: Option<PathBuf>,
}

impl Outcome {
    fn end_word(&self) -> &'static str {
        if self.status.is_some() {
            "complete"
        } else if self.scan.panic.is_some() {
            "PANIC"
        } else {
            match self.end {
                End::TimedOut(_) => "time limit",
                End::Silent(_) => "hung",
                _ => "no report",
            }
        }
    }

    fn exit_code(&self) -> u8 {
        exit_code(self.status, &self.results)
    }
}

/// A boot's exit status from the guest's (`None`: no complete report) and its results.
fn exit_code(status: Option<i32>, results: &BTreeMap<String, CaseResult>) -> u8 {
    let bad = results::Counts::of(results.values()).bad();
    match status {
        None => 5,
        // kyua warns and exits 0 when a filter matches nothing; `test` says 1.
        Some(0) if results.is_empty() => 1,
        Some(0) if bad == 0 => 0,
        Some(0 | 1) => 1,
        Some(3) => 3,
        Some(_) => 4,
    }
}

/// The kernel's taint flags as letters (Documentation/admin-guide/tainted-kernels.rst).
fn taint_letters(t: u64) -> String {
    const L: &[u8] = b"PFSRMBUDAWCIOELKXTN";
    L.iter()
        .enumerate()
        .filter(|(i, _)| t & (1 << i) != 0)
        .map(|(_, c)| *c as char)
        .collect()
}

struct Ctx<'a> {
    args: &'a Args,
    qemu: PathBuf,
    initrd: PathBuf,
    out: PathBuf,
    /// Whether KVM worked (None: not tried yet).
    kvm_works: Option<bool>,
    all_lines: bool,
}

fn boot_once(ctx: &Ctx, k: &kernel::Kernel, cpu: &str, accel: Accel, dir: &Path) -> (End, f64) {
    let scale = ctx.args.time_scale.clone().unwrap_or_else(|| {
        match accel {
            Accel::Kvm => "1",
            Accel::Tcg => "4",
        }
        .to_string()
    });
    let mut append = format!(
        "console=ttyS0,115200 panic=-1 printk.devkmsg=on noirqdebug PTRACE_ATF_TIME_SCALE={scale}"
    );
    for a in &ctx.args.append {
        append.push(' ');
        append.push_str(a);
    }
    let b = qemu::Boot {
        qemu: ctx.qemu.clone(),
        accel,
        cpu: cpu.to_string(),
        smp: ctx.args.smp,
        mem_mb: ctx.args.memory,
        kernel: k.image.clone(),
        initrd: ctx.initrd.clone(),
        append,
        console: dir.join("console.log"),
        channel: dir.join("channel.txt"),
        log: dir.join("qemu.log"),
    };
    println!(
        "ptrace-atf vm: booting {} under qemu -accel {} -cpu {} -smp {} -m {} (PTRACE_ATF_TIME_SCALE={scale}); console: {}",
        k.label,
        accel.name(),
        cpu,
        ctx.args.smp,
        ctx.args.memory,
        b.console.display()
    );
    let limits = qemu::Limits {
        overall: Duration::from_secs(ctx.args.timeout),
        silence: Duration::from_secs(ctx.args.silence),
        grace: Duration::from_secs(15),
    };
    let mut live = progress::Live::new(&format!("{} [{}]", k.label, accel.name()), ctx.all_lines);
    let start = Instant::now();
    let end = qemu::run(&b, limits, &mut live);
    live.finish();
    (end, start.elapsed().as_secs_f64())
}

/// Boots `k` with `cpu`, falling back from KVM to TCG when KVM fails before the guest
/// starts.
fn boot(ctx: &mut Ctx, k: &kernel::Kernel, cpu: &str) -> Outcome {
    let dir = ctx.out.join(dir_name(&format!("{}_{}", k.label, cpu)));
    let _ = std::fs::create_dir_all(&dir);
    let try_kvm = match ctx.args.accel {
        AccelChoice::Kvm => true,
        AccelChoice::Tcg => false,
        AccelChoice::Auto => ctx.kvm_works.unwrap_or_else(qemu::kvm_device_usable),
    };
    let mut accel = if try_kvm { Accel::Kvm } else { Accel::Tcg };
    let (mut end, mut secs) = boot_once(ctx, k, cpu, accel, &dir);
    if accel == Accel::Kvm && ctx.args.accel == AccelChoice::Auto {
        let begun =
            channel::parse(&std::fs::read_to_string(dir.join("channel.txt")).unwrap_or_default())
                .begun;
        let failed_early = !begun
            && (matches!(end, End::KvmError(_)) || matches!(end, End::Exited(c) if c != Some(0)));
        if failed_early {
            let why = match &end {
                End::KvmError(m) => m.clone(),
                _ => first_line(&dir.join("qemu.log")),
            };
            println!("ptrace-atf vm: KVM does not work here ({why}); using TCG");
            ctx.kvm_works = Some(false);
            accel = Accel::Tcg;
            (end, secs) = boot_once(ctx, k, cpu, accel, &dir);
        } else {
            ctx.kvm_works = Some(true);
        }
    }
    let back = read_back(&dir);
    Outcome {
        kernel: k.clone(),
        cpu: cpu.to_string(),
        accel,
        end,
        status: back.status,
        report: back.report,
        results: back.results,
        scan: back.scan,
        db: back.db,
        dir,
        secs,
    }
}

/// What a boot left in its directory, read back: the channel's report and results, the
/// console's troubles, the results database (written beside them).
struct Back {
    report: channel::Report,
    results: BTreeMap<String, CaseResult>,
    scan: console::Scan,
    /// The guest's exit status, when its report is complete.
    status: Option<i32>,
    db: Option<PathBuf>,
}

fn read_back(dir: &Path) -> Back {
    let read = |name: &str| {
        String::from_utf8_lossy(&std::fs::read(dir.join(name)).unwrap_or_default()).into_owned()
    };
    let report = channel::parse(&read("channel.txt"));
    let mut results = results::collect(report.lines.iter().map(String::as_str));
    let console_text = read("console.log");
    let scan = console::scan(&console_text);
    // init also echoes each line to the console: what the channel lost, the console may
    // have (a line a kernel message broke is not a result line and is left out).
    for (id, r) in results::collect(console_text.lines()) {
        results.entry(id).or_insert(r);
    }
    let status = if report.complete { report.status } else { None };
    let db = report
        .files
        .iter()
        .find(|f| f.name == "results.db" && f.complete)
        .and_then(|f| match gunzip_to(&f.gzip, &dir.join("results.db")) {
            Ok(n) if n == f.size => Some(dir.join("results.db")),
            Ok(n) => {
                eprintln!(
                    "ptrace-atf vm: results.db: got {n} bytes, the guest sent {}",
                    f.size
                );
                None
            }
            Err(e) => {
                eprintln!("ptrace-atf vm: results.db: {e}");
                None
            }
        });
    Back {
        report,
        results,
        scan,
        status,
        db,
    }
}

fn first_line(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("qemu exited")
        .to_string()
}

/// Decompresses `gz` into `dest` with gzip(1); returns the size written.
fn gunzip_to(gz: &[u8], dest: &Path) -> Result<u64, String> {
    let tmp = dest.with_extension("gz");
    std::fs::write(&tmp, gz).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let out = std::fs::File::create(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let st = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(&tmp)
        .stdout(out)
        .status()
        .map_err(|e| format!("cannot run gzip: {e}"))?;
    let _ = std::fs::remove_file(&tmp);
    if !st.success() {
        return Err("gzip -dc failed (damaged on the way?)".into());
    }
    std::fs::metadata(dest)
        .map(|m| m.len())
        .map_err(|e| e.to_string())
}

/// Prints what one boot gave.
fn report(o: &Outcome) {
    let counts = results::Counts::of(o.results.values());
    let name = format!("{} -cpu {} [{}]", o.kernel.label, o.cpu, o.accel.name());
    if let Some(k) = &o.report.kernel
        && *k != o.kernel.label
    {
        println!("ptrace-atf vm: {name}: the guest runs kernel {k}");
    }
    if let Some(t) = o.report.tainted
        && t != 0
    {
        println!(
            "ptrace-atf vm: {name}: the kernel was already tainted before the suite ran: {t} ({})",
            taint_letters(t)
        );
    }
    if let (Some(a), Some(b)) = (o.report.tainted, o.report.tainted_end)
        && a != b
    {
        println!(
            "ptrace-atf vm: {name}: the kernel became tainted during the run: {a} -> {b} ({})",
            taint_letters(b)
        );
    }
    let console = o.dir.join("console.log");
    if !o.scan.troubles.is_empty() {
        println!(
            "ptrace-atf vm: {name}: the kernel log has {} oops/BUG/warning reports:",
            o.scan.troubles.len()
        );
        for t in o.scan.troubles.iter().take(20) {
            println!(
                "  console.log:{}: {} (last case started: {})",
                t.line + 1,
                t.text,
                t.last_started.as_deref().unwrap_or("none")
            );
        }
        if o.scan.troubles.len() > 20 {
            println!(
                "  ... and {} more in {}",
                o.scan.troubles.len() - 20,
                console.display()
            );
        }
    }
    match o.status {
        Some(st) => {
            println!(
                "ptrace-atf vm: {name}: {counts} in {:.1} min (guest exit status {st})",
                o.secs / 60.0
            );
            if counts.total() == 0 {
                println!("ptrace-atf vm: {name}: no test case matched the filters");
            }
        }
        None => {
            let console_text =
                String::from_utf8_lossy(&std::fs::read(&console).unwrap_or_default()).into_owned();
            let why = match (&o.scan.panic, &o.end) {
                (Some(_), _) => "the guest kernel PANICKED".to_string(),
                (None, End::TimedOut(d)) => format!(
                    "the boot passed its time limit of {} s (--timeout)",
                    d.as_secs()
                ),
                (None, End::Silent(d)) => format!(
                    "the guest HUNG: no console or channel output for {} s (--silence)",
                    d.as_secs()
                ),
                (None, End::KvmError(m)) => format!("qemu stopped with a KVM error: {m}"),
                (None, End::SpawnFailed(m)) => format!("qemu could not start: {m}"),
                (None, _) if o.scan.done_status.is_some() => format!(
                    "the suite finished in the guest (status {}), but its report did not come back whole over the channel (ttyS1); the results below are what the channel and the console carried",
                    o.scan.done_status.unwrap_or(-1)
                ),
                (None, End::Exited(c)) => format!(
                    "qemu exited (status {}) before the guest reported{}",
                    c.map(|c| c.to_string()).unwrap_or_else(|| "signal".into()),
                    if o.report.begun {
                        ""
                    } else {
                        "; the suite never started (see the console log)"
                    }
                ),
                (None, End::Panicked | End::NoPowerOff) => {
                    "the guest stopped reporting".to_string()
                }
            };
            println!(
                "ptrace-atf vm: {name}: {why} after {:.1} min",
                o.secs / 60.0
            );
            let finished = |id: &str| o.results.contains_key(id);
            let running = console::unfinished(&o.scan.starts, &finished);
            let now: Vec<&String> = running.iter().rev().take(usize::from(o_jobs(o))).collect();
            if now.is_empty() {
                println!("ptrace-atf vm: no case was running");
            } else {
                for c in now {
                    println!("ptrace-atf vm: the case running: {c}");
                }
            }
            let (at, before, after) = match &o.scan.panic {
                Some(p) => {
                    // From the first trouble report of the last case on, when that is near.
                    let from = o
                        .scan
                        .troubles
                        .iter()
                        .find(|t| t.last_started == p.last_started && p.line - t.line <= 60)
                        .map(|t| t.line)
                        .unwrap_or(p.line);
                    (p.line, (p.line - from + 5).min(80), 20)
                }
                None => (console_text.lines().count().saturating_sub(1), 30, 0),
            };
            println!("ptrace-atf vm: console excerpt ({}):", console.display());
            println!("{}", console::excerpt(&console_text, at, before, after));
            println!("ptrace-atf vm: {name}: partial results: {counts}");
        }
    }
    for r in o.results.values().filter(|r| !r.kind.is_good()) {
        println!("  {}  ->  {}: {}", r.id, r.kind.name(), r.reason);
    }
    if let Some(db) = &o.db {
        println!("ptrace-atf vm: results database: {}", db.display());
        println!(
            "ptrace-atf vm: read it with: kyua report --results-file={} --verbose",
            db.display()
        );
    }
    println!("ptrace-atf vm: console log: {}", console.display());
}

fn o_jobs(o: &Outcome) -> u16 {
    o.report.cpus.map(|c| c.clamp(1, 64) as u16).unwrap_or(1)
}

/// `ptrace-atf vm`.
pub fn run(args: Args, bins: &Path) -> ExitCode {
    let Some(qemu) = qemu::find() else {
        return fail(
            3,
            &format!(
                "qemu-system-x86_64 is not installed (install {})",
                qemu::PACKAGE
            ),
        );
    };
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| bins.join("ptrace-atf-vm"));
    if let Err(e) = std::fs::create_dir_all(&out) {
        return fail(3, &format!("cannot create {}: {e}", out.display()));
    }
    let cache = out.join("kernels");
    let mut kernels = Vec::new();
    for k in &args.kernels {
        match kernel::resolve(k, &cache) {
            Ok(k) => kernels.push(k),
            Err(kernel::Error::BadArgument(m)) => return fail(2, &m),
            Err(kernel::Error::Missing(m)) => return fail(3, &m),
        }
    }
    for k in &kernels {
        let Some(cfg) = k
            .config
            .as_ref()
            .and_then(|c| std::fs::read_to_string(c).ok())
        else {
            continue;
        };
        for opt in [
            "CONFIG_SERIAL_8250",
            "CONFIG_SERIAL_8250_CONSOLE",
            "CONFIG_BLK_DEV_INITRD",
            "CONFIG_DEVTMPFS",
        ] {
            if kernel::config_value(&cfg, opt).as_deref() != Some("y") {
                eprintln!(
                    "ptrace-atf vm: warning: {} has no {opt}=y; the guest may not boot or report",
                    k.label
                );
            }
        }
    }
    let spec = match collect_spec(bins, &args) {
        Ok(s) => s,
        Err(e) => return fail(3, &e),
    };
    let initrd = out.join("initramfs.cpio");
    let img = guest::image(&spec);
    let written = std::fs::File::create(&initrd)
        .map(std::io::BufWriter::new)
        .map_err(|e| e.to_string())
        .and_then(|f| img.write_newc(f).map_err(|e| e.to_string()));
    match written {
        Ok(n) => println!(
            "ptrace-atf vm: initramfs {} ({} MB; {}; {} libraries)",
            initrd.display(),
            n / 1_000_000,
            if spec.kyua.is_some() {
                "kyua inside, results database comes back"
            } else {
                "no kyua: the direct driver runs the suite"
            },
            spec.libs.len()
        ),
        Err(e) => return fail(3, &format!("cannot write {}: {e}", initrd.display())),
    }
    let cpus = if args.cpus.is_empty() {
        vec!["max".to_string()]
    } else {
        args.cpus.clone()
    };
    let boots = kernels.len() * cpus.len();
    let mut ctx = Ctx {
        args: &args,
        qemu,
        initrd,
        out,
        kvm_works: None,
        all_lines: args.verbose || boots == 1,
    };
    let mut outcomes = Vec::new();
    for k in &kernels {
        for cpu in &cpus {
            let o = boot(&mut ctx, k, cpu);
            report(&o);
            outcomes.push(o);
        }
    }
    if outcomes.len() > 1 {
        let cols: Vec<matrix::Column> = outcomes
            .iter()
            .map(|o| matrix::Column {
                kernel: &o.kernel.label,
                cpu: &o.cpu,
                accel: o.accel.name(),
                end: o.end_word(),
                minutes: o.secs / 60.0,
                results: &o.results,
            })
            .collect();
        println!();
        print!("{}", matrix::table(&cols));
        println!();
        print!("{}", matrix::differences_text(&cols));
    }
    ExitCode::from(outcomes.iter().map(Outcome::exit_code).max().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_kyua_words() {
        assert!(parse_filter("fork/t_fork_waitpid:fork1").is_ok());
        assert!(parse_filter("dbregs_x86").is_ok());
        assert!(parse_filter("--foo").is_err());
        assert!(parse_filter("a b").is_err());
        assert!(parse_filter("$(reboot)").is_err());
    }

    #[test]
    fn time_scales_are_positive_numbers() {
        assert!(parse_scale("4").is_ok());
        assert!(parse_scale("2.5").is_ok());
        assert!(parse_scale("0").is_err());
        assert!(parse_scale("x").is_err());
    }

    #[test]
    fn exit_codes_follow_test_and_a_dead_guest_is_5() {
        let good = results::collect(["a/p:1  ->  passed  [0.1s]"]);
        let bad = results::collect(["a/p:1  ->  broken: timed out  [0.1s]"]);
        let none = BTreeMap::new();
        assert_eq!(exit_code(Some(0), &good), 0);
        assert_eq!(exit_code(Some(1), &bad), 1);
        assert_eq!(exit_code(Some(0), &bad), 1);
        assert_eq!(exit_code(Some(0), &none), 1);
        assert_eq!(exit_code(Some(3), &none), 3);
        assert_eq!(exit_code(Some(4), &good), 4);
        assert_eq!(exit_code(Some(255), &good), 4);
        assert_eq!(exit_code(None, &good), 5);
    }

    #[test]
    fn taint_flags() {
        assert_eq!(taint_letters(0), "");
        assert_eq!(taint_letters(1 << 7), "D");
        assert_eq!(taint_letters((1 << 7) | (1 << 9)), "DW");
    }

    /// A boot's directory as a real boot left it (6.12 cloud, kyua inside, one case):
    /// read back without booting.
    #[test]
    fn results_come_back_from_a_captured_boot() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("channel.txt"),
            include_str!("fixtures/channel-kyua-fork1.txt"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("console.log"),
            include_str!("fixtures/console-clean.txt"),
        )
        .unwrap();
        let b = read_back(dir.path());
        assert_eq!(b.status, Some(0));
        assert_eq!(
            b.report.kernel.as_deref(),
            Some("6.12.117+deb12-cloud-amd64")
        );
        assert_eq!(b.report.tainted, Some(0));
        let ids: Vec<&String> = b.results.keys().collect();
        assert_eq!(ids, ["fork/t_fork_waitpid:fork1"]);
        assert_eq!(results::Counts::of(b.results.values()).passed, 1);
        assert!(b.scan.troubles.is_empty() && b.scan.panic.is_none());
        assert_eq!(b.scan.starts.len(), 1);
        let db = std::fs::read(b.db.expect("the results database")).unwrap();
        assert!(db.starts_with(b"SQLite format 3\0"));
    }

    #[test]
    fn a_boot_that_died_has_no_status_but_keeps_its_results() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("channel.txt"),
            "@ptrace-atf-vm begin 1\n@line fork/t_fork_waitpid:fork1  ->  passed  [0.1s]\n@alive 12.0\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("console.log"),
            include_str!("fixtures/console-panic.txt"),
        )
        .unwrap();
        let b = read_back(dir.path());
        assert_eq!(b.status, None);
        // The channel lost the second case's line; the console has it.
        let ids: Vec<&String> = b.results.keys().collect();
        assert_eq!(
            ids,
            [
                "dbregs_x86/t_dbregs_x86_waitpid:dbregs_cve_2018_8897_pop_ss_int1",
                "fork/t_fork_waitpid:fork1"
            ]
        );
        assert!(b.scan.panic.is_some());
        assert!(b.db.is_none());
    }

    #[test]
    fn dir_names_are_plain() {
        assert_eq!(
            dir_name("6.1.0-57-cloud-amd64_max,la57=off"),
            "6.1.0-57-cloud-amd64_max_la57_off"
        );
    }
}
