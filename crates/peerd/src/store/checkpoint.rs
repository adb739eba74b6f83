//! WAL checkpoints on a thread of their own.
//!
//! A checkpoint copies committed pages from the WAL into the database file and
//! fsyncs it: milliseconds, where a commit takes microseconds. SQLite runs one
//! inside a commit whenever the WAL passes 1000 pages, which stalled every client
//! of the daemon for that long. The store turns that off and this thread runs
//! passive checkpoints on its own connection instead: they never block the
//! writer, and a WAL that has been fully copied is reused from its start by the
//! next commit, so it stays as small as the traffic between two checkpoints;
//! under traffic that never pauses, a restarting checkpoint bounds it.

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

/// The bytes before each page in the WAL.
const WAL_FRAME_HEADER: u64 = 24;
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
    /// Checkpoints `db_path` every `every`, restarting a log of more than
    /// `restart_bytes` (the store passes [`CHECKPOINT_INTERVAL`] and
    /// [`WAL_RESTART_BYTES`]).
    pub(crate) fn start(
        db_path: &Path,
        every: Duration,
        restart_bytes: u64,
    ) -> anyhow::Result<Checkpointer> {
        let conn = Connection::open(db_path)
            .with_context(|| format!("opening {} for checkpoints", db_path.display()))?;
        conn.pragma_update(None, "busy_timeout", RESTART_PATIENCE_MS)?;
        // A checkpoint streams pages from the WAL to the database; it gains
        // nothing from a page cache of its own.
        conn.pragma_update(None, "cache_size", CHECKPOINT_CACHE_KIB)?;
        let page: u64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
        let frame_bytes = page + WAL_FRAME_HEADER;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("peerd-checkpoint".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    if let Err(e) = checkpoint(&conn, frame_bytes, restart_bytes) {
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

/// A passive checkpoint; then, if the log holds more than `restart_bytes`
/// of frames, a restarting one.
///
/// A writer reuses the log from its start only when it begins a transaction
/// with the whole log copied. Under traffic that never pauses for the length
/// of a checkpoint (a round trip every few hundred microseconds is enough),
/// each passive checkpoint copies the whole log it saw, but a commit has
/// always appended to it by the time the next transaction begins: the log
/// then only grows, and every commit appends to the file instead of
/// overwriting pages the kernel has cached (the cross-node round trip's
/// daemons grew it past 150 MB in two seconds). The restart holds the writer
/// back only for the frames the passive checkpoint left and a sync. It goes
/// by the log's frames, not the file's size: a file left large by a burst
/// holds a short log once a pause let the writer reuse it, and restarting
/// it then would stall every client for nothing.
fn checkpoint(conn: &Connection, frame_bytes: u64, restart_bytes: u64) -> rusqlite::Result<()> {
    // (busy, frames in the log, frames copied)
    let log: u64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    if log.saturating_mul(frame_bytes) > restart_bytes {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A writer that never pauses for the length of a checkpoint, as under
    /// sustained traffic (between its commits it only works for a moment, as
    /// the event loop does): the log must still be restarted, so the file
    /// stays near the bound instead of growing with everything written.
    #[test]
    fn a_writer_that_never_pauses_does_not_grow_the_log_without_bound() {
        const RESTART: u64 = 256 * 1024;
        const WRITTEN: u64 = 24 * 1024 * 1024;
        const ROW: usize = 2048;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = super::super::schema::open(&path).unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .pragma_update(None, "journal_size_limit", RESTART as i64)
            .unwrap();
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB NOT NULL)")
            .unwrap();
        let _checkpointer = Checkpointer::start(&path, Duration::from_millis(20), RESTART).unwrap();
        let wal = super::super::db_file(&path, "-wal");
        let (mut written, mut largest) = (0, 0);
        let deadline = Instant::now() + Duration::from_secs(60);
        while written < WRITTEN && Instant::now() < deadline {
            writer
                .execute("INSERT INTO t (b) VALUES (?1)", [vec![7u8; ROW]])
                .unwrap();
            written += ROW as u64;
            std::thread::sleep(Duration::from_micros(50));
            if written % (64 * ROW as u64) == 0 {
                // Keep the table small, so that the log's pages are few.
                writer.execute("DELETE FROM t", []).unwrap();
                largest = largest.max(std::fs::metadata(&wal).unwrap().len());
            }
        }
        assert!(written >= WRITTEN, "wrote only {written} bytes in a minute");
        // Each row's commit appends about five times its size to the log (the
        // old rule let it reach 251 MB for 48 MiB of rows); restarted every
        // 20 ms, it stays within a few megabytes. The margin is for a loaded
        // machine that starves the checkpoint thread.
        assert!(
            largest < WRITTEN,
            "the log reached {largest} bytes for {written} written"
        );
    }
}
