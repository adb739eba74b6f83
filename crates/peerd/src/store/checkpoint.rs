//! WAL checkpoints on a thread of their own.
//!
//! A checkpoint copies committed pages from the WAL into the database file and
//! fsyncs it: milliseconds, where a commit takes microseconds. SQLite runs one
//! inside a commit whenever the WAL passes 1000 pages, which stalled every client
//! of the daemon for that long. The store turns that off and this thread runs
//! passive checkpoints on its own connection instead: they never block the
//! writer, and a WAL that has been fully copied is reused from its start by the
//! next commit, so it stays as small as the traffic between two checkpoints.

use anyhow::Context;
use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the WAL is folded into the database.
pub(crate) const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);
/// Page cache of the checkpoint connection, as SQLite's negative KiB count.
const CHECKPOINT_CACHE_KIB: i64 = -64;
/// WAL size past which a checkpoint also restarts the log. Passive checkpoints
/// never catch up with a writer that never pauses, so under sustained traffic the
/// WAL would only grow; a restart briefly holds the writer back to bound it.
pub(crate) const WAL_RESTART_BYTES: u64 = 32 * 1024 * 1024;

/// How long a restarting checkpoint waits for readers to leave the old log
/// (its busy handler). It holds every writer back while it waits, so a long
/// read off the event thread (a large replay) would stall every client for as
/// long; past this it goes on as a passive checkpoint and restarts later.
const RESTART_PATIENCE_MS: u32 = 20;

/// The running checkpoint thread; stops (and is joined) when dropped.
pub(crate) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(crate) fn start(db_path: &Path) -> anyhow::Result<Checkpointer> {
        let wal = super::db_file(db_path, "-wal");
        let conn = Connection::open(db_path)
            .with_context(|| format!("opening {} for checkpoints", db_path.display()))?;
        conn.pragma_update(None, "busy_timeout", RESTART_PATIENCE_MS)?;
        // A checkpoint streams pages from the WAL to the database; it gains
        // nothing from a page cache of its own.
        conn.pragma_update(None, "cache_size", CHECKPOINT_CACHE_KIB)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("peerd-checkpoint".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_INTERVAL)
                {
                    if let Err(e) = checkpoint(&conn, &wal) {
                        tracing::warn!("checkpoint failed: {e}");
                    }
                }
            })
            .context("starting the checkpoint thread")?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// A passive checkpoint; then, only if it could not copy the whole log and
/// the log is past [`WAL_RESTART_BYTES`], a restarting one. A restart holds
/// the writer back while it copies and syncs (a third of a second for a
/// 100 MiB log here), so it is kept for a writer that never lets a passive
/// checkpoint catch up; a log copied whole is reused from its start by the
/// next commit anyway.
fn checkpoint(conn: &Connection, wal: &Path) -> rusqlite::Result<()> {
    // (busy, frames in the log, frames copied)
    let (log, copied): (i64, i64) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })?;
    let big = std::fs::metadata(wal).is_ok_and(|m| m.len() > WAL_RESTART_BYTES);
    if big && copied < log {
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    }
    Ok(())
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
