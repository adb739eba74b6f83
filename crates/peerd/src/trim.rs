//! Giving memory back after a burst.
//!
//! glibc keeps freed heap for reuse, so a daemon's resident size stays at its
//! peak: with a thousand sessions, the peak is the moment they all joined and each
//! was told about every other. After a busy spell the router loop waits
//! [`QUIET_BEFORE_TRIM`] for more work; if none comes, the free heap is returned
//! to the OS. Never during traffic, so no request waits for it.

use std::time::Duration;

/// Silence after a busy spell before the free heap is released.
pub(crate) const QUIET_BEFORE_TRIM: Duration = Duration::from_millis(100);
/// Router events in one batch that make a busy spell.
pub(crate) const BUSY_BATCH: usize = 64;
/// Bytes of frames made by one batch that make a busy spell (one large
/// replay or history answer is as much memory as a burst of small requests).
pub(crate) const BUSY_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// Whether a busy spell has ended without a trim yet.
#[derive(Debug, Default)]
pub(crate) struct Trimmer {
    busy: bool,
}

impl Trimmer {
    /// Notes a batch of `events` router events that made `bytes` of frames.
    pub(crate) fn batch(&mut self, events: usize, bytes: usize) {
        self.busy |= events >= BUSY_BATCH || bytes >= BUSY_BATCH_BYTES;
    }

    /// How long the loop should wait for work before calling [`Trimmer::quiet`];
    /// None: wait as long as it takes.
    pub(crate) fn patience(&self) -> Option<Duration> {
        self.busy.then_some(QUIET_BEFORE_TRIM)
    }

    /// The wait ran out: release the free heap.
    pub(crate) fn quiet(&mut self) {
        self.busy = false;
        release_free_heap();
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_heap() {
    // SAFETY: malloc_trim only walks and releases the allocator's own free lists;
    // it is thread-safe and has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_heap() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_quiet_only_after_a_busy_spell() {
        let mut t = Trimmer::default();
        t.batch(1, 100);
        assert_eq!(t.patience(), None);
        t.batch(BUSY_BATCH, 100);
        assert_eq!(t.patience(), Some(QUIET_BEFORE_TRIM));
        t.quiet();
        assert_eq!(t.patience(), None);
        t.batch(1, BUSY_BATCH_BYTES);
        assert_eq!(t.patience(), Some(QUIET_BEFORE_TRIM), "one large answer");
    }
}
