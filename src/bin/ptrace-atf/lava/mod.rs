//! `ptrace-atf lava`: the suite as a LAVA job (LAVA: the engine KernelCI and LKFT run their
//! device farms with), and LAVA's results read back.
//!
//! `lava job` writes the ramdisk (`vm`'s initramfs builder, with an /init that gives LAVA a
//! shell and a `lava-test` script that reports each ATF case with `lava-test-case`) and the
//! job definition; `lava results` reads a job's log back into `test`'s summary and the
//! `xfail` ledger. Parts: `guest` (the ramdisk's scripts), `job` (the YAML), `log` (LAVA's
//! log format), `report` (the bridge). All pure but this file.

pub mod guest;
pub mod job;
pub mod log;
pub mod report;

use crate::vm;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// Exit statuses of `ptrace-atf lava`.
pub const EXIT_CODES: &str = "\
Exit status of `lava job`:
  0  the ramdisk and the job definition were written
  1  a filter matched no test case (nothing is written)
  2  usage error (bad option or argument, a malformed filter, a kernel file that is
     missing, neither --kernel nor --kernel-url)
  3  the test programs or busybox (install busybox-static) are missing, dpkg-deb or gzip
     is missing, or a file cannot be written
Exit status of `lava results`:
  0  LAVA's job passed, every ATF case is good (passed, skipped, expected failure), the
     suite ran to its end, the kernel stayed healthy, LAVA's records agree with the
     suite's lines, and no expected failure needs a look
  1  any of those is not so (each reason is printed)
  2  usage error, a log that cannot be read, or a file that is not a LAVA job log";

/// Options of `ptrace-atf lava`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Write the ramdisk and a LAVA job definition that boots a kernel with it, runs the
    /// suite (FILTERS: kyua's, as for `test`) and reports every ATF case as a LAVA test
    /// case, plus `kernel-health` and `suite-run`.
    #[command(after_help = EXIT_CODES)]
    Job(Box<JobArgs>),
    /// Read a LAVA job's log (`lava-run`'s stderr, or `lavacli jobs logs --raw JOB`) back
    /// into per-case results, the summary and the expected-failure ledger.
    #[command(after_help = EXIT_CODES)]
    Results(ResultsArgs),
}

#[derive(clap::Args)]
struct JobArgs {
    /// The kernel: a bzImage/vmlinuz or a Debian linux-image-*.deb (unpacked for you),
    /// copied beside the job; its URL is file:// unless --kernel-url says otherwise.
    #[arg(long, value_name = "IMAGE")]
    kernel: Option<PathBuf>,
    /// Where the lab downloads the kernel (http(s)://, file://).
    #[arg(long, value_name = "URL")]
    kernel_url: Option<String>,
    /// Where the lab downloads the ramdisk (default: file:// of the one written).
    #[arg(long, value_name = "URL")]
    ramdisk_url: Option<String>,
    /// kyua filters, as `test` takes them (default: the whole suite).
    #[arg(value_parser = vm::parse_filter)]
    filters: Vec<String>,
    /// The LAVA device type.
    #[arg(long, value_name = "NAME", default_value = "qemu")]
    device_type: String,
    /// How the device boots: `qemu` (LAVA's qemu device type: deploy to tmpfs), or a
    /// real machine's bootloader (`grub`, `ipxe`, `depthcharge`, ...: deploy to tftp).
    #[arg(long, value_name = "METHOD", default_value = "qemu", value_parser = vm::parse_word)]
    boot_method: String,
    /// qemu: the CPU model (`max`: 5-level paging; `max,la57=off`).
    #[arg(long, value_name = "MODEL", default_value = "max", value_parser = vm::parse_word)]
    qemu_cpu: String,
    /// qemu: CPUs.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    smp: u16,
    /// qemu: memory in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(256..))]
    memory: u32,
    /// qemu: let the device template add -enable-kvm (the default is no_kvm: TCG).
    #[arg(long)]
    kvm: bool,
    /// PTRACE_ATF_TIME_SCALE in the guest (default: 4 for qemu without KVM, else 1).
    #[arg(long, value_name = "N", value_parser = vm::parse_scale)]
    time_scale: Option<String>,
    /// Cases run at once in the guest (default: its CPU count).
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// The test action's time limit, in minutes.
    #[arg(long, value_name = "MIN", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    test_minutes: u32,
    /// The deploy and boot actions' time limits, in minutes.
    #[arg(long, value_name = "MIN", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    boot_minutes: u32,
    /// Extra kernel command-line arguments (repeatable).
    #[arg(long, value_name = "ARGS")]
    append: Vec<String>,
    /// The job's name, at most 200 characters (LAVA's limit; default: ptrace-atf, the
    /// kernel and the filters, cut to fit).
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    name: Option<String>,
    /// A configuration variable passed to every program (`-v iterations=1000`); in the
    /// job, so plain words only (letters, digits, `_.,:+/-=`).
    #[arg(short = 'v', long = "var", value_name = "NAME=VALUE", value_parser = parse_plain_var)]
    vars: Vec<(String, String)>,
    /// No kyua in the ramdisk: the direct driver runs the suite.
    #[arg(long)]
    direct: bool,
    /// Where the ramdisk, the kernel and job.yaml go (default: BIN_DIR/ptrace-atf-lava).
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ResultsArgs {
    /// The job's log (`-`: standard input).
    log: PathBuf,
    /// Print only the summary, not every case's line.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_plain_var(s: &str) -> Result<(String, String), String> {
    let (k, v) = crate::parse_var(s)?;
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.,:+/-=".contains(c))
    {
        Ok((k, v))
    } else {
        Err(format!(
            "'{s}': a variable in a LAVA job is plain words (letters, digits, _.,:+/-=)"
        ))
    }
}

/// LAVA's limit on a job name.
const NAME_MAX: usize = 200;

fn parse_name(s: &str) -> Result<String, String> {
    let n = s.chars().count();
    if n == 0 || n > NAME_MAX {
        Err(format!(
            "a job name has 1 to {NAME_MAX} characters, not {n}"
        ))
    } else {
        Ok(s.to_string())
    }
}

/// `s` cut to LAVA's limit on a job name.
fn fit_name(s: &str) -> String {
    if s.chars().count() <= NAME_MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(NAME_MAX - 3).collect();
        t.push_str("...");
        t
    }
}

fn fail(code: u8, msg: &str) -> ExitCode {
    eprintln!("ptrace-atf lava: {msg}");
    ExitCode::from(code)
}

/// `ptrace-atf lava`.
pub fn run(args: Args, bins: &Path) -> ExitCode {
    match args.cmd {
        Sub::Job(a) => write_job(*a, bins),
        Sub::Results(a) => results(a, bins),
    }
}

fn file_url(p: &Path) -> String {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    format!("file://{}", abs.display())
}

/// Writes the image gzip'd (gzip -n: the same bytes for the same contents).
fn write_ramdisk(img: &vm::initramfs::Image, dest: &Path) -> Result<u64, String> {
    let out = std::fs::File::create(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let mut gz = Command::new("gzip")
        .args(["-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(out)
        .spawn()
        .map_err(|e| format!("cannot run gzip: {e}"))?;
    let written = {
        let Some(stdin) = gz.stdin.take() else {
            return Err("gzip has no standard input".into());
        };
        let mut w = std::io::BufWriter::new(stdin);
        img.write_newc(&mut w)
            .and_then(|n| w.flush().map(|_| n))
            .map_err(|e| format!("writing the ramdisk: {e}"))
    };
    let st = gz.wait().map_err(|e| format!("gzip: {e}"))?;
    let n = written?;
    if !st.success() {
        return Err(format!("gzip failed ({st})"));
    }
    Ok(n)
}

fn write_job(a: JobArgs, bins: &Path) -> ExitCode {
    if a.kernel.is_none() && a.kernel_url.is_none() {
        return fail(2, "give --kernel IMAGE or --kernel-url URL (or both)");
    }
    if let Some(k) = &a.kernel
        && !k.is_file()
    {
        return fail(2, &format!("kernel {}: no such file", k.display()));
    }
    if let Err((code, e)) = crate::cases::check(bins, &a.filters) {
        return fail(code, &e);
    }
    let out = a
        .output
        .clone()
        .unwrap_or_else(|| bins.join("ptrace-atf-lava"));
    if let Err(e) = std::fs::create_dir_all(&out) {
        return fail(3, &format!("cannot create {}: {e}", out.display()));
    }
    // The kernel: resolved as `vm` does, copied beside the job.
    let mut label = String::from("kernel");
    let kernel_url = match &a.kernel {
        Some(k) => {
            let resolved = match vm::kernel::resolve(k, &out.join("kernels")) {
                Ok(r) => r,
                Err(vm::kernel::Error::BadArgument(m)) => return fail(2, &m),
                Err(vm::kernel::Error::Missing(m)) => return fail(3, &m),
            };
            label = resolved.label.clone();
            let dest = out.join(format!("vmlinuz-{}", vm::kernel::label_of(&label)));
            if let Err(e) = std::fs::copy(&resolved.image, &dest) {
                return fail(
                    3,
                    &format!("cannot copy the kernel to {}: {e}", dest.display()),
                );
            }
            println!("ptrace-atf lava: kernel {label}: {}", dest.display());
            a.kernel_url.clone().unwrap_or_else(|| file_url(&dest))
        }
        None => a.kernel_url.clone().unwrap_or_default(),
    };
    // The ramdisk: `vm`'s image, with LAVA's /init and lava-test.
    let spec = match vm::host::spec(
        bins,
        vm::guest::Run {
            direct: a.direct,
            jobs: a.jobs.unwrap_or(1),
            heartbeat: 10,
            ..vm::guest::Run::default()
        },
    ) {
        Ok(s) => s,
        Err(e) => return fail(3, &e),
    };
    let mut img = vm::guest::image(&spec);
    img.file("init", 0o755, guest::init_script());
    img.file(
        guest::LAVA_TEST.trim_start_matches('/'),
        0o755,
        guest::lava_test_script(spec.kyua.is_some()),
    );
    img.file("etc/hostname", 0o644, "ptrace-atf-lava\n");
    let ramdisk = out.join("ptrace-atf-ramdisk.cpio.gz");
    match write_ramdisk(&img, &ramdisk) {
        Ok(n) => println!(
            "ptrace-atf lava: ramdisk {} ({} MB unpacked; {}; {} libraries)",
            ramdisk.display(),
            n / 1_000_000,
            if spec.kyua.is_some() {
                "kyua inside"
            } else {
                "no kyua: the direct driver runs the suite"
            },
            spec.libs.len()
        ),
        Err(e) => return fail(3, &e),
    }
    let qemu = a.boot_method == "qemu";
    let target = if qemu {
        job::Target::Qemu {
            cpu: a.qemu_cpu.clone(),
            smp: a.smp,
            memory: a.memory,
            no_kvm: !a.kvm,
        }
    } else {
        job::Target::Tftp {
            boot_method: a.boot_method.clone(),
        }
    };
    let time_scale = a
        .time_scale
        .clone()
        .unwrap_or_else(|| if qemu && !a.kvm { "4" } else { "1" }.to_string());
    let j = job::Job {
        name: a.name.clone().unwrap_or_else(|| {
            fit_name(&format!(
                "ptrace-atf {label} {}",
                if a.filters.is_empty() {
                    "all".to_string()
                } else {
                    a.filters.join(" ")
                }
            ))
        }),
        device_type: a.device_type.clone(),
        kernel_url,
        ramdisk_url: a.ramdisk_url.clone().unwrap_or_else(|| file_url(&ramdisk)),
        target,
        filters: a.filters.clone(),
        time_scale,
        jobs: a.jobs,
        vars: a.vars.clone(),
        test_minutes: a.test_minutes,
        boot_minutes: a.boot_minutes,
        append: a.append.clone(),
    };
    let job_file = out.join("job.yaml");
    if let Err(e) = std::fs::write(&job_file, j.yaml()) {
        return fail(3, &format!("cannot write {}: {e}", job_file.display()));
    }
    println!("ptrace-atf lava: job definition {}", job_file.display());
    println!(
        "ptrace-atf lava: submit it with: lavacli jobs submit {}",
        job_file.display()
    );
    println!(
        "ptrace-atf lava: or run it here: lava-run --job-id 1 --output-dir DIR --device DEVICE.yaml {} 2> job.log; ptrace-atf lava results job.log",
        job_file.display()
    );
    ExitCode::SUCCESS
}

fn results(a: ResultsArgs, bins: &Path) -> ExitCode {
    let text = if a.log.as_os_str() == "-" {
        let mut s = String::new();
        match std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
            Ok(_) => s,
            Err(e) => return fail(2, &format!("reading standard input: {e}")),
        }
    } else {
        match std::fs::read(&a.log) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => return fail(2, &format!("{}: {e}", a.log.display())),
        }
    };
    let (records, unreadable) = log::parse(&text);
    if let Some((n, e)) = unreadable.first() {
        eprintln!(
            "ptrace-atf lava: warning: {}: {} lines unreadable, skipped (the first, line {n}: {e})",
            a.log.display(),
            unreadable.len()
        );
    }
    if records.is_empty() {
        return fail(
            2,
            &format!(
                "{}: not a LAVA job log (no {{\"lvl\": ..., \"msg\": ...}} record)",
                a.log.display()
            ),
        );
    }
    let b = report::bridge(&records);
    if !a.quiet {
        for c in b.cases.values() {
            if c.reason.is_empty() {
                println!("{}  ->  {}", c.id, c.kind.name());
            } else {
                println!("{}  ->  {}: {}", c.id, c.kind.name(), c.reason);
            }
        }
    }
    let c = vm::results::Counts::of(b.cases.values());
    println!(
        "ptrace-atf lava: {}: {c}",
        b.kernel.as_deref().unwrap_or("kernel unknown")
    );
    println!(
        "ptrace-atf lava: suite-run: {}; kernel-health: {}; LAVA job: {}",
        b.run.as_deref().unwrap_or("not recorded"),
        b.health.as_deref().unwrap_or("not recorded"),
        b.job
            .as_ref()
            .map(|(r, e)| if e.is_empty() {
                r.clone()
            } else {
                format!("{r} ({e})")
            })
            .unwrap_or_else(|| "not recorded".into())
    );
    for l in &b.health_lines {
        println!("  {l}");
    }
    for t in b.console.troubles.iter().take(20) {
        println!(
            "ptrace-atf lava: console: {} (last case started: {})",
            t.text,
            t.last_started.as_deref().unwrap_or("none")
        );
    }
    if b.console.troubles.len() > 20 {
        println!(
            "ptrace-atf lava: console: ... and {} more kernel reports",
            b.console.troubles.len() - 20
        );
    }
    for r in &b.boot_retries {
        println!("ptrace-atf lava: a boot attempt failed (LAVA's record): {r}");
    }
    if let Some(t) = b.boot_panic() {
        println!(
            "ptrace-atf lava: the kernel panicked before the suite started, in a boot attempt LAVA retried (first report: {}); a later boot ran the suite to its end",
            t.text
        );
    }
    for m in &b.mismatches {
        println!("ptrace-atf lava: disagreement: {m}");
    }
    let mut bad = b.bad_reasons();
    println!();
    match crate::xfail::declared(bins) {
        Ok(declared) => {
            crate::xfail::print_declared(&declared);
            let source = format!("the LAVA job log {}", a.log.display());
            if crate::xfail::print_ledger(&declared, Default::default(), &b.ledger_rows(), &source)
            {
                bad.push("an expected failure needs a look (see the ledger)".into());
            }
        }
        Err(e) => println!("ptrace-atf lava: no expected-failure ledger: {e}"),
    }
    if bad.is_empty() {
        println!("\nptrace-atf lava: good");
        ExitCode::SUCCESS
    } else {
        println!("\nptrace-atf lava: not good: {}", bad.join("; "));
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_fit_lava() {
        assert_eq!(fit_name("short"), "short");
        let long = "x".repeat(300);
        let f = fit_name(&long);
        assert_eq!(f.chars().count(), 200);
        assert!(f.ends_with("..."));
        assert!(parse_name(&long).is_err());
        assert!(parse_name("").is_err());
        assert!(parse_name("ptrace-atf 6.12").is_ok());
    }

    #[test]
    fn words_and_filters() {
        assert!(vm::parse_word("max,la57=off").is_ok());
        assert!(vm::parse_word("a b").is_err());
        assert!(vm::parse_filter("zombie/t_zombie_waitpid:race1").is_ok());
        assert!(vm::parse_filter("-x").is_err());
        assert!(vm::parse_scale("0").is_err());
        assert_eq!(
            parse_plain_var("dbregs_lie=read_zero"),
            Ok(("dbregs_lie".into(), "read_zero".into()))
        );
        assert!(parse_plain_var("a=b c").is_err());
        assert!(parse_plain_var("a=*").is_err());
        assert!(parse_plain_var("=x").is_err());
    }
}
