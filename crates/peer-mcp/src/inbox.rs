//! The sidecar's inbox: what arrived from the daemon and was not yet handed to
//! the agent. Pure bookkeeping, no I/O, so its rules are unit-tested here.
//!
//! * Bounded at [`INBOX_CAPACITY`]; when full, presence events go first (they are
//!   cheap to lose: `peer_list_peers` shows the current state), then the oldest
//!   message. Drops are counted and reported once, in the next result.
//! * De-duplicated by `message_id` over the last [`SEEN_IDS_CAPACITY`] ids: with
//!   acknowledged delivery and topic catch-up the daemon may send a message
//!   again, and the agent should see it once.
//! * Messages handed out in a tool result that never reached the host (the call
//!   was cancelled) come back to the front with [`Inbox::restore`].

use crate::recent::Recent;
use peer_client::Notification;
use peer_proto::address::Address;
use peer_proto::method;
use serde_json::{json, Value};
use std::collections::VecDeque;

/// Most entries the inbox holds.
pub(crate) const INBOX_CAPACITY: usize = 1000;
/// How many recent message ids are remembered for de-duplication.
pub(crate) const SEEN_IDS_CAPACITY: usize = 10_000;

/// One inbox entry: the notification as the daemon sent it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) note: Notification,
    kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq)]
enum EntryKind {
    /// A `peer.message`, with its id (when it has one).
    Message(Option<String>),
    /// `peer.peer_joined`, `peer.peer_left`, `peer.alias_changed`.
    Presence,
}

impl Entry {
    /// The inbox entry for `note`, or `None` for notifications the agent has
    /// no use for (e.g. `peer.subscription_lost`, handled by reconnecting).
    pub(crate) fn of(note: Notification) -> Option<Entry> {
        let kind = match note.method.as_str() {
            method::MESSAGE => {
                EntryKind::Message(note.params["message_id"].as_str().map(str::to_owned))
            }
            m if method::is_presence(m) => EntryKind::Presence,
            _ => return None,
        };
        Some(Entry { note, kind })
    }

    pub(crate) fn is_presence(&self) -> bool {
        self.kind == EntryKind::Presence
    }

    /// The message id, for a message.
    pub(crate) fn message_id(&self) -> Option<&str> {
        match &self.kind {
            EntryKind::Message(id) => id.as_deref(),
            EntryKind::Presence => None,
        }
    }

    /// True for a DM (a message to a `home:` address): the kind the daemon
    /// wants acknowledged.
    pub(crate) fn is_dm(&self) -> bool {
        matches!(self.kind, EntryKind::Message(_))
            && self.note.params["to"]
                .as_str()
                .is_some_and(|to| matches!(Address::parse(to), Ok(Address::Home(_))))
    }

    /// The JSON an agent sees: `{method, params}`, as 0.1's inbox.
    pub(crate) fn to_json(&self) -> Value {
        json!({ "method": self.note.method, "params": self.note.params })
    }
}

/// What [`Inbox::push`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    Added,
    /// Seen before (same `message_id`): not added again.
    Duplicate,
    /// The inbox was full of messages and this was a presence event.
    Dropped,
}

/// The result of a take: the entries, and how many were dropped since the
/// last report.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) entries: Vec<Entry>,
    pub(crate) dropped: u64,
}

#[derive(Debug)]
pub(crate) struct Inbox {
    entries: VecDeque<Entry>,
    seen: Recent,
    dropped_messages: u64,
    dropped_presence: u64,
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox {
            entries: VecDeque::new(),
            seen: Recent::new(SEEN_IDS_CAPACITY),
            dropped_messages: 0,
            dropped_presence: 0,
        }
    }
}

impl Inbox {
    pub(crate) fn push(&mut self, entry: Entry) -> Pushed {
        if let Some(id) = entry.message_id() {
            if !self.seen.insert(id) {
                return Pushed::Duplicate;
            }
        }
        if self.entries.len() >= INBOX_CAPACITY && !self.make_room(entry.is_presence()) {
            self.dropped_presence += 1;
            return Pushed::Dropped;
        }
        self.entries.push_back(entry);
        Pushed::Added
    }

    /// Drops one entry to make room: the oldest presence event, else (unless the
    /// newcomer is itself presence) the oldest message. False if the newcomer
    /// should be dropped instead.
    fn make_room(&mut self, for_presence: bool) -> bool {
        if let Some(i) = self.entries.iter().position(Entry::is_presence) {
            self.entries.remove(i);
            self.dropped_presence += 1;
            return true;
        }
        if for_presence {
            return false;
        }
        self.entries.pop_front();
        self.dropped_messages += 1;
        true
    }

    /// Removes and returns up to `limit` entries, oldest first; presence events
    /// only with `include_presence` (otherwise they stay, and are the first to
    /// go when the inbox fills).
    pub(crate) fn take(&mut self, limit: usize, include_presence: bool) -> Taken {
        let mut entries = Vec::new();
        let mut kept = VecDeque::with_capacity(self.entries.len());
        for e in self.entries.drain(..) {
            if entries.len() < limit && (include_presence || !e.is_presence()) {
                entries.push(e);
            } else {
                kept.push_back(e);
            }
        }
        self.entries = kept;
        let mut dropped = std::mem::take(&mut self.dropped_messages);
        if include_presence {
            dropped += std::mem::take(&mut self.dropped_presence);
        }
        Taken { entries, dropped }
    }

    /// Puts entries handed out but never delivered back at the front, in order.
    pub(crate) fn restore(&mut self, entries: Vec<Entry>) {
        for e in entries.into_iter().rev() {
            self.entries.push_front(e);
        }
        while self.entries.len() > INBOX_CAPACITY {
            let for_presence = false;
            self.make_room(for_presence);
        }
    }

    /// Whether a take with `include_presence` would return anything.
    #[cfg(test)]
    pub(crate) fn has_any(&self, include_presence: bool) -> bool {
        include_presence && !self.entries.is_empty()
            || self.entries.iter().any(|e| !e.is_presence())
    }

    /// The messages held (not presence events), oldest first, without
    /// removing them: what the peek endpoint reports as unread.
    pub(crate) fn messages(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| !e.is_presence())
    }

    /// Everything held, as JSON, without removing it (for `peer://inbox`).
    pub(crate) fn snapshot(&self) -> Vec<Value> {
        self.entries.iter().map(Entry::to_json).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str) -> Entry {
        Entry::of(Notification {
            method: "peer.message".into(),
            params: json!({"message_id": id, "to": "home:~", "body": id}),
        })
        .unwrap()
    }

    fn presence(sid: &str) -> Entry {
        Entry::of(Notification {
            method: "peer.peer_joined".into(),
            params: json!({"sid": sid}),
        })
        .unwrap()
    }

    fn ids(t: &Taken) -> Vec<String> {
        t.entries
            .iter()
            .map(|e| e.message_id().unwrap_or("presence").to_owned())
            .collect()
    }

    #[test]
    fn classifies_notifications() {
        assert!(message("m").is_dm());
        let topic = Entry::of(Notification {
            method: "peer.message".into(),
            params: json!({"message_id": "t", "to": "topic:x"}),
        })
        .unwrap();
        assert!(!topic.is_dm());
        assert!(presence("s").is_presence());
        assert!(Entry::of(Notification {
            method: "peer.subscription_lost".into(),
            params: json!({}),
        })
        .is_none());
    }

    #[test]
    fn takes_messages_in_order_and_leaves_presence_unless_asked() {
        let mut inbox = Inbox::default();
        inbox.push(message("a"));
        inbox.push(presence("p"));
        inbox.push(message("b"));
        inbox.push(message("c"));
        assert!(inbox.has_any(false));
        let t = inbox.take(2, false);
        assert_eq!(ids(&t), ["a", "b"]);
        let t = inbox.take(10, false);
        assert_eq!(ids(&t), ["c"]);
        assert!(!inbox.has_any(false));
        assert!(inbox.has_any(true));
        assert_eq!(inbox.snapshot().len(), 1, "snapshot does not drain");
        let t = inbox.take(10, true);
        assert_eq!(ids(&t), ["presence"]);
        assert!(!inbox.has_any(true));
    }

    #[test]
    fn duplicates_are_dropped_by_id() {
        let mut inbox = Inbox::default();
        assert_eq!(inbox.push(message("a")), Pushed::Added);
        inbox.take(10, false);
        assert_eq!(inbox.push(message("a")), Pushed::Duplicate);
        assert!(!inbox.has_any(true));
    }

    #[test]
    fn full_inbox_drops_presence_first_then_oldest_messages() {
        let mut inbox = Inbox::default();
        inbox.push(presence("p1"));
        for i in 0..INBOX_CAPACITY - 1 {
            inbox.push(message(&format!("m{i}")));
        }
        // Full: the presence event makes room for a message.
        assert_eq!(inbox.push(message("new1")), Pushed::Added);
        // Full of messages: a presence event is dropped itself…
        assert_eq!(inbox.push(presence("p2")), Pushed::Dropped);
        // …and a message pushes out the oldest message.
        assert_eq!(inbox.push(message("new2")), Pushed::Added);
        let t = inbox.take(INBOX_CAPACITY, false);
        assert_eq!(t.entries.len(), INBOX_CAPACITY);
        assert_eq!(t.dropped, 1, "one message lost");
        assert_eq!(ids(&t)[0], "m1");
        assert_eq!(ids(&t).last().unwrap(), "new2");
        let t = inbox.take(1, true);
        assert_eq!(
            t.dropped, 2,
            "two presence events lost, reported with presence"
        );
        assert_eq!(inbox.take(1, true).dropped, 0, "reported once");
    }

    #[test]
    fn restore_puts_entries_back_in_front() {
        let mut inbox = Inbox::default();
        for id in ["a", "b", "c"] {
            inbox.push(message(id));
        }
        let t = inbox.take(2, false);
        inbox.push(message("d"));
        inbox.restore(t.entries);
        assert_eq!(ids(&inbox.take(10, false)), ["a", "b", "c", "d"]);
    }
}
