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
mod fed;
pub(crate) mod fts;
mod identity;
mod import;
pub(crate) mod reader;
pub(crate) mod schema;

use acks::Acks;
use db::State;
use identity::DbFile;
use reader::{Read, ReadJob};

use crate::config::{Config, INDEX_CHUNK, PURGE_CHUNK, SEARCH_CATCH_UP};
use crate::federation::{Federation, LinkState};
use crate::op::{Kind, LiveStatus, Op, Query, ReplyId, StoredLease};
use crate::outbox::{ConnId, Out};
use crate::outboxes::Outboxes;
use crate::{private_dir, trust};
use bytes::Bytes;
use peer_proto::api::{AckResult, ListTopicsResult, PeekResult, StatusResult, TopicEntry};
use peer_proto::rpc::{error_frame, notification_frame, response_frame};
use peer_proto::{method, ErrorCode, Message, RpcError, VERSION};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// The open database and what the operations need beside it.
pub(crate) struct Store {
    conn: Connection,
    limits: Limits,
    acks: Acks,
    /// A purge found more than one chunk to delete and should go on.
    purging: bool,
    /// Messages stored before the search index existed wait to be indexed.
    old_unindexed: bool,
    /// The newest message indexed for search (see [`fts`]).
    indexed_upto: i64,
    /// With federation: the hand-off of outbox rows to the publisher, the
    /// consumers' rewind, and the link for the status.
    federation: Option<Federation>,
    /// DMs to put back in their queues whose transaction failed; the next
    /// batch does it.
    retry_requeue: Vec<i64>,
    /// Outbox rows JetStream has acknowledged, deleted by the next batch
    /// (or in a quiet moment): not worth a transaction of their own.
    forwarded: Vec<i64>,
    /// The open database file, checked before each batch.
    db_file: DbFile,
    /// The newest message stored (the bound of reads: see [`reader`]).
    last_seq: i64,
    _checkpointer: checkpoint::Checkpointer,
}

impl Store {
    /// Opens the database (creating the state directory `0700`), imports a 0.1
    /// state dir if there is one, puts DMs left held by the last run back in
    /// their queues, and starts the checkpointer. Returns the store and the next
    /// message `seq` to hand out.
    pub(crate) fn open(config: &Config) -> anyhow::Result<(Store, i64)> {
        private_dir::create(&config.state_dir, "state directory")?;
        private_dir::tighten(&config.state_dir, "state directory")?;
        trust::check_dir(&config.state_dir, "state directory")?;
        let mut conn = schema::open(&config.db_path())?;
        let db_file = DbFile::of(&config.db_path())?;
        conn.pragma_update(None, "busy_timeout", config.db_busy_timeout_ms)?;
        private_files(&config.db_path());
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
        let requeued = db::requeue_all_held(&conn)?;
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
        let checkpointer = checkpoint::Checkpointer::start(
            &config.db_path(),
            checkpoint::CHECKPOINT_INTERVAL,
            checkpoint::WAL_RESTART_BYTES,
        )?;
        let old_unindexed = fts::old_pending(&conn)?;
        let indexed_upto = fts::indexed_upto(&conn)?;
        if old_unindexed {
            tracing::info!(
                "indexing for search the messages stored before it existed, between batches"
            );
        }
        let store = Store {
            conn,
            limits,
            acks: Acks::default(),
            purging: false,
            retry_requeue: Vec::new(),
            forwarded: Vec::new(),
            db_file,
            last_seq: next_seq - 1,
            _checkpointer: checkpointer,
            old_unindexed,
            indexed_upto,
            federation: None,
        };
        Ok((store, next_seq))
    }

    /// The path leases stored by the last run (the router decides which are
    /// still alive). A row that does not read back is logged and skipped.
    pub(crate) fn load_leases(&self) -> anyhow::Result<Vec<StoredLease>> {
        let mut stmt = self
            .conn
            .prepare("SELECT sid, home, info FROM leases ORDER BY lease_id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut leases = Vec::new();
        for row in rows {
            let (sid, home, info) = row?;
            match serde_json::from_str(&info) {
                Ok(info) => leases.push(StoredLease { info, sid, home }),
                Err(e) => tracing::warn!("skipping a stored lease that does not read: {e}"),
            }
        }
        Ok(leases)
    }

    /// The next chunk of work that goes on between batches of traffic: an
    /// expired-history purge with more to delete, then a full chunk of new
    /// messages to index for search, then the messages an upgraded database
    /// held before it had a search index.
    pub(crate) fn background(&self, now: f64) -> Option<Op> {
        if self.purging {
            Some(Op::Purge { now })
        } else if self.last_seq - self.indexed_upto >= INDEX_CHUNK as i64 {
            Some(Op::IndexNew)
        } else if self.old_unindexed {
            Some(Op::IndexOld)
        } else {
            None
        }
    }

    /// Applies `batch` in one transaction and, once it has committed, pushes
    /// its frames to `outboxes`.
    ///
    /// A batch that fails is undone whole (SPEC §6): nothing of it was
    /// stored, none of its notifications go out, and every request in it gets
    /// exactly one answer: its error, if it had one anyway, else an internal
    /// error. The caller rolls back the router's side. DMs the batch was to
    /// put back in their queues (and those held by connections that closed)
    /// are kept and put back by the next batch.
    pub(crate) fn run_batch(&mut self, mut batch: Vec<Op>, outboxes: &mut Outboxes) -> Batch {
        if !self.retry_requeue.is_empty() {
            batch.insert(0, Op::Requeue(std::mem::take(&mut self.retry_requeue)));
        }
        if !self.forwarded.is_empty() {
            batch.insert(0, Op::Forwarded(std::mem::take(&mut self.forwarded)));
        }
        let lasting = Lasting::of(&batch);
        let mut outgoing = Outgoing::default();
        let applied = match self.db_file.check() {
            Ok(()) => self.apply_all(batch, &mut outgoing),
            Err(e) => {
                outgoing.unapplied(None, batch.into_iter());
                Err(e)
            }
        };
        match applied {
            Ok(()) => {
                self.acks.settle();
                let bytes = outgoing.bytes();
                let (unwritten, reads) = outgoing.push_all(outboxes);
                if !unwritten.is_empty() {
                    // The connection closed between routing and delivery.
                    if let Err(e) = db::requeue(&self.conn, &unwritten) {
                        tracing::error!(
                            "re-queueing {} DMs failed, will retry: {e}",
                            unwritten.len()
                        );
                        self.retry_requeue.extend(unwritten);
                    }
                }
                Batch {
                    committed: true,
                    bytes,
                    reads,
                }
            }
            Err(e) => {
                tracing::error!(
                    "store batch failed; nothing of it stands, its requests get errors: {e:#}"
                );
                self.acks.roll_back();
                // The closed connections are gone all the same: what they held
                // goes back to the queues with the next batch.
                for conn in lasting.closed {
                    self.retry_requeue.extend(self.acks.release(conn));
                }
                self.acks.settle();
                self.retry_requeue.extend(lasting.requeue);
                self.forwarded.extend(lasting.forwarded);
                if let (true, Some(f)) = (lasting.remote, &self.federation) {
                    f.rewind.send_modify(|generation| *generation += 1);
                }
                outgoing.answer_failed(outboxes);
                Batch {
                    committed: false,
                    bytes: 0,
                    reads: Vec::new(),
                }
            }
        }
    }

    fn apply_all(&mut self, batch: Vec<Op>, outgoing: &mut Outgoing) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        let mut applier = Apply {
            tx: &tx,
            outgoing,
            federation: self.federation.as_ref().map(|f| &f.link),
            limits: &self.limits,
            acks: &mut self.acks,
            last_seq: &mut self.last_seq,
            rewound: self.federation.as_ref().map_or(0, |f| *f.rewind.borrow()),
        };
        let mut ops = batch.into_iter();
        while let Some(op) = ops.next() {
            // Only a computed answer can fail with its request unanswered.
            let asked = match &op {
                Op::Answer {
                    to, id: Some(id), ..
                } => Some((*to, id.clone())),
                _ => None,
            };
            if let Err(e) = applier.apply(op) {
                applier.outgoing.unapplied(asked, ops);
                return Err(e);
            }
        }
        tx.commit()?;
        if let Some(f) = &self.federation {
            f.handoff.hand(std::mem::take(&mut outgoing.forwards));
        }
        // Batches of traffic between chunks leave both as they were.
        if let Some(more) = outgoing.purge_more {
            self.purging = more;
        }
        if let Some(more) = outgoing.old_unindexed {
            self.old_unindexed = more;
        }
        if let Some(upto) = outgoing.indexed_upto {
            self.indexed_upto = upto;
        }
        Ok(())
    }

    /// Joins the federation: commits that queue messages for other nodes wake
    /// its outbox, and the status shows its link.
    pub(crate) fn federate(&mut self, federation: Federation) {
        self.federation = Some(federation);
    }

    /// Notes outbox rows JetStream has acknowledged, for the next batch to
    /// delete.
    pub(crate) fn forwarded(&mut self, ids: Vec<i64>) {
        self.forwarded.extend(ids);
    }

    /// Work for a quiet moment: indexing the new messages that do not yet
    /// make a chunk, deleting outbox rows sent (a batch takes those along).
    pub(crate) fn when_quiet(&self) -> Option<Op> {
        if self.last_seq > self.indexed_upto {
            Some(Op::IndexNew)
        } else {
            (!self.forwarded.is_empty()).then(|| Op::Forwarded(Vec::new()))
        }
    }

    /// Folds the WAL into the database file, so a stopped daemon leaves one file.
    pub(crate) fn close(self) {
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

/// The last JetStream stream sequence stored for the federation consumer of
/// `kind` (0: none yet).
pub(crate) fn federation_offset(
    c: &Connection,
    kind: Kind,
) -> rusqlite::Result<crate::federation::Position> {
    fed::offset(c, kind)
}

/// Makes the database and its WAL and shared-memory files `0600`: files made
/// by an older version were `0644`. New ones are created so under the
/// daemon's umask.
fn private_files(db: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let path = db_file(db, suffix);
        let private = std::fs::Permissions::from_mode(0o600);
        if let Err(e) = std::fs::set_permissions(&path, private) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot make {} private: {e}", path.display());
            }
        }
    }
}

/// The database's own file (`suffix` empty) or one SQLite keeps beside it
/// (`-wal`, `-shm`).
pub(crate) fn db_file(db: &Path, suffix: &str) -> PathBuf {
    let mut path = db.as_os_str().to_owned();
    path.push(suffix);
    PathBuf::from(path)
}

/// What became of a batch.
pub(crate) struct Batch {
    /// Whether it committed (else nothing of it stands).
    pub(crate) committed: bool,
    /// Bytes of the frames it made.
    pub(crate) bytes: usize,
    /// Reads to do off the event thread, their places held in the outboxes.
    pub(crate) reads: Vec<ReadJob>,
}

/// What a batch leaves standing even if its transaction fails, found in one
/// pass before it is applied.
#[derive(Default)]
struct Lasting {
    /// DMs it puts back in their queues.
    requeue: Vec<i64>,
    /// Connections that closed.
    closed: Vec<ConnId>,
    /// Outbox rows JetStream acknowledged, to delete.
    forwarded: Vec<i64>,
    /// It holds messages from other nodes (their consumers must read them
    /// again if it fails).
    remote: bool,
}

impl Lasting {
    fn of(batch: &[Op]) -> Lasting {
        let mut l = Lasting::default();
        for op in batch {
            match op {
                Op::Requeue(seqs) => l.requeue.extend_from_slice(seqs),
                Op::Release(conn) => l.closed.push(*conn),
                Op::Forwarded(ids) => l.forwarded.extend_from_slice(ids),
                Op::Arrived { .. } => l.remote = true,
                _ => {}
            }
        }
        l
    }
}

/// The answer to a request in a batch that failed to commit.
fn storage_failure() -> RpcError {
    RpcError::new(
        ErrorCode::InternalError,
        "storage failure; nothing of this request was stored or changed",
    )
}

/// Frames produced by a batch, pushed after it commits.
#[derive(Default)]
struct Outgoing {
    frames: Vec<Frame>,
    /// Indexes into `frames` of the answers to requests, with the ids of those
    /// that succeeded (they become errors if the commit fails; `None` for
    /// error answers, which stand).
    answers: Vec<(usize, Option<Box<RawValue>>)>,
    /// Answers to the requests whose operations a failure left unapplied.
    unapplied: Vec<(ConnId, Out)>,
    purge_more: Option<bool>,
    /// Copies of the rows the batch added to the federation outbox, for the
    /// publisher once it commits.
    forwards: Vec<crate::federation::Row>,
    /// Whether indexing old messages has more to do, when the batch did some.
    old_unindexed: Option<bool>,
    /// The newest message indexed, when the batch indexed new ones.
    indexed_upto: Option<i64>,
}

/// A frame for one connection, one shared by many, or the place of a read
/// whose frames come later.
enum Frame {
    One(ConnId, Out),
    Many(Vec<ConnId>, Out),
    Read(ConnId, Read),
}

impl Outgoing {
    fn push(&mut self, to: ConnId, out: Out) {
        self.frames.push(Frame::One(to, out));
    }

    fn respond_with(&mut self, to: ConnId, id: Option<Box<RawValue>>, frame: Bytes) {
        self.answers.push((self.frames.len(), id));
        self.push(to, Out::Frame(frame));
    }

    fn respond(&mut self, to: ConnId, id: ReplyId, result: &impl Serialize) {
        if let Some(id) = id {
            let frame = Bytes::from(response_frame(&id, result));
            self.respond_with(to, Some(id), frame);
        }
    }

    /// Records the answers owed to the request of the op that failed
    /// (`asked`) and to those of the ops after it.
    fn unapplied(
        &mut self,
        asked: Option<(ConnId, Box<RawValue>)>,
        rest: impl Iterator<Item = Op>,
    ) {
        let failure = storage_failure();
        if let Some((to, id)) = asked {
            let frame = Bytes::from(error_frame(Some(&id), &failure));
            self.unapplied.push((to, Out::Frame(frame)));
        }
        self.unapplied
            .extend(rest.filter_map(|op| op.answer_on_failure(&failure)));
    }

    /// Bytes of all the frames (a shared frame once).
    fn bytes(&self) -> usize {
        self.frames
            .iter()
            .map(|f| match f {
                Frame::One(_, out) | Frame::Many(_, out) => out.frame().map_or(0, Bytes::len),
                Frame::Read(..) => 0,
            })
            .sum()
    }

    /// A read for `to`, done off the event thread once the batch commits.
    fn read(&mut self, to: ConnId, read: Read) {
        if matches!(read, Read::History { .. }) {
            self.answers.push((self.frames.len(), None));
        }
        self.frames.push(Frame::Read(to, read));
    }

    /// Pushes every frame of a committed batch; returns the DMs that could not
    /// be handed to their connection (it is gone or cut off).
    fn push_all(self, outboxes: &mut Outboxes) -> (Vec<i64>, Vec<ReadJob>) {
        let (mut unwritten, mut reads) = (Vec::new(), Vec::new());
        // Each connection's limits are checked at its first frame of the
        // batch; the rest of its burst follows that verdict.
        let mut seen: HashSet<ConnId> = HashSet::new();
        let mut push = |outboxes: &mut Outboxes, to: ConnId, out: Out| {
            if let Err(back) = outboxes.push(to, out, seen.insert(to)) {
                unwritten.extend(back.dm_seq());
            }
        };
        for frame in self.frames {
            match frame {
                Frame::One(to, out) => push(outboxes, to, out),
                Frame::Many(to, out) => {
                    for t in to {
                        push(outboxes, t, out.clone());
                    }
                }
                Frame::Read(conn, read) => {
                    if let Some(ticket) = outboxes.begin_read(conn) {
                        reads.push(ReadJob { conn, ticket, read });
                    }
                }
            }
        }
        (unwritten, reads)
    }

    /// Answers every request of a failed batch, once: error answers as they
    /// were, everything that would have succeeded with a storage failure.
    fn answer_failed(self, outboxes: &mut Outboxes) {
        let failure = storage_failure();
        let mut answers = self.answers.into_iter().peekable();
        for (index, frame) in self.frames.into_iter().enumerate() {
            let Some((_, id)) = answers.next_if(|(i, _)| *i == index) else {
                continue;
            };
            let (to, out) = match (frame, id) {
                (Frame::One(to, out), None) => (to, out),
                (Frame::One(to, _), Some(id)) => (
                    to,
                    Out::Frame(Bytes::from(error_frame(Some(&id), &failure))),
                ),
                (Frame::Read(to, read), _) => match read.answer_on_failure(&failure) {
                    Some(out) => (to, out),
                    None => continue,
                },
                (Frame::Many(..), _) => continue,
            };
            let _ = outboxes.push(to, out, false);
        }
        for (to, out) in self.unapplied {
            let _ = outboxes.push(to, out, false);
        }
    }

    /// Queued DMs handed over by a drain: each goes back to its queue if it is
    /// never written.
    fn drained(&mut self, to: ConnId, messages: Vec<Message>) {
        for m in messages {
            let frame = Bytes::from(notification_frame(method::MESSAGE, &m));
            self.push(to, Out::Backlog { frame, seq: m.seq });
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
    tx: &'a Connection,
    outgoing: &'a mut Outgoing,
    federation: Option<&'a LinkState>,
    limits: &'a Limits,
    acks: &'a mut Acks,
    /// The newest message stored so far: what a read started now may see.
    last_seq: &'a mut i64,
    /// How many times the federation's consumers have been rewound.
    rewound: u64,
}

impl Apply<'_> {
    fn apply(&mut self, op: Op) -> anyhow::Result<()> {
        let tx = self.tx;
        match op {
            Op::Insert {
                message,
                kind,
                queued,
            } => self.insert(&message, kind, queued)?,
            Op::Forward {
                subject,
                msg_id,
                payload,
            } => {
                let id = fed::enqueue(tx, &subject, &msg_id, &payload)?;
                self.outgoing.forwards.push(crate::federation::Row {
                    id,
                    subject,
                    msg_id,
                    payload,
                });
            }
            Op::Arrived {
                kind,
                at,
                generation,
                stored,
                then,
            } => {
                if generation < self.rewound {
                    return Ok(());
                }
                // Not past the consumer's place: read again, stored already.
                if fed::advance(tx, kind, at)? && db::seq_of(tx, &stored)?.is_none() {
                    for op in then {
                        self.apply(op)?;
                    }
                }
            }
            Op::Forwarded(ids) => fed::sent(tx, &ids)?,
            Op::Push { to, out } => {
                self.hold_if_acked(to, &out)?;
                self.outgoing.push(to, out);
            }
            Op::Fanout { to, out } => {
                for t in &to {
                    self.hold_if_acked(*t, &out)?;
                }
                self.outgoing.frames.push(Frame::Many(to, out));
            }
            Op::Respond { to, id, frame } => self.outgoing.respond_with(to, Some(id), frame),
            Op::Error { to, frame } => self.outgoing.respond_with(to, None, frame),
            Op::Answer { to, id, query } => self.answer(to, id, query)?,
            Op::HoldForAck(conn) => self.acks.enable(conn),
            Op::Drain {
                to,
                addresses,
                filter,
            } => {
                let ack_mode = self.acks.enabled(to);
                let then = if ack_mode { State::Held } else { State::Done };
                let taken = db::take_queued(tx, &addresses, |m| filter.matches(&m.from), then)?;
                if ack_mode {
                    for seq in taken.iter().filter_map(|m| m.seq) {
                        self.acks.hold(to, seq);
                    }
                }
                self.outgoing.drained(to, taken);
            }
            Op::Replay {
                to,
                address,
                last,
                since,
            } => {
                let ring = u32::try_from(self.limits.topic_maxlen).unwrap_or(u32::MAX);
                let until = *self.last_seq;
                let read = Read::Replay {
                    address,
                    last,
                    since,
                    ring,
                    until,
                };
                self.outgoing.read(to, read);
            }
            Op::Requeue(seqs) => db::requeue(tx, &seqs)?,
            Op::Release(conn) => db::requeue(tx, &self.acks.release(conn))?,
            Op::LeaseSave(lease) => {
                let info = serde_json::to_string(&lease.info)?;
                tx.execute(
                    "INSERT OR REPLACE INTO leases (lease_id, sid, home, expires, info)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![
                        lease.info.lease_id,
                        lease.sid,
                        lease.home,
                        lease.info.expires,
                        info
                    ],
                )?;
            }
            Op::LeaseDelete(id) => {
                tx.execute("DELETE FROM leases WHERE lease_id = ?1", [id])?;
            }
            Op::Purge { now } => {
                let cutoff = now - self.limits.retention_s;
                let deleted = db::purge_before(tx, cutoff, PURGE_CHUNK)?;
                if deleted > 0 {
                    tracing::info!(deleted, "purged expired history");
                }
                // A full chunk means more to go: the worker goes on between batches.
                self.outgoing.purge_more = Some(deleted == PURGE_CHUNK);
            }
            Op::IndexNew => {
                let (upto, _) = fts::index_new(tx, INDEX_CHUNK)?;
                self.outgoing.indexed_upto = Some(upto);
            }
            Op::IndexOld => {
                self.outgoing.old_unindexed = Some(fts::index_old(tx, INDEX_CHUNK)?);
            }
        }
        Ok(())
    }

    fn answer(&mut self, to: ConnId, id: ReplyId, query: Query) -> anyhow::Result<()> {
        match query {
            Query::History {
                address,
                since,
                limit,
            } => {
                if let Some(id) = id {
                    let until = *self.last_seq;
                    let read = Read::History {
                        id,
                        address,
                        since,
                        limit,
                        until,
                    };
                    self.outgoing.read(to, read);
                }
            }
            Query::Search { query, scope } => {
                // A search sees every message answered before it.
                let (upto, _) = fts::index_new(self.tx, SEARCH_CATCH_UP)?;
                self.outgoing.indexed_upto = Some(upto);
                if let Some(id) = id {
                    let until = *self.last_seq;
                    self.outgoing.read(
                        to,
                        Read::Search {
                            id,
                            query,
                            scope,
                            until,
                        },
                    );
                }
            }
            Query::Thread { message_id, limit } => {
                let messages = db::thread(self.tx, &message_id, limit)?;
                self.outgoing
                    .respond(to, id, &peer_proto::api::HistoryResult { messages });
            }
            Query::Peek { addresses, limit } => {
                let messages = db::unread(self.tx, &addresses, limit)?;
                self.outgoing.respond(to, id, &PeekResult { messages });
            }
            Query::ListTopics { subscribers } => {
                let topics = self.list_topics(subscribers)?;
                self.outgoing.respond(to, id, &ListTopicsResult { topics });
            }
            Query::Status(live) => {
                let status = self.status(live)?;
                self.outgoing.respond(to, id, &status);
            }
            Query::Ack { message_ids } => {
                let acked = self.ack(to, &message_ids)?;
                self.outgoing
                    .respond(to, id, &AckResult { acked, ok: true });
            }
        }
        Ok(())
    }

    fn insert(&mut self, message: &Message, kind: Kind, queued: bool) -> rusqlite::Result<()> {
        let state = if queued { State::Queued } else { State::Done };
        db::insert(self.tx, message, kind, state, message.ts)?;
        *self.last_seq = message.seq.unwrap_or(*self.last_seq);
        match kind {
            Kind::Topic => db::trim_ring(self.tx, &message.to, self.limits.topic_maxlen)?,
            Kind::Dm if queued => db::trim_queue(self.tx, &message.to, self.limits.dm_maxlen)?,
            Kind::Dm => 0,
        };
        Ok(())
    }

    /// A DM handed to an ack-mode connection stays held (on disk too, so a
    /// crash cannot lose it) until that connection acknowledges it.
    fn hold_if_acked(&mut self, to: ConnId, out: &Out) -> rusqlite::Result<()> {
        if let (Some(seq), true) = (out.dm_seq(), self.acks.enabled(to)) {
            if self.acks.hold(to, seq) {
                db::set_state(self.tx, seq, State::Held)?;
            }
        }
        Ok(())
    }

    /// Settles the DMs `conn` acknowledges; returns how many it was holding.
    fn ack(&mut self, conn: ConnId, message_ids: &[String]) -> rusqlite::Result<usize> {
        let mut acked = 0;
        for message_id in message_ids {
            let Some(seq) = db::seq_of(self.tx, message_id)? else {
                continue;
            };
            match self.acks.ack(conn, seq) {
                Some(true) => db::settle(self.tx, seq)?,
                Some(false) => {}
                None => continue,
            }
            acked += 1;
        }
        Ok(acked)
    }

    /// Topics with subscribers or stored messages, by name.
    fn list_topics(
        &self,
        subscribers: BTreeMap<String, usize>,
    ) -> rusqlite::Result<Vec<TopicEntry>> {
        let mut topics: BTreeMap<String, (usize, Option<f64>)> = subscribers
            .into_iter()
            .map(|(name, n)| (name, (n, None)))
            .collect();
        for (name, ts) in db::topics(self.tx)? {
            topics.entry(name).or_insert((0, None)).1 = Some(ts);
        }
        Ok(topics
            .into_iter()
            .map(|(name, (subscribers, last_message_at))| TopicEntry {
                last_message_at,
                name,
                subscribers,
            })
            .collect())
    }

    fn status(&self, live: LiveStatus) -> anyhow::Result<StatusResult> {
        let mut names: BTreeSet<String> =
            db::topics(self.tx)?.into_iter().map(|(n, _)| n).collect();
        names.extend(live.topics_subscribed);
        let db_bytes: u64 = ["", "-wal"]
            .iter()
            .filter_map(|suffix| std::fs::metadata(db_file(&self.limits.db_path, suffix)).ok())
            .map(|m| m.len())
            .sum();
        Ok(StatusResult {
            connections: live.connections,
            db_bytes,
            pid: std::process::id(),
            queued_dms: u64::try_from(db::queued_count(self.tx)?)?,
            server_version: VERSION.to_owned(),
            sessions: live.sessions,
            topics: names.len(),
            unindexed: u64::try_from(fts::pending(self.tx)?)?,
            federation: match self.federation {
                Some(link) => {
                    let mut status = link.get();
                    status.backlog = fed::backlog(self.tx)?;
                    Some(status)
                }
                None => None,
            },
            uptime_s: live.uptime_s,
        })
    }
}
