//! The outbox to JetStream: every DM for another node and every publish is
//! written to `fed_outbox` in the transaction that stores it (so it is
//! durable before its sender is answered); this task publishes the rows in
//! order, each once JetStream has acknowledged the one before, and has the
//! event loop delete them. With NATS down the rows wait, in order, however
//! long it takes.

use crate::event_loop::Inbound;
use async_nats::jetstream::{self, context::PublishError, publish::PublishAck};
use rusqlite::Connection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};

/// Rows read from the outbox at a time; those acknowledged are handed to the
/// event loop together, to be deleted in one transaction.
const OUTBOX_BATCH: usize = 256;
/// How long the task waits before looking at the outbox again when nothing
/// woke it (a safety net: every commit that adds rows wakes it).
const IDLE_RECHECK: Duration = Duration::from_secs(5);
/// The pause before publishing again after a failure (NATS down or slow).
const RETRY_AFTER: Duration = Duration::from_millis(500);

struct Row {
    id: i64,
    subject: String,
    msg_id: String,
    payload: Vec<u8>,
}

/// Publishes the outbox until the event loop goes away. `connections`
/// changes at each connection to NATS ([`super::LinkState::connections`]).
pub(crate) async fn run(
    db: Connection,
    js: jetstream::Context,
    wake: Arc<Notify>,
    mut connections: watch::Receiver<u64>,
    to_loop: mpsc::Sender<Inbound>,
) {
    // Rows after this one have not been published since start-up; those up to
    // it are acknowledged and waiting to be deleted.
    let mut after = 0;
    loop {
        let rows = match read(&db, after) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!("reading the federation outbox: {e}");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        if rows.is_empty() {
            let _ = tokio::time::timeout(IDLE_RECHECK, wake.notified()).await;
            continue;
        }
        let sent = publish(&js, &mut connections, &rows).await;
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
            tokio::time::sleep(RETRY_AFTER).await;
        } else if rows.len() < OUTBOX_BATCH {
            // All there was is sent: a commit since then left a wake-up, so
            // there is no need to look (a read on a connection whose cache
            // every commit empties) before waiting.
            let _ = tokio::time::timeout(IDLE_RECHECK, wake.notified()).await;
        }
    }
}

/// Publishes `rows` in order, each once JetStream has stored the one before,
/// and returns the ids of those acknowledged, up to the first that was not:
/// the rest go again, in order, next time (JetStream drops a repeat of a
/// message id it has stored).
///
/// One at a time, because publishing ahead of the acknowledgements can store
/// them out of order: if the connection drops, what was already written to
/// it is lost while the client sends what it still held on the next one, so
/// later rows land before the lost ones go again (and a stream without a
/// leader for a moment refuses one publish but may take the next).
async fn publish(
    js: &jetstream::Context,
    connections: &mut watch::Receiver<u64>,
    rows: &[Row],
) -> Vec<i64> {
    let mut sent = Vec::with_capacity(rows.len());
    for row in rows {
        // This row goes out on the current connection.
        connections.borrow_and_update();
        let stored = tokio::select! {
            stored = store(js, row) => stored,
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
        sent.push(row.id);
    }
    sent
}

/// Publishes `row` and waits until JetStream has stored it.
async fn store(js: &jetstream::Context, row: &Row) -> Result<PublishAck, PublishError> {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(async_nats::header::NATS_MESSAGE_ID, row.msg_id.as_str());
    js.publish_with_headers(row.subject.clone(), headers, row.payload.clone().into())
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
