//! `ptrace-atf vm`: boot another kernel under QEMU with an initramfs made of the suite's
//! own programs, run the suite inside, bring the results back as `test` gives them.
//!
//! The parts are kept apart: the initramfs (`initramfs`, `guest`: pure), QEMU (`qemu`:
//! the only code that knows it), the results' way back (`channel`, `results`, `console`:
//! one format, read without booting). This file wires them together.

mod boot_panic;
mod channel;
pub(crate) mod console;
pub(crate) mod guest;
pub(crate) mod hold;
pub(crate) mod host;
pub(crate) mod initramfs;
pub(crate) mod kernel;
pub(crate) mod libs;
mod matrix;
mod outcome;
mod progress;
mod qemu;
pub(crate) mod results;

use outcome::{Outcome, read_back};
use qemu::{Accel, End};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Exit status of `vm` (the same as `test`, plus 5).
pub const EXIT_CODES: &str = "\
Exit status:
  0  every result is good (passed, skipped, expected failure) on every kernel
  1  a test case failed or was broken, or a filter matched nothing (checked before
     anything boots)
  2  usage error (bad option or argument, a malformed filter, a CPU model qemu does not
     list, a kernel file that is missing or no kernel)
  3  the test programs, qemu (install qemu-system-x86) or busybox (install busybox-static)
     are missing, or the initramfs cannot be built
  4  kyua could not run the suite in the guest (kyua's own error)
  5  the guest did not report: its kernel panicked, it hung or went silent, it passed the
     time limit, or qemu failed; the partial results and a console excerpt are printed
     (under TCG, a boot whose kernel oopses and panics before the suite starts is booted
     again, twice at most, and named in the report)
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
    #[arg(long = "qemu-cpu", value_name = "MODEL", value_parser = parse_word)]
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

/// A kyua filter as `vm` and `lava` take it (checked before anything boots).
pub(crate) fn parse_filter(s: &str) -> Result<String, String> {
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

/// A plain word for a command-line value that goes into a qemu option or a LAVA job
/// (`max,la57=off`, `grub`).
pub(crate) fn parse_word(s: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.,=+".contains(c))
    {
        Ok(s.to_string())
    } else {
        Err(format!("'{s}' is not a plain word"))
    }
}

/// A time scale as `vm` and `lava` take it: what `PTRACE_ATF_TIME_SCALE` accepts (a whole
/// number from 1 to 100), so the guest's programs never reject it.
pub(crate) fn parse_scale(s: &str) -> Result<String, String> {
    ptrace_atf::atf::timescale::parse(s).map(|f| f.to_string())
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

struct Ctx<'a> {
    args: &'a Args,
    qemu: PathBuf,
    initrd: PathBuf,
    out: PathBuf,
    /// Whether KVM worked (None: not tried yet).
    kvm_works: Option<bool>,
    all_lines: bool,
    /// The boot directories used so far (the same kernel given twice gets two).
    dirs: Vec<PathBuf>,
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
    let base = dir_name(&format!("{}_{}", k.label, cpu));
    let mut dir = ctx.out.join(&base);
    for n in 2.. {
        if !ctx.dirs.contains(&dir) {
            break;
        }
        dir = ctx.out.join(format!("{base}-{n}"));
    }
    ctx.dirs.push(dir.clone());
    let _ = std::fs::create_dir_all(&dir);
    boot_panic::clear(&dir);
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
    // A panic while booting under TCG tested nothing: boot again (see boot_panic).
    let mut boot_panics = Vec::new();
    while accel == Accel::Tcg && boot_panics.len() < boot_panic::RETRIES {
        let Some(first) = boot_panic::before_suite(&dir) else {
            break;
        };
        let kept = boot_panic::keep_aside(&dir, boot_panics.len() + 1, first);
        println!(
            "ptrace-atf vm: the guest kernel panicked while booting, before the suite started ({}; console kept as {}); under TCG this can be the emulator's (see README, \"Boot-time panics under TCG\"): booting again, {} of {}",
            kept.first,
            kept.console.display(),
            boot_panics.len() + 1,
            boot_panic::RETRIES
        );
        boot_panics.push(kept);
        let (e, more) = boot_once(ctx, k, cpu, accel, &dir);
        end = e;
        secs += more;
    }
    let back = read_back(&dir);
    Outcome {
        boot_panics,
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

fn first_line(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("qemu exited")
        .to_string()
}

/// `ptrace-atf vm`.
pub fn run(args: Args, bins: &Path) -> ExitCode {
    if let Err((code, e)) = crate::cases::check(bins, &args.filters) {
        return fail(code, &e);
    }
    let Some(qemu) = qemu::find() else {
        return fail(
            3,
            &format!(
                "qemu-system-x86_64 is not installed (install {})",
                qemu::PACKAGE
            ),
        );
    };
    let models = qemu::cpu_models(&qemu);
    for m in &args.cpus {
        if let Err(e) = qemu::check_cpu(m, models.as_deref()) {
            return fail(2, &e);
        }
    }
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
    let run = guest::Run {
        filters: args.filters.clone(),
        jobs: args.smp,
        vars: args.vars.clone(),
        direct: args.direct,
        verbose: false,
        heartbeat: 10,
        prelude: args.guest_prelude.clone(),
    };
    let spec = match host::spec(bins, run) {
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
        dirs: Vec::new(),
        all_lines: args.verbose || boots == 1,
    };
    let mut outcomes = Vec::new();
    for k in &kernels {
        for cpu in &cpus {
            let o = boot(&mut ctx, k, cpu);
            outcome::report(&o);
            outcomes.push(o);
        }
    }
    if outcomes.len() > 1 {
        let ends: Vec<String> = outcomes.iter().map(Outcome::end_text).collect();
        let cols: Vec<matrix::Column> = outcomes
            .iter()
            .zip(&ends)
            .map(|(o, end)| matrix::Column {
                kernel: &o.kernel.label,
                cpu: &o.cpu,
                accel: o.accel.name(),
                end,
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
    fn time_scales_are_what_the_guest_programs_accept() {
        assert_eq!(parse_scale("4"), Ok("4".to_string()));
        assert!(
            parse_scale("2.5").is_err(),
            "the programs take whole numbers only"
        );
        assert!(parse_scale("101").is_err());
        assert!(parse_scale("0").is_err());
        assert!(parse_scale("x").is_err());
    }

    #[test]
    fn dir_names_are_plain() {
        assert_eq!(
            dir_name("6.1.0-57-cloud-amd64_max,la57=off"),
            "6.1.0-57-cloud-amd64_max_la57_off"
        );
    }
}
