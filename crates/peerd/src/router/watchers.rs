//! Watchers: operator connections that get a `peer.wire_message` copy of the
//! agent-to-agent traffic their filters match.

use super::{fanout, frame, respond, Outcome, Router, Undo};
use crate::op::{Op, ReplyId};
use crate::outbox::{ConnId, Out};
use peer_proto::api::WatchResult;
use peer_proto::glob::GlobSet;
use peer_proto::message::WireMessage;
use peer_proto::{method, Message};

/// A watcher's filters over `from` and `to`.
pub(super) struct Watch {
    pub(super) from: GlobSet,
    pub(super) to: GlobSet,
}

impl Router {
    /// Starts (`Some`) or stops (`None`) watching.
    pub(super) fn watch(&mut self, conn: ConnId, id: ReplyId, watch: Option<Watch>) -> Outcome {
        let watching = watch.is_some();
        let previous = std::mem::replace(&mut self.conn_mut(conn)?.watch, watch);
        self.journal.push(Undo::Watch { conn, previous });
        match watching {
            true => self.watchers.insert(conn),
            false => self.watchers.remove(&conn),
        };
        let result = WatchResult { ok: true, watching };
        Ok(respond(conn, id, &result).into_iter().collect())
    }

    /// `peer.wire_message` copies for watchers that are neither the sender nor a
    /// recipient (recipients already get the `peer.message`).
    pub(super) fn wire_copies(
        &self,
        sender: ConnId,
        recipients: &[ConnId],
        m: &Message,
        queued: bool,
    ) -> Option<Op> {
        let to = self
            .watchers
            .iter()
            .filter(|w| **w != sender && !recipients.contains(w))
            .filter(|w| {
                self.conns
                    .get(w)
                    .and_then(|c| c.watch.as_ref())
                    .is_some_and(|watch| watch.from.matches(&m.from) && watch.to.matches(&m.to))
            })
            .copied()
            .collect();
        let wire = WireMessage {
            message: m,
            delivered: recipients.len(),
            queued,
        };
        fanout(to, || Out::Frame(frame(method::WIRE_MESSAGE, &wire)))
    }
}
