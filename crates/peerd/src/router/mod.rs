//! The routing state machine: the one owner of live sessions, aliases, topic
//! subscriptions, DM filters and watchers.
//!
//! Sans-IO, in the manner of quinn-proto: [`Router::handle`] takes one event and
//! the time, and returns the operations it causes ([`Op`], plain data naming
//! connections by id) in the order they must take effect. It reads no clock,
//! touches no socket and no disk; the event loop (`event_loop.rs`) feeds it and
//! hands its operations to the store. A state the router cannot be in (a
//! request on a connection it does not know, a session call before hello) is
//! answered with an error, never a panic: one bad event must not take the event
//! thread, and every other client with it, down.
//!
//! The handlers are split by concern: [`sessions`] (hello, aliases, DM filters,
//! presence), [`messages`] (DMs and publishes), [`topics`], [`watchers`] and
//! [`leases`] (path leases).

mod leases;
mod messages;
mod remote;
mod sessions;
mod topics;
mod undo;
mod watchers;

use crate::call::{Call, Parsed};
use crate::clock::Now;
use crate::op::{self, LiveStatus, Op, Query, ReplyId};
use crate::outbox::{ConnId, Out};
use bytes::Bytes;
use peer_proto::api::{OkResult, SubscriptionLost};
use peer_proto::method;
use peer_proto::rpc::{notification_frame, response_frame};
use peer_proto::{ErrorCode, RpcError};
use serde::Serialize;
use sessions::Session;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;
use undo::Undo;
use watchers::Watch;

/// Why subscribers are told they lost their subscriptions at shutdown.
const SHUTDOWN_REASON: &str = "daemon shutting down";

/// What the router is told.
#[derive(Debug)]
pub(crate) enum Event {
    /// A connection was accepted.
    Open(ConnId),
    /// A decoded request (`id` None for a notification).
    Request {
        conn: ConnId,
        id: ReplyId,
        parsed: Parsed,
    },
    /// A line that could not be decoded: answer with `error` (id null when `id` is
    /// None), then close the connection if `close`.
    Reject {
        conn: ConnId,
        id: ReplyId,
        error: RpcError,
        close: bool,
    },
    /// The connection stopped reading (EOF, error, overflow).
    Closed(ConnId),
    /// Time passes: leases whose time is up end.
    Tick,
    /// [ext] A message from another node.
    Remote(crate::federation::Remote),
    /// [ext] Another node's sessions changed.
    RemotePeers(crate::federation::RemotePeers),
}

/// One connection as the router knows it.
#[derive(Default)]
struct Conn {
    /// Set by hello.
    session: Option<Session>,
    watch: Option<Watch>,
}

/// All live routing state.
pub(crate) struct Router {
    conns: HashMap<ConnId, Conn>,
    by_sid: HashMap<String, ConnId>,
    /// Sessions with presence, per home, in join order.
    homes: BTreeMap<String, Vec<ConnId>>,
    /// `home:<home>#<alias>` → holder.
    aliases: HashMap<String, ConnId>,
    /// Topic → subscribers.
    subscribers: HashMap<String, BTreeSet<ConnId>>,
    watchers: BTreeSet<ConnId>,
    next_seq: i64,
    started: Instant,
    /// Changes of the batch in progress, undone if it fails to commit.
    journal: Vec<Undo>,
    /// Path leases by id, including those whose time is up but that the
    /// next tick has yet to end.
    leases: BTreeMap<String, leases::Held>,
    /// Seconds a lease outlives its holder's session.
    lease_grace_s: f64,
    /// [ext] With federation: this node's subjects (and name).
    federation: Option<crate::federation::wire::Subjects>,
    /// [ext] Other nodes' homes and sessions, by node.
    remote_peers: BTreeMap<String, Vec<peer_proto::api::PeerEntry>>,
}

/// A request's operations, or the error to answer it with.
type Outcome = Result<Vec<Op>, RpcError>;

/// A notification frame, shared by every recipient.
fn frame(method: &str, params: &impl Serialize) -> Bytes {
    Bytes::from(notification_frame(method, params))
}

/// One frame for all of `to`, serialised only if somebody is there to get it
/// (a queued DM, a topic nobody follows, traffic nobody watches).
fn fanout(to: Vec<ConnId>, out: impl FnOnce() -> Out) -> Option<Op> {
    (!to.is_empty()).then(|| Op::Fanout { to, out: out() })
}

/// The response to request `id` (nothing for a notification).
fn respond(to: ConnId, id: ReplyId, result: &impl Serialize) -> Option<Op> {
    let id = id?;
    let frame = Bytes::from(response_frame(&id, result));
    Some(Op::Respond { to, id, frame })
}

/// The error for a state the router should never be in: logged as the bug it
/// is, answered as an internal error, and the daemon goes on.
fn bug(what: &str) -> RpcError {
    tracing::error!("router bug: {what}");
    RpcError::new(ErrorCode::InternalError, format!("internal error: {what}"))
}

impl Router {
    /// A router whose first message gets `seq == next_seq`, started at `started`.
    pub(crate) fn new(next_seq: i64, started: Instant) -> Self {
        Router {
            conns: HashMap::new(),
            by_sid: HashMap::new(),
            homes: BTreeMap::new(),
            aliases: HashMap::new(),
            subscribers: HashMap::new(),
            watchers: BTreeSet::new(),
            next_seq,
            started,
            journal: Vec::new(),
            leases: BTreeMap::new(),
            lease_grace_s: f64::from(crate::config::DEFAULT_LEASE_GRACE_SECS),
            federation: None,
            remote_peers: BTreeMap::new(),
        }
    }

    /// Joins the federation as the node of `subjects`.
    pub(crate) fn federate(&mut self, subjects: crate::federation::wire::Subjects) {
        self.federation = Some(subjects);
    }

    /// Applies one event at `now`; returns the operations it causes, in order.
    pub(crate) fn handle(&mut self, event: Event, now: Now) -> Vec<Op> {
        match event {
            Event::Open(conn) => {
                self.conns.insert(conn, Conn::default());
                Vec::new()
            }
            Event::Request { conn, id, parsed } => self.request(conn, id, parsed, now),
            Event::Reject {
                conn,
                id,
                error,
                close,
            } => {
                if !self.conns.contains_key(&conn) {
                    return Vec::new();
                }
                let mut ops = vec![op::error(conn, id.as_deref(), &error)];
                if close {
                    ops.push(Op::Push {
                        to: conn,
                        out: Out::Close,
                    });
                }
                ops
            }
            Event::Closed(conn) => self.closed(conn, now),
            Event::Tick => self.expire_leases(now),
            Event::Remote(r) => self.remote(r),
            Event::RemotePeers(r) => {
                match r.peers {
                    Some(peers) => self.remote_peers.insert(r.node, peers),
                    None => self.remote_peers.remove(&r.node),
                };
                Vec::new()
            }
        }
    }

    fn request(&mut self, conn: ConnId, id: ReplyId, parsed: Parsed, now: Now) -> Vec<Op> {
        let Some(c) = self.conns.get(&conn) else {
            return Vec::new();
        };
        let outcome = match parsed.call {
            Err(e) if e.is(ErrorCode::MethodNotFound) => Err(e),
            _ if !parsed.is_hello && c.session.is_none() => Err(RpcError::new(
                ErrorCode::HelloRequired,
                "peer.hello must be the first method on a connection",
            )),
            Err(e) => Err(e),
            Ok(call) => self.call(conn, id.clone(), call, now),
        };
        match outcome {
            Ok(ops) => ops,
            Err(_) if id.is_none() => Vec::new(),
            Err(e) => vec![op::error(conn, id.as_deref(), &e)],
        }
    }

    /// One validated call on a known connection; every call but hello has a
    /// session (checked by [`Self::request`]).
    fn call(&mut self, conn: ConnId, id: ReplyId, call: Call, now: Now) -> Outcome {
        match call {
            Call::Hello(hello) => self.hello(conn, id, hello, now),
            Call::SetAlias(alias) => self.set_alias(conn, id, alias, now),
            Call::SetDmFilter(patterns) => self.set_dm_filter(conn, id, patterns),
            Call::Send(params) => self.send(conn, id, params, now),
            Call::SendRemote {
                params,
                node,
                local,
            } => self.send_remote(conn, id, params, (node, local), now),
            Call::Publish(params) => self.publish(conn, id, params, now),
            Call::Subscribe(params) => self.subscribe(conn, id, params),
            Call::Unsubscribe(params) => {
                self.unsubscribe(conn, &params.topic)?;
                Ok(respond(conn, id, &OkResult { ok: true })
                    .into_iter()
                    .collect())
            }
            Call::ListPeers => Ok(respond(conn, id, &self.list_peers()).into_iter().collect()),
            Call::ListTopics => Ok(vec![self.list_topics(conn, id)]),
            Call::History(params) => Ok(vec![Op::Answer {
                to: conn,
                id,
                query: Query::History {
                    limit: params.limit(),
                    address: params.address,
                    since: params.since,
                },
            }]),
            Call::Watch { from, to } => self.watch(conn, id, Some(Watch { from, to })),
            Call::Unwatch => self.watch(conn, id, None),
            Call::Peek(params) => Ok(vec![Op::Answer {
                to: conn,
                id,
                query: Query::Peek {
                    limit: params.limit(),
                    addresses: params.addresses,
                },
            }]),
            Call::Ack(params) => Ok(vec![Op::Answer {
                to: conn,
                id,
                query: Query::Ack {
                    message_ids: params.message_ids,
                },
            }]),
            Call::Thread(params) => Ok(vec![Op::Answer {
                to: conn,
                id,
                query: Query::Thread {
                    limit: params.limit(),
                    message_id: params.message_id,
                },
            }]),
            Call::Search { query, scope } => Ok(vec![Op::Answer {
                to: conn,
                id,
                query: Query::Search { query, scope },
            }]),
            Call::Lease(params) => self.lease(conn, id, params, now),
            Call::LeaseRenew(params) => self.lease_renew(conn, id, params, now),
            Call::LeaseRelease(ids) => self.lease_release(conn, id, ids, now),
            Call::Leases(path) => self.list_leases(conn, id, path, now),
            Call::Status => {
                let live = LiveStatus {
                    uptime_s: now.mono.duration_since(self.started).as_secs_f64(),
                    connections: self.conns.len(),
                    sessions: self.conns.values().filter(|c| c.session.is_some()).count(),
                    topics_subscribed: self.subscribers.keys().cloned().collect(),
                };
                Ok(vec![Op::Answer {
                    to: conn,
                    id,
                    query: Query::Status(live),
                }])
            }
        }
    }

    fn conn_mut(&mut self, conn: ConnId) -> Result<&mut Conn, RpcError> {
        self.conns
            .get_mut(&conn)
            .ok_or_else(|| bug("a call on an unknown connection"))
    }

    /// `peer.subscription_lost` for every subscription, then a close for every
    /// connection.
    pub(crate) fn shutdown(&mut self) -> Vec<Op> {
        let mut ops = Vec::new();
        for (conn, c) in &self.conns {
            for topic in c.session.iter().flat_map(|s| &s.subscriptions) {
                let lost = SubscriptionLost {
                    reason: SHUTDOWN_REASON.to_owned(),
                    topic: topic.clone(),
                };
                ops.push(Op::Push {
                    to: *conn,
                    out: Out::Frame(frame(method::SUBSCRIPTION_LOST, &lost)),
                });
            }
            ops.push(Op::Push {
                to: *conn,
                out: Out::Close,
            });
        }
        ops
    }
}

#[cfg(test)]
mod tests;
