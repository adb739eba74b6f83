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
    /// Where it is in the stream: stored as this consumer's offset.
    pub(crate) at: Position,
    /// How many times the consumers had been rewound when it was read: the
    /// store drops what was read before the last rewind (it is read again).
    pub(crate) generation: u64,
}

/// A place in the stream of one consumer: the envelope with stream sequence
/// `stream_seq`, whole (`through: None`) or up to its message `through`
/// (counted from 0). Stored with each message, so that a consumer made
/// again (after a restart, or a batch that failed) hands on neither less nor
/// more than what is not stored: an envelope's messages are stored over
/// several batches, and reading one again whole would store again those of
/// its messages that are no longer there to be recognized (a topic ring
/// shorter than the envelope has dropped them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Position {
    pub(crate) stream_seq: u64,
    pub(crate) through: Option<u32>,
}

impl Position {
    /// Whether the message at `other` is at or before this place.
    pub(crate) fn covers(&self, other: &Position) -> bool {
        match self.stream_seq.cmp(&other.stream_seq) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => match (self.through, other.through) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(mine), Some(theirs)) => theirs <= mine,
            },
        }
    }

    /// The stream sequence to read from next (`None`: from the first): the
    /// same envelope again if only part of it is stored.
    fn resume_from(&self) -> Option<u64> {
        match (self.stream_seq, self.through) {
            (0, None) => None,
            (seq, None) => Some(seq + 1),
            (seq, Some(_)) => Some(seq),
        }
    }
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
    // Where the messages handed on so far end: what the store holds, at
    // first and after a rewind.
    let mut read = match store::federation_offset(&db, kind) {
        Ok(at) => at,
        Err(e) => {
            tracing::error!("reading the federation offset: {e}; not receiving {filter}");
            return;
        }
    };
    let mut generation = *rewind.borrow_and_update();
    'consumer: loop {
        let rewound = *rewind.borrow_and_update();
        if rewound != generation {
            // A batch failed: read again from what was stored. What was
            // handed on before now is dropped by the store, so that none of
            // it moves the stored place past what the batch lost.
            generation = rewound;
            match store::federation_offset(&db, kind) {
                Ok(at) => read = at,
                Err(e) => tracing::error!("reading the federation offset: {e}"),
            }
        }
        // A consumer made from here on is made on the current connection.
        connections.borrow_and_update();
        let name = consumer_name(&me, kind);
        let made = tokio::select! {
            made = consume(&stream, &name, &filter, read.resume_from()) => made,
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
                    tracing::info!(
                        "NATS reconnected: reading {filter} again after {}",
                        read.stream_seq
                    );
                    continue 'consumer;
                }
                _ = rewind.changed() => continue 'consumer,
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
            for remote in check(&me, &m.subject, &m.payload, (stream_seq, generation)) {
                if read.covers(&remote.at) {
                    // Stored already: the part of an envelope read again.
                    continue;
                }
                if to_loop.send(Inbound::Remote(remote)).await.is_err() {
                    return;
                }
            }
            read = Position {
                stream_seq,
                through: None,
            };
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

/// An ordered consumer `name` of `filter`, from stream sequence `from` (from
/// the first if `None`), and its messages.
async fn consume(
    stream: &Stream,
    name: &str,
    filter: &str,
    from: Option<u64>,
) -> anyhow::Result<Ordered> {
    let deliver_policy = match from {
        None => DeliverPolicy::All,
        Some(start_sequence) => DeliverPolicy::ByStartSequence { start_sequence },
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
/// agrees with its subject, each with its [`Position`]. (Messages stored
/// already, sent again in another envelope after an acknowledgement was lost,
/// are recognized by the store: `Op::Arrived`.)
fn check(
    me: &Subjects,
    subject: &str,
    payload: &[u8],
    (stream_seq, generation): (u64, u64),
) -> Vec<Remote> {
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
            at: Position {
                stream_seq,
                through: (i < last).then(|| u32::try_from(i).unwrap_or(u32::MAX)),
            },
            generation,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(stream_seq: u64, through: Option<u32>) -> Position {
        Position {
            stream_seq,
            through,
        }
    }

    #[test]
    fn a_position_covers_what_is_at_or_before_it() {
        let part = at(7, Some(2));
        assert!(part.covers(&at(6, None)));
        assert!(part.covers(&at(7, Some(0))));
        assert!(part.covers(&at(7, Some(2))));
        assert!(!part.covers(&at(7, Some(3))));
        assert!(!part.covers(&at(7, None)), "the envelope's last message");
        assert!(!part.covers(&at(8, Some(0))));
        let whole = at(7, None);
        assert!(whole.covers(&at(7, Some(9))) && whole.covers(&at(7, None)));
        assert!(!whole.covers(&at(8, None)));
        assert!(!Position::default().covers(&at(1, Some(0))));
    }

    #[test]
    fn a_part_of_an_envelope_is_read_again_from_that_envelope() {
        assert_eq!(Position::default().resume_from(), None);
        assert_eq!(at(7, None).resume_from(), Some(8));
        assert_eq!(at(7, Some(2)).resume_from(), Some(7));
    }
}
