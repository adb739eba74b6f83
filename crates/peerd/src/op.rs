//! What the router decides, as plain data: the store applies these in order in
//! one transaction, then pushes their frames. Connections are named by id; the
//! event loop owns their outboxes, so nothing here can touch a socket.

use crate::outbox::{ConnId, Out};
use bytes::Bytes;
use peer_proto::glob::GlobSet;
use peer_proto::{Message, RpcError};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// A request id to answer; `None` for notifications (they get no answer).
pub(crate) type ReplyId = Option<Box<RawValue>>;

/// Whether a stored message is a DM or a topic message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Dm = 0,
    Topic = 1,
}

/// Live numbers the router knows, completed by the store for `peer.status`.
#[derive(Debug)]
pub(crate) struct LiveStatus {
    pub(crate) uptime_s: f64,
    pub(crate) connections: usize,
    pub(crate) sessions: usize,
    /// Topics with live subscribers (the store adds those with stored messages).
    pub(crate) topics_subscribed: Vec<String>,
}

/// A path lease as stored: what is announced, and whose it is.
#[derive(Debug, Clone)]
pub(crate) struct StoredLease {
    pub(crate) info: peer_proto::api::LeaseInfo,
    pub(crate) sid: String,
    pub(crate) home: String,
}

/// One operation, applied in order.
#[derive(Debug)]
pub(crate) enum Op {
    /// Make `message` durable; `queued` also puts it in its DM queue.
    Insert {
        message: Message,
        kind: Kind,
        queued: bool,
    },
    /// [ext] Queue an envelope for another node (or all of them) in the
    /// federation outbox, in this batch's transaction.
    Forward {
        subject: String,
        msg_id: String,
        payload: Vec<u8>,
    },
    /// [ext] A message from another node, at `at` in the stream of the
    /// consumer of `kind`: apply `then` (store and deliver it) unless the
    /// consumer's stored place is at or past `at` (read again after a failed
    /// batch or a restart) or a message with id `stored` is stored already
    /// (its sender published it again when an acknowledgement was lost); then
    /// note `at` as the consumer's place. Each is stored and delivered once,
    /// even after a topic ring has dropped it. Dropped whole if it was read
    /// before the consumers' last rewind (`generation`): it is read again,
    /// and storing it now would move the place past what the failed batch
    /// lost.
    Arrived {
        kind: Kind,
        at: crate::federation::Position,
        generation: u64,
        stored: String,
        then: Vec<Op>,
    },
    /// [ext] Forget outbox rows JetStream has acknowledged.
    Forwarded(Vec<i64>),
    /// Push one frame to one connection once everything before it is durable.
    Push { to: ConnId, out: Out },
    /// Push one frame to many connections (a broadcast, a fan-out): one shared
    /// item instead of one per recipient, since with many sessions these are
    /// most of what a batch holds.
    Fanout { to: Vec<ConnId>, out: Out },
    /// Push a response; if the batch fails to commit, an internal error is
    /// pushed in its place.
    Respond {
        to: ConnId,
        id: Box<RawValue>,
        frame: Bytes,
    },
    /// An error answer: true whatever becomes of the batch, so it is pushed
    /// even when the batch fails.
    Error { to: ConnId, frame: Bytes },
    /// Answer a request whose answer the store computes (history, topics,
    /// status, acks).
    Answer {
        to: ConnId,
        id: ReplyId,
        query: Query,
    },
    /// From now on DMs to `conn` are held until it acknowledges them.
    HoldForAck(ConnId),
    /// Deliver (and dequeue) the queued DMs of `addresses` that pass `filter`.
    Drain {
        to: ConnId,
        addresses: Vec<String>,
        filter: GlobSet,
    },
    /// Re-send stored messages of topic address `address`: those after `since`
    /// (the whole ring when that id is no longer in it), else the newest `last`.
    Replay {
        to: ConnId,
        address: String,
        last: u64,
        since: Option<String>,
    },
    /// Put DMs that were never written back into their queues.
    Requeue(Vec<i64>),
    /// The connection is gone: DMs it held unacknowledged go back to their queues.
    Release(ConnId),
    /// Delete history older than the retention period, as of `now` (Unix seconds).
    Purge { now: f64 },
    /// Index for search a chunk of the messages stored since the last one.
    IndexNew,
    /// Index for search a chunk of the messages stored before the index
    /// existed (schema 4), newest first.
    IndexOld,
    /// Store a lease, or its new expiry.
    LeaseSave(StoredLease),
    /// A lease ended.
    LeaseDelete(String),
}

/// A read (or, for acks, a settle) whose result only the store can give.
#[derive(Debug)]
pub(crate) enum Query {
    /// `peer.history`.
    History {
        address: String,
        since: Option<String>,
        limit: u32,
    },
    /// `peer.list_topics`, given the live subscriber counts.
    ListTopics {
        subscribers: BTreeMap<String, usize>,
    },
    /// `peer.status`.
    Status(LiveStatus),
    /// `peer.ack`: the connection has the DMs `message_ids` and needs them no more.
    Ack { message_ids: Vec<String> },
    /// `peer.thread`: the reply chain around a message.
    Thread { message_id: String, limit: u32 },
    /// `peer.search`: `query` is already in FTS5 form.
    Search { query: String, scope: SearchScope },
    /// `peer.peek`: DMs to these addresses still queued or held, read only.
    Peek { addresses: Vec<String>, limit: u32 },
}

/// What narrows a `peer.search` beside its words.
#[derive(Debug, Clone)]
pub(crate) struct SearchScope {
    /// Messages to or from this address (`home:<home>` also covers every
    /// session of the home as a sender).
    pub(crate) address: Option<String>,
    /// Only messages after this message id, when it is stored.
    pub(crate) since: Option<String>,
    pub(crate) limit: u32,
}

/// The error answer `error` to request `id` (`None`: answered with a null id).
pub(crate) fn error(to: ConnId, id: Option<&RawValue>, error: &RpcError) -> Op {
    Op::Error {
        to,
        frame: Bytes::from(peer_proto::rpc::error_frame(id, error)),
    }
}

impl Op {
    /// For a batch that failed before applying this op: the answer its
    /// request gets instead (`failure` for what would have succeeded).
    pub(crate) fn answer_on_failure(self, failure: &RpcError) -> Option<(ConnId, Out)> {
        let (to, frame) = match self {
            Op::Error { to, frame } => (to, frame),
            Op::Respond { to, id, .. }
            | Op::Answer {
                to, id: Some(id), ..
            } => {
                let frame = peer_proto::rpc::error_frame(Some(&id), failure);
                (to, Bytes::from(frame))
            }
            _ => return None,
        };
        Some((to, Out::Frame(frame)))
    }
}
