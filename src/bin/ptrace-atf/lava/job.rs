//! The LAVA job definition (YAML, LAVA's job schema of 2023.01 and later): deploy the
//! kernel and the ramdisk (LAVA puts its overlay, the test shell's scripts, into the
//! ramdisk: `overlays: {lava: true}` for tmpfs, natively for tftp), boot to the ramdisk's
//! shell, run the inline test definition, which runs `lava-test` from the ramdisk. Pure.

use super::guest::{LAVA_TEST, PROMPT};

/// How the device is deployed and booted: the only part that differs between a QEMU
/// device and a lab's real machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// LAVA's `qemu` device type: `to: tmpfs`, `method: qemu`. `no_kvm` and the CPU model
    /// go into the job context, which the device template reads.
    Qemu {
        cpu: String,
        smp: u16,
        memory: u32,
        no_kvm: bool,
    },
    /// A real x86 machine: `to: tftp`, booted by its bootloader (`grub`, `ipxe`,
    /// `depthcharge`, as its device type says).
    Tftp { boot_method: String },
}

/// Everything the job says.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub device_type: String,
    pub kernel_url: String,
    pub ramdisk_url: String,
    pub target: Target,
    pub filters: Vec<String>,
    /// PTRACE_ATF_TIME_SCALE in the guest.
    pub time_scale: String,
    /// Cases run at once (empty: the guest's CPU count).
    pub jobs: Option<u16>,
    /// Configuration variables for every program (plain words).
    pub vars: Vec<(String, String)>,
    /// The test action's time limit.
    pub test_minutes: u32,
    /// The deploy and boot actions' time limits.
    pub boot_minutes: u32,
    /// Extra kernel command-line arguments.
    pub append: Vec<String>,
}

/// A YAML single-quoted scalar.
pub fn yq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// How many times LAVA tries the boot (`failure_retry`) of a QEMU job under TCG: the first
/// boot and two more, as `vm` does. Under KVM and on real machines a boot failure is the
/// kernel's and is not retried.
pub const BOOT_ATTEMPTS: u32 = 3;

impl Job {
    /// The kernel command line: for qemu all of it; for a real machine what is added to
    /// the device's own (which names its console).
    pub fn command_line(&self) -> String {
        let mut c = String::from(match self.target {
            Target::Qemu { .. } => "console=ttyS0,115200 panic=-1 printk.devkmsg=on noirqdebug",
            Target::Tftp { .. } => "panic=-1 printk.devkmsg=on noirqdebug",
        });
        for a in &self.append {
            c.push(' ');
            c.push_str(a);
        }
        c
    }

    /// How many times the boot is tried: `BOOT_ATTEMPTS` for QEMU under TCG, else once.
    fn boot_attempts(&self) -> u32 {
        match self.target {
            Target::Qemu { no_kvm: true, .. } => BOOT_ATTEMPTS,
            _ => 1,
        }
    }

    /// The job definition.
    pub fn yaml(&self) -> String {
        let mut y = String::new();
        // Deploy, every boot attempt, the test, and some slack.
        let total = self.boot_minutes * (1 + self.boot_attempts()) + self.test_minutes + 5;
        y.push_str(&format!(
            "# Written by `ptrace-atf lava job`: the ptrace-atf suite ({}) on one kernel.\n",
            if self.filters.is_empty() {
                "every area".to_string()
            } else {
                self.filters.join(" ")
            }
        ));
        y.push_str(&format!("job_name: {}\n", yq(&self.name)));
        y.push_str(&format!("device_type: {}\n", yq(&self.device_type)));
        y.push_str("visibility: public\npriority: medium\n");
        y.push_str(&format!(
            "timeouts:\n  job:\n    minutes: {total}\n  action:\n    minutes: {}\n  connection:\n    minutes: 2\n",
            self.boot_minutes
        ));
        y.push_str("context:\n  arch: amd64\n");
        if let Target::Qemu {
            cpu,
            smp,
            memory,
            no_kvm,
        } = &self.target
        {
            y.push_str(&format!("  no_kvm: {no_kvm}\n  memory: {memory}\n"));
            y.push_str(&format!(
                "  extra_options:\n  - {}\n  - {}\n  - -no-reboot\n",
                yq(&format!("-cpu {cpu}")),
                yq(&format!("-smp {smp}"))
            ));
        }
        let cmdline = self.command_line();
        if let Target::Tftp { .. } = self.target {
            y.push_str(&format!("  extra_kernel_args: {}\n", yq(&cmdline)));
        }
        y.push_str("actions:\n- deploy:\n");
        y.push_str(&format!(
            "    timeout:\n      minutes: {}\n",
            self.boot_minutes
        ));
        match &self.target {
            Target::Qemu { .. } => {
                y.push_str("    to: tmpfs\n    os: oe\n    images:\n      kernel:\n");
                y.push_str(&format!(
                    "        image_arg: {}\n",
                    yq(&format!("-kernel {{kernel}} -append \"{cmdline}\""))
                ));
                y.push_str(&format!("        url: {}\n", yq(&self.kernel_url)));
                y.push_str("      ramdisk:\n        image_arg: '-initrd {ramdisk}'\n");
            }
            Target::Tftp { .. } => {
                y.push_str("    to: tftp\n    os: oe\n    kernel:\n");
                y.push_str(&format!("      url: {}\n", yq(&self.kernel_url)));
                y.push_str("    ramdisk:\n");
            }
        }
        let ind = match self.target {
            Target::Qemu { .. } => "        ",
            Target::Tftp { .. } => "      ",
        };
        y.push_str(&format!("{ind}url: {}\n", yq(&self.ramdisk_url)));
        y.push_str(&format!("{ind}compression: gz\n"));
        // A tftp deploy puts the overlay into the ramdisk itself (`install_overlay`, its
        // default); a tmpfs deploy must be asked to (otherwise it builds a qcow2 drive
        // with libguestfs, which the ramdisk has no driver to read).
        if let Target::Qemu { .. } = self.target {
            y.push_str(&format!("{ind}format: cpio.newc\n"));
            y.push_str(&format!("{ind}overlays:\n{ind}  lava: true\n"));
        }
        y.push_str("- boot:\n");
        y.push_str(&format!(
            "    timeout:\n      minutes: {}\n",
            self.boot_minutes
        ));
        // Under TCG, a kernel panic before the login prompt (LAVA's kernel-message check
        // ends the boot action) boots again, as `vm` does; `lava results` names each retry.
        if self.boot_attempts() > 1 {
            y.push_str(&format!("    failure_retry: {}\n", self.boot_attempts()));
        }
        match &self.target {
            Target::Qemu { .. } => y.push_str("    method: qemu\n    media: tmpfs\n"),
            Target::Tftp { boot_method } => {
                y.push_str(&format!(
                    "    method: {}\n    commands: ramdisk\n",
                    yq(boot_method)
                ));
            }
        }
        y.push_str(&format!("    prompts:\n    - {}\n", yq(PROMPT)));
        y.push_str("- test:\n");
        y.push_str(&format!(
            "    timeout:\n      minutes: {}\n",
            self.test_minutes
        ));
        y.push_str("    definitions:\n    - from: inline\n      name: ptrace-atf\n      path: inline/ptrace-atf.yaml\n");
        y.push_str(
            "      repository:\n        metadata:\n          format: Lava-Test Test Definition 1.0\n          name: ptrace-atf\n",
        );
        y.push_str("          description: 'ptrace(2)/wait(2) kernel regression tests: ATF test programs run by kyua, one LAVA test case per ATF case, plus kernel-health'\n");
        // LAVA's schema takes no job `parameters` for an inline definition: the values
        // are its params.
        y.push_str("        params:\n");
        y.push_str(&format!(
            "          FILTERS: {}\n",
            yq(&self.filters.join(" "))
        ));
        y.push_str(&format!("          TIME_SCALE: {}\n", yq(&self.time_scale)));
        y.push_str(&format!(
            "          JOBS: {}\n",
            yq(&self.jobs.map(|j| j.to_string()).unwrap_or_default())
        ));
        let vars: Vec<String> = self
            .vars
            .iter()
            .map(|(k, v)| format!("-v {k}={v}"))
            .collect();
        y.push_str(&format!("          VARS: {}\n", yq(&vars.join(" "))));
        y.push_str("        run:\n          steps:\n");
        y.push_str(&format!(
            "          - {} -j \"$JOBS\" -s \"$TIME_SCALE\" $VARS $FILTERS\n",
            LAVA_TEST
        ));
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(target: Target) -> Job {
        Job {
            name: "ptrace-atf 6.12 zombie".into(),
            device_type: "qemu".into(),
            kernel_url: "file:///tmp/x/vmlinuz".into(),
            ramdisk_url: "https://lab.example/ptrace-atf-ramdisk.cpio.gz".into(),
            target,
            filters: vec!["zombie/t_zombie_waitpid".into()],
            time_scale: "4".into(),
            jobs: None,
            vars: vec![("dbregs_lie".into(), "read_zero".into())],
            test_minutes: 30,
            boot_minutes: 10,
            append: vec![],
        }
    }

    #[test]
    fn a_qemu_job_deploys_to_tmpfs_with_the_overlay_in_the_ramdisk() {
        let y = job(Target::Qemu {
            cpu: "max".into(),
            smp: 2,
            memory: 2048,
            no_kvm: true,
        })
        .yaml();
        for want in [
            "device_type: 'qemu'\n",
            "  no_kvm: true\n  memory: 2048\n",
            "  - '-cpu max'\n",
            "    to: tmpfs\n",
            "        image_arg: '-kernel {kernel} -append \"console=ttyS0,115200 panic=-1 printk.devkmsg=on noirqdebug\"'\n",
            "        url: 'file:///tmp/x/vmlinuz'\n",
            "        image_arg: '-initrd {ramdisk}'\n        url: 'https://lab.example/ptrace-atf-ramdisk.cpio.gz'\n        compression: gz\n        format: cpio.newc\n        overlays:\n          lava: true\n",
            "    timeout:\n      minutes: 10\n    failure_retry: 3\n    method: qemu\n    media: tmpfs\n",
            "    prompts:\n    - 'ptrace-atf-lava# '\n",
            "        params:\n          FILTERS: 'zombie/t_zombie_waitpid'\n          TIME_SCALE: '4'\n          JOBS: ''\n          VARS: '-v dbregs_lie=read_zero'\n",
            "          - /opt/ptrace-atf/lava-test -j \"$JOBS\" -s \"$TIME_SCALE\" $VARS $FILTERS\n",
        ] {
            assert!(y.contains(want), "{want:?} not in:\n{y}");
        }
    }

    #[test]
    fn a_tftp_job_differs_only_in_deploy_and_boot() {
        let q = job(Target::Qemu {
            cpu: "max".into(),
            smp: 2,
            memory: 2048,
            no_kvm: true,
        })
        .yaml();
        let t = job(Target::Tftp {
            boot_method: "grub".into(),
        })
        .yaml();
        assert!(t.contains("    to: tftp\n"));
        assert!(t.contains("    method: 'grub'\n    commands: ramdisk\n"));
        assert!(t.contains("    ramdisk:\n      url: 'https://lab.example/ptrace-atf-ramdisk.cpio.gz'\n      compression: gz\n- boot:"));
        assert!(!t.contains("no_kvm"));
        assert!(
            !t.contains("failure_retry"),
            "a real machine's boot is not retried"
        );
        assert!(
            t.contains("  job:\n    minutes: 55\n"),
            "deploy, one boot, test, slack"
        );
        assert!(
            q.contains("  job:\n    minutes: 75\n"),
            "deploy, three boots, test, slack"
        );
        let kvm = job(Target::Qemu {
            cpu: "max".into(),
            smp: 2,
            memory: 2048,
            no_kvm: false,
        })
        .yaml();
        assert!(!kvm.contains("failure_retry"), "nor a boot under KVM");
        assert!(t.contains("  extra_kernel_args: 'panic=-1 printk.devkmsg=on noirqdebug'\n"));
        let test_part = |y: &str| y[y.find("- test:").unwrap()..].to_string();
        assert_eq!(test_part(&q), test_part(&t));
    }

    #[test]
    fn quotes_are_doubled() {
        assert_eq!(yq("it's"), "'it''s'");
    }
}
