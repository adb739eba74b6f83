//! Outbox rows handed from the store to the publisher in memory. Each commit
//! that adds rows to `fed_outbox` hands the publisher copies of them, so
//! that it can publish at once instead of reading them back from SQLite (a
//! read transaction on a connection whose page cache each commit empties: a
//! sixth of the publisher's CPU per message). The table stays the truth:
//! the publisher reads it at start-up, after a failed publish, and when the
//! copies outgrow [`HANDOFF_BYTES`] (NATS slow or down), and then skips the
//! copies it has read already, by id.

use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;

/// Most payload bytes of copies waiting for the publisher. Past this the
/// copies are dropped and the publisher reads the table instead, so a long
/// NATS outage costs disk, not memory.
pub(crate) const HANDOFF_BYTES: usize = 4 * 1024 * 1024;

/// One outbox row: the envelope's message to publish on `subject`.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) id: i64,
    pub(crate) subject: String,
    pub(crate) msg_id: String,
    pub(crate) payload: Vec<u8>,
}

/// What the publisher finds handed to it.
#[derive(Debug)]
pub(crate) enum Handed {
    /// Copies of rows, in id order (possibly none).
    Rows(Vec<Row>),
    /// Some copies were dropped: read the table.
    Dropped,
}

/// The rows committed and not yet taken by the publisher, and its wake-up.
#[derive(Default)]
pub(crate) struct Handoff {
    waiting: Mutex<Waiting>,
    /// Notified after each hand-over; a hand-over while the publisher is busy
    /// leaves a permit, so none is missed.
    pub(crate) handed: Notify,
}

#[derive(Default)]
struct Waiting {
    rows: VecDeque<Row>,
    bytes: usize,
    dropped: bool,
}

impl Handoff {
    /// Hands over copies of rows a commit added to the outbox, in id order.
    pub(crate) fn hand(&self, rows: Vec<Row>) {
        if rows.is_empty() {
            return;
        }
        {
            let mut w = self.lock();
            for row in rows {
                if w.dropped || w.bytes + row.payload.len() > HANDOFF_BYTES {
                    // The table has them: the publisher reads it from where
                    // it is.
                    w.rows.clear();
                    w.bytes = 0;
                    w.dropped = true;
                    break;
                }
                w.bytes += row.payload.len();
                w.rows.push_back(row);
            }
        }
        self.handed.notify_one();
    }

    /// Up to `most` rows handed over since the last take, or [`Handed::Dropped`].
    pub(crate) fn take(&self, most: usize) -> Handed {
        let mut w = self.lock();
        if w.dropped {
            *w = Waiting::default();
            return Handed::Dropped;
        }
        let n = most.min(w.rows.len());
        let rows: Vec<Row> = w.rows.drain(..n).collect();
        w.bytes -= rows.iter().map(|r| r.payload.len()).sum::<usize>();
        Handed::Rows(rows)
    }

    /// Forgets every copy: the publisher is about to read the table, which
    /// holds them all (a row is handed over only once committed).
    pub(crate) fn clear(&self) {
        *self.lock() = Waiting::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        // Nothing panics while holding it; a poisoned lock's data is whole.
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, bytes: usize) -> Row {
        Row {
            id,
            subject: "s".into(),
            msg_id: format!("m{id}"),
            payload: vec![b'x'; bytes],
        }
    }

    fn ids(handed: Handed) -> Vec<i64> {
        match handed {
            Handed::Rows(rows) => rows.iter().map(|r| r.id).collect(),
            Handed::Dropped => panic!("dropped"),
        }
    }

    #[test]
    fn rows_come_out_in_order_a_batch_at_a_time() {
        let h = Handoff::default();
        h.hand(vec![row(1, 10), row(2, 10)]);
        h.hand(vec![row(3, 10)]);
        assert_eq!(ids(h.take(2)), [1, 2]);
        assert_eq!(ids(h.take(2)), [3]);
        assert!(ids(h.take(2)).is_empty());
    }

    #[test]
    fn past_the_bound_the_copies_are_dropped_until_taken() {
        let h = Handoff::default();
        h.hand(vec![row(1, HANDOFF_BYTES - 5)]);
        h.hand(vec![row(2, 10), row(3, 1)]);
        h.hand(vec![row(4, 1)]);
        assert!(matches!(h.take(10), Handed::Dropped));
        h.hand(vec![row(5, 1)]);
        assert_eq!(ids(h.take(10)), [5], "handing starts again after a take");
        h.hand(vec![row(6, 1)]);
        h.clear();
        assert!(ids(h.take(10)).is_empty());
    }
}
