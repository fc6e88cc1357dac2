//! The kernel a run judges: named at the top of the run (release, taint), and checked for
//! oopses, warnings and new taint over the whole run at its end, so a kernel that broke
//! while the suite ran is reported even when the case that broke it could not report it
//! (an oops that killed the test program itself).

use ptrace_atf::trace::health::{self, Health};

/// Watches the kernel over one run.
pub struct RunHealth {
    health: Health,
}

/// The running kernel's release (`uname -r`).
pub fn release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

impl RunHealth {
    /// Prints the kernel's release and taint state, and starts watching its log.
    pub fn start() -> RunHealth {
        let mut h = Health::open();
        h.begin();
        let log = if h.log_readable() {
            "its log is watched"
        } else {
            "its log cannot be read here (only the taint mask is watched)"
        };
        match h.taint() {
            Some(0) => println!("ptrace-atf: kernel {}: not tainted; {log}", release()),
            Some(mask) => println!(
                "ptrace-atf: WARNING: kernel {} is already tainted ({mask}: {}); a case fails \
                 only for what happens during it; {log}",
                release(),
                health::describe_taint(mask)
            ),
            None => println!(
                "ptrace-atf: kernel {}: the taint mask cannot be read; {log}",
                release()
            ),
        }
        RunHealth { health: h }
    }

    /// Reports what went wrong in the kernel during the run; false if anything did.
    pub fn finish(mut self) -> bool {
        let f = self.health.end();
        if f.is_clean() {
            return true;
        }
        println!(
            "ptrace-atf: the kernel broke during this run: {}",
            f.summary()
        );
        print!("{}", f.excerpt_text());
        false
    }
}
