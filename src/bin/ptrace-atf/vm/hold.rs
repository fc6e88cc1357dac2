//! `ptrace-atf hold-perf-event` (hidden; run by every guest init of ours): under an emulated
//! CPU (QEMU TCG, named by CPUID) it holds one task-bound perf event open for the whole boot, so that the kernel's `perf_sched_events`
//! static key stays enabled instead of flipping each time a case creates and frees its
//! ptrace hardware breakpoints.
//!
//! Why: every flip patches kernel text with INT3 (text_poke_bp). Under QEMU TCG, a vCPU
//! sometimes executes that temporary INT3 after the patching CPU has finished and
//! synchronised every CPU, and the guest dies with "Oops: int3" in `__schedule` (workqueue
//! `perf_sched_delayed`), then "Kernel panic - not syncing: Fatal exception" (seen on
//! 6.12.117 cloud and rt). A real CPU cannot do that: the kernel's sync IPIs serialise every
//! CPU before the INT3 is removed, so a CPU that still meets it is running a stale copy of
//! the code, which is the emulator's translation cache. Under KVM and on hardware nothing
//! is held (the program exits at once) and the key flips as usual. The decision is the
//! guest's own, from CPUID, so a LAVA job gets it on a lab's TCG device and not on hardware.

use std::process::ExitCode;

/// Opens a software perf event on this task and sleeps until killed (or until its parent,
/// the guest's init, is gone).
pub fn run() -> ExitCode {
    let Some(emulator) = ptrace_atf::trace::hypervisor::emulator() else {
        return ExitCode::SUCCESS;
    };
    // perf_event_attr in its first published size (PERF_ATTR_SIZE_VER0, 64 bytes; the
    // kernel takes any known size): type PERF_TYPE_SOFTWARE (1), size, config
    // PERF_COUNT_SW_DUMMY (9), every flag 0 (enabled).
    const SOFTWARE: u64 = 1;
    const SW_DUMMY: u64 = 9;
    const ATTR_SIZE: u64 = 64;
    const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
    let mut attr = [0u64; 8];
    attr[0] = SOFTWARE | (ATTR_SIZE << 32);
    attr[1] = SW_DUMMY;
    // SAFETY: perf_event_open reads 64 bytes of attr, a live local; pid 0 (this task), any
    // CPU, no group.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            0,
            -1,
            -1,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        eprintln!(
            "ptrace-atf hold-perf-event: perf_event_open failed: {}",
            std::io::Error::last_os_error()
        );
        return ExitCode::from(1);
    }
    println!("ptrace-atf: holding a perf event so perf_sched_events does not flip ({emulator})");
    loop {
        // SAFETY: pause has no preconditions; the event stays open while we sleep.
        unsafe { libc::pause() };
    }
}
