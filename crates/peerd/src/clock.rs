//! The one place the daemon reads the time for routing: the event loop reads it
//! once per event and hands it to the router, which reads no clock itself, so
//! its decisions are a function of its inputs and unit tests choose the time.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A moment, on both clocks the router needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now {
    /// Seconds since the Unix epoch: message and presence timestamps.
    pub(crate) unix: f64,
    /// Monotonic: uptime.
    pub(crate) mono: Instant,
}

impl Now {
    /// Reads both clocks.
    pub(crate) fn read() -> Now {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Now {
            unix,
            mono: Instant::now(),
        }
    }
}
