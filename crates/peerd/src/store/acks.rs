//! Which DMs each ack-mode connection holds without having acknowledged them.
//!
//! Kept by the store, beside the rows it updates, so that holding, acking
//! and releasing fall in the same order as every other operation. A DM sent to a
//! home can be held by several connections at once; its row stays held
//! until the last holder acknowledges it.
//!
//! Every change is journaled until the batch that made it commits: if the
//! transaction fails, [`Acks::roll_back`] puts this bookkeeping back in step
//! with the rows, which the failed transaction left as they were.

use crate::outbox::ConnId;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Default)]
pub(crate) struct Acks {
    /// Connections that said hello with `ack: true`.
    ack_mode: HashSet<ConnId>,
    by_conn: HashMap<ConnId, HashSet<i64>>,
    holders: HashMap<i64, u32>,
    /// Changes of the batch in progress, newest last.
    journal: Vec<Change>,
}

/// One change, as much as it takes to undo it.
#[derive(Debug)]
enum Change {
    Enabled(ConnId),
    Held(ConnId, i64),
    Acked(ConnId, i64),
    Released {
        conn: ConnId,
        held: HashSet<i64>,
        ack_mode: bool,
    },
}

impl Acks {
    /// From now on, DMs handed to `conn` are held until it acknowledges them.
    pub(crate) fn enable(&mut self, conn: ConnId) {
        if self.ack_mode.insert(conn) {
            self.journal.push(Change::Enabled(conn));
        }
    }

    /// Whether `conn` is in ack mode. Asked once per delivery, so the usual
    /// case (nobody in ack mode) is answered without hashing.
    pub(crate) fn enabled(&self, conn: ConnId) -> bool {
        !self.ack_mode.is_empty() && self.ack_mode.contains(&conn)
    }

    /// Records that `conn` holds `seq`; false if it already did.
    pub(crate) fn hold(&mut self, conn: ConnId, seq: i64) -> bool {
        let added = self.by_conn.entry(conn).or_default().insert(seq);
        if added {
            *self.holders.entry(seq).or_default() += 1;
            self.journal.push(Change::Held(conn, seq));
        }
        added
    }

    /// `conn` acknowledged `seq`. Returns None if it did not hold it, else whether it
    /// was the last holder.
    pub(crate) fn ack(&mut self, conn: ConnId, seq: i64) -> Option<bool> {
        let held = self.by_conn.get_mut(&conn)?.remove(&seq);
        held.then(|| {
            self.journal.push(Change::Acked(conn, seq));
            self.drop_holder(seq)
        })
    }

    /// `conn` is gone: the DMs it held and never acknowledged.
    pub(crate) fn release(&mut self, conn: ConnId) -> Vec<i64> {
        let ack_mode = self.ack_mode.remove(&conn);
        let held = self.by_conn.remove(&conn).unwrap_or_default();
        for seq in &held {
            self.drop_holder(*seq);
        }
        let seqs = held.iter().copied().collect();
        if ack_mode || !held.is_empty() {
            self.journal.push(Change::Released {
                conn,
                held,
                ack_mode,
            });
        }
        seqs
    }

    /// The batch committed: its changes stand.
    pub(crate) fn settle(&mut self) {
        self.journal.clear();
    }

    /// The batch failed: undoes its changes, newest first.
    pub(crate) fn roll_back(&mut self) {
        while let Some(change) = self.journal.pop() {
            match change {
                Change::Enabled(conn) => {
                    self.ack_mode.remove(&conn);
                }
                Change::Held(conn, seq) => {
                    if let Some(held) = self.by_conn.get_mut(&conn) {
                        held.remove(&seq);
                    }
                    self.drop_holder(seq);
                }
                Change::Acked(conn, seq) => self.add_holder(conn, seq),
                Change::Released {
                    conn,
                    held,
                    ack_mode,
                } => {
                    if ack_mode {
                        self.ack_mode.insert(conn);
                    }
                    for seq in held {
                        self.add_holder(conn, seq);
                    }
                }
            }
        }
    }

    fn add_holder(&mut self, conn: ConnId, seq: i64) {
        if self.by_conn.entry(conn).or_default().insert(seq) {
            *self.holders.entry(seq).or_default() += 1;
        }
    }

    fn drop_holder(&mut self, seq: i64) -> bool {
        match self.holders.get_mut(&seq) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => {
                self.holders.remove(&seq);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_holder_settles_and_release_returns_the_rest() {
        let mut a = Acks::default();
        assert!(a.hold(1, 10));
        assert!(!a.hold(1, 10));
        assert!(a.hold(2, 10));
        assert!(a.hold(1, 11));
        assert_eq!(a.ack(3, 10), None, "never held");
        assert_eq!(a.ack(1, 10), Some(false), "2 still holds it");
        assert_eq!(a.ack(1, 10), None, "acked twice");
        assert_eq!(a.ack(2, 10), Some(true));
        assert_eq!(a.release(1), vec![11]);
        assert!(a.release(1).is_empty());
        assert!(a.holders.is_empty());
    }

    #[test]
    fn a_failed_batch_leaves_the_bookkeeping_as_it_was() {
        let mut a = Acks::default();
        a.enable(1);
        a.hold(1, 10);
        a.hold(2, 10);
        a.settle();
        a.enable(3);
        a.hold(3, 11);
        assert_eq!(a.ack(1, 10), Some(false));
        assert_eq!(a.release(2), vec![10]);
        a.roll_back();
        assert!(a.enabled(1) && !a.enabled(3));
        assert_eq!(a.by_conn[&1], HashSet::from([10]));
        assert_eq!(a.by_conn[&2], HashSet::from([10]));
        assert!(a.by_conn.get(&3).is_none_or(HashSet::is_empty));
        assert_eq!(a.holders, HashMap::from([(10, 2)]));
    }
}
