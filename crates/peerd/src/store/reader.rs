//! Large reads off the event thread: topic replays, `peer.history` and
//! `peer.search` answers
//! are read on a thread of their own, with a read-only connection of their
//! own, so a client asking for hundreds of megabytes does not hold up every
//! other client's round trip (the event thread only hands the finished frames
//! to the connection).
//!
//! Order is kept by the outboxes: everything the connection would have been
//! sent after the read waits behind it there (`Outboxes::begin_read`). Each
//! read sees the database as of its batch: it is started after that batch has
//! committed, and reads no message numbered after the last one the batch
//! knew (`until`), so a message routed live meanwhile is not also replayed.

use super::{db, fts};
use crate::op::SearchScope;
use crate::outbox::{ConnId, Out};
use bytes::Bytes;
use peer_proto::api::HistoryResult;
use peer_proto::rpc::{error_frame, notification_frame, response_frame};
use peer_proto::{method, ErrorCode, RpcError};
use rusqlite::{Connection, OpenFlags};
use serde_json::value::RawValue;
use std::path::Path;
use std::sync::mpsc;

/// What to read.
#[derive(Debug)]
pub(crate) enum Read {
    /// A topic replay: the messages after `since` (the whole ring when that id
    /// is no longer in it), else the newest `last`.
    Replay {
        address: String,
        last: u64,
        since: Option<String>,
        ring: u32,
        until: i64,
    },
    /// `peer.history`: one response frame to request `id`.
    History {
        id: Box<RawValue>,
        address: String,
        since: Option<String>,
        limit: u32,
        until: i64,
    },
    /// `peer.search`: one response frame to request `id`.
    Search {
        id: Box<RawValue>,
        query: String,
        scope: SearchScope,
        until: i64,
    },
}

impl Read {
    /// The answer a request of a failed batch gets instead (a replay has none
    /// of its own: its subscribe is answered).
    pub(crate) fn answer_on_failure(&self, failure: &RpcError) -> Option<Out> {
        match self {
            Read::History { id, .. } | Read::Search { id, .. } => {
                Some(Out::Frame(Bytes::from(error_frame(Some(id), failure))))
            }
            Read::Replay { .. } => None,
        }
    }
}

/// A read to do for connection `conn`, whose outbox holds its place under
/// `ticket`.
#[derive(Debug)]
pub(crate) struct ReadJob {
    pub(crate) conn: ConnId,
    pub(crate) ticket: u64,
    pub(crate) read: Read,
}

/// A read done: the frames that take its place.
#[derive(Debug)]
pub(crate) struct ReadDone {
    pub(crate) conn: ConnId,
    pub(crate) ticket: u64,
    pub(crate) frames: Vec<Out>,
}

/// The reading thread; it ends when the [`Reader`] is dropped.
pub(crate) struct Reader {
    jobs: mpsc::Sender<ReadJob>,
}

impl Reader {
    /// Opens a read-only connection to the database at `path` and starts the
    /// thread; each finished read is handed to `done`.
    pub(crate) fn start(
        path: &Path,
        done: impl Fn(ReadDone) + Send + 'static,
    ) -> anyhow::Result<Reader> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let (jobs, rx) = mpsc::channel::<ReadJob>();
        std::thread::Builder::new()
            .name("peerd-reader".into())
            .spawn(move || {
                for job in rx {
                    // A bug in a read must not leave the connection waiting
                    // behind it forever: it gets the error answer instead.
                    let failure = RpcError::new(ErrorCode::InternalError, "internal error reading");
                    let fallback = job.read.answer_on_failure(&failure);
                    let read = job.read;
                    let frames =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&conn, read)))
                            .unwrap_or_else(|_| {
                                tracing::error!(
                                    "a read failed unexpectedly; answered with an error"
                                );
                                fallback.into_iter().collect()
                            });
                    done(ReadDone {
                        conn: job.conn,
                        ticket: job.ticket,
                        frames,
                    });
                }
            })?;
        Ok(Reader { jobs })
    }

    /// Queues `job`; reads are done in the order they are submitted.
    pub(crate) fn submit(&self, job: ReadJob) {
        // The thread only stops when this sender is dropped.
        let _ = self.jobs.send(job);
    }
}

/// The frames of one read; a failure is logged and, for history, answered.
fn run(conn: &Connection, read: Read) -> Vec<Out> {
    match read {
        Read::Replay {
            address,
            last,
            since,
            ring,
            until,
        } => {
            let found = match since {
                Some(id) => db::history(conn, &address, Some(&id), ring, until),
                None => db::last(conn, &address, last.min(ring.into()), until),
            };
            match found {
                Ok(messages) => messages
                    .iter()
                    .map(|m| Out::Backlog {
                        frame: Bytes::from(notification_frame(method::MESSAGE, m)),
                        seq: None,
                    })
                    .collect(),
                Err(e) => {
                    tracing::error!("replaying {address} failed: {e}");
                    Vec::new()
                }
            }
        }
        Read::History {
            id,
            address,
            since,
            limit,
            until,
        } => {
            let found = db::history(conn, &address, since.as_deref(), limit, until);
            answer(&id, found, || format!("reading the history of {address}"))
        }
        Read::Search {
            id,
            query,
            scope,
            until,
        } => {
            let found = fts::search(conn, &query, &scope, until);
            answer(&id, found, || format!("searching for {query}"))
        }
    }
}

/// The answer to request `id` with the messages `found`; a failure (of
/// `doing`) is logged and answered with an internal error.
fn answer(
    id: &RawValue,
    found: rusqlite::Result<Vec<peer_proto::Message>>,
    doing: impl FnOnce() -> String,
) -> Vec<Out> {
    let frame = match found {
        Ok(messages) => response_frame(id, &HistoryResult { messages }),
        Err(e) => {
            let doing = doing();
            tracing::error!("{doing} failed: {e}");
            let error = RpcError::new(ErrorCode::InternalError, format!("storage failure {doing}"));
            error_frame(Some(id), &error)
        }
    };
    vec![Out::Frame(Bytes::from(frame))]
}
