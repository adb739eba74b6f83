//! Reconnect delays: doubling from 100 ms up to 5 s (SPEC §9), reset once a
//! connection succeeds, so a restarted daemon is found again within seconds
//! without a busy loop against an absent one.

use std::time::Duration;

/// First delay after a failure.
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest delay between attempts.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
/// Reconnect delays: doubling from the minimum to the maximum, with jitter.
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: BACKOFF_MIN }
    }
}

impl Backoff {
    /// The delay to wait now; the following one is twice as long, at most
    /// [`BACKOFF_MAX`].
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        delay
    }

    /// Back to [`BACKOFF_MIN`] after a success.
    pub fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::default();
        let delays: Vec<u64> = (0..9).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        b.reset();
        assert_eq!(b.next_delay(), BACKOFF_MIN);
    }
}
