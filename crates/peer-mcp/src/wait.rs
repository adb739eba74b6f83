//! `peer_await`: wait for the inbox without polling, give up at a deadline,
//! report progress while waiting, and take nothing if the call is cancelled.

use crate::inbox::Taken;
use crate::mailbox::Mailbox;
use rmcp::model::RequestId;
use std::future::Future;
use std::time::Duration;
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Default wait when the call names no timeout.
pub(crate) const AWAIT_DEFAULT: Duration = Duration::from_secs(50);
/// Longest wait: agent hosts time tool calls out at 60–300 s, and background
/// calls past 120 s.
pub(crate) const AWAIT_MAX: Duration = Duration::from_secs(110);
/// How often a waiting call with a progress token reports progress, so hosts
/// that reset their timeout on progress keep waiting.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// How a wait ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Taken(Taken),
    TimedOut,
    Cancelled,
}

/// The wait a `timeout` argument asks for: default when absent, clamped to
/// `[0, AWAIT_MAX]` (negative or NaN → 0).
pub(crate) fn wait_for(timeout_s: Option<f64>) -> Duration {
    match timeout_s {
        None => AWAIT_DEFAULT,
        Some(s) if s.is_nan() || s <= 0.0 => Duration::ZERO,
        Some(s) => Duration::from_secs_f64(s.min(AWAIT_MAX.as_secs_f64())),
    }
}

/// What one wait is for.
pub(crate) struct Wait<'a> {
    pub(crate) mailbox: &'a Mailbox,
    pub(crate) request: &'a RequestId,
    pub(crate) ct: &'a CancellationToken,
    pub(crate) limit: usize,
    pub(crate) include_presence: bool,
    pub(crate) timeout: Duration,
    pub(crate) progress_every: Duration,
}

/// Waits until entries can be taken, the timeout passes, or `ct` is cancelled.
/// `progress(n)` is called after each `progress_every` of waiting.
pub(crate) async fn wait<F, Fut>(w: Wait<'_>, mut progress: F) -> Outcome
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = ()>,
{
    let start = Instant::now();
    let deadline = start + w.timeout;
    let mut ticks = interval_at(start + w.progress_every, w.progress_every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut reported = 0u32;
    loop {
        let arrival = w.mailbox.arrival();
        tokio::pin!(arrival);
        arrival.as_mut().enable();
        match w
            .mailbox
            .take_for(w.request, w.ct, w.limit, w.include_presence)
        {
            None => return Outcome::Cancelled,
            Some(taken) if !taken.entries.is_empty() => return Outcome::Taken(taken),
            Some(_) => {}
        }
        tokio::select! {
            biased;
            _ = w.ct.cancelled() => return Outcome::Cancelled,
            _ = &mut arrival => {}
            _ = tokio::time::sleep_until(deadline) => return Outcome::TimedOut,
            _ = ticks.tick() => {
                reported += 1;
                progress(reported).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peer_client::Notification;
    use rmcp::model::NumberOrString;
    use serde_json::json;
    use std::sync::Arc;

    fn dm(id: &str) -> Notification {
        Notification {
            method: "peer.message".into(),
            params: json!({"message_id": id, "to": "home:~", "body": 1}),
        }
    }

    fn waiting<'a>(
        mb: &'a Mailbox,
        req: &'a RequestId,
        ct: &'a CancellationToken,
        timeout: Duration,
    ) -> Wait<'a> {
        Wait {
            mailbox: mb,
            request: req,
            ct,
            limit: 10,
            include_presence: false,
            timeout,
            progress_every: PROGRESS_EVERY,
        }
    }

    #[test]
    fn timeout_argument() {
        assert_eq!(wait_for(None), AWAIT_DEFAULT);
        assert_eq!(wait_for(Some(2.5)), Duration::from_millis(2500));
        assert_eq!(wait_for(Some(1e9)), AWAIT_MAX);
        assert_eq!(wait_for(Some(-1.0)), Duration::ZERO);
        assert_eq!(wait_for(Some(f64::NAN)), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn returns_at_once_when_something_is_there() {
        let (mb, _) = Mailbox::new();
        mb.push(dm("a"));
        let (req, ct) = (NumberOrString::Number(1), CancellationToken::new());
        let out = wait(waiting(&mb, &req, &ct, AWAIT_DEFAULT), |_| async {}).await;
        assert!(matches!(out, Outcome::Taken(t) if t.entries.len() == 1));
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_with_progress_every_interval() {
        let (mb, _) = Mailbox::new();
        let (req, ct) = (NumberOrString::Number(1), CancellationToken::new());
        let mut reports = Vec::new();
        let start = Instant::now();
        let out = wait(waiting(&mb, &req, &ct, Duration::from_secs(50)), |n| {
            reports.push((n, start.elapsed().as_secs()));
            async {}
        })
        .await;
        assert!(matches!(out, Outcome::TimedOut));
        assert_eq!(start.elapsed(), Duration::from_secs(50));
        assert_eq!(reports, [(1, 15), (2, 30), (3, 45)]);
    }

    #[tokio::test(start_paused = true)]
    async fn wakes_on_arrival() {
        let (mb, _) = Mailbox::new();
        let mb = Arc::new(mb);
        let pusher = mb.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            pusher.push(dm("late"));
        });
        let (req, ct) = (NumberOrString::Number(1), CancellationToken::new());
        let start = Instant::now();
        let out = wait(waiting(&mb, &req, &ct, AWAIT_MAX), |_| async {}).await;
        assert!(matches!(out, Outcome::Taken(_)));
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_takes_nothing() {
        let (mb, _) = Mailbox::new();
        let (req, ct) = (NumberOrString::Number(1), CancellationToken::new());
        let canceller = ct.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            canceller.cancel();
        });
        let out = wait(waiting(&mb, &req, &ct, AWAIT_MAX), |_| async {}).await;
        assert!(matches!(out, Outcome::Cancelled));
        mb.push(dm("after"));
        assert!(mb.has_any(false), "the message waits for the next call");
    }
}
