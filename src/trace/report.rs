//! Failure reports from forked children, carried in a shared anonymous mapping.
//!
//! Before fork(2) the parent claims a slot of a per-process `MAP_SHARED` region; the child
//! appends its report there (it only writes when an assertion fails) and the parent reads it
//! back through `Child::failure`. Spawning a child costs no system call, no file descriptor
//! and no copy-on-write page: the region's pages are shared, so fork(2) neither copies nor
//! write-protects them. With every slot taken (more than `SLOTS` live children) the child
//! writes its report to its stderr instead, where the case's output shows it.

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// Slots per region: live `Child` values a process can have with a report slot each.
const SLOTS: usize = 256;
/// Report bytes a slot keeps (longer reports are truncated).
const TEXT: usize = 1024 - 2 * std::mem::size_of::<usize>();

#[repr(C)]
struct Slot {
    len: AtomicUsize,
    /// The child's pid, stored by the parent after fork(2) (0 until then).
    pid: AtomicI32,
    text: UnsafeCell<[u8; TEXT]>,
}

#[repr(C)]
struct Region {
    used: [AtomicU64; SLOTS / 64],
    slots: [Slot; SLOTS],
}

/// This process's region (null until a first child is spawned).
static REGION: AtomicPtr<Region> = AtomicPtr::new(std::ptr::null_mut());
/// The slot of the child this process forked last: in that child, where its threads report.
/// Written before fork(2) only when it changes (a loop reuses one slot), so that a fork does
/// not leave a page of the program's data to copy on the next write.
static NEXT: AtomicPtr<Slot> = AtomicPtr::new(std::ptr::null_mut());
/// In a forked child that forked children of its own: its own slot (NEXT then names its
/// latest child's).
static OWN: AtomicPtr<Slot> = AtomicPtr::new(std::ptr::null_mut());

// A freshly forked child records its state in its thread's TLS: fork(2) has already made that
// page the child's own (the kernel writes the child's tid there), so this costs no page fault.
thread_local! {
    /// In the thread that ran fork(2) in a forked child: its report slot.
    static MINE: Cell<*mut Slot> = const { Cell::new(std::ptr::null_mut()) };
    /// Set in a forked child until it first claims a slot for a child of its own.
    static FRESH: Cell<bool> = const { Cell::new(false) };
}

fn region() -> Option<&'static Region> {
    if FRESH.get() {
        // First spawn in a forked child: its children get slots from a region of its own,
        // and its threads keep reporting to its own slot.
        FRESH.set(false);
        OWN.store(MINE.get(), Ordering::Release);
        REGION.store(std::ptr::null_mut(), Ordering::Release);
    }
    let mut p = REGION.load(Ordering::Acquire);
    if p.is_null() {
        // SAFETY: a fresh shared anonymous mapping, zero-filled: every slot free and empty.
        let m = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<Region>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if m == libc::MAP_FAILED {
            return None;
        }
        match REGION.compare_exchange(
            std::ptr::null_mut(),
            m.cast(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => p = m.cast(),
            Err(other) => {
                // Another thread mapped one first; ours was never used.
                // SAFETY: unmapping the region just mapped.
                unsafe { libc::munmap(m, std::mem::size_of::<Region>()) };
                p = other;
            }
        }
    }
    // SAFETY: regions are never unmapped while the process lives.
    Some(unsafe { &*p })
}

/// A claimed slot: the parent's handle on one child's report; freed when dropped.
#[derive(Debug)]
pub struct ReportSlot {
    region: *const Region,
    index: usize,
}

// SAFETY: the region is never unmapped; a slot's fields are atomics, and its text is written
// only by the child that owns it and read after `len` says it was written.
unsafe impl Send for ReportSlot {}
// SAFETY: as for Send: shared use goes through the atomics.
unsafe impl Sync for ReportSlot {}

impl ReportSlot {
    /// Claims a free slot of this process's region and empties it.
    pub fn claim() -> Option<ReportSlot> {
        let region = region()?;
        for (word, used) in region.used.iter().enumerate() {
            let mut cur = used.load(Ordering::Relaxed);
            while cur != u64::MAX {
                let bit = (!cur).trailing_zeros() as usize;
                match used.compare_exchange_weak(
                    cur,
                    cur | (1 << bit),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let index = word * 64 + bit;
                        region.slots[index].pid.store(0, Ordering::Relaxed);
                        region.slots[index].len.store(0, Ordering::Release);
                        return Some(ReportSlot { region, index });
                    }
                    Err(now) => cur = now,
                }
            }
        }
        None
    }

    fn ptr(&self) -> *mut Slot {
        std::ptr::from_ref(self.slot()).cast_mut()
    }

    fn slot(&self) -> &Slot {
        // SAFETY: the region stays mapped and index < SLOTS.
        unsafe { &(*self.region).slots[self.index] }
    }

    /// In the parent, after fork(2): the child's pid, which lets the child's other threads
    /// find this slot.
    #[inline]
    pub fn forked(&self, pid: i32) {
        self.slot().pid.store(pid, Ordering::Release);
    }

    /// What the child wrote so far, newlines made spaces; None if nothing.
    pub fn text(&self) -> Option<String> {
        let slot = self.slot();
        let len = slot.len.load(Ordering::Acquire).min(TEXT);
        // SAFETY: in bounds; read once the child has stopped or exited, when every byte
        // below `len` has been copied.
        let bytes = unsafe { &(&*slot.text.get())[..len] };
        (len > 0).then(|| String::from_utf8_lossy(bytes).replace('\n', " "))
    }
}

impl Drop for ReportSlot {
    fn drop(&mut self) {
        // SAFETY: as in `slot`.
        let used = unsafe { &(*self.region).used[self.index / 64] };
        used.fetch_and(!(1 << (self.index % 64)), Ordering::AcqRel);
    }
}

/// In the parent, just before fork(2): `slot` becomes the one the child's threads report to.
/// NEXT is written only when it changes (a loop reuses one slot), so that the fork leaves no
/// page of the program's data to copy on the next write.
#[inline]
pub fn before_fork(slot: Option<&ReportSlot>) {
    let p = slot.map_or(std::ptr::null_mut(), ReportSlot::ptr);
    if NEXT.load(Ordering::Relaxed) != p {
        NEXT.store(p, Ordering::Release);
    }
}

/// In the freshly forked child: its report slot, if it has one.
#[inline]
pub fn adopt_in_child(slot: Option<&ReportSlot>) {
    MINE.set(slot.map_or(std::ptr::null_mut(), ReportSlot::ptr));
    FRESH.set(true);
    if !OWN.load(Ordering::Relaxed).is_null() {
        OWN.store(std::ptr::null_mut(), Ordering::Relaxed);
    }
}

/// The slot this thread reports to: its own (the thread that ran fork(2)), else the process's
/// (another thread of a forked child) if the slot belongs to this process.
fn target() -> *mut Slot {
    let mine = MINE.get();
    if !mine.is_null() {
        return mine;
    }
    let shared = match OWN.load(Ordering::Acquire) {
        p if p.is_null() => NEXT.load(Ordering::Acquire),
        p => p,
    };
    if shared.is_null() {
        return shared;
    }
    // SAFETY: slots are never unmapped; getpid has no preconditions.
    let owner = unsafe { (*shared).pid.load(Ordering::Acquire) };
    // SAFETY: getpid has no preconditions.
    if owner == 0 || owner == unsafe { libc::getpid() } {
        shared
    } else {
        std::ptr::null_mut()
    }
}

/// In a forked child: appends `bytes` to its report slot, or writes them to stderr when it
/// has none. Async-signal-safe (atomics and write(2) only).
pub fn write(bytes: &[u8]) {
    let slot = target();
    if slot.is_null() {
        // SAFETY: write(2) of a valid buffer; nothing to do if it fails.
        unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        return;
    }
    // SAFETY: the slot is in a mapping inherited from the parent, which keeps it claimed
    // until it has read the report; each writer copies only into the range it reserved.
    unsafe {
        let slot = &*slot;
        let start = slot.len.fetch_add(bytes.len(), Ordering::AcqRel);
        if start < TEXT {
            let n = bytes.len().min(TEXT - start);
            let dst = (*slot.text.get()).as_mut_ptr().add(start);
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_child_report_reaches_the_parent_and_slots_are_freed() {
        let slot = ReportSlot::claim().expect("a slot");
        // SAFETY: the child only writes its report and _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            adopt_in_child(Some(&slot));
            write(b"first\n");
            write(b"second");
            // SAFETY: _exit ends the forked child.
            unsafe { libc::_exit(0) };
        }
        let mut st = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        assert_eq!(slot.text().as_deref(), Some("first second"));
        drop(slot);
        // More claims than there are slots: each dropped slot must have been freed.
        for _ in 0..4 * SLOTS {
            let s = ReportSlot::claim().expect("a freed slot is claimed again");
            assert_eq!(s.text(), None, "a claimed slot starts empty");
        }
    }
}
