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
use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
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
/// away.
pub(crate) async fn run(
    db: Connection,
    (stream, mut rewind): (Stream, watch::Receiver<u64>),
    me: Subjects,
    kind: Kind,
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
    loop {
        let deliver_policy = match last {
            0 => DeliverPolicy::All,
            seq => DeliverPolicy::ByStartSequence {
                start_sequence: seq + 1,
            },
        };
        let consumer = stream
            .create_consumer(OrderedConfig {
                name: Some(consumer_name(&me, kind)),
                filter_subject: filter.clone(),
                deliver_policy,
                ..Default::default()
            })
            .await;
        let messages = match consumer {
            Ok(c) => c.messages().await,
            Err(e) => {
                tracing::warn!("subscribing to {filter}: {e}; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        let mut messages = match messages {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("reading {filter}: {e}; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        loop {
            let next = tokio::select! {
                next = messages.next() => next,
                _ = rewind.changed() => {
                    // A batch failed: read again from what was stored.
                    match store::federation_offset(&db, kind) {
                        Ok(seq) => last = seq,
                        Err(e) => tracing::error!("reading the federation offset: {e}"),
                    }
                    break;
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
