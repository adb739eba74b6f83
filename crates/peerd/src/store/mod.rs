//! The store: the SQLite connection, applying the router's operations in order and
//! committing them in batches (group commit). It runs on the daemon's one event
//! thread, called by the router loop with everything that arrived since the last
//! batch; the checkpoints that copy the WAL into the database (and fsync it) run
//! on a thread of their own ([`checkpoint`]), so no commit waits for a disk flush.
//!
//! Everything the daemon writes to a socket passes through here: the frames of a
//! batch are pushed to their outboxes only after the batch has committed. That one
//! rule gives the guarantees of SPEC §2 and §6 together: an answered `send` or
//! `publish` is on disk; nobody sees a message that could still be lost; and frames
//! reach each connection in the order the router produced them, with reads (queue
//! drains, replays, history) falling in their place in that order.

mod acks;
mod checkpoint;
mod db;
mod import;
pub mod schema;

pub use db::Kind;

use acks::Acks;
use db::State;

use crate::config::{Config, PURGE_CHUNK};
use crate::outbox::{ConnId, Out, Outbox};
use crate::private_dir;
use bytes::Bytes;
use peer_proto::glob::GlobSet;
use peer_proto::message::method;
use peer_proto::rpc::{error_frame, notification_frame, response_frame};
use peer_proto::{ErrorCode, Message, RpcError};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// A request id to answer; `None` for notifications (they get no answer).
pub type ReplyId = Option<Box<RawValue>>;

/// Live numbers the router knows, completed by the store for `peer.status`.
#[derive(Debug, Serialize)]
pub struct LiveStatus {
    pub server_version: &'static str,
    pub pid: u32,
    pub uptime_s: f64,
    pub connections: usize,
    pub sessions: usize,
}

/// One operation, applied in order.
#[derive(Debug)]
pub enum Op {
    /// Make `message` durable; `queued` also puts it in its DM queue.
    Insert {
        message: Message,
        kind: Kind,
        queued: bool,
    },
    /// Push notification frames once everything before them is durable.
    Deliver(Vec<(Outbox, Out)>),
    /// Push one frame to many connections (a broadcast, a fan-out): one shared
    /// item instead of a pair per recipient, since with many sessions these are
    /// most of what a batch holds.
    Share { to: Vec<Outbox>, out: Out },
    /// Push a response frame; on a failed commit it becomes an internal error.
    Reply {
        to: Outbox,
        id: Box<RawValue>,
        frame: Bytes,
    },
    /// Deliver (and dequeue) the queued DMs of `addresses` that pass `filter`.
    Drain {
        to: Outbox,
        addresses: Vec<String>,
        filter: GlobSet,
    },
    /// Re-send stored messages of topic address `address`: those after `since`
    /// (the whole ring when that id is no longer in it), else the newest `last`.
    Replay {
        to: Outbox,
        address: String,
        last: u64,
        since: Option<String>,
    },
    /// Answer `peer.history`.
    History {
        to: Outbox,
        id: ReplyId,
        address: String,
        since: Option<String>,
        limit: u32,
    },
    /// Answer `peer.list_topics`, given the live subscriber counts.
    ListTopics {
        to: Outbox,
        id: ReplyId,
        subscribers: BTreeMap<String, usize>,
    },
    /// Answer `peer.status`.
    Status {
        to: Outbox,
        id: ReplyId,
        live: LiveStatus,
        topics_subscribed: Vec<String>,
    },
    /// Put DMs that were never written back into their queues.
    Requeue(Vec<i64>),
    /// `peer.ack`: the connection has the DMs `message_ids` and needs them no more.
    Ack {
        to: Outbox,
        id: ReplyId,
        message_ids: Vec<String>,
    },
    /// The connection is gone: DMs it held unacknowledged go back to their queues.
    Release(ConnId),
    /// Delete history older than the retention period.
    Purge,
}

/// The open database and what the operations need beside it.
pub struct Store {
    conn: Connection,
    limits: Limits,
    acks: Acks,
    /// A purge found more than one chunk to delete and should go on.
    purging: bool,
    _checkpointer: checkpoint::Checkpointer,
}

impl Store {
    /// Opens the database (creating the state directory `0700`), imports a 0.1
    /// state dir if there is one, puts DMs left pending by the last run back in
    /// their queues, and starts the checkpointer. Returns the store and the next
    /// message `seq` to hand out.
    pub fn open(config: &Config) -> anyhow::Result<(Store, i64)> {
        private_dir::create(&config.state_dir, "state directory")?;
        let mut conn = schema::open(&config.db_path())?;
        // Checkpoints run on their own thread (see `checkpoint`), never in a commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let wal_limit = i64::try_from(checkpoint::WAL_RESTART_BYTES)?;
        conn.pragma_update(None, "journal_size_limit", wal_limit)?;
        let first_free = db::max_seq(&conn)? + 1;
        let (report, next_seq) = import::import_0_1(
            &mut conn,
            &config.state_dir,
            first_free,
            config.dm_maxlen,
            config.topic_maxlen,
        )?;
        if report.files > 0 {
            tracing::info!(
                files = report.files,
                dms = report.dms,
                topic_messages = report.topic_messages,
                corrupt_lines = report.corrupt_lines,
                duplicates = report.duplicates,
                "imported the Python 0.1 state; its files are now in {}",
                config.state_dir.join(import::IMPORTED_DIR).display()
            );
        }
        let requeued = db::requeue_all_pending(&conn)?;
        if requeued > 0 {
            tracing::info!(
                requeued,
                "unacknowledged DMs from the last run are queued again"
            );
        }
        let limits = Limits {
            db_path: config.db_path(),
            dm_maxlen: config.dm_maxlen,
            topic_maxlen: config.topic_maxlen,
            retention_s: f64::from(config.retention_days) * 86_400.0,
        };
        let checkpointer = checkpoint::Checkpointer::start(&config.db_path())?;
        let store = Store {
            conn,
            limits,
            acks: Acks::default(),
            purging: false,
            _checkpointer: checkpointer,
        };
        Ok((store, next_seq))
    }

    /// Whether an expired-history purge has more chunks to delete.
    pub fn purging(&self) -> bool {
        self.purging
    }

    /// Applies `batch` in one transaction and pushes its frames after the commit.
    pub fn run_batch(&mut self, batch: Vec<Op>) {
        let mut pending = Pending::default();
        let mut unwritten = Vec::new();
        let result = self.apply_all(batch, &mut pending);
        match result {
            Ok(()) => {
                // Each connection's limits are checked at its first frame of the
                // batch; the rest of its burst follows that verdict.
                let mut seen: HashSet<ConnId> = HashSet::new();
                let mut push = |to: &Outbox, out: Out| {
                    let pushed = match seen.insert(to.id()) {
                        true => to.push(out),
                        false => to.push_more(out),
                    };
                    if let Err(back) = pushed {
                        unwritten.extend(back.dm_seq());
                    }
                };
                for delivery in pending.deliveries {
                    match delivery {
                        Delivery::One(to, out) => push(&to, out),
                        Delivery::Many(to, out) => to.iter().for_each(|t| push(t, out.clone())),
                    }
                }
            }
            Err(e) => {
                tracing::error!("store batch failed, answering its requests with errors: {e:#}");
                let error = RpcError::new(
                    ErrorCode::InternalError,
                    "storage failure; nothing was stored",
                );
                for (index, id) in pending.replies {
                    if let Delivery::One(to, _) = &pending.deliveries[index] {
                        let _ = to.push(Out::Frame(Bytes::from(error_frame(Some(&id), &error))));
                    }
                }
            }
        }
        if !unwritten.is_empty() {
            // The connection closed between routing and delivery.
            if let Err(e) = db::requeue(&self.conn, &unwritten) {
                tracing::error!(
                    "re-queueing {} undelivered DMs failed: {e}",
                    unwritten.len()
                );
            }
        }
    }

    fn apply_all(&mut self, batch: Vec<Op>, pending: &mut Pending) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        let mut applier = Apply {
            c: &tx,
            pending,
            limits: &self.limits,
            acks: &mut self.acks,
        };
        for op in batch {
            applier.apply(op)?;
        }
        tx.commit()?;
        self.purging = pending.purge_more;
        Ok(())
    }

    /// Folds the WAL into the database file, so a stopped daemon leaves one file.
    pub fn close(self) {
        let Store {
            conn,
            _checkpointer,
            ..
        } = self;
        drop(_checkpointer);
        if let Err(e) = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE") {
            tracing::warn!("final checkpoint failed: {e}");
        }
    }
}

pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Frames produced by a batch, pushed after it commits.
#[derive(Default)]
struct Pending {
    deliveries: Vec<Delivery>,
    /// Indexes into `deliveries` of responses, with their ids, to turn into errors
    /// if the commit fails.
    replies: Vec<(usize, Box<RawValue>)>,
    purge_more: bool,
}

/// A frame for one connection, or one shared by many.
enum Delivery {
    One(Outbox, Out),
    Many(Vec<Outbox>, Out),
}

impl Pending {
    fn push(&mut self, to: &Outbox, out: Out) {
        self.deliveries.push(Delivery::One(to.clone(), out));
    }

    fn reply(&mut self, to: &Outbox, id: ReplyId, result: &impl Serialize) {
        if let Some(id) = id {
            let frame = Bytes::from(response_frame(&id, result));
            self.replies.push((self.deliveries.len(), id));
            self.push(to, Out::Frame(frame));
        }
    }

    fn messages(&mut self, to: &Outbox, messages: Vec<Message>, as_dm: bool) {
        for m in messages {
            let frame = Bytes::from(notification_frame(method::MESSAGE, &m));
            let out = match (as_dm, m.seq) {
                (true, Some(seq)) => Out::Backlog {
                    frame,
                    seq: Some(seq),
                },
                _ => Out::Backlog { frame, seq: None },
            };
            self.push(to, out);
        }
    }
}

/// The settings the operations need.
struct Limits {
    dm_maxlen: usize,
    topic_maxlen: usize,
    retention_s: f64,
    db_path: PathBuf,
}

/// Applies operations inside one batch's transaction.
struct Apply<'a> {
    c: &'a Connection,
    pending: &'a mut Pending,
    limits: &'a Limits,
    acks: &'a mut Acks,
}

impl Apply<'_> {
    fn apply(&mut self, op: Op) -> anyhow::Result<()> {
        let c = self.c;
        match op {
            Op::Insert {
                message,
                kind,
                queued,
            } => self.insert(&message, kind, queued)?,
            Op::Deliver(frames) => {
                for (to, out) in frames {
                    self.hold_if_acked(&to, &out)?;
                    self.pending.push(&to, out);
                }
            }
            Op::Share { to, out } => {
                for t in &to {
                    self.hold_if_acked(t, &out)?;
                }
                self.pending.deliveries.push(Delivery::Many(to, out));
            }
            Op::Reply { to, id, frame } => {
                self.pending
                    .replies
                    .push((self.pending.deliveries.len(), id));
                self.pending.push(&to, Out::Frame(frame));
            }
            Op::Drain {
                to,
                addresses,
                filter,
            } => {
                let then = if to.ack_mode() {
                    State::Pending
                } else {
                    State::Done
                };
                let taken = db::take_queued(c, &addresses, |m| filter.matches(&m.from), then)?;
                if to.ack_mode() {
                    for seq in taken.iter().filter_map(|m| m.seq) {
                        self.acks.hold(to.id(), seq);
                    }
                }
                self.pending.messages(&to, taken, true);
            }
            Op::Replay {
                to,
                address,
                last,
                since,
            } => {
                let ring = self.limits.topic_maxlen as u64;
                let found = match since {
                    Some(id) => {
                        let whole_ring = u32::try_from(ring).unwrap_or(u32::MAX);
                        db::history(c, &address, Some(&id), whole_ring)?
                    }
                    None => db::last(c, &address, last.min(ring))?,
                };
                self.pending.messages(&to, found, false);
            }
            Op::History {
                to,
                id,
                address,
                since,
                limit,
            } => {
                let messages = db::history(c, &address, since.as_deref(), limit)?;
                self.pending
                    .reply(&to, id, &json!({ "messages": messages }));
            }
            Op::ListTopics {
                to,
                id,
                subscribers,
            } => {
                let topics = self.list_topics(subscribers)?;
                self.pending.reply(&to, id, &json!({ "topics": topics }));
            }
            Op::Status {
                to,
                id,
                live,
                topics_subscribed,
            } => {
                let status = self.status(live, topics_subscribed)?;
                self.pending.reply(&to, id, &status);
            }
            Op::Requeue(seqs) => db::requeue(c, &seqs)?,
            Op::Ack {
                to,
                id,
                message_ids,
            } => {
                let acked = self.ack(to.id(), &message_ids)?;
                self.pending
                    .reply(&to, id, &json!({"ok": true, "acked": acked}));
            }
            Op::Release(conn) => db::requeue(c, &self.acks.release(conn))?,
            Op::Purge => {
                let cutoff = now() - self.limits.retention_s;
                let deleted = db::purge_before(c, cutoff, PURGE_CHUNK)?;
                if deleted > 0 {
                    tracing::info!(deleted, "purged expired history");
                }
                // A full chunk means more to go: the worker goes on between batches.
                self.pending.purge_more = deleted == PURGE_CHUNK;
            }
        }
        Ok(())
    }

    fn insert(&mut self, message: &Message, kind: Kind, queued: bool) -> rusqlite::Result<()> {
        let state = if queued { State::Queued } else { State::Done };
        db::insert(self.c, message, kind, state, message.ts)?;
        match kind {
            Kind::Topic => db::trim_ring(self.c, &message.to, self.limits.topic_maxlen)?,
            Kind::Dm if queued => db::trim_queue(self.c, &message.to, self.limits.dm_maxlen)?,
            Kind::Dm => 0,
        };
        Ok(())
    }

    /// A DM handed to an ack-mode connection stays pending (on disk too, so a
    /// crash cannot lose it) until that connection acknowledges it.
    fn hold_if_acked(&mut self, to: &Outbox, out: &Out) -> rusqlite::Result<()> {
        if let (Some(seq), true) = (out.dm_seq(), to.ack_mode()) {
            if self.acks.hold(to.id(), seq) {
                db::set_state(self.c, seq, State::Pending)?;
            }
        }
        Ok(())
    }

    /// Settles the DMs `conn` acknowledges; returns how many it was holding.
    fn ack(&mut self, conn: ConnId, message_ids: &[String]) -> rusqlite::Result<usize> {
        let mut acked = 0;
        for message_id in message_ids {
            let Some(seq) = db::seq_of(self.c, message_id)? else {
                continue;
            };
            match self.acks.ack(conn, seq) {
                Some(true) => db::settle(self.c, seq)?,
                Some(false) => {}
                None => continue,
            }
            acked += 1;
        }
        Ok(acked)
    }

    /// Topics with subscribers or stored messages, by name.
    fn list_topics(&self, subscribers: BTreeMap<String, usize>) -> rusqlite::Result<Vec<Value>> {
        let mut topics: BTreeMap<String, (usize, Option<f64>)> = subscribers
            .into_iter()
            .map(|(name, n)| (name, (n, None)))
            .collect();
        for (name, ts) in db::topics(self.c)? {
            topics.entry(name).or_insert((0, None)).1 = Some(ts);
        }
        Ok(topics
            .into_iter()
            .map(|(name, (subscribers, last))| {
                json!({"name": name, "subscribers": subscribers, "last_message_at": last})
            })
            .collect())
    }

    fn status(&self, live: LiveStatus, topics_subscribed: Vec<String>) -> anyhow::Result<Value> {
        let mut names: BTreeSet<String> = db::topics(self.c)?.into_iter().map(|(n, _)| n).collect();
        names.extend(topics_subscribed);
        let db_bytes: u64 = ["", "-wal"]
            .iter()
            .filter_map(|suffix| {
                let mut p = self.limits.db_path.clone().into_os_string();
                p.push(suffix);
                std::fs::metadata(p).ok().map(|m| m.len())
            })
            .sum();
        let mut status = serde_json::to_value(&live)?;
        status["topics"] = json!(names.len());
        status["queued_dms"] = json!(db::queued_count(self.c)?);
        status["db_bytes"] = json!(db_bytes);
        Ok(status)
    }
}
