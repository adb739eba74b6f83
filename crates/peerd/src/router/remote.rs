//! Federation in the router (SPEC §16): a DM for `home@<node>:…` is stored in
//! the sender's history and queued for that node; every publish is also
//! queued for every other node; and what other nodes send is delivered here
//! by the rules of a local message (DM filters, queues, subscribers,
//! watchers), its arrival recorded with it.

use super::{fanout, frame, respond, Outcome, Router};
use crate::clock::Now;
use crate::federation::{wire, Remote};
use crate::op::{Kind, Op, ReplyId};
use crate::outbox::{ConnId, Out};
use peer_proto::api::{SendParams, SendResult};
use peer_proto::{method, Message, RpcError};

/// The "sender" of a message from another node: no local connection.
pub(super) const NO_CONN: ConnId = ConnId::MAX;

/// Refuses a body too large to cross to other nodes.
pub(super) fn fits_federation(body: &serde_json::value::RawValue) -> Result<(), RpcError> {
    if body.get().len() > wire::MAX_BODY_BYTES {
        return Err(RpcError::invalid_params(format!(
            "body is too large to cross to other nodes (federation): at most {} bytes",
            wire::MAX_BODY_BYTES
        )));
    }
    Ok(())
}

impl Router {
    /// `peer.send` to `home@<node>:…`, which that node reads as `local`: the
    /// local address if `node` is this one, else stored here as sent and
    /// queued in the outbox.
    pub(super) fn send_remote(
        &mut self,
        conn: ConnId,
        id: ReplyId,
        mut p: SendParams,
        (node, local): (String, String),
        now: Now,
    ) -> Outcome {
        if self.federation.as_ref().is_some_and(|me| me.node() == node) {
            p.to = local;
            return self.send(conn, id, p, now);
        }
        let Some(me) = self.federation.clone() else {
            return Err(RpcError::invalid_params(
                "home@<node>: addresses need federation (blemees-peerd --nats)",
            ));
        };
        fits_federation(&p.body)?;
        let m = self.message(conn, p.to, p.body, p.reply_to, now)?;
        let mut envelope = m.clone();
        envelope.to = local;
        let result = SendResult {
            delivered: 0,
            message_id: m.message_id.clone(),
            queued: Some(true),
        };
        let wire = self.wire_copies(conn, &[], &m, true);
        let mut ops = vec![
            Op::Forward {
                subject: me.dm_to(&node),
                msg_id: m.message_id.clone(),
                payload: wire::outboxed(&envelope),
            },
            Op::Insert {
                message: m,
                kind: Kind::Dm,
                queued: false,
            },
        ];
        ops.extend(wire);
        ops.extend(respond(conn, id, &result));
        Ok(ops)
    }

    /// The outbox entry that takes a publish of this node to the others.
    pub(super) fn forward_publish(&self, m: &Message) -> Option<Op> {
        let me = self.federation.as_ref()?;
        Some(Op::Forward {
            subject: me.my_topics(),
            msg_id: m.message_id.clone(),
            payload: wire::outboxed(m),
        })
    }

    /// A message from another node, checked by the federation: numbered,
    /// stored and delivered here unless it is stored already (the store
    /// decides, in the batch's transaction), and its stream sequence recorded
    /// with it either way.
    pub(super) fn remote(&mut self, r: Remote) -> Vec<Op> {
        let Remote {
            kind,
            mut message,
            at,
            generation,
        } = r;
        let seq = self.next_seq;
        self.next_seq += 1;
        message.seq = Some(seq);
        let f = frame(method::MESSAGE, &message);
        let (recipients, queued, out) = match kind {
            Kind::Dm => {
                let to = self.dm_recipients(NO_CONN, &message.to, &message.from);
                let queued = to.is_empty();
                (to, queued, Out::Dm { frame: f, seq })
            }
            Kind::Topic => {
                let topic = message.to.strip_prefix("topic:").unwrap_or_default();
                let to = self
                    .subscribers
                    .get(topic)
                    .map(|s| s.iter().copied().collect())
                    .unwrap_or_default();
                (to, false, Out::Frame(f))
            }
        };
        let wire = self.wire_copies(NO_CONN, &recipients, &message, queued);
        let deliveries = fanout(recipients, || out);
        let stored = message.message_id.clone();
        let mut then = vec![Op::Insert {
            message,
            kind,
            queued,
        }];
        then.extend(deliveries);
        then.extend(wire);
        vec![Op::Arrived {
            kind,
            at,
            generation,
            stored,
            then,
        }]
    }
}
