//! The values of `ptrace-atf loop`'s options: their parsers (each error is the message clap
//! prints) and the CPU list of --cpu.

pub(super) fn parse_iterations(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("at least 1 iteration (to run without a count, leave -n out)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a number of iterations")),
    }
}

/// The longest --duration: a year.
const MAX_DURATION: f64 = 365.0 * 24.0 * 3600.0;

pub(super) fn parse_duration(s: &str) -> Result<f64, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !secs.is_finite() {
        return Err(format!(
            "'{s}' is not a finite number of seconds (to run without a time bound, leave --duration out)"
        ));
    }
    if secs <= 0.0 {
        return Err(format!("'{s}': the duration must be more than 0 seconds"));
    }
    if secs > MAX_DURATION {
        return Err(format!(
            "'{s}': the duration is at most a year ({MAX_DURATION} seconds)"
        ));
    }
    Ok(secs)
}

/// The CPUs this process may run on (online and in its affinity mask).
fn usable_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills a zeroed local set.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) != 0 {
            return Vec::new();
        }
        set
    };
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads a bit of a valid set below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// The bound of --load.
fn max_load() -> usize {
    (4 * usable_cpus().len().max(1)).min(256)
}

pub(super) fn parse_load(s: &str) -> Result<usize, String> {
    let k: usize = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of threads"))?;
    let max = max_load();
    if k > max {
        return Err(format!(
            "{k} busy threads is more than the bound of {max} (4 per CPU this process may use, at most 256)"
        ));
    }
    Ok(k)
}

/// Writes a CPU list compactly: `0-3,6`.
fn cpu_ranges(cpus: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    out.join(",")
}

/// A list of CPU numbers.
#[derive(Clone)]
pub struct CpuList(Vec<usize>);

impl CpuList {
    /// The CPUs, as listed.
    pub(super) fn cpus(&self) -> &[usize] {
        &self.0
    }
}

pub(super) fn parse_cpus(s: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    let bad = || format!("'{s}' is not a CPU list like 0,2-3");
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cpus.extend(a..=b.min(a + libc::CPU_SETSIZE as usize));
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    let usable = usable_cpus();
    if let Some(c) = cpus.iter().find(|c| !usable.contains(c)) {
        return Err(format!(
            "CPU {c} is not online or not allowed to this process (usable: {})",
            cpu_ranges(&usable)
        ));
    }
    Ok(CpuList(cpus))
}
