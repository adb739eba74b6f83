//! JetStream to the event loop: two ordered consumers, one for the DMs sent
//! to this node and one for every node's publishes, each resuming after the
//! last stream sequence this node stored (kept in SQLite with the message it
//! came with, `fed_offsets`). Nothing is acknowledged to JetStream: where to
//! resume is this node's own durable state, so a message is neither lost nor
//! taken twice across a crash, and arrives in stream order, which is each
//! sender's order.

use super::wire::{self, Subjects};
use crate::event_loop::Inbound;
use crate::op::Kind;
use crate::store;
use anyhow::Context;
use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::stream::Stream;
use futures::StreamExt;
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
    stream: Stream,
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
        let made = tokio::select! {
            made = consume(&stream, &filter, last) => made,
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
            match check(&db, &me, &m.subject, &m.payload, stream_seq) {
                Ok(Some(remote)) => {
                    if to_loop.send(Inbound::Remote(remote)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    // Not skipped: read again from here after the pause.
                    tracing::error!("checking for a repeated message: {e}");
                    break;
                }
            }
            last = stream_seq;
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

/// An ordered consumer of `filter`, from the message after stream sequence
/// `last` (from the first if 0), and its messages.
async fn consume(stream: &Stream, filter: &str, last: u64) -> anyhow::Result<Ordered> {
    let deliver_policy = match last {
        0 => DeliverPolicy::All,
        seq => DeliverPolicy::ByStartSequence {
            start_sequence: seq + 1,
        },
    };
    let consumer = stream
        .create_consumer(OrderedConfig {
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

/// The message on `subject`, if it is for this node, agrees with its subject
/// and is not stored already (a publish repeated after its acknowledgement
/// was lost).
fn check(
    db: &Connection,
    me: &Subjects,
    subject: &str,
    payload: &[u8],
    stream_seq: u64,
) -> rusqlite::Result<Option<Remote>> {
    let Some((kind, origin)) = me.origin_of(subject) else {
        return Ok(None);
    };
    let message = match wire::open(me, kind, origin, payload) {
        Ok(m) => m,
        Err(wire::Refused::Own) => return Ok(None),
        Err(e) => {
            tracing::warn!(subject, "refused a message from NATS: {e}");
            return Ok(None);
        }
    };
    if store::is_stored(db, &message.message_id)? {
        return Ok(None);
    }
    Ok(Some(Remote {
        kind,
        message,
        stream_seq,
    }))
}
