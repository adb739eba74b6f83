//! Topic subscriptions: who follows what, and the replays a subscribe asks for.

use super::{respond, Outcome, Router, Undo};
use crate::op::{Op, Query, ReplyId};
use crate::outbox::ConnId;
use peer_proto::address::topic_address;
use peer_proto::api::{SubscribeParams, SubscribeResult};
use peer_proto::RpcError;

impl Router {
    pub(super) fn subscribe(&mut self, conn: ConnId, id: ReplyId, p: SubscribeParams) -> Outcome {
        let SubscribeParams {
            topic,
            replay,
            since,
        } = p;
        if self.session_mut(conn)?.subscriptions.insert(topic.clone()) {
            let topic = topic.clone();
            self.journal.push(Undo::Subscribed { conn, topic });
        }
        self.subscribers
            .entry(topic.clone())
            .or_default()
            .insert(conn);
        let mut ops = Vec::new();
        let last = replay.unwrap_or(0);
        if last > 0 || since.is_some() {
            ops.push(Op::Replay {
                to: conn,
                address: topic_address(&topic),
                last,
                since,
            });
        }
        ops.extend(respond(conn, id, &SubscribeResult { ok: true, topic }));
        Ok(ops)
    }

    pub(super) fn unsubscribe(&mut self, conn: ConnId, topic: &str) -> Result<(), RpcError> {
        if self.session_mut(conn)?.subscriptions.remove(topic) {
            let topic = topic.to_owned();
            self.journal.push(Undo::Unsubscribed { conn, topic });
        }
        self.forget_subscriber(conn, topic);
        Ok(())
    }

    /// Takes `conn` off `topic`'s subscribers (the session's own list is the
    /// caller's).
    pub(super) fn forget_subscriber(&mut self, conn: ConnId, topic: &str) {
        if let Some(subs) = self.subscribers.get_mut(topic) {
            subs.remove(&conn);
            if subs.is_empty() {
                self.subscribers.remove(topic);
            }
        }
    }

    /// `peer.list_topics`: the live counts here, the stored topics from the store.
    pub(super) fn list_topics(&self, conn: ConnId, id: ReplyId) -> Op {
        let subscribers = self
            .subscribers
            .iter()
            .map(|(t, s)| (t.clone(), s.len()))
            .collect();
        Op::Answer {
            to: conn,
            id,
            query: Query::ListTopics { subscribers },
        }
    }
}
