//! What the test modules share: the daemon and client harness (re-exported
//! here, as most modules use both), the sidecar harness, the Python 0.1
//! reference, a real NATS server and a NATS client spoken by hand.

pub mod bare_nats;
pub mod client;
pub mod daemon;
pub mod federation;
pub mod nats;
pub mod nats_auth;
pub mod nats_nodes;
pub mod py01;
pub mod sidecar;

pub use client::*;
pub use daemon::*;

use std::future::Future;
use std::time::{Duration, Instant};

/// How often [`poll_until`] and the `eventually` functions try again.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// What one poll gives: `true`, or `Some(value)`, once the awaited thing has
/// happened.
pub trait Outcome {
    type Value;
    fn ready(self) -> Option<Self::Value>;
}

impl Outcome for bool {
    type Value = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn ready(self) -> Option<T> {
        self
    }
}

/// Calls `poll` every [`POLL_EVERY`] until it is ready, and returns its value;
/// `None` if `timeout` passes first.
pub fn poll_until<R: Outcome>(timeout: Duration, mut poll: impl FnMut() -> R) -> Option<R::Value> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = poll().ready() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// [`poll_until`], failing the test, waiting for `what`, if `timeout` passes.
pub fn eventually<R: Outcome>(what: &str, timeout: Duration, poll: impl FnMut() -> R) -> R::Value {
    poll_until(timeout, poll)
        .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// [`eventually`] for a condition that must be awaited (the sidecar's tools),
/// sleeping without holding up the runtime.
pub async fn eventually_async<R, Fut>(
    what: &str,
    timeout: Duration,
    mut poll: impl FnMut() -> Fut,
) -> R::Value
where
    R: Outcome,
    Fut: Future<Output = R>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = poll().await.ready() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}
