//! What the test modules share: the daemon and client harness (re-exported
//! here, as most modules use both), the sidecar harness and the Python 0.1
//! reference.

pub mod client;
pub mod daemon;
pub mod py01;
pub mod sidecar;

pub use client::*;
pub use daemon::*;

use std::time::{Duration, Instant};

/// Polls `cond` every 10 ms until it holds; panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
