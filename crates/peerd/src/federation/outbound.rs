//! The outbox to JetStream: every DM for another node and every publish is
//! written to `fed_outbox` in the transaction that stores it (so it is
//! durable before its sender is answered), and a copy is handed to this task
//! once that commits ([`super::handoff`]); this task publishes the rows in
//! order, each run of rows for one subject as one envelope, each envelope
//! once JetStream has acknowledged the one before, and has the event loop
//! delete them. With NATS down the rows wait, in order, however long it
//! takes; when it returns, a backlog goes out in a few large publishes.

use super::handoff::{Handed, Handoff, Row};
use crate::event_loop::Inbound;
use async_nats::jetstream::{self, context::PublishError, publish::PublishAck};
use rusqlite::Connection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Rows published at a time; those acknowledged are handed to the event loop
/// together, to be deleted in one transaction.
const OUTBOX_BATCH: usize = 256;
/// How long the task waits before looking at the handed rows again when
/// nothing woke it (a safety net: every commit that adds rows wakes it).
const IDLE_RECHECK: Duration = Duration::from_secs(5);
/// Most bytes of messages in one envelope: with the envelope, under NATS's
/// default `max_payload` (1 MiB), and at least one message of the largest
/// body that may cross ([`super::wire::MAX_BODY_BYTES`]) with room to spare.
const ENVELOPE_BYTES: usize = 768 * 1024;
/// Room left in a NATS message for the envelope around the messages and the
/// headers, when the server's `max_payload` is smaller than usual.
const ENVELOPE_SLACK: usize = 4 * 1024;
/// The pause before publishing again after a failure (NATS down or slow).
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Publishes the outbox until the event loop goes away. `connections`
/// changes at each connection to NATS ([`super::LinkState::connections`]).
pub(crate) async fn run(
    db: Connection,
    (js, origin): (jetstream::Context, String),
    handoff: Arc<Handoff>,
    mut connections: watch::Receiver<u64>,
    to_loop: mpsc::Sender<Inbound>,
) {
    // Rows up to this one are published (and acknowledged, and waiting to be
    // deleted); none after it has been published since start-up.
    let mut after = 0;
    // Whether the rows to publish next are read from the table rather than
    // taken from the copies handed over: at start-up (rows left by the last
    // run), after a failure, and once copies were dropped, until a read
    // finds the table's end.
    let mut reading = true;
    loop {
        let rows = if reading {
            // The table holds every row handed over (a row is handed over
            // once committed), so none of them is lost.
            handoff.clear();
            match read(&db, after) {
                Ok(rows) => {
                    reading = rows.len() == OUTBOX_BATCH;
                    rows
                }
                Err(e) => {
                    tracing::error!("reading the federation outbox: {e}");
                    tokio::time::sleep(RETRY_AFTER).await;
                    continue;
                }
            }
        } else {
            match handoff.take(OUTBOX_BATCH) {
                Handed::Rows(mut rows) => {
                    // Rows read from the table after they were handed over.
                    rows.retain(|r| r.id > after);
                    rows
                }
                Handed::Dropped => {
                    reading = true;
                    continue;
                }
            }
        };
        if rows.is_empty() {
            let _ = tokio::time::timeout(IDLE_RECHECK, handoff.handed.notified()).await;
            continue;
        }
        let sent = publish(&js, &origin, &mut connections, &rows).await;
        if let Some(last) = sent.last() {
            after = *last;
            if to_loop
                .send(Inbound::Forwarded(sent.clone()))
                .await
                .is_err()
            {
                return;
            }
        }
        if sent.len() < rows.len() {
            // The rest go again, in order, from the table.
            reading = true;
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }
}

/// Publishes `rows` in order, a run for one subject per envelope, each once
/// JetStream has stored the one before, and returns the ids of the rows
/// acknowledged, up to the first envelope that was not: the rest go again,
/// in order, next time. An envelope's id names its first and last message,
/// so JetStream drops a repeat of one it stored, and the receiver recognizes
/// messages it stored already if the rows are grouped differently next time.
///
/// One envelope at a time, because publishing ahead of the acknowledgements
/// can store them out of order: if the connection drops, what was already
/// written to it is lost while the client sends what it still held on the
/// next one, so later rows land before the lost ones go again (and a stream
/// without a leader for a moment refuses one publish but may take the next).
async fn publish(
    js: &jetstream::Context,
    origin: &str,
    connections: &mut watch::Receiver<u64>,
    rows: &[Row],
) -> Vec<i64> {
    // A server configured with a smaller max_payload gets smaller runs.
    let limit = match js.client().server_info().max_payload {
        0 => ENVELOPE_BYTES,
        max => ENVELOPE_BYTES.min(max.saturating_sub(ENVELOPE_SLACK)),
    };
    let mut sent = Vec::with_capacity(rows.len());
    for run in runs(rows, limit) {
        // This envelope goes out on the current connection.
        connections.borrow_and_update();
        let stored = tokio::select! {
            stored = store(js, origin, run) => stored,
            // What was written to a lost connection is never acknowledged:
            // publish it again now rather than after the acknowledgement's
            // timeout (5 s).
            Ok(()) = connections.changed() => {
                tracing::info!("NATS reconnected: publishing the outbox again");
                break;
            }
        };
        if let Err(e) = stored {
            tracing::warn!("publishing to JetStream failed, will retry: {e}");
            break;
        }
        sent.extend(run.iter().map(|r| r.id));
    }
    sent
}

/// `rows` cut into runs of one subject of at most `limit` bytes of messages
/// (a run always holds at least one row).
fn runs(rows: &[Row], limit: usize) -> Vec<&[Row]> {
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        let cut =
            i > start && (row.subject != rows[start].subject || bytes + row.payload.len() > limit);
        if cut {
            runs.push(&rows[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += row.payload.len();
    }
    if start < rows.len() {
        runs.push(&rows[start..]);
    }
    runs
}

/// Publishes `run` as one envelope and waits until JetStream has stored it.
async fn store(
    js: &jetstream::Context,
    origin: &str,
    run: &[Row],
) -> Result<PublishAck, PublishError> {
    let (first, last) = (&run[0], &run[run.len() - 1]);
    let id = match run.len() {
        1 => first.msg_id.clone(),
        _ => format!("{}..{}", first.msg_id, last.msg_id),
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
    let envelope = super::wire::seal(origin, run.iter().map(|r| r.payload.as_slice()));
    js.publish_with_headers(first.subject.clone(), headers, envelope.into())
        .await?
        .await
}

fn read(db: &Connection, after: i64) -> rusqlite::Result<Vec<Row>> {
    // The limit is written into the statement: the bundled SQLite prepares a
    // statement whose LIMIT is a bound parameter again each time it runs (a
    // bound LIMIT may change its plan).
    let sql = format!(
        "SELECT id, subject, msg_id, payload FROM fed_outbox WHERE id > ?1 ORDER BY id LIMIT {OUTBOX_BATCH}"
    );
    db.prepare_cached(&sql)?
        .query_map([after], |r| {
            Ok(Row {
                id: r.get(0)?,
                subject: r.get(1)?,
                msg_id: r.get(2)?,
                payload: r.get(3)?,
            })
        })?
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, subject: &str, bytes: usize) -> Row {
        Row {
            id,
            subject: subject.into(),
            msg_id: format!("m{id}"),
            payload: vec![b'x'; bytes],
        }
    }

    #[test]
    fn runs_keep_order_and_cut_at_a_new_subject_or_the_size() {
        let rows = [
            row(1, "a", 10),
            row(2, "a", 10),
            row(3, "b", 10),
            row(4, "a", ENVELOPE_BYTES - 5),
            row(5, "a", 10),
            row(6, "a", ENVELOPE_BYTES + 1),
        ];
        let ids: Vec<Vec<i64>> = runs(&rows, ENVELOPE_BYTES)
            .iter()
            .map(|run| run.iter().map(|r| r.id).collect())
            .collect();
        assert_eq!(ids, [vec![1, 2], vec![3], vec![4], vec![5], vec![6]]);
        assert!(runs(&[], ENVELOPE_BYTES).is_empty());
        let small: Vec<usize> = runs(&rows[..3], 15).iter().map(|r| r.len()).collect();
        assert_eq!(small, [1, 1, 1], "a smaller limit, smaller runs");
    }
}
