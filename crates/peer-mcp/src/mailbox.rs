//! The inbox shared by the notification pump and the tools, plus the
//! bookkeeping that makes a tool result the unit of delivery.
//!
//! Entries a tool takes are not gone yet: they are *in flight* under the MCP
//! request id until the response carrying them is written to stdout
//! ([`crate::delivery`] reports that). Only then are they acknowledged to the
//! daemon. If the host cancels the call first, rmcp drops the response and
//! [`Mailbox::cancelled`] puts the entries back, so a cancelled `peer_await`
//! consumes nothing.

use crate::inbox::{Entry, Inbox, Pushed, Taken};
use crate::recent::Recent;
use peer_client::Notification;
use rmcp::model::RequestId;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

/// Entries handed to one tool result.
struct Batch {
    entries: Vec<Entry>,
    /// The response is being written: a late cancellation no longer undoes it.
    sending: bool,
}

/// How many cancelled request ids are remembered.
const CANCELLED_IDS_CAPACITY: usize = 256;

struct State {
    inbox: Inbox,
    in_flight: HashMap<RequestId, Batch>,
    /// Requests the host cancelled. rmcp's client writes a request and its
    /// cancellation from separate tasks, so the cancellation can arrive first;
    /// rmcp then does not cancel the request, but this still makes it take
    /// nothing. (MCP request ids are never reused within a session.)
    cancelled: Recent,
}

impl Default for State {
    fn default() -> Self {
        State {
            inbox: Inbox::default(),
            in_flight: HashMap::new(),
            cancelled: Recent::new(CANCELLED_IDS_CAPACITY),
        }
    }
}

pub(crate) struct Mailbox {
    state: Mutex<State>,
    /// Woken whenever entries are added, so `peer_await` sleeps instead of polling.
    arrived: Notify,
    /// Ids of DMs delivered to the agent, to acknowledge to the daemon.
    acks: mpsc::UnboundedSender<Vec<String>>,
}

impl Mailbox {
    /// A mailbox and the stream of DM ids to acknowledge.
    pub(crate) fn new() -> (Mailbox, mpsc::UnboundedReceiver<Vec<String>>) {
        let (acks, rx) = mpsc::unbounded_channel();
        let mailbox = Mailbox {
            state: Mutex::default(),
            arrived: Notify::new(),
            acks,
        };
        (mailbox, rx)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Files a notification from the daemon; `None` if the agent has no use for it.
    pub(crate) fn push(&self, note: Notification) -> Option<Pushed> {
        let entry = Entry::of(note)?;
        let pushed = self.state().inbox.push(entry);
        if pushed == Pushed::Added {
            self.arrived.notify_waiters();
        }
        Some(pushed)
    }

    /// Takes entries for the tool call `request`, unless it was already
    /// cancelled. Checking the token under the same lock as the take closes the
    /// race with [`Self::cancelled`]: rmcp cancels the token before it reports
    /// the cancellation, so either the take never happens or the batch is
    /// registered for the cancellation to find.
    pub(crate) fn take_for(
        &self,
        request: &RequestId,
        ct: &CancellationToken,
        limit: usize,
        include_presence: bool,
    ) -> Option<Taken> {
        let mut state = self.state();
        if ct.is_cancelled() || state.cancelled.contains(&request.to_string()) {
            return None;
        }
        let taken = state.inbox.take(limit, include_presence);
        if !taken.entries.is_empty() {
            let batch = Batch {
                entries: taken.entries.clone(),
                sending: false,
            };
            state.in_flight.insert(request.clone(), batch);
        }
        Some(taken)
    }

    /// Whether a take would return anything now.
    #[cfg(test)]
    pub(crate) fn has_any(&self, include_presence: bool) -> bool {
        self.state().inbox.has_any(include_presence)
    }

    /// A future that completes at the next arrival. Create it (and `enable` it)
    /// before checking the inbox, so an arrival in between is not missed.
    pub(crate) fn arrival(&self) -> tokio::sync::futures::Notified<'_> {
        self.arrived.notified()
    }

    /// The whole inbox as JSON, not drained.
    pub(crate) fn snapshot(&self) -> Vec<Value> {
        self.state().inbox.snapshot()
    }

    /// The messages not yet taken, for the peek endpoint: looked at, not
    /// taken (entries in flight to the host are being read, so they are left
    /// out).
    pub(crate) fn unread(&self) -> Vec<crate::peek::Unread> {
        let state = self.state();
        state
            .inbox
            .messages()
            .filter_map(|e| {
                let p = &e.note.params;
                let text = |k: &str| p[k].as_str().map(str::to_owned);
                Some(crate::peek::Unread {
                    message_id: e.message_id()?.to_owned(),
                    from: text("from").unwrap_or_default(),
                    from_alias: text("from_alias"),
                    to: text("to").unwrap_or_default(),
                    preview: crate::peek::preview(&p["body"]),
                })
            })
            .collect()
    }

    /// The response to `request` is being written; true if it carries entries.
    pub(crate) fn sending(&self, request: &RequestId) -> bool {
        match self.state().in_flight.get_mut(request) {
            Some(batch) => {
                batch.sending = true;
                true
            }
            None => false,
        }
    }

    /// The response to `request` reached stdout: its DMs are acknowledged.
    pub(crate) fn delivered(&self, request: &RequestId) {
        let Some(batch) = self.state().in_flight.remove(request) else {
            return;
        };
        let dms: Vec<String> = batch
            .entries
            .iter()
            .filter(|e| e.is_dm())
            .filter_map(|e| e.message_id().map(str::to_owned))
            .collect();
        if !dms.is_empty() {
            // Closed only at shutdown, when the daemon re-queues unacknowledged DMs.
            let _ = self.acks.send(dms);
        }
    }

    /// The response to `request` could not be written: its entries come back.
    pub(crate) fn undelivered(&self, request: &RequestId) {
        self.put_back(request, true);
    }

    /// The host cancelled `request`: unless its response is already on its way,
    /// its entries come back to the front of the inbox, and it takes nothing
    /// more (waiters are woken to notice).
    pub(crate) fn cancelled(&self, request: &RequestId) {
        self.state().cancelled.insert(&request.to_string());
        self.put_back(request, false);
        self.arrived.notify_waiters();
    }

    fn put_back(&self, request: &RequestId, even_if_sending: bool) {
        let mut state = self.state();
        let back = match state.in_flight.get(request) {
            Some(batch) => even_if_sending || !batch.sending,
            None => false,
        };
        if back {
            if let Some(batch) = state.in_flight.remove(request) {
                state.inbox.restore(batch.entries);
                drop(state);
                self.arrived.notify_waiters();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::NumberOrString;
    use serde_json::json;

    fn dm(id: &str) -> Notification {
        Notification {
            method: "peer.message".into(),
            params: json!({"message_id": id, "to": "home:~#x", "body": 1}),
        }
    }

    fn req(n: i64) -> RequestId {
        NumberOrString::Number(n)
    }

    #[test]
    fn delivered_batches_are_acknowledged_once() {
        let (mb, mut acks) = Mailbox::new();
        mb.push(dm("a"));
        mb.push(Notification {
            method: "peer.message".into(),
            params: json!({"message_id": "t", "to": "topic:x"}),
        });
        let ct = CancellationToken::new();
        let taken = mb.take_for(&req(1), &ct, 10, false).unwrap();
        assert_eq!(taken.entries.len(), 2);
        assert!(
            acks.try_recv().is_err(),
            "nothing acknowledged before delivery"
        );
        assert!(mb.sending(&req(1)));
        mb.cancelled(&req(1));
        assert!(
            !mb.has_any(true),
            "a late cancellation does not undo a sent result"
        );
        mb.delivered(&req(1));
        assert_eq!(acks.try_recv().unwrap(), ["a"], "only DMs are acknowledged");
        mb.delivered(&req(1));
        assert!(acks.try_recv().is_err());
    }

    #[test]
    fn cancelled_batches_come_back_and_are_not_acknowledged() {
        let (mb, mut acks) = Mailbox::new();
        mb.push(dm("a"));
        mb.push(dm("b"));
        let ct = CancellationToken::new();
        mb.take_for(&req(7), &ct, 1, false).unwrap();
        mb.cancelled(&req(7));
        mb.delivered(&req(7));
        assert!(acks.try_recv().is_err());
        let again = mb.take_for(&req(8), &ct, 10, false).unwrap();
        let ids: Vec<_> = again
            .entries
            .iter()
            .map(|e| e.message_id().unwrap())
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn a_cancelled_call_takes_nothing() {
        let (mb, _acks) = Mailbox::new();
        mb.push(dm("a"));
        let ct = CancellationToken::new();
        ct.cancel();
        assert!(mb.take_for(&req(1), &ct, 10, false).is_none());
        assert!(mb.has_any(false));
    }

    #[test]
    fn a_cancellation_that_overtakes_its_request_still_counts() {
        let (mb, _acks) = Mailbox::new();
        mb.push(dm("a"));
        mb.cancelled(&req(3));
        let ct = CancellationToken::new();
        assert!(mb.take_for(&req(3), &ct, 10, false).is_none());
        assert!(mb.take_for(&req(4), &ct, 10, false).is_some());
    }

    #[test]
    fn unread_looks_without_taking() {
        let (mb, mut acks) = Mailbox::new();
        mb.push(dm("a"));
        mb.push(Notification {
            method: "peer.peer_joined".into(),
            params: json!({"sid": "s"}),
        });
        let unread = mb.unread();
        assert_eq!(unread.len(), 1, "presence is not a message");
        assert_eq!(unread[0].message_id, "a");
        assert_eq!(unread[0].preview, "1");
        assert_eq!(mb.unread(), unread, "looking twice changes nothing");
        assert!(acks.try_recv().is_err(), "nothing acknowledged");
        let ct = CancellationToken::new();
        mb.take_for(&req(1), &ct, 10, false).unwrap();
        assert!(mb.unread().is_empty(), "taken means read");
    }

    #[test]
    fn unwritten_results_come_back() {
        let (mb, _acks) = Mailbox::new();
        mb.push(dm("a"));
        let ct = CancellationToken::new();
        mb.take_for(&req(1), &ct, 10, false).unwrap();
        assert!(mb.sending(&req(1)));
        mb.undelivered(&req(1));
        assert!(mb.has_any(false));
    }
}
