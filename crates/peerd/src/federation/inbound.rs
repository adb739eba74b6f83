//! JetStream to the event loop: two ordered consumers, one for the DMs sent
//! to this node and one for every node's publishes, each resuming after the
//! last stream sequence this node stored (kept in SQLite with the message it
//! came with, `fed_offsets`). Nothing is acknowledged to JetStream: where to
//! resume is this node's own durable state, so a message is neither lost nor
//! taken twice across a crash, and arrives in stream order, which is each
//! sender's order.
//!
//! Each consumer is created under a fresh, unguessable name. A named consumer
//! is created through `$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>`, whose
//! filter NATS checks against the consumer's: so an account can allow a node
//! to create consumers of its own DMs and of the topics only (an unnamed one
//! is created through `$JS.API.CONSUMER.CREATE.<stream>`, which takes any
//! filter). Pulling from a consumer (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<name>`)
//! cannot be limited by filter, so the name must not be one that another node
//! can guess.

use super::wire::{self, Subjects};
use crate::event_loop::Inbound;
use crate::op::Kind;
use crate::store;
use anyhow::Context;
use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::stream::Stream;
use futures::StreamExt;
use peer_proto::identity::{mint_sid, SID_PREFIX};
use peer_proto::Message;
use rusqlite::Connection;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The pause before a consumer is made again after it failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A message from another node, checked, for the router.
#[derive(Debug)]
pub(crate) struct Remote {
    pub(crate) kind: Kind,
    /// `from` qualified with its node; no `seq` yet.
    pub(crate) message: Message,
    /// The stream sequence it came with: stored as this consumer's offset.
    pub(crate) stream_seq: u64,
}

/// Feeds the event loop the messages of `kind` for this node until it goes
/// away. `connections` changes at each connection to NATS
/// ([`super::LinkState::connections`]).
pub(crate) async fn run(
    db: Connection,
    (stream, mut rewind): (Stream, watch::Receiver<u64>),
    me: Subjects,
    kind: Kind,
    mut connections: watch::Receiver<u64>,
    to_loop: mpsc::Sender<Inbound>,
) {
    let filter = match kind {
        Kind::Dm => me.dms_for_me(),
        Kind::Topic => me.all_topics(),
    };
    let mut last = match store::federation_offset(&db, kind) {
        Ok(seq) => seq,
        Err(e) => {
            tracing::error!("reading the federation offset: {e}; not receiving {filter}");
            return;
        }
    };
    'consumer: loop {
        // A consumer made from here on is made on the current connection.
        connections.borrow_and_update();
        let name = consumer_name(&me, kind);
        let made = tokio::select! {
            made = consume(&stream, &name, &filter, last) => made,
            // The request to make it may have been lost with the connection.
            Ok(()) = connections.changed() => continue,
        };
        let mut messages = match made {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("{e:#}; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        loop {
            let next = tokio::select! {
                next = messages.next() => next,
                // The consumer is ephemeral and in memory, so it is gone if
                // the link was lost because nats-server restarted; the client
                // would notice only after its retries give up (some 15 s).
                // Make a new one at once, resuming after the last stored.
                Ok(()) = connections.changed() => {
                    tracing::info!("NATS reconnected: reading {filter} again after {last}");
                    continue 'consumer;
                }
                _ = rewind.changed() => {
                    // A batch failed: read again from what was stored.
                    match store::federation_offset(&db, kind) {
                        Ok(seq) => last = seq,
                        Err(e) => tracing::error!("reading the federation offset: {e}"),
                    }
                    continue 'consumer;
                }
            };
            let Some(next) = next else { break };
            let m = match next {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("reading {filter}: {e}");
                    break;
                }
            };
            let Ok(info) = m.info() else { continue };
            let stream_seq = info.stream_sequence;
            for remote in check(&me, &m.subject, &m.payload, stream_seq) {
                if to_loop.send(Inbound::Remote(remote)).await.is_err() {
                    return;
                }
            }
            last = stream_seq;
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

/// An ordered consumer `name` of `filter`, from the message after stream
/// sequence `last` (from the first if 0), and its messages.
async fn consume(stream: &Stream, name: &str, filter: &str, last: u64) -> anyhow::Result<Ordered> {
    let deliver_policy = match last {
        0 => DeliverPolicy::All,
        seq => DeliverPolicy::ByStartSequence {
            start_sequence: seq + 1,
        },
    };
    let consumer = stream
        .create_consumer(OrderedConfig {
            name: Some(name.to_owned()),
            filter_subject: filter.to_owned(),
            deliver_policy,
            ..Default::default()
        })
        .await
        .with_context(|| format!("subscribing to {filter}"))?;
    let messages = consumer
        .messages()
        .await
        .with_context(|| format!("reading {filter}"))?;
    Ok(messages)
}

/// A fresh name for this node's consumer of `kind`: the node and the kind
/// (for operators listing consumers) and 96 random bits. Fresh each time, so
/// that a consumer made again after a failure, or by a restarted daemon, never
/// meets the old one, which NATS removes once it is idle.
fn consumer_name(me: &Subjects, kind: Kind) -> String {
    let kind = match kind {
        Kind::Dm => "dm",
        Kind::Topic => "topic",
    };
    let sid = mint_sid();
    let random = sid.strip_prefix(SID_PREFIX).unwrap_or(&sid);
    format!("{}_{kind}_{random}", me.node())
}

/// The messages of the envelope on `subject`, if it is for this node and
/// agrees with its subject. Each but the last carries the stream sequence
/// before the envelope's: should a batch store only some of them, the
/// consumer reads the whole envelope again. (Messages stored already, sent
/// again after an acknowledgement was lost, are recognized by the store:
/// `Op::Unless`.)
fn check(me: &Subjects, subject: &str, payload: &[u8], stream_seq: u64) -> Vec<Remote> {
    let Some((kind, origin)) = me.origin_of(subject) else {
        return Vec::new();
    };
    let messages = match wire::open(me, kind, origin, payload) {
        Ok(m) => m,
        Err(wire::Refused::Own) => return Vec::new(),
        Err(e) => {
            tracing::warn!(subject, "refused a message from NATS: {e}");
            return Vec::new();
        }
    };
    let last = messages.len().saturating_sub(1);
    messages
        .into_iter()
        .enumerate()
        .map(|(i, message)| Remote {
            kind,
            message,
            stream_seq: if i == last {
                stream_seq
            } else {
                stream_seq - 1
            },
        })
        .collect()
}
