//! The outboxes of the open connections, by id: owned by the event loop, used
//! by the store to push a batch's frames once it has committed.
//!
//! A connection waiting for a read done off the event thread (a replay, a
//! history answer: `store::reader`) has a gate: whatever it is sent meanwhile
//! waits behind the read, in order, and goes out once the read's frames have.

use crate::outbox::{ConnId, Out, Outbox};
use std::collections::{HashMap, VecDeque};

#[derive(Debug, Default)]
pub(crate) struct Outboxes {
    open: HashMap<ConnId, Outbox>,
    /// Connections with reads in progress: what waits for them, in order.
    gates: HashMap<ConnId, VecDeque<Waiting>>,
    next_ticket: u64,
}

/// One item behind a gate.
#[derive(Debug)]
enum Waiting {
    Out(Out),
    /// The place of the read with this ticket.
    Read(u64),
    /// A read done, its frames not yet pushed (an earlier read is still out).
    Done(Vec<Out>),
}

impl Outboxes {
    /// Registers a new connection's outbox.
    pub(crate) fn insert(&mut self, conn: ConnId, outbox: Outbox) {
        self.open.insert(conn, outbox);
    }

    /// Queues `out` for `conn` (see [`Outbox::push`]; `first` says whether it
    /// is the connection's first frame of the batch), behind any read in
    /// progress. Gives `out` back when the connection is gone or cut off.
    pub(crate) fn push(&mut self, conn: ConnId, out: Out, first: bool) -> Result<(), Out> {
        // Reads in progress are rare: the common case costs no lookup.
        if !self.gates.is_empty() {
            if let Some(gate) = self.gates.get_mut(&conn) {
                gate.push_back(Waiting::Out(out));
                return Ok(());
            }
        }
        self.push_now(conn, out, first)
    }

    /// A close is the last item a connection gets, so its outbox leaves the
    /// registry with it.
    fn push_now(&mut self, conn: ConnId, out: Out, first: bool) -> Result<(), Out> {
        let Some(outbox) = self.open.get(&conn) else {
            return Err(out);
        };
        let close = matches!(out, Out::Close);
        let pushed = match first {
            true => outbox.push(out),
            false => outbox.push_more(out),
        };
        if close {
            self.open.remove(&conn);
        }
        pushed
    }

    /// Holds `conn`'s place for a read; returns its ticket, or None when the
    /// connection is gone (nothing to read for).
    pub(crate) fn begin_read(&mut self, conn: ConnId) -> Option<u64> {
        if !self.open.contains_key(&conn) {
            return None;
        }
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        self.gates
            .entry(conn)
            .or_default()
            .push_back(Waiting::Read(ticket));
        Some(ticket)
    }

    /// The read `ticket` of `conn` is done: its frames take its place, and
    /// everything up to the next read still in progress goes out. Returns the
    /// DMs that could not be handed over (the connection is gone), to queue
    /// again.
    pub(crate) fn finish_read(&mut self, conn: ConnId, ticket: u64, frames: Vec<Out>) -> Vec<i64> {
        let Some(gate) = self.gates.get_mut(&conn) else {
            return Vec::new();
        };
        if let Some(slot) = gate
            .iter_mut()
            .find(|w| matches!(w, Waiting::Read(t) if *t == ticket))
        {
            *slot = Waiting::Done(frames);
        }
        let mut ready = Vec::new();
        while let Some(front) = gate.front() {
            if matches!(front, Waiting::Read(_)) {
                break;
            }
            match gate.pop_front() {
                Some(Waiting::Out(out)) => ready.push(out),
                Some(Waiting::Done(frames)) => ready.extend(frames),
                _ => {}
            }
        }
        if gate.is_empty() {
            self.gates.remove(&conn);
        }
        let mut unwritten = Vec::new();
        for (i, out) in ready.into_iter().enumerate() {
            if let Err(back) = self.push_now(conn, out, i == 0) {
                unwritten.extend(back.dm_seq());
            }
        }
        unwritten
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::MemoryBudget;
    use crate::outbox::outbox;
    use bytes::Bytes;
    use std::sync::Arc;
    use tokio_util::sync::CancellationToken;

    fn frame(text: &'static str) -> Out {
        Out::Frame(Bytes::from_static(text.as_bytes()))
    }

    #[tokio::test]
    async fn what_follows_a_read_waits_for_it_in_order() {
        let budget = Arc::new(MemoryBudget::new(usize::MAX));
        let (tx, mut rx) = outbox(1, usize::MAX, budget, CancellationToken::new());
        let mut outboxes = Outboxes::default();
        outboxes.insert(1, tx);
        outboxes.push(1, frame("a"), true).unwrap();
        let first = outboxes.begin_read(1).unwrap();
        outboxes.push(1, frame("c"), true).unwrap();
        let second = outboxes.begin_read(1).unwrap();
        outboxes.push(1, frame("e"), true).unwrap();
        // The second read finishes first: nothing may overtake the first.
        assert!(outboxes.finish_read(1, second, vec![frame("d")]).is_empty());
        assert_eq!(rx.try_recv().unwrap().frame().unwrap(), "a");
        assert!(rx.try_recv().is_none());
        outboxes.finish_read(1, first, vec![frame("b")]);
        let rest: Vec<_> = std::iter::from_fn(|| rx.try_recv())
            .map(|o| o.frame().unwrap().clone())
            .collect();
        assert_eq!(rest, ["b", "c", "d", "e"]);
        assert!(outboxes.gates.is_empty());
        outboxes.push(1, frame("f"), true).unwrap();
        assert_eq!(rx.try_recv().unwrap().frame().unwrap(), "f");
    }

    #[tokio::test]
    async fn dms_behind_a_read_of_a_gone_connection_come_back() {
        let budget = Arc::new(MemoryBudget::new(usize::MAX));
        let (tx, rx) = outbox(1, usize::MAX, budget, CancellationToken::new());
        let mut outboxes = Outboxes::default();
        outboxes.insert(1, tx);
        let ticket = outboxes.begin_read(1).unwrap();
        let dm = Out::Dm {
            frame: Bytes::from_static(b"dm"),
            seq: 7,
        };
        outboxes.push(1, dm, true).unwrap();
        drop(rx.close());
        assert_eq!(outboxes.finish_read(1, ticket, Vec::new()), vec![7]);
    }
}
