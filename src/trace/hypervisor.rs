//! Which hypervisor (if any) this program runs under, read from CPUID the way the kernel
//! reads it (arch/x86/kernel/cpu/hypervisor.c): leaf 0x1 ECX bit 31 says a hypervisor is
//! present, leaf 0x40000000 EBX:ECX:EDX holds its 12-byte vendor signature.
//!
//! A test may skip a case for a limit of an emulated CPU only through this module: never
//! from timing, never from a guess. On bare metal `detect()` is `None`, so every case runs.

use std::fmt;
use std::sync::OnceLock;

/// A hypervisor, named by its CPUID vendor signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hypervisor {
    /// QEMU's Tiny Code Generator, a CPU emulated instruction by instruction
    /// ("TCGTCGTCGTCG").
    QemuTcg,
    /// Linux KVM ("KVMKVMKVM\0\0\0"): the guest's instructions run on the real CPU.
    Kvm,
    /// Microsoft Hyper-V ("Microsoft Hv").
    HyperV,
    /// VMware ("VMwareVMware").
    Vmware,
    /// Xen HVM ("XenVMMXenVMM").
    Xen,
    /// Any other signature, as read (non-printable bytes escaped); empty when the hypervisor
    /// bit is set but leaf 0x40000000 gives no signature.
    Other(String),
}

impl Hypervisor {
    /// The hypervisor a 12-byte CPUID signature names.
    pub fn from_signature(sig: &[u8; 12]) -> Hypervisor {
        match sig {
            b"TCGTCGTCGTCG" => Hypervisor::QemuTcg,
            b"KVMKVMKVM\0\0\0" => Hypervisor::Kvm,
            b"Microsoft Hv" => Hypervisor::HyperV,
            b"VMwareVMware" => Hypervisor::Vmware,
            b"XenVMMXenVMM" => Hypervisor::Xen,
            other => Hypervisor::Other(other.escape_ascii().to_string()),
        }
    }

    /// Whether the CPU is emulated in software (instructions translated, not run natively):
    /// its corner cases are the emulator's, not the processor's.
    pub fn emulates_cpu(&self) -> bool {
        matches!(self, Hypervisor::QemuTcg)
    }
}

impl fmt::Display for Hypervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hypervisor::QemuTcg => f.write_str("QEMU TCG (CPUID signature \"TCGTCGTCGTCG\")"),
            Hypervisor::Kvm => f.write_str("KVM (CPUID signature \"KVMKVMKVM\")"),
            Hypervisor::HyperV => f.write_str("Hyper-V (CPUID signature \"Microsoft Hv\")"),
            Hypervisor::Vmware => f.write_str("VMware (CPUID signature \"VMwareVMware\")"),
            Hypervisor::Xen => f.write_str("Xen (CPUID signature \"XenVMMXenVMM\")"),
            Hypervisor::Other(s) => write!(f, "a hypervisor with CPUID signature \"{s}\""),
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn read() -> Option<Hypervisor> {
    use std::arch::x86_64::__cpuid;
    // CPUID exists on every x86_64 CPU; leaf 1 is always implemented.
    if __cpuid(1).ecx & (1 << 31) == 0 {
        return None;
    }
    let leaf = __cpuid(0x4000_0000);
    let mut sig = [0u8; 12];
    sig[0..4].copy_from_slice(&leaf.ebx.to_le_bytes());
    sig[4..8].copy_from_slice(&leaf.ecx.to_le_bytes());
    sig[8..12].copy_from_slice(&leaf.edx.to_le_bytes());
    Some(Hypervisor::from_signature(&sig))
}

#[cfg(not(target_arch = "x86_64"))]
fn read() -> Option<Hypervisor> {
    None
}

static DETECTED: OnceLock<Option<Hypervisor>> = OnceLock::new();

/// The hypervisor this program runs under (CPUID, read once), `None` on bare metal.
pub fn detect() -> Option<&'static Hypervisor> {
    DETECTED.get_or_init(read).as_ref()
}

/// The emulator this program runs under, when its CPU is emulated in software (QEMU TCG).
pub fn emulator() -> Option<&'static Hypervisor> {
    detect().filter(|h| h.emulates_cpu())
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn signatures() {
        assert_eq!(
            Hypervisor::from_signature(b"TCGTCGTCGTCG"),
            Hypervisor::QemuTcg
        );
        assert_eq!(
            Hypervisor::from_signature(b"KVMKVMKVM\0\0\0"),
            Hypervisor::Kvm
        );
        assert_eq!(
            Hypervisor::from_signature(b"Microsoft Hv"),
            Hypervisor::HyperV
        );
        assert_eq!(
            Hypervisor::from_signature(b"VMwareVMware"),
            Hypervisor::Vmware
        );
        assert_eq!(
            Hypervisor::from_signature(b"bhyve bhyve "),
            Hypervisor::Other("bhyve bhyve ".into())
        );
        assert_eq!(
            Hypervisor::from_signature(&[0; 12]),
            Hypervisor::Other("\\x00".repeat(12))
        );
        assert!(Hypervisor::QemuTcg.emulates_cpu());
        assert!(!Hypervisor::Kvm.emulates_cpu());
    }

    #[test]
    fn this_machine_reads_consistently() {
        // Whatever this machine is, two reads agree and the cached value is the read one.
        assert_eq!(read(), read());
        assert_eq!(detect().cloned(), read());
        eprintln!("this machine: {:?}", detect());
    }
}
