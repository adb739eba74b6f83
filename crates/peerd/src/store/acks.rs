//! Which DMs each ack-mode connection holds without having acknowledged them.
//!
//! Kept by the store, beside the rows it updates, so that holding, acking
//! and releasing fall in the same order as every other operation. A DM sent to a
//! home can be held by several connections at once; its row stays held
//! until the last holder acknowledges it.

use crate::outbox::ConnId;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Default)]
pub(crate) struct Acks {
    /// Connections that said hello with `ack: true`.
    ack_mode: HashSet<ConnId>,
    by_conn: HashMap<ConnId, HashSet<i64>>,
    holders: HashMap<i64, u32>,
}

impl Acks {
    /// From now on, DMs handed to `conn` are held until it acknowledges them.
    pub(crate) fn enable(&mut self, conn: ConnId) {
        self.ack_mode.insert(conn);
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
        }
        added
    }

    /// `conn` acknowledged `seq`. Returns None if it did not hold it, else whether it
    /// was the last holder.
    pub(crate) fn ack(&mut self, conn: ConnId, seq: i64) -> Option<bool> {
        let held = self.by_conn.get_mut(&conn)?.remove(&seq);
        held.then(|| self.drop_holder(seq))
    }

    /// `conn` is gone: the DMs it held and never acknowledged.
    pub(crate) fn release(&mut self, conn: ConnId) -> Vec<i64> {
        self.ack_mode.remove(&conn);
        let held: Vec<i64> = self.by_conn.remove(&conn).into_iter().flatten().collect();
        for seq in &held {
            self.drop_holder(*seq);
        }
        held
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
}
