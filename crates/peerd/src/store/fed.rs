//! The SQL of federation (SPEC §16): the outbox of messages for other nodes
//! and where each consumer of JetStream resumes.

use crate::op::Kind;
use rusqlite::{params, Connection, OptionalExtension};

fn consumer(kind: Kind) -> &'static str {
    match kind {
        Kind::Dm => "dm",
        Kind::Topic => "topic",
    }
}

/// Queues an envelope to publish on `subject`, after every one queued
/// before, and returns its id.
pub(crate) fn enqueue(
    c: &Connection,
    subject: &str,
    msg_id: &str,
    payload: &[u8],
) -> rusqlite::Result<i64> {
    c.prepare_cached("INSERT INTO fed_outbox (subject, msg_id, payload) VALUES (?1, ?2, ?3)")?
        .execute(params![subject, msg_id, payload])?;
    Ok(c.last_insert_rowid())
}

/// Forgets outbox rows JetStream has acknowledged.
pub(crate) fn sent(c: &Connection, ids: &[i64]) -> rusqlite::Result<()> {
    let mut delete = c.prepare_cached("DELETE FROM fed_outbox WHERE id = ?1")?;
    for id in ids {
        delete.execute([id])?;
    }
    Ok(())
}

/// How many messages wait in the outbox.
pub(crate) fn backlog(c: &Connection) -> rusqlite::Result<u64> {
    c.prepare_cached("SELECT count(*) FROM fed_outbox")?
        .query_row([], |r| r.get(0))
}

/// Notes that the consumer of `kind` has stored everything up to `stream_seq`.
pub(crate) fn set_offset(c: &Connection, kind: Kind, stream_seq: u64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO fed_offsets (consumer, stream_seq) VALUES (?1, ?2)
         ON CONFLICT(consumer) DO UPDATE SET stream_seq = max(stream_seq, excluded.stream_seq)",
    )?
    .execute(params![consumer(kind), stream_seq as i64])?;
    Ok(())
}

/// The last stream sequence the consumer of `kind` stored (0: none yet).
pub(crate) fn offset(c: &Connection, kind: Kind) -> rusqlite::Result<u64> {
    let seq: Option<i64> = c
        .prepare_cached("SELECT stream_seq FROM fed_offsets WHERE consumer = ?1")?
        .query_row([consumer(kind)], |r| r.get(0))
        .optional()?;
    Ok(seq.map_or(0, |s| s as u64))
}
