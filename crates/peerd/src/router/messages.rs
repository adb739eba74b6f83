//! Messages: who a DM reaches (home, sid, alias; DM filters), publishes to a
//! topic's subscribers, and each message's number and frame, built once and
//! shared by every recipient.

use super::{fanout, frame, respond, Outcome, Router};
use crate::clock::Now;
use crate::op::{Kind, Op, ReplyId};
use crate::outbox::{ConnId, Out};
use peer_proto::address::{topic_address, Address, Target};
use peer_proto::api::{PublishParams, PublishResult, SendParams, SendResult};
use peer_proto::identity::mint_message_id;
use peer_proto::{method, Message, RpcError};
use serde_json::value::RawValue;

impl Router {
    /// Live sessions addressed by `to` (a valid `home:` address), but never `sender`,
    /// and only those whose DM filter accepts `from`.
    pub(super) fn dm_recipients(&self, sender: ConnId, to: &str, from: &str) -> Vec<ConnId> {
        let Ok(Address::Home(addr)) = Address::parse(to) else {
            return Vec::new();
        };
        let targets: Vec<ConnId> = match addr.target {
            None => self.homes.get(addr.home).cloned().unwrap_or_default(),
            Some(Target::Alias(_)) => self.aliases.get(to).copied().into_iter().collect(),
            Some(Target::Sid(sid)) => self.by_sid.get(sid).copied().into_iter().collect(),
        };
        targets
            .into_iter()
            .filter(|c| *c != sender)
            .filter(|c| {
                self.session(*c)
                    .is_ok_and(|s| s.home == addr.home && s.dm_filter.matches(from))
            })
            .collect()
    }

    /// A new message from `conn`'s session, numbered.
    pub(super) fn message(
        &mut self,
        conn: ConnId,
        to: String,
        body: Box<RawValue>,
        reply_to: Option<String>,
        now: Now,
    ) -> Result<Message, RpcError> {
        let session = self.session(conn)?;
        let message = Message {
            message_id: mint_message_id(self.next_seq as u64),
            from: session.from.clone(),
            from_alias: session.alias.clone(),
            to,
            body,
            reply_to,
            ts: now.unix,
            seq: Some(self.next_seq),
        };
        self.next_seq += 1;
        Ok(message)
    }

    pub(super) fn send(&mut self, conn: ConnId, id: ReplyId, p: SendParams, now: Now) -> Outcome {
        let recipients = self.dm_recipients(conn, &p.to, &self.session(conn)?.from);
        let m = self.message(conn, p.to, p.body, p.reply_to, now)?;
        let seq = m.seq.unwrap_or_default();
        let queued = recipients.is_empty();
        let wire = self.wire_copies(conn, &recipients, &m, queued);
        let result = SendResult {
            delivered: recipients.len(),
            message_id: m.message_id.clone(),
            queued: Some(queued),
        };
        let deliveries = fanout(recipients, || Out::Dm {
            frame: frame(method::MESSAGE, &m),
            seq,
        });
        let answer = respond(conn, id, &result);
        let mut ops = vec![Op::Insert {
            message: m,
            kind: Kind::Dm,
            queued,
        }];
        ops.extend(deliveries);
        ops.extend(wire);
        ops.extend(answer);
        Ok(ops)
    }

    pub(super) fn publish(
        &mut self,
        conn: ConnId,
        id: ReplyId,
        p: PublishParams,
        now: Now,
    ) -> Outcome {
        let recipients: Vec<ConnId> = self
            .subscribers
            .get(&p.topic)
            .map(|s| s.iter().copied().filter(|c| *c != conn).collect())
            .unwrap_or_default();
        if self.federation.is_some() {
            super::remote::fits_federation(&p.body)?;
        }
        let m = self.message(conn, topic_address(&p.topic), p.body, None, now)?;
        let wire = self.wire_copies(conn, &recipients, &m, false);
        let result = PublishResult {
            message_id: m.message_id.clone(),
            subscribers: recipients.len(),
        };
        let deliveries = fanout(recipients, || Out::Frame(frame(method::MESSAGE, &m)));
        let answer = respond(conn, id, &result);
        let forward = self.forward_publish(&m);
        let mut ops = vec![Op::Insert {
            message: m,
            kind: Kind::Topic,
            queued: false,
        }];
        ops.extend(forward);
        ops.extend(deliveries);
        ops.extend(wire);
        ops.extend(answer);
        Ok(ops)
    }
}
