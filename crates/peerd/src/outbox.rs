//! A connection's bounded queue of outbound frames.
//!
//! Frames are pushed by the store (after the batch that made them durable
//! has committed) and written by the connection's writer task. The queue is
//! bounded in *bytes*: a reader that stops reading is cut off once its backlog
//! passes the limit, instead of growing the daemon's memory, and the DMs it never
//! received are handed back so they can be queued again.

use crate::budget::MemoryBudget;
use bytes::Bytes;
use futures::channel::mpsc;
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Identifies one connection for the daemon's lifetime.
pub(crate) type ConnId = u64;

/// One item in an outbox.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    /// A response or a notification that is simply lost if never written.
    Frame(Bytes),
    /// A `peer.message` DM: if it is never written, the message goes back to the
    /// queue of its address (store row `seq`).
    Dm { frame: Bytes, seq: i64 },
    /// A stored message re-sent on request (a queue drain, a topic replay). A
    /// reader cannot be "behind" on what it just asked for, so these count only
    /// toward [`MAX_BACKLOG_BYTES`], not the slow-reader limit. `seq` is set for
    /// DMs, which go back to their queue if never written.
    Backlog { frame: Bytes, seq: Option<i64> },
    /// Write everything before this, then close the connection.
    Close,
}

impl Out {
    /// The bytes to write.
    pub(crate) fn frame(&self) -> Option<&Bytes> {
        match self {
            Out::Frame(f) | Out::Dm { frame: f, .. } | Out::Backlog { frame: f, .. } => Some(f),
            Out::Close => None,
        }
    }

    fn len(&self) -> usize {
        self.frame().map_or(0, Bytes::len)
    }

    fn backlog_len(&self) -> usize {
        match self {
            Out::Backlog { frame, .. } => frame.len(),
            _ => 0,
        }
    }

    /// The store row to re-queue if this item is never written.
    pub(crate) fn dm_seq(&self) -> Option<i64> {
        match self {
            Out::Dm { seq, .. } => Some(*seq),
            Out::Backlog { seq, .. } => *seq,
            _ => None,
        }
    }
}

/// Bytes of re-sent stored messages a connection may have unwritten on top of the
/// slow-reader limit: room for a full DM queue of large messages, while a client
/// that keeps asking for replays without reading still has a ceiling.
pub(crate) const MAX_BACKLOG_BYTES: usize = 256 * 1024 * 1024;

/// The sending side, cheap to clone; held by the event loop's [`Outboxes`].
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: ConnId,
    tx: mpsc::UnboundedSender<Out>,
    queued_bytes: AtomicUsize,
    /// The part of `queued_bytes` that is [`Out::Backlog`].
    backlog_bytes: AtomicUsize,
    max_bytes: usize,
    /// Unwritten output of every connection together.
    global: Arc<MemoryBudget>,
    overflowed: AtomicBool,
    /// Cancelled when the connection must end (overflow, shutdown, write error).
    cancel: CancellationToken,
}

/// The receiving side, owned by the writer task.
pub(crate) struct OutboxReceiver {
    inner: Arc<Inner>,
    rx: mpsc::UnboundedReceiver<Out>,
}

/// Creates a connection's outbox.
pub(crate) fn outbox(
    id: ConnId,
    max_bytes: usize,
    global: Arc<MemoryBudget>,
    cancel: CancellationToken,
) -> (Outbox, OutboxReceiver) {
    // futures' channel allocates per item and frees on receipt; tokio's keeps
    // blocks of 32 slots per channel after a burst, which across a thousand mostly
    // idle connections was megabytes held for nothing.
    let (tx, rx) = mpsc::unbounded();
    let inner = Arc::new(Inner {
        id,
        tx,
        queued_bytes: AtomicUsize::new(0),
        backlog_bytes: AtomicUsize::new(0),
        max_bytes,
        global,
        overflowed: AtomicBool::new(false),
        cancel,
    });
    (
        Outbox {
            inner: inner.clone(),
        },
        OutboxReceiver { inner, rx },
    )
}

impl Outbox {
    /// Queues `out`, the first frame of a store batch for this connection. The
    /// limits are checked here, once per batch: a connection that already has more
    /// than `max_bytes` of live output unread, or more than [`MAX_BACKLOG_BYTES`] of
    /// re-sent messages on top, is cut off. Gives `out` back when the connection is
    /// gone or cut off.
    pub(crate) fn push(&self, out: Out) -> Result<(), Out> {
        let inner = &self.inner;
        let queued = inner.queued_bytes.load(Ordering::Relaxed);
        let backlog = inner.backlog_bytes.load(Ordering::Relaxed);
        if queued.saturating_sub(backlog) > inner.max_bytes || backlog > MAX_BACKLOG_BYTES {
            self.cut_off(queued, "slow reader: outbox limit reached, disconnecting");
        }
        self.push_more(out)
    }

    /// Queues a later frame of the same store batch: a burst that started within
    /// the limits is accepted whole, so a large queue drain still reaches a reader
    /// that keeps up — unless the daemon-wide output budget is spent and this
    /// connection holds a large part of it.
    pub(crate) fn push_more(&self, out: Out) -> Result<(), Out> {
        let inner = &self.inner;
        let queued = inner.queued_bytes.load(Ordering::Relaxed);
        if inner.global.must_cut(queued) {
            self.cut_off(
                queued,
                "output budget spent: disconnecting a connection with a large unread backlog",
            );
        }
        if inner.overflowed.load(Ordering::Relaxed) {
            return Err(out);
        }
        let (len, backlog) = (out.len(), out.backlog_len());
        inner.queued_bytes.fetch_add(len, Ordering::Relaxed);
        inner.backlog_bytes.fetch_add(backlog, Ordering::Relaxed);
        inner.global.add(len);
        inner.tx.unbounded_send(out).map_err(|e| {
            inner.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            inner.backlog_bytes.fetch_sub(backlog, Ordering::Relaxed);
            inner.global.sub(len);
            e.into_inner()
        })
    }

    /// Stops taking frames and ends the connection (once), saying why in the log.
    fn cut_off(&self, queued: usize, why: &str) {
        let inner = &self.inner;
        if !inner.overflowed.swap(true, Ordering::Relaxed) {
            tracing::warn!(conn = inner.id, queued, "{why}");
            inner.cancel.cancel();
        }
    }
}

impl OutboxReceiver {
    /// The next item, or None once every sender is gone.
    pub(crate) async fn recv(&mut self) -> Option<Out> {
        let out = self.rx.next().await?;
        self.written(&out);
        Some(out)
    }

    /// The next item if one is ready now.
    pub(crate) fn try_recv(&mut self) -> Option<Out> {
        let out = self.rx.try_recv().ok()?;
        self.written(&out);
        Some(out)
    }

    fn written(&self, out: &Out) {
        self.inner.global.sub(out.len());
        self.inner
            .queued_bytes
            .fetch_sub(out.len(), Ordering::Relaxed);
        self.inner
            .backlog_bytes
            .fetch_sub(out.backlog_len(), Ordering::Relaxed);
    }

    /// Refuses further pushes and returns what was queued but never taken.
    pub(crate) fn close(mut self) -> Vec<Out> {
        self.rx.close();
        let mut rest = Vec::new();
        while let Ok(out) = self.rx.try_recv() {
            self.written(&out);
            rest.push(out);
        }
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unlimited() -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget::new(usize::MAX))
    }

    fn frame(n: usize) -> Out {
        Out::Frame(Bytes::from(vec![b'x'; n]))
    }

    #[tokio::test]
    async fn cuts_off_a_reader_that_is_past_the_byte_limit() {
        let cancel = CancellationToken::new();
        let (tx, mut rx) = outbox(1, 100, unlimited(), cancel.clone());
        tx.push(frame(60)).unwrap();
        assert_eq!(rx.recv().await.unwrap().len(), 60);
        tx.push(frame(60)).unwrap();
        tx.push(frame(41)).unwrap();
        assert!(!cancel.is_cancelled(), "it started within the limit");
        let back = tx
            .push(Out::Dm {
                frame: Bytes::from_static(b"d"),
                seq: 9,
            })
            .unwrap_err();
        assert_eq!(back.dm_seq(), Some(9));
        assert!(cancel.is_cancelled());
        assert!(tx.push(frame(1)).is_err(), "stays cut off");
        assert_eq!(rx.close().len(), 2);
    }

    #[tokio::test]
    async fn accepts_a_burst_that_starts_within_the_limit() {
        let cancel = CancellationToken::new();
        let (tx, mut rx) = outbox(1, 100, unlimited(), cancel.clone());
        tx.push(frame(60)).unwrap();
        for _ in 0..4 {
            tx.push_more(frame(60)).unwrap();
        }
        assert!(!cancel.is_cancelled());
        for _ in 0..5 {
            rx.recv().await.unwrap();
        }
        tx.push(frame(1)).unwrap();
    }

    #[tokio::test]
    async fn re_sent_messages_do_not_count_as_falling_behind() {
        let cancel = CancellationToken::new();
        let (tx, _rx) = outbox(1, 100, unlimited(), cancel.clone());
        let backlog = |n| Out::Backlog {
            frame: Bytes::from(vec![b'b'; n]),
            seq: Some(1),
        };
        tx.push(backlog(60)).unwrap();
        for _ in 0..4 {
            tx.push_more(backlog(60)).unwrap();
        }
        tx.push(frame(90)).unwrap();
        tx.push(frame(20)).unwrap();
        assert!(!cancel.is_cancelled());
        assert!(tx.push(frame(1)).is_err(), "110 live bytes unread");
        assert!(cancel.is_cancelled());
    }

    #[tokio::test]
    async fn the_output_budget_cuts_off_a_large_backlog_not_a_small_one() {
        use crate::budget::FAIR_SHARE_FLOOR;
        let global = Arc::new(MemoryBudget::new(2 * FAIR_SHARE_FLOOR));
        let (big_cancel, small_cancel) = (CancellationToken::new(), CancellationToken::new());
        let (big, mut big_rx) = outbox(1, usize::MAX, global.clone(), big_cancel.clone());
        let (small, _small_rx) = outbox(2, usize::MAX, global.clone(), small_cancel.clone());
        let replay = |n| Out::Backlog {
            frame: Bytes::from(vec![b'r'; n]),
            seq: None,
        };
        big.push(replay(FAIR_SHARE_FLOOR)).unwrap();
        small.push(frame(100)).unwrap();
        big.push_more(replay(2 * FAIR_SHARE_FLOOR)).unwrap();
        small.push(frame(100)).unwrap();
        assert!(!small_cancel.is_cancelled(), "a small backlog is never cut");
        assert!(big.push_more(replay(1)).is_err(), "over the budget");
        assert!(big_cancel.is_cancelled());
        big_rx.recv().await.unwrap();
        assert_eq!(big_rx.close().len(), 1);
        assert_eq!(
            global.used(),
            200,
            "only the small connection's bytes remain"
        );
    }

    #[tokio::test]
    async fn refuses_after_close() {
        let (tx, rx) = outbox(2, 100, unlimited(), CancellationToken::new());
        tx.push(Out::Dm {
            frame: Bytes::from_static(b"d"),
            seq: 4,
        })
        .unwrap();
        let rest = rx.close();
        assert_eq!(rest[0].dm_seq(), Some(4));
        assert!(matches!(tx.push(frame(1)), Err(Out::Frame(_))));
    }
}
