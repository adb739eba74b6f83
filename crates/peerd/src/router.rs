//! The routing state machine: the one owner of live sessions, aliases, topic
//! subscriptions, DM filters and watchers.
//!
//! [`Router::handle`] is synchronous and pure: it takes one event and returns the
//! store operations it causes, in the order they must take effect. The task in
//! [`run`] feeds it events and forwards the operations, so the router never waits
//! on a socket or a disk, and its decisions can be unit-tested without either.

use crate::call::{Call, Hello, Parsed};
use crate::config::STORE_BATCH;
use crate::outbox::{ConnId, Out, Outbox};
use crate::store::{now, Kind, LiveStatus, Op, ReplyId, Store};
use crate::trim::Trimmer;
use bytes::Bytes;
use peer_proto::address::{home_address, session_address, topic_address, Address, Target};
use peer_proto::glob::GlobSet;
use peer_proto::identity::mint_message_id;
use peer_proto::message::{method, WireMessage};
use peer_proto::rpc::{error_frame, notification_frame, response_frame};
use peer_proto::{ErrorCode, Message, RpcError, PROTOCOL, VERSION};
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};

/// Optional protocol features this daemon implements, listed in the hello result.
pub const FEATURES: &[&str] = &["seq", "queued", "presence", "status", "since", "ack"];

/// Why subscribers are told they lost their subscriptions at shutdown.
const SHUTDOWN_REASON: &str = "daemon shutting down";

/// What reaches the router.
#[derive(Debug)]
pub enum Inbound {
    /// A connection was accepted.
    Open { conn: ConnId, outbox: Outbox },
    /// A decoded request (`id` None for a notification).
    Request {
        conn: ConnId,
        id: ReplyId,
        parsed: Parsed,
        /// The line's share of the in-flight byte budget, released once the store
        /// has applied everything the request caused.
        permit: Option<OwnedSemaphorePermit>,
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
    Closed { conn: ConnId },
    /// DMs that were handed to a connection but never written to its socket.
    Requeue(Vec<i64>),
    /// Time to purge expired history.
    Purge,
    /// Tell subscribers, close every connection, close the store, then answer.
    Shutdown(oneshot::Sender<()>),
}

struct Conn {
    outbox: Outbox,
    session: Option<Session>,
    watch: Option<Watch>,
}

struct Session {
    sid: String,
    home: String,
    /// `home:<home>`.
    peer_id: String,
    /// `home:<home>#<sid>`, the `from` of everything it sends.
    from: String,
    alias: Option<String>,
    /// False for operator and CLI connections: not listed, no joined/left, no share
    /// of home broadcasts or queues.
    presence: bool,
    dm_filter: GlobSet,
    subscriptions: BTreeSet<String>,
}

impl Session {
    fn alias_address(&self) -> Option<String> {
        self.alias.as_ref().map(|a| session_address(&self.home, a))
    }
}

struct Watch {
    from: GlobSet,
    to: GlobSet,
}

/// All live routing state.
pub struct Router {
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
}

type Outcome = Result<Vec<Op>, RpcError>;

fn frame(method: &str, params: &impl Serialize) -> Bytes {
    Bytes::from(notification_frame(method, params))
}

/// The result of `peer.send` (the hot path: a struct, not a `json!` map).
/// Fields in alphabetical order, as a `json!` map would print them.
#[derive(Serialize)]
struct SendResult<'a> {
    delivered: usize,
    message_id: &'a str,
    queued: bool,
}

/// The result of `peer.publish`.
#[derive(Serialize)]
struct PublishResult<'a> {
    message_id: &'a str,
    subscribers: usize,
}

/// One frame for all of `to`, serialised only if somebody is there to get it
/// (a queued DM, a topic nobody follows, traffic nobody watches).
fn share(to: Vec<Outbox>, out: impl FnOnce() -> Out) -> Option<Op> {
    (!to.is_empty()).then(|| Op::Share { to, out: out() })
}

fn reply(to: &Outbox, id: ReplyId, result: &impl Serialize) -> Vec<Op> {
    match id {
        Some(id) => {
            let frame = Bytes::from(response_frame(&id, result));
            vec![Op::Reply {
                to: to.clone(),
                id,
                frame,
            }]
        }
        None => Vec::new(),
    }
}

fn reply_error(to: &Outbox, id: Option<&RawValue>, error: &RpcError) -> Op {
    Op::Deliver(vec![(
        to.clone(),
        Out::Frame(Bytes::from(error_frame(id, error))),
    )])
}

impl Router {
    /// A router whose first message gets `seq == next_seq`.
    pub fn new(next_seq: i64) -> Self {
        Router {
            conns: HashMap::new(),
            by_sid: HashMap::new(),
            homes: BTreeMap::new(),
            aliases: HashMap::new(),
            subscribers: HashMap::new(),
            watchers: BTreeSet::new(),
            next_seq,
            started: Instant::now(),
        }
    }

    /// Applies one event; returns the store operations it causes, in order.
    pub fn handle(&mut self, event: Inbound) -> Vec<Op> {
        match event {
            Inbound::Open { conn, outbox } => {
                self.conns.insert(
                    conn,
                    Conn {
                        outbox,
                        session: None,
                        watch: None,
                    },
                );
                Vec::new()
            }
            Inbound::Request {
                conn, id, parsed, ..
            } => self.request(conn, id, parsed),
            Inbound::Reject {
                conn,
                id,
                error,
                close,
            } => {
                let Some(c) = self.conns.get(&conn) else {
                    return Vec::new();
                };
                let mut ops = vec![reply_error(&c.outbox, id.as_deref(), &error)];
                if close {
                    ops.push(Op::Deliver(vec![(c.outbox.clone(), Out::Close)]));
                }
                ops
            }
            Inbound::Closed { conn } => self.closed(conn),
            Inbound::Requeue(seqs) => vec![Op::Requeue(seqs)],
            Inbound::Purge => vec![Op::Purge],
            Inbound::Shutdown(_) => unreachable!("handled by run()"),
        }
    }

    fn request(&mut self, conn: ConnId, id: ReplyId, parsed: Parsed) -> Vec<Op> {
        let Some(c) = self.conns.get(&conn) else {
            return Vec::new();
        };
        let outbox = c.outbox.clone();
        let outcome = match parsed.call {
            Err(e) if e.is(ErrorCode::MethodNotFound) => Err(e),
            _ if !parsed.is_hello && c.session.is_none() => Err(RpcError::new(
                ErrorCode::HelloRequired,
                "peer.hello must be the first method on a connection",
            )),
            Err(e) => Err(e),
            Ok(call) => self.call(conn, &outbox, id.clone(), call),
        };
        match outcome {
            Ok(ops) => ops,
            Err(_) if id.is_none() => Vec::new(),
            Err(e) => vec![reply_error(&outbox, id.as_deref(), &e)],
        }
    }

    fn call(&mut self, conn: ConnId, outbox: &Outbox, id: ReplyId, call: Call) -> Outcome {
        match call {
            Call::Hello(hello) => self.hello(conn, outbox, id, hello),
            Call::SetAlias { alias } => self.set_alias(conn, outbox, id, alias),
            Call::SetDmFilter { patterns } => {
                let result = json!({"ok": true, "patterns": patterns.patterns()});
                self.session_mut(conn).dm_filter = patterns;
                Ok(reply(outbox, id, &result))
            }
            Call::Send { to, body, reply_to } => {
                Ok(self.send(conn, outbox, id, to, body, reply_to))
            }
            Call::Publish { topic, body } => Ok(self.publish(conn, outbox, id, topic, body)),
            Call::Subscribe {
                topic,
                replay,
                since,
            } => {
                self.subscribers
                    .entry(topic.clone())
                    .or_default()
                    .insert(conn);
                self.session_mut(conn).subscriptions.insert(topic.clone());
                let mut ops = Vec::new();
                if replay > 0 || since.is_some() {
                    ops.push(Op::Replay {
                        to: outbox.clone(),
                        address: topic_address(&topic),
                        last: replay,
                        since,
                    });
                }
                ops.extend(reply(outbox, id, &json!({"topic": topic, "ok": true})));
                Ok(ops)
            }
            Call::Unsubscribe { topic } => {
                self.unsubscribe(conn, &topic);
                self.session_mut(conn).subscriptions.remove(&topic);
                Ok(reply(outbox, id, &json!({"ok": true})))
            }
            Call::ListPeers => Ok(reply(outbox, id, &self.list_peers())),
            Call::ListTopics => {
                let subscribers = self
                    .subscribers
                    .iter()
                    .map(|(t, s)| (t.clone(), s.len()))
                    .collect();
                Ok(vec![Op::ListTopics {
                    to: outbox.clone(),
                    id,
                    subscribers,
                }])
            }
            Call::History {
                address,
                since,
                limit,
            } => Ok(vec![Op::History {
                to: outbox.clone(),
                id,
                address,
                since,
                limit,
            }]),
            Call::Watch { from, to } => {
                self.watchers.insert(conn);
                self.conn_mut(conn).watch = Some(Watch { from, to });
                Ok(reply(outbox, id, &json!({"ok": true, "watching": true})))
            }
            Call::Unwatch => {
                self.watchers.remove(&conn);
                self.conn_mut(conn).watch = None;
                Ok(reply(outbox, id, &json!({"ok": true, "watching": false})))
            }
            Call::Ack { message_ids } => Ok(vec![Op::Ack {
                to: outbox.clone(),
                id,
                message_ids,
            }]),
            Call::Status => {
                let live = LiveStatus {
                    server_version: VERSION,
                    pid: std::process::id(),
                    uptime_s: self.started.elapsed().as_secs_f64(),
                    connections: self.conns.len(),
                    sessions: self.conns.values().filter(|c| c.session.is_some()).count(),
                };
                let topics_subscribed = self.subscribers.keys().cloned().collect();
                Ok(vec![Op::Status {
                    to: outbox.clone(),
                    id,
                    live,
                    topics_subscribed,
                }])
            }
        }
    }

    fn conn_mut(&mut self, conn: ConnId) -> &mut Conn {
        self.conns
            .get_mut(&conn)
            .expect("caller checked the connection")
    }

    fn session_mut(&mut self, conn: ConnId) -> &mut Session {
        self.conn_mut(conn)
            .session
            .as_mut()
            .expect("caller checked hello")
    }

    fn session(&self, conn: ConnId) -> &Session {
        self.conns[&conn]
            .session
            .as_ref()
            .expect("caller checked hello")
    }

    fn outboxes(&self, conns: &[ConnId]) -> Vec<Outbox> {
        conns.iter().map(|c| self.conns[c].outbox.clone()).collect()
    }

    /// Frames of `method` to every session but `except`.
    fn broadcast(
        &self,
        except: Option<ConnId>,
        method: &str,
        params: &impl Serialize,
    ) -> Option<Op> {
        let to = self
            .conns
            .iter()
            .filter(|(id, c)| Some(**id) != except && c.session.is_some())
            .map(|(_, c)| c.outbox.clone())
            .collect();
        share(to, || Out::Frame(frame(method, params)))
    }

    fn hello(&mut self, conn: ConnId, outbox: &Outbox, id: ReplyId, hello: Hello) -> Outcome {
        let Hello {
            sid,
            home,
            presence,
            ack,
        } = hello;
        if self.conns[&conn].session.is_some() {
            return Err(RpcError::new(
                ErrorCode::InvalidRequest,
                "peer.hello already sent on this connection",
            ));
        }
        if self.by_sid.contains_key(&sid) {
            return Err(RpcError::new(
                ErrorCode::SidInUse,
                format!("sid {sid} is already in use"),
            ));
        }
        if ack {
            outbox.set_ack_mode();
        }
        let peer_id = home_address(&home);
        let from = session_address(&home, &sid);
        let mut ops = Vec::new();
        if presence {
            self.homes.entry(home.clone()).or_default().push(conn);
            ops.push(Op::Drain {
                to: outbox.clone(),
                addresses: vec![peer_id.clone(), from.clone()],
                filter: GlobSet::everything(),
            });
            let joined = json!({"peer_id": peer_id, "sid": sid, "alias": null, "ts": now()});
            ops.extend(self.broadcast(Some(conn), method::PEER_JOINED, &joined));
        }
        self.by_sid.insert(sid.clone(), conn);
        let result = json!({
            "peer_id": peer_id,
            "sid": sid,
            "server_version": VERSION,
            "protocol": PROTOCOL,
            "features": FEATURES,
        });
        self.conn_mut(conn).session = Some(Session {
            sid,
            home,
            peer_id,
            from,
            alias: None,
            presence,
            dm_filter: GlobSet::everything(),
            subscriptions: BTreeSet::new(),
        });
        ops.extend(reply(outbox, id, &result));
        Ok(ops)
    }

    fn set_alias(
        &mut self,
        conn: ConnId,
        outbox: &Outbox,
        id: ReplyId,
        alias: Option<String>,
    ) -> Outcome {
        let session = self.session(conn);
        let previous = session.alias.clone();
        let old_address = session.alias_address();
        let filter = session.dm_filter.clone();
        let new_address = alias.as_ref().map(|a| session_address(&session.home, a));
        if let Some(addr) = &new_address {
            if self.aliases.get(addr).is_some_and(|holder| *holder != conn) {
                let alias = alias.as_deref().unwrap_or_default();
                return Err(RpcError::new(
                    ErrorCode::AliasTaken,
                    format!("alias {alias} is already in use in this home"),
                ));
            }
        }
        if let Some(old) = old_address {
            self.aliases.remove(&old);
        }
        let mut ops = Vec::new();
        if let Some(addr) = new_address {
            self.aliases.insert(addr.clone(), conn);
            if alias != previous {
                ops.push(Op::Drain {
                    to: outbox.clone(),
                    addresses: vec![addr],
                    filter,
                });
            }
        }
        let session = self.session_mut(conn);
        session.alias = alias.clone();
        let changed = json!({
            "peer_id": session.peer_id, "sid": session.sid, "alias": alias,
            "previous": previous, "ts": now(),
        });
        ops.extend(self.broadcast(None, method::ALIAS_CHANGED, &changed));
        ops.extend(reply(outbox, id, &json!({"ok": true, "alias": alias})));
        Ok(ops)
    }

    /// Live sessions addressed by `to` (a valid `home:` address), but never `sender`,
    /// and only those whose DM filter accepts `from`.
    fn dm_recipients(&self, sender: ConnId, to: &str, from: &str) -> Vec<ConnId> {
        let Ok(Address::Home(addr)) = Address::parse(to) else {
            return Vec::new();
        };
        let targets: Vec<ConnId> = match addr.target {
            None => self.homes.get(addr.home).cloned().unwrap_or_default(),
            Some(Target::Alias(_)) => self.aliases.get(to).copied().into_iter().collect(),
            Some(Target::Sid(sid)) => self
                .by_sid
                .get(sid)
                .copied()
                .filter(|c| self.session(*c).home == addr.home)
                .into_iter()
                .collect(),
        };
        targets
            .into_iter()
            .filter(|c| *c != sender && self.session(*c).dm_filter.matches(from))
            .collect()
    }

    /// A new message from `conn`'s session, numbered.
    fn message(
        &mut self,
        conn: ConnId,
        to: String,
        body: Box<RawValue>,
        reply_to: Option<String>,
    ) -> Message {
        let session = self.session(conn);
        let message = Message {
            message_id: mint_message_id(self.next_seq as u64),
            from: session.from.clone(),
            from_alias: session.alias.clone(),
            to,
            body,
            reply_to,
            ts: now(),
            seq: Some(self.next_seq),
        };
        self.next_seq += 1;
        message
    }

    /// `peer.wire_message` copies for watchers that are neither the sender nor a
    /// recipient (recipients already get the `peer.message`).
    fn wire_copies(
        &self,
        sender: ConnId,
        recipients: &[ConnId],
        m: &Message,
        queued: bool,
    ) -> Option<Op> {
        let mut to = Vec::new();
        for w in &self.watchers {
            let c = &self.conns[w];
            let Some(watch) = &c.watch else { continue };
            if *w == sender
                || recipients.contains(w)
                || !watch.from.matches(&m.from)
                || !watch.to.matches(&m.to)
            {
                continue;
            }
            to.push(c.outbox.clone());
        }
        let wire = WireMessage {
            message: m,
            delivered: recipients.len(),
            queued,
        };
        share(to, || Out::Frame(frame(method::WIRE_MESSAGE, &wire)))
    }

    fn send(
        &mut self,
        conn: ConnId,
        outbox: &Outbox,
        id: ReplyId,
        to: String,
        body: Box<RawValue>,
        reply_to: Option<String>,
    ) -> Vec<Op> {
        let recipients = self.dm_recipients(conn, &to, &self.session(conn).from);
        let m = self.message(conn, to, body, reply_to);
        let seq = m.seq.expect("numbered");
        let queued = recipients.is_empty();
        let deliveries = share(self.outboxes(&recipients), || Out::Dm {
            frame: frame(method::MESSAGE, &m),
            seq,
        });
        let wire = self.wire_copies(conn, &recipients, &m, queued);
        let result = SendResult {
            delivered: recipients.len(),
            message_id: &m.message_id,
            queued,
        };
        let answer = reply(outbox, id, &result);
        let mut ops = vec![Op::Insert {
            message: m,
            kind: Kind::Dm,
            queued,
        }];
        ops.extend(deliveries);
        ops.extend(wire);
        ops.extend(answer);
        ops
    }

    fn publish(
        &mut self,
        conn: ConnId,
        outbox: &Outbox,
        id: ReplyId,
        topic: String,
        body: Box<RawValue>,
    ) -> Vec<Op> {
        let recipients: Vec<ConnId> = self
            .subscribers
            .get(&topic)
            .map(|s| s.iter().copied().filter(|c| *c != conn).collect())
            .unwrap_or_default();
        let m = self.message(conn, topic_address(&topic), body, None);
        let deliveries = share(self.outboxes(&recipients), || {
            Out::Frame(frame(method::MESSAGE, &m))
        });
        let wire = self.wire_copies(conn, &recipients, &m, false);
        let result = PublishResult {
            message_id: &m.message_id,
            subscribers: recipients.len(),
        };
        let answer = reply(outbox, id, &result);
        let mut ops = vec![Op::Insert {
            message: m,
            kind: Kind::Topic,
            queued: false,
        }];
        ops.extend(deliveries);
        ops.extend(wire);
        ops.extend(answer);
        ops
    }

    fn unsubscribe(&mut self, conn: ConnId, topic: &str) {
        if let Some(subs) = self.subscribers.get_mut(topic) {
            subs.remove(&conn);
            if subs.is_empty() {
                self.subscribers.remove(topic);
            }
        }
    }

    fn list_peers(&self) -> serde_json::Value {
        let peers: Vec<_> = self
            .homes
            .iter()
            .map(|(home, conns)| {
                let sessions: Vec<_> = conns
                    .iter()
                    .map(|c| {
                        let s = self.session(*c);
                        json!({"sid": s.sid, "alias": s.alias, "subscriptions": s.subscriptions})
                    })
                    .collect();
                json!({"peer_id": home_address(home), "sessions": sessions})
            })
            .collect();
        json!({ "peers": peers })
    }

    fn closed(&mut self, conn: ConnId) -> Vec<Op> {
        let Some(c) = self.conns.remove(&conn) else {
            return Vec::new();
        };
        self.watchers.remove(&conn);
        let mut ops = Vec::new();
        if let Some(s) = c.session {
            self.by_sid.remove(&s.sid);
            if let Some(addr) = s.alias_address() {
                self.aliases.remove(&addr);
            }
            for topic in &s.subscriptions {
                self.unsubscribe(conn, topic);
            }
            if s.presence {
                if let Some(list) = self.homes.get_mut(&s.home) {
                    list.retain(|c| *c != conn);
                    if list.is_empty() {
                        self.homes.remove(&s.home);
                    }
                }
                let left =
                    json!({"peer_id": s.peer_id, "sid": s.sid, "alias": s.alias, "ts": now()});
                ops.extend(self.broadcast(None, method::PEER_LEFT, &left));
            }
        }
        ops.push(Op::Release(conn));
        ops.push(Op::Deliver(vec![(c.outbox, Out::Close)]));
        ops
    }

    /// `peer.subscription_lost` for every subscription, then a close for every
    /// connection.
    fn shutdown(&mut self) -> Vec<Op> {
        let mut frames = Vec::new();
        for c in self.conns.values() {
            for topic in c.session.iter().flat_map(|s| &s.subscriptions) {
                let lost = json!({"topic": topic, "reason": SHUTDOWN_REASON});
                frames.push((
                    c.outbox.clone(),
                    Out::Frame(frame(method::SUBSCRIPTION_LOST, &lost)),
                ));
            }
            frames.push((c.outbox.clone(), Out::Close));
        }
        vec![Op::Deliver(frames)]
    }
}

/// The router loop: takes every event that has arrived (up to [`STORE_BATCH`]),
/// applies them in order, and has the store commit all their operations in one
/// transaction before their frames go out. Runs on the daemon's event thread
/// beside the connections, so no event waits for a thread to wake.
pub async fn run(mut router: Router, mut inbound: mpsc::Receiver<Inbound>, mut store: Store) {
    let mut ops = Vec::new();
    // Line budgets of the batch's requests, released once it is applied.
    let mut permits = Vec::new();
    let mut trimmer = Trimmer::default();
    loop {
        let first = if store.purging() {
            // A long purge goes on between batches of traffic.
            match inbound.try_recv() {
                Ok(event) => event,
                Err(mpsc::error::TryRecvError::Empty) => {
                    store.run_batch(vec![Op::Purge]);
                    tokio::task::yield_now().await;
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        } else if let Some(patience) = trimmer.patience() {
            match tokio::time::timeout(patience, inbound.recv()).await {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(_) => {
                    trimmer.quiet();
                    continue;
                }
            }
        } else {
            match inbound.recv().await {
                Some(event) => event,
                None => break,
            }
        };
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(mut event) = next.take() {
            if let Inbound::Shutdown(done) = event {
                store.run_batch(std::mem::take(&mut ops));
                store.run_batch(router.shutdown());
                store.close();
                let _ = done.send(());
                return;
            }
            if let Inbound::Request { permit, .. } = &mut event {
                permits.extend(permit.take());
            }
            ops.extend(router.handle(event));
            taken += 1;
            if taken < STORE_BATCH {
                next = inbound.try_recv().ok();
            }
        }
        store.run_batch(std::mem::take(&mut ops));
        permits.clear();
        trimmer.batch(taken);
    }
    store.close();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call;
    use crate::outbox::{outbox, OutboxReceiver};
    use peer_proto::rpc::decode;
    use serde_json::Value;
    use tokio_util::sync::CancellationToken;

    /// A router with connections whose outboxes the test reads directly; store
    /// operations are "executed" by pushing their frames, as the store would after
    /// a commit.
    struct Harness {
        router: Router,
        outs: HashMap<ConnId, OutboxReceiver>,
        ops: Vec<Op>,
    }

    impl Harness {
        fn new() -> Self {
            Harness {
                router: Router::new(1),
                outs: HashMap::new(),
                ops: Vec::new(),
            }
        }

        fn open(&mut self, conn: ConnId) {
            let (tx, rx) = outbox(conn, 1 << 20, CancellationToken::new());
            self.outs.insert(conn, rx);
            self.router.handle(Inbound::Open { conn, outbox: tx });
        }

        fn call(&mut self, conn: ConnId, method: &str, params: Value) {
            let line =
                json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
            let env = decode(line.as_bytes()).unwrap();
            let parsed = call::parse(env.method, &env.params);
            let id = env.id.map(ToOwned::to_owned);
            let ops = self.router.handle(Inbound::Request {
                conn,
                id,
                parsed,
                permit: None,
            });
            self.apply(ops);
        }

        fn apply(&mut self, ops: Vec<Op>) {
            for op in ops {
                match op {
                    Op::Deliver(frames) => {
                        for (to, out) in frames {
                            let _ = to.push(out);
                        }
                    }
                    Op::Share { to, out } => {
                        for t in to {
                            let _ = t.push(out.clone());
                        }
                    }
                    Op::Reply { to, frame, .. } => to.push(Out::Frame(frame)).unwrap(),
                    other => self.ops.push(other),
                }
            }
        }

        fn hello(&mut self, conn: ConnId, sid: &str, home: &str) {
            self.open(conn);
            self.call(conn, "peer.hello", json!({"sid": sid, "home": home}));
            self.frames(conn);
        }

        /// Everything written to `conn` so far, decoded.
        fn frames(&mut self, conn: ConnId) -> Vec<Value> {
            let rx = self.outs.get_mut(&conn).unwrap();
            let mut frames = Vec::new();
            while let Some(out) = rx.try_recv() {
                match out {
                    Out::Close => frames.push(json!("close")),
                    out => frames.push(serde_json::from_slice(out.frame().unwrap()).unwrap()),
                }
            }
            frames
        }

        fn result(&mut self, conn: ConnId) -> Value {
            let frames = self.frames(conn);
            frames.last().cloned().unwrap()
        }
    }

    const A: &str = "sess_aaaaaaaaaaaaaaaa";
    const B: &str = "sess_bbbbbbbbbbbbbbbb";
    const C: &str = "sess_cccccccccccccccc";

    #[test]
    fn hello_first_then_one_hello_and_unique_sids() {
        let mut h = Harness::new();
        h.open(1);
        h.call(1, "peer.list_peers", json!({}));
        assert_eq!(h.result(1)["error"]["code"], -32000);
        h.call(1, "peer.nope", json!({}));
        assert_eq!(h.result(1)["error"]["code"], -32601);
        h.call(1, "peer.hello", json!({"sid": A, "home": "~/p"}));
        assert_eq!(h.result(1)["result"]["protocol"], PROTOCOL);
        h.call(1, "peer.hello", json!({"sid": A, "home": "~/p"}));
        assert_eq!(h.result(1)["error"]["code"], -32600);
        h.open(2);
        h.call(2, "peer.hello", json!({"sid": A, "home": "~/q"}));
        assert_eq!(h.result(2)["error"]["code"], -32011);
    }

    #[test]
    fn alias_is_unique_per_home_and_released_on_close() {
        let mut h = Harness::new();
        h.hello(1, A, "~/p");
        h.hello(2, B, "~/p");
        h.hello(3, C, "~/q");
        h.frames(1);
        h.call(1, "peer.set_alias", json!({"alias": "architect"}));
        let frames = h.frames(1);
        assert_eq!(
            frames[0]["method"], "peer.alias_changed",
            "caller is told too"
        );
        assert_eq!(frames[1]["result"]["alias"], "architect");
        h.call(2, "peer.set_alias", json!({"alias": "architect"}));
        assert_eq!(h.frames(2).last().unwrap()["error"]["code"], -32010);
        h.call(3, "peer.set_alias", json!({"alias": "architect"}));
        assert_eq!(
            h.frames(3).last().unwrap()["result"]["ok"],
            true,
            "other home"
        );
        let ops = h.router.handle(Inbound::Closed { conn: 1 });
        h.apply(ops);
        h.frames(2);
        h.call(2, "peer.set_alias", json!({"alias": "architect"}));
        assert_eq!(h.frames(2).last().unwrap()["result"]["alias"], "architect");
    }

    #[test]
    fn dms_skip_the_sender_and_respect_filters() {
        let mut h = Harness::new();
        h.hello(1, A, "~/p");
        h.hello(2, B, "~/p");
        h.hello(3, C, "~/p");
        h.frames(1);
        h.frames(2);
        h.call(3, "peer.set_dm_filter", json!({"patterns": ["*#sess_b*"]}));
        h.call(1, "peer.send", json!({"to": "home:~/p", "body": 1}));
        let result = h.result(1)["result"].clone();
        assert_eq!(result["delivered"], 1);
        assert_eq!(result["queued"], false);
        let got = h.frames(2);
        assert_eq!(got[0]["params"]["from"], format!("home:~/p#{A}"));
        assert_eq!(got[0]["params"]["seq"], 1);
        assert!(h.frames(3).iter().all(|f| f["method"] != "peer.message"));
        assert!(h.ops.iter().any(|op| matches!(
            op,
            Op::Insert {
                queued: false,
                kind: Kind::Dm,
                ..
            }
        )));
    }

    #[test]
    fn undeliverable_dms_are_queued_and_drained_at_hello() {
        let mut h = Harness::new();
        h.hello(1, A, "~/p");
        h.call(
            1,
            "peer.send",
            json!({"to": format!("home:~/q#{B}"), "body": 1}),
        );
        assert_eq!(h.result(1)["result"]["queued"], true);
        h.ops.clear();
        h.hello(2, B, "~/q");
        match &h.ops[..] {
            [Op::Drain { addresses, .. }] => {
                assert_eq!(
                    addresses,
                    &["home:~/q".to_string(), format!("home:~/q#{B}")]
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn watchers_get_wire_copies_except_of_their_own_traffic() {
        let mut h = Harness::new();
        h.hello(1, A, "~/p");
        h.hello(2, B, "~/q");
        h.hello(3, C, "~/w");
        h.call(3, "peer.watch", json!({"to_filter": ["home:~/q*"]}));
        h.call(2, "peer.watch", json!({}));
        h.frames(3);
        h.frames(2);
        h.call(1, "peer.send", json!({"to": "home:~/q", "body": "x"}));
        let w = h.frames(3);
        assert_eq!(w[0]["method"], "peer.wire_message");
        assert_eq!(w[0]["params"]["delivered"], 1);
        let r = h.frames(2);
        assert_eq!(r.len(), 1, "the recipient gets the message once: {r:?}");
        assert_eq!(r[0]["method"], "peer.message");
        h.call(1, "peer.send", json!({"to": "home:~/z", "body": "y"}));
        assert!(h.frames(3).is_empty(), "to_filter excludes ~/z");
        assert_eq!(h.frames(2)[0]["params"]["queued"], true);
    }

    #[test]
    fn invisible_sessions_are_not_listed_and_drain_nothing() {
        let mut h = Harness::new();
        h.hello(1, A, "~/p");
        h.ops.clear();
        h.open(2);
        h.call(
            2,
            "peer.hello",
            json!({"sid": B, "home": "~/p", "presence": false}),
        );
        assert!(h.ops.is_empty(), "no drain: {:?}", h.ops);
        assert!(h.frames(1).is_empty(), "no joined");
        h.frames(2);
        h.call(2, "peer.list_peers", json!({}));
        let peers = h.result(2)["result"]["peers"].clone();
        assert_eq!(peers[0]["sessions"].as_array().unwrap().len(), 1);
        h.call(1, "peer.send", json!({"to": "home:~/p", "body": 1}));
        assert_eq!(
            h.result(1)["result"]["delivered"],
            0,
            "no share of broadcasts"
        );
    }

    #[test]
    fn shutdown_tells_subscribers_then_closes_everyone() {
        let mut h = Harness::new();
        h.hello(1, A, "~/p");
        h.call(1, "peer.subscribe", json!({"topic": "t"}));
        h.frames(1);
        let ops = h.router.shutdown();
        h.apply(ops);
        let frames = h.frames(1);
        assert_eq!(frames[0]["method"], "peer.subscription_lost");
        assert_eq!(frames[0]["params"]["topic"], "t");
        assert_eq!(frames[1], json!("close"));
    }
}
