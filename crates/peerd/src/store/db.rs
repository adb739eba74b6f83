//! The SQL of the store: each function is one operation on an open connection (or
//! transaction), so the batching worker can compose them and tests can exercise
//! them on a real file without the rest of the daemon.

use crate::op::Kind;
use peer_proto::identity::message_id_seq;
use peer_proto::Message;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::value::RawValue;
use std::collections::{BTreeSet, HashSet, VecDeque};

/// Where a DM stands; topic messages are always [`State::Done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// History only.
    Done = 0,
    /// Waiting in the queue of its `to` address.
    Queued = 1,
    /// Handed to an ack-mode connection, not yet acknowledged.
    Held = 2,
}

pub(super) const COLUMNS: &str =
    "seq, message_id, from_addr, from_alias, to_addr, body, reply_to, ts";

pub(super) fn message(row: &Row) -> rusqlite::Result<Message> {
    let body: String = row.get(5)?;
    let body = RawValue::from_string(body).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, e.into())
    })?;
    Ok(Message {
        seq: Some(row.get(0)?),
        message_id: row.get(1)?,
        from: row.get(2)?,
        from_alias: row.get(3)?,
        to: row.get(4)?,
        body,
        reply_to: row.get(6)?,
        ts: row.get(7)?,
    })
}

/// Stores `m` (whose `seq` is set) in `state`. `stored_at` is when this daemon
/// took it in: the message's own `ts`, except for messages imported from 0.1,
/// whose retention period starts at the import.
pub(crate) fn insert(
    c: &Connection,
    m: &Message,
    kind: Kind,
    state: State,
    stored_at: f64,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO messages
           (seq, message_id, kind, to_addr, from_addr, from_alias, reply_to, body, ts, stored_at, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        m.seq,
        m.message_id,
        kind as i64,
        m.to,
        m.from,
        m.from_alias,
        m.reply_to,
        m.body.get(),
        m.ts,
        stored_at,
        state as i64
    ])?;
    if message_id_seq(&m.message_id) != m.seq.and_then(|s| u64::try_from(s).ok()) {
        c.prepare_cached("INSERT INTO foreign_ids (message_id, seq) VALUES (?1, ?2)")?
            .execute(params![m.message_id, m.seq])?;
    }
    if kind == Kind::Topic {
        c.prepare_cached(
            "INSERT INTO topics (name, last_ts) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET last_ts = max(last_ts, excluded.last_ts)",
        )?
        .execute(params![m.to.strip_prefix("topic:").unwrap_or(&m.to), m.ts])?;
    }
    Ok(())
}

/// Keeps only the newest `maxlen` queued DMs of `to`; older ones stay in history.
pub(crate) fn trim_queue(c: &Connection, to: &str, maxlen: usize) -> rusqlite::Result<usize> {
    c.prepare_cached(
        "UPDATE messages SET state = 0 WHERE state = 1 AND to_addr = ?1 AND seq <=
           (SELECT seq FROM messages WHERE state = 1 AND to_addr = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
    )?
    .execute(params![to, maxlen as i64])
}

/// Keeps only the newest `maxlen` messages of the topic ring `to`.
pub(crate) fn trim_ring(c: &Connection, to: &str, maxlen: usize) -> rusqlite::Result<usize> {
    c.prepare_cached(
        "DELETE FROM messages WHERE to_addr = ?1 AND seq <=
           (SELECT seq FROM messages WHERE to_addr = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
    )?
    .execute(params![to, maxlen as i64])
}

/// Takes the queued DMs of `addresses`, oldest first across all of them, that pass
/// `accept`, moving them to `then`; those that do not pass stay queued.
pub(crate) fn take_queued(
    c: &Connection,
    addresses: &[String],
    accept: impl Fn(&Message) -> bool,
    then: State,
) -> rusqlite::Result<Vec<Message>> {
    let mut found = Vec::new();
    for to in addresses {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE state = 1 AND to_addr = ?1 ORDER BY seq"
        ))?;
        let rows = stmt.query_map([to], message)?;
        for m in rows {
            found.push(m?);
        }
    }
    found.retain(|m| accept(m));
    found.sort_by_key(|m| m.seq);
    for m in &found {
        set_state(c, m.seq.unwrap_or_default(), then)?;
    }
    Ok(found)
}

/// Moves one DM to `state`.
pub(crate) fn set_state(c: &Connection, seq: i64, state: State) -> rusqlite::Result<()> {
    c.prepare_cached("UPDATE messages SET state = ?2 WHERE seq = ?1 AND kind = 0")?
        .execute(params![seq, state as i64])?;
    Ok(())
}

/// Marks an acknowledged DM done, unless it went back to its queue meanwhile
/// (another holder disconnected without acknowledging it).
pub(crate) fn settle(c: &Connection, seq: i64) -> rusqlite::Result<()> {
    c.prepare_cached("UPDATE messages SET state = 0 WHERE seq = ?1 AND state = 2")?
        .execute([seq])?;
    Ok(())
}

/// The row of a message id.
///
/// Our ids encode their seq, so they are found through the table's own key; only
/// ids minted elsewhere (imported from 0.1) are looked up in `foreign_ids`. This
/// spares every insert an index write on a random-looking key.
pub(crate) fn seq_of(c: &Connection, message_id: &str) -> rusqlite::Result<Option<i64>> {
    if let Some(seq) = message_id_seq(message_id).and_then(|s| i64::try_from(s).ok()) {
        let ours: Option<i64> = c
            .prepare_cached("SELECT seq FROM messages WHERE seq = ?1 AND message_id = ?2")?
            .query_row(params![seq, message_id], |r| r.get(0))
            .optional()?;
        if ours.is_some() {
            return Ok(ours);
        }
    }
    c.prepare_cached(
        "SELECT f.seq FROM foreign_ids f JOIN messages m ON m.seq = f.seq WHERE f.message_id = ?1",
    )?
    .query_row([message_id], |r| r.get(0))
    .optional()
}

/// Puts every DM still awaiting an ack back in its queue: at start-up, because the
/// connections that held them belonged to a daemon that is gone.
pub(crate) fn requeue_all_held(c: &Connection) -> rusqlite::Result<usize> {
    c.execute("UPDATE messages SET state = 1 WHERE state = 2", [])
}

/// Puts messages back in their DM queues (they were handed to a connection that
/// closed before writing them).
pub(crate) fn requeue(c: &Connection, seqs: &[i64]) -> rusqlite::Result<()> {
    for seq in seqs {
        set_state(c, *seq, State::Queued)?;
    }
    Ok(())
}

/// The newest `n` messages to `to`, oldest first.
pub(crate) fn last(c: &Connection, to: &str, n: u64, until: i64) -> rusqlite::Result<Vec<Message>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT * FROM (SELECT {COLUMNS} FROM messages WHERE to_addr = ?1 AND seq <= ?3
                        ORDER BY seq DESC LIMIT ?2)
         ORDER BY seq"
    ))?;
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![to, n, until], message)?;
    rows.collect()
}

/// Up to `limit` messages to `to` after the message `since`, oldest first; when
/// `since` is absent or unknown, the newest `limit`. Only messages up to seq
/// `until`: a read made after later batches committed answers as of its own.
pub(crate) fn history(
    c: &Connection,
    to: &str,
    since: Option<&str>,
    limit: u32,
    until: i64,
) -> rusqlite::Result<Vec<Message>> {
    let anchor: Option<i64> = match since.map(|id| seq_of(c, id)).transpose()?.flatten() {
        Some(seq) => c
            .prepare_cached("SELECT seq FROM messages WHERE seq = ?1 AND to_addr = ?2")?
            .query_row(params![seq, to], |r| r.get(0))
            .optional()?,
        None => None,
    };
    let Some(anchor) = anchor else {
        return last(c, to, limit.into(), until);
    };
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM messages WHERE to_addr = ?1 AND seq > ?2 AND seq <= ?4
         ORDER BY seq LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![to, anchor, limit, until], message)?;
    rows.collect()
}

/// The conversation around `message_id`: its root (followed up through
/// `reply_to` while the answered message is stored), then every stored reply
/// to the root or to a reply, breadth first; at most `limit` messages, in
/// `seq` order. Empty when the message is not stored.
pub(crate) fn thread(
    c: &Connection,
    message_id: &str,
    limit: u32,
) -> rusqlite::Result<Vec<Message>> {
    let limit = limit as usize;
    let Some(start) = seq_of(c, message_id)? else {
        return Ok(Vec::new());
    };
    let mut answers = c.prepare_cached("SELECT reply_to FROM messages WHERE seq = ?1")?;
    let (mut root, mut climbed) = (start, HashSet::from([start]));
    while climbed.len() < limit {
        let parent: Option<String> = answers.query_row([root], |r| r.get(0))?;
        match parent.map(|p| seq_of(c, &p)).transpose()?.flatten() {
            Some(p) if climbed.insert(p) => root = p,
            _ => break,
        }
    }
    let mut id_of = c.prepare_cached("SELECT message_id FROM messages WHERE seq = ?1")?;
    let mut replies =
        c.prepare_cached("SELECT seq, message_id FROM messages WHERE reply_to = ?1 ORDER BY seq")?;
    let mut found = BTreeSet::from([root]);
    let mut queue = VecDeque::from([id_of.query_row([root], |r| r.get::<_, String>(0))?]);
    'walk: while let Some(id) = queue.pop_front() {
        let rows = replies.query_map([&id], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?)))?;
        for row in rows {
            let (seq, reply_id): (i64, String) = row?;
            if found.len() >= limit {
                break 'walk;
            }
            if found.insert(seq) {
                queue.push_back(reply_id);
            }
        }
    }
    // The start and its ancestors, should the walk down have stopped short.
    let mut seqs: Vec<i64> = found.into_iter().collect();
    for seq in climbed {
        if !seqs.contains(&seq) && seqs.len() < limit {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    let mut one = c.prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE seq = ?1"))?;
    seqs.iter()
        .map(|seq| one.query_row([seq], message))
        .collect()
}

/// DMs to any of `addresses` that nobody has read yet (queued, or held for an
/// ack), oldest first, at most `limit`. Reads only.
pub(crate) fn unread(
    c: &Connection,
    addresses: &[String],
    limit: u32,
) -> rusqlite::Result<Vec<Message>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM messages WHERE to_addr = ?1 AND state IN (1, 2) ORDER BY seq LIMIT ?2"
    ))?;
    let mut all = Vec::new();
    for to in addresses {
        let rows = stmt.query_map(params![to, limit], message)?;
        for m in rows {
            all.push(m?);
        }
    }
    all.sort_by_key(|m| m.seq);
    all.dedup_by(|a, b| a.message_id == b.message_id);
    all.truncate(limit as usize);
    Ok(all)
}

/// Every topic with stored messages, with the time of its newest.
pub(crate) fn topics(c: &Connection) -> rusqlite::Result<Vec<(String, f64)>> {
    let mut stmt = c.prepare_cached("SELECT name, last_ts FROM topics")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// How many DMs wait in queues.
pub(crate) fn queued_count(c: &Connection) -> rusqlite::Result<i64> {
    c.prepare_cached("SELECT count(*) FROM messages WHERE state = 1")?
        .query_row([], |r| r.get(0))
}

/// The highest `seq` ever handed out, so numbering goes on after a restart even if
/// the newest rows were purged.
pub(crate) fn max_seq(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row(
        "SELECT max(coalesce((SELECT max(seq) FROM messages), 0),
                    coalesce((SELECT value FROM meta WHERE key = 'max_seq'), 0))",
        [],
        |r| r.get(0),
    )
}

/// The number kept in `meta` under `key` (0 when there is none).
pub(super) fn meta(c: &Connection, key: &str) -> rusqlite::Result<i64> {
    c.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
        .map(|v| v.unwrap_or(0))
}

/// Keeps `value` in `meta` under `key`.
pub(super) fn set_meta(c: &Connection, key: &str, value: i64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// Deletes, among the oldest `chunk` messages, those stored before `cutoff` (seconds
/// since the epoch), and forgets topics left with no message. Returns how many
/// messages were deleted: fewer than `chunk` means none older is left.
///
/// Rows are stored in `seq` order and `stored_at` grows with `seq`, so expired rows
/// are always a prefix of the table: walking it from the start needs no index on
/// time, which would cost a page write on every insert.
pub(crate) fn purge_before(c: &Connection, cutoff: f64, chunk: usize) -> rusqlite::Result<usize> {
    set_meta(c, "max_seq", max_seq(c)?)?;
    let deleted = c
        .prepare_cached(
            "DELETE FROM messages WHERE stored_at < ?1
               AND seq IN (SELECT seq FROM messages ORDER BY seq LIMIT ?2)",
        )?
        .execute(params![cutoff, chunk as i64])?;
    if deleted > 0 {
        c.prepare_cached(
            "DELETE FROM topics WHERE NOT EXISTS
               (SELECT 1 FROM messages WHERE to_addr = 'topic:' || topics.name)",
        )?
        .execute([])?;
        c.prepare_cached(
            "DELETE FROM foreign_ids WHERE NOT EXISTS
               (SELECT 1 FROM messages WHERE messages.seq = foreign_ids.seq)",
        )?
        .execute([])?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema;

    fn msg(seq: i64, to: &str, ts: f64) -> Message {
        Message {
            message_id: format!("msg_{seq}"),
            from: "home:~#sess_abcdefghijklmnop".into(),
            from_alias: None,
            to: to.into(),
            body: RawValue::from_string(format!("{{\"n\":{seq}}}")).unwrap(),
            reply_to: None,
            ts,
            seq: Some(seq),
        }
    }

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let c = schema::open(&dir.path().join("t.db")).unwrap();
        (dir, c)
    }

    fn seqs(ms: &[Message]) -> Vec<i64> {
        ms.iter().map(|m| m.seq.unwrap()).collect()
    }

    #[test]
    fn queues_are_bounded_and_drained_oldest_first_across_addresses() {
        let (_d, c) = db();
        for seq in 1..=5 {
            insert(&c, &msg(seq, "home:~", 1.0), Kind::Dm, State::Queued, 1.0).unwrap();
            trim_queue(&c, "home:~", 3).unwrap();
        }
        insert(
            &c,
            &msg(6, "home:~#sess_abcdefghijklmnop", 1.0),
            Kind::Dm,
            State::Queued,
            1.0,
        )
        .unwrap();
        assert_eq!(queued_count(&c).unwrap(), 4);
        let addrs = [
            "home:~".to_string(),
            "home:~#sess_abcdefghijklmnop".to_string(),
        ];
        let skip_4 = |m: &Message| m.seq != Some(4);
        assert_eq!(
            seqs(&take_queued(&c, &addrs, skip_4, State::Done).unwrap()),
            vec![3, 5, 6]
        );
        assert_eq!(
            seqs(&take_queued(&c, &addrs, |_| true, State::Done).unwrap()),
            vec![4]
        );
        assert!(take_queued(&c, &addrs, |_| true, State::Done)
            .unwrap()
            .is_empty());
        requeue(&c, &[5]).unwrap();
        assert_eq!(
            seqs(&take_queued(&c, &addrs, |_| true, State::Done).unwrap()),
            vec![5]
        );
        // Delivered or dropped, DMs stay in history.
        assert_eq!(
            seqs(&history(&c, "home:~", None, 100, i64::MAX).unwrap()),
            vec![1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn rings_history_and_since() {
        let (_d, c) = db();
        for seq in 1..=8 {
            insert(
                &c,
                &msg(seq, "topic:t", seq as f64),
                Kind::Topic,
                State::Done,
                seq as f64,
            )
            .unwrap();
            trim_ring(&c, "topic:t", 5).unwrap();
        }
        assert_eq!(seqs(&last(&c, "topic:t", 2, i64::MAX).unwrap()), vec![7, 8]);
        assert_eq!(
            seqs(&history(&c, "topic:t", None, 100, i64::MAX).unwrap()),
            vec![4, 5, 6, 7, 8]
        );
        assert_eq!(
            seqs(&history(&c, "topic:t", Some("msg_5"), 2, i64::MAX).unwrap()),
            vec![6, 7]
        );
        assert_eq!(
            seqs(&history(&c, "topic:t", Some("msg_1"), 2, i64::MAX).unwrap()),
            vec![7, 8]
        );
        assert_eq!(topics(&c).unwrap(), vec![("t".to_string(), 8.0)]);
        assert_eq!(
            history(&c, "topic:t", None, 1, i64::MAX).unwrap()[0]
                .body
                .get(),
            "{\"n\":8}"
        );
    }

    #[test]
    fn purge_keeps_numbering_and_drops_empty_topics() {
        let (_d, c) = db();
        insert(
            &c,
            &msg(1, "topic:old", 10.0),
            Kind::Topic,
            State::Done,
            10.0,
        )
        .unwrap();
        insert(&c, &msg(2, "home:~", 10.0), Kind::Dm, State::Queued, 10.0).unwrap();
        insert(
            &c,
            &msg(3, "topic:new", 100.0),
            Kind::Topic,
            State::Done,
            100.0,
        )
        .unwrap();
        assert_eq!(purge_before(&c, 50.0, 1).unwrap(), 1);
        assert_eq!(purge_before(&c, 50.0, 10).unwrap(), 1);
        assert_eq!(purge_before(&c, 50.0, 10).unwrap(), 0);
        assert_eq!(topics(&c).unwrap(), vec![("new".to_string(), 100.0)]);
        assert_eq!(purge_before(&c, 500.0, 10).unwrap(), 1);
        assert_eq!(max_seq(&c).unwrap(), 3);
    }
}

#[cfg(test)]
mod ack_tests {
    use super::*;
    use crate::store::schema;

    #[test]
    fn held_dms_settle_on_ack_and_return_to_their_queue_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let c = schema::open(&dir.path().join("t.db")).unwrap();
        for seq in 1..=3 {
            let m = Message {
                message_id: format!("msg_{seq}"),
                from: "home:~#sess_abcdefghijklmnop".into(),
                from_alias: None,
                to: "home:~/q".into(),
                body: RawValue::from_string("1".into()).unwrap(),
                reply_to: None,
                ts: 1.0,
                seq: Some(seq),
            };
            insert(&c, &m, Kind::Dm, State::Queued, 1.0).unwrap();
        }
        let addrs = ["home:~/q".to_string()];
        let taken = take_queued(&c, &addrs, |_| true, State::Held).unwrap();
        assert_eq!(taken.len(), 3);
        assert_eq!(queued_count(&c).unwrap(), 0);
        assert_eq!(seq_of(&c, "msg_2").unwrap(), Some(2));
        assert_eq!(seq_of(&c, "msg_nope").unwrap(), None);
        settle(&c, 2).unwrap();
        // Settling never takes a DM out of its queue.
        requeue(&c, &[3]).unwrap();
        settle(&c, 3).unwrap();
        assert_eq!(queued_count(&c).unwrap(), 1);
        assert_eq!(
            requeue_all_held(&c).unwrap(),
            1,
            "only msg_1 was still held"
        );
        let again = take_queued(&c, &addrs, |_| true, State::Done).unwrap();
        assert_eq!(
            again.iter().map(|m| m.seq.unwrap()).collect::<Vec<_>>(),
            [1, 3]
        );
    }
}

#[cfg(test)]
mod id_tests {
    use super::*;
    use crate::store::schema;
    use peer_proto::identity::mint_message_id;

    #[test]
    fn ids_are_found_by_their_seq_or_through_foreign_ids() {
        let dir = tempfile::tempdir().unwrap();
        let c = schema::open(&dir.path().join("t.db")).unwrap();
        let mut m = Message {
            message_id: mint_message_id(7),
            from: "home:~#sess_abcdefghijklmnop".into(),
            from_alias: None,
            to: "topic:t".into(),
            body: RawValue::from_string("1".into()).unwrap(),
            reply_to: None,
            ts: 1.0,
            seq: Some(7),
        };
        insert(&c, &m, Kind::Topic, State::Done, 1.0).unwrap();
        let ours = m.message_id.clone();
        // An id from 0.1 whose first characters happen to look like ours.
        m.message_id = "msg_00000007ForeignId".replace("ForeignId", "Zz9_Zz9-");
        m.seq = Some(8);
        insert(&c, &m, Kind::Topic, State::Done, 1.0).unwrap();
        let foreign = m.message_id.clone();
        assert_eq!(seq_of(&c, &ours).unwrap(), Some(7));
        assert_eq!(seq_of(&c, &foreign).unwrap(), Some(8));
        assert_eq!(
            seq_of(&c, &mint_message_id(7)).unwrap(),
            None,
            "right seq, wrong id"
        );
        assert_eq!(seq_of(&c, "msg_unknown").unwrap(), None);
        let fk: i64 = c
            .query_row("SELECT count(*) FROM foreign_ids", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1, "only the foreign id is indexed");
        assert_eq!(
            history(&c, "topic:t", Some(&ours), 10, i64::MAX).unwrap()[0].seq,
            Some(8)
        );
        assert!(history(&c, "topic:other", Some(&ours), 10, i64::MAX)
            .unwrap()
            .is_empty());
    }
}
