//! Opening the database and bringing its schema up to date.
//!
//! The schema version lives in `PRAGMA user_version`; each entry of [`MIGRATIONS`]
//! moves it forward by one and runs in its own transaction, so a daemon can open a
//! database written by any older version and refuses one written by a newer one.

use anyhow::{bail, Context};
use rusqlite::Connection;
use std::path::Path;

/// Forward migrations; entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: messages (DM history, DM queues and pending acks as a state, topic rings)
    // and the topic index.
    "CREATE TABLE messages (
        seq        INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL,             -- ours encode seq (see foreign_ids)
        kind       INTEGER NOT NULL,          -- 0 DM, 1 topic
        to_addr    TEXT NOT NULL,
        from_addr  TEXT NOT NULL,
        from_alias TEXT,
        reply_to   TEXT,
        body       TEXT NOT NULL,             -- the sender's JSON text
        ts         REAL NOT NULL,
        stored_at  REAL NOT NULL,             -- retention counts from here
        state      INTEGER NOT NULL DEFAULT 0 -- DMs: 1 queued, 2 awaiting an ack
     );
     CREATE INDEX messages_by_address ON messages(to_addr, seq);
     CREATE INDEX messages_queued ON messages(to_addr, seq) WHERE state = 1;
     CREATE INDEX messages_pending ON messages(seq) WHERE state = 2;
     -- Message ids that do not encode their seq (imported from 0.1): the only ones
     -- that need an index to be found by id.
     CREATE TABLE foreign_ids (
        message_id TEXT PRIMARY KEY,
        seq        INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE topics (
        name    TEXT PRIMARY KEY,
        last_ts REAL NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
     ) WITHOUT ROWID;",
    // 2: path leases [ext]; `info` is the lease as announced (JSON).
    "CREATE TABLE leases (
        lease_id TEXT PRIMARY KEY,
        sid      TEXT NOT NULL,
        home     TEXT NOT NULL,
        expires  REAL NOT NULL,
        info     TEXT NOT NULL
     ) WITHOUT ROWID;",
    // 3: replies by the message they answer (peer.thread) [ext]; partial, so
    // messages that answer nothing cost no index write.
    "CREATE INDEX messages_by_reply ON messages(reply_to) WHERE reply_to IS NOT NULL;",
    // 4: full-text search (peer.search) [ext]. Contentless: the bodies stay in
    // `messages` alone, the index has only tokens, keyed by seq. The rows
    // indexed are the seqs from `fts_backfill_below` to `fts_indexed_upto`
    // (see `store::fts`): both start at the newest row, so the rows already
    // stored wait below and new ones above; a deleted row has tokens to
    // delete only inside that range.
    "CREATE VIRTUAL TABLE messages_fts USING fts5(
        text, content = '', contentless_delete = 1,
        tokenize = 'unicode61 remove_diacritics 2'
     );
     INSERT INTO meta (key, value)
        SELECT 'fts_backfill_below', coalesce(max(seq), 0) + 1 FROM messages;
     INSERT INTO meta (key, value)
        SELECT 'fts_indexed_upto', coalesce(max(seq), 0) FROM messages;
     CREATE TRIGGER messages_fts_forget AFTER DELETE ON messages
        WHEN old.seq BETWEEN (SELECT value FROM meta WHERE key = 'fts_backfill_below')
                         AND (SELECT value FROM meta WHERE key = 'fts_indexed_upto')
        BEGIN DELETE FROM messages_fts WHERE rowid = old.seq; END;",
    // 5: federation [ext]. The outbox of messages for other nodes, in the
    // order they are to be published (JSON envelopes, see
    // `federation::wire`), and, per consumer (`dm`, `topic`), the last
    // JetStream stream sequence stored here: where to resume.
    // AUTOINCREMENT: an id is never handed out twice, even once the table is
    // empty, so the publisher's cursor never skips a new row.
    "CREATE TABLE fed_outbox (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        subject TEXT NOT NULL,
        msg_id  TEXT NOT NULL,
        payload BLOB NOT NULL
     );
     CREATE TABLE fed_offsets (
        consumer   TEXT PRIMARY KEY,
        stream_seq INTEGER NOT NULL
     ) WITHOUT ROWID;",
    // 6: a consumer's place within an envelope (`federation::Position`):
    // NULL, the whole envelope `stream_seq` is stored; else its messages up
    // to this one.
    "ALTER TABLE fed_offsets ADD COLUMN through INTEGER;",
];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Opens (creating if needed) the database at `path` in WAL mode and migrates it.
///
/// `synchronous = NORMAL` in WAL mode makes every commit reach the OS before the
/// daemon answers, so an answered message survives the daemon being killed; it
/// trades the last moments before a power cut for not calling fsync per batch.
pub(crate) fn open(path: &Path) -> anyhow::Result<Connection> {
    let mut conn =
        Connection::open(path).with_context(|| format!("opening database {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let current: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        bail!(
            "database schema version {current} is newer than this daemon's {SCHEMA_VERSION}; \
             upgrade blemees-peerd"
        );
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("migrating schema to version {}", version + 1))?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_migrates_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = open(&path).unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let v: usize = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        drop(conn);
        open(&path).unwrap();
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let err = open(&path).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
    }
}
