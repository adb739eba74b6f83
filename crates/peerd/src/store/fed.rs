//! The SQL of federation (SPEC §16): the outbox of messages for other nodes
//! and where each consumer of JetStream resumes.

use crate::federation::Position;
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

/// Moves the consumer of `kind` to `at`, if `at` is past where it is, and
/// says whether it moved: a place at or before it is a message read again,
/// stored already. The one rule of which place comes first is
/// [`Position::covers`].
pub(crate) fn advance(c: &Connection, kind: Kind, at: Position) -> rusqlite::Result<bool> {
    if offset(c, kind)?.covers(&at) {
        return Ok(false);
    }
    c.prepare_cached(
        "INSERT INTO fed_offsets (consumer, stream_seq, through) VALUES (?1, ?2, ?3)
         ON CONFLICT(consumer) DO UPDATE SET stream_seq = excluded.stream_seq,
                                             through = excluded.through",
    )?
    .execute(params![consumer(kind), at.stream_seq as i64, at.through])?;
    Ok(true)
}

/// Where the consumer of `kind` is (stream sequence 0: nothing stored yet).
pub(crate) fn offset(c: &Connection, kind: Kind) -> rusqlite::Result<Position> {
    let at: Option<(i64, Option<u32>)> = c
        .prepare_cached("SELECT stream_seq, through FROM fed_offsets WHERE consumer = ?1")?
        .query_row([consumer(kind)], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(at.map_or(Position::default(), |(seq, through)| Position {
        stream_seq: seq as u64,
        through,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_only_moves_forward() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::store::schema::open(&dir.path().join("t.db")).unwrap();
        let at = |stream_seq, through| Position {
            stream_seq,
            through,
        };
        assert_eq!(offset(&c, Kind::Dm).unwrap(), Position::default());
        let steps = [
            (at(5, Some(1)), at(5, Some(1))),
            (at(5, Some(3)), at(5, Some(3))),
            (at(5, Some(2)), at(5, Some(3))),
            (at(4, None), at(5, Some(3))),
            (at(5, None), at(5, None)),
            (at(5, Some(9)), at(5, None)),
            (at(6, Some(0)), at(6, Some(0))),
        ];
        for (noted, then) in steps {
            let moved = advance(&c, Kind::Dm, noted).unwrap();
            assert_eq!(moved, then == noted, "{noted:?}");
            assert_eq!(offset(&c, Kind::Dm).unwrap(), then, "after {noted:?}");
        }
        assert_eq!(offset(&c, Kind::Topic).unwrap(), Position::default());
    }
}
