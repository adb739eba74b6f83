//! Undoing a batch: the router changes its state as it routes, before the
//! store commits; if the commit fails, the event loop rolls the batch's
//! changes back so that no alias claim, session, subscription, filter or
//! watch outlives the batch that was answered with an error (SPEC §6).
//!
//! Connections opening and closing are facts of the sockets, not of the
//! batch, and are never undone.

use super::leases::Held;
use super::watchers::Watch;
use super::Router;
use crate::outbox::ConnId;
use peer_proto::glob::GlobSet;

/// One change of the batch in progress, as much as it takes to undo it.
pub(super) enum Undo {
    /// A session said hello.
    Hello(ConnId),
    /// The session's alias changed from `previous`.
    Alias {
        conn: ConnId,
        previous: Option<String>,
    },
    /// The session's DM filter replaced `previous`.
    DmFilter { conn: ConnId, previous: GlobSet },
    /// The session subscribed to `topic`.
    Subscribed { conn: ConnId, topic: String },
    /// The session unsubscribed from `topic`.
    Unsubscribed { conn: ConnId, topic: String },
    /// The connection's watch replaced `previous`.
    Watch {
        conn: ConnId,
        previous: Option<Watch>,
    },
    /// Lease `id` was granted (`previous` None) or renewed.
    LeasePut { id: String, previous: Option<Held> },
    /// A lease ended.
    LeaseGone(Held),
    /// Lease `id`'s holder came back; it had been gone since `previous`.
    LeaseOrphan { id: String, previous: Option<f64> },
}

impl Router {
    /// The batch committed: its changes stand.
    pub(crate) fn settle(&mut self) {
        self.journal.clear();
    }

    /// The batch failed to commit: undoes its changes, newest first.
    pub(crate) fn roll_back(&mut self) {
        while let Some(undo) = self.journal.pop() {
            self.undo(undo);
        }
    }

    /// The session of `conn`, if it is still there (it may have closed later
    /// in the same batch).
    fn live_session(&mut self, conn: ConnId) -> Option<&mut super::sessions::Session> {
        self.conns.get_mut(&conn).and_then(|c| c.session.as_mut())
    }

    fn undo(&mut self, undo: Undo) {
        match undo {
            Undo::Hello(conn) => {
                let session = self.conns.get_mut(&conn).and_then(|c| c.session.take());
                if let Some(session) = session {
                    self.forget_session(conn, &session);
                }
            }
            Undo::Alias { conn, previous } => {
                self.assign_alias(conn, previous);
            }
            Undo::DmFilter { conn, previous } => {
                if let Some(session) = self.live_session(conn) {
                    session.dm_filter = previous;
                }
            }
            Undo::Subscribed { conn, topic } => {
                if let Some(session) = self.live_session(conn) {
                    session.subscriptions.remove(&topic);
                    self.forget_subscriber(conn, &topic);
                }
            }
            Undo::Unsubscribed { conn, topic } => {
                if let Some(session) = self.live_session(conn) {
                    session.subscriptions.insert(topic.clone());
                    self.subscribers.entry(topic).or_default().insert(conn);
                }
            }
            Undo::LeasePut { id, previous } => match previous {
                Some(held) => self.restore_lease(held),
                None => {
                    self.leases.remove(&id);
                }
            },
            Undo::LeaseGone(held) => self.restore_lease(held),
            Undo::LeaseOrphan { id, previous } => {
                if let Some(h) = self.leases.get_mut(&id) {
                    h.orphaned = previous;
                }
            }
            Undo::Watch { conn, previous } => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                match previous.is_some() {
                    true => self.watchers.insert(conn),
                    false => self.watchers.remove(&conn),
                };
                c.watch = previous;
            }
        }
    }
}
