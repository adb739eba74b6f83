//! The event loop: the I/O half of the router. It takes every event that has
//! arrived (up to [`STORE_BATCH`]), reads the clock, has the router turn each
//! into operations, and has the store commit all of them in one transaction
//! before their frames go out. It owns the connections' outboxes, so neither
//! the router nor its operations hold a channel. Runs on the daemon's event
//! thread beside the connections, so no event waits for a thread to wake.

use crate::clock::Now;
use crate::config::{BACKGROUND_EVERY, QUIET_BEFORE_INDEX, STORE_BATCH};
use crate::op::Op;
use crate::outbox::Out;
use crate::outbox::{ConnId, Outbox};
use crate::outboxes::Outboxes;
use crate::router::{Event, Router};
use crate::store::reader::{ReadDone, Reader};
use crate::store::Store;
use crate::trim::Trimmer;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};

/// What connection tasks, the purge timer and shutdown send to the loop.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A connection was accepted: its outbox joins the loop's registry.
    Open { conn: ConnId, outbox: Outbox },
    /// An event for the router. `permit` is the request line's share of the
    /// in-flight byte budget, released once the store has applied everything
    /// the event caused.
    Event {
        event: Event,
        permit: Option<OwnedSemaphorePermit>,
    },
    /// DMs that were handed to a connection but never written to its socket.
    Requeue(Vec<i64>),
    /// Time to purge expired history.
    Purge,
    /// [ext] A message from another node (federation).
    Remote(crate::federation::Remote),
    /// [ext] Outbox rows JetStream has acknowledged.
    Forwarded(Vec<i64>),
    /// [ext] The federation asks for this node's sessions, to tell the others.
    LocalPeers(tokio::sync::oneshot::Sender<Vec<peer_proto::api::PeerEntry>>),
    /// [ext] Another node's sessions changed.
    RemotePeers(crate::federation::RemotePeers),
    /// Time to end leases whose time is up.
    LeaseTick,
    /// A read done off the event thread: its frames go out in its place.
    ReadDone(ReadDone),
    /// Tell subscribers, close every connection, close the store, then answer.
    Shutdown(oneshot::Sender<()>),
}

/// Runs until every sender is gone or shutdown is asked for.
pub(crate) async fn run(
    mut router: Router,
    mut inbound: mpsc::Receiver<Inbound>,
    mut store: Store,
    reader: Reader,
) {
    let mut outboxes = Outboxes::default();
    let mut ops: Vec<Op> = Vec::new();
    // Line budgets of the batch's requests, released once it is applied.
    let mut permits = Vec::new();
    let mut trimmer = Trimmer::default();
    let mut since_background = 0;
    loop {
        since_background += 1;
        let first = if let Some(work) = store.background(Now::read().unix) {
            // A long purge and indexing for search go on between batches of
            // traffic, and at least every BACKGROUND_EVERY batches under a
            // load that never lets the queue run empty.
            let waiting = match since_background < BACKGROUND_EVERY {
                true => inbound.try_recv(),
                false => Err(mpsc::error::TryRecvError::Empty),
            };
            match waiting {
                Ok(input) => input,
                Err(mpsc::error::TryRecvError::Empty) => {
                    since_background = 0;
                    commit(&mut store, &mut router, &reader, vec![work], &mut outboxes);
                    tokio::task::yield_now().await;
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        } else {
            // Work that waits for a quiet moment: indexing the few messages
            // of the last round trips, then giving memory back.
            let quiet_work = store.when_quiet();
            let patience = match (&quiet_work, trimmer.patience()) {
                (Some(_), trim) => {
                    Some(trim.map_or(QUIET_BEFORE_INDEX, |t| t.min(QUIET_BEFORE_INDEX)))
                }
                (None, trim) => trim,
            };
            let waited = match patience {
                Some(patience) => tokio::time::timeout(patience, inbound.recv()).await,
                None => Ok(inbound.recv().await),
            };
            match waited {
                Ok(Some(input)) => input,
                Ok(None) => break,
                Err(_) => {
                    match quiet_work {
                        Some(work) => {
                            commit(&mut store, &mut router, &reader, vec![work], &mut outboxes);
                        }
                        None => trimmer.quiet(),
                    }
                    continue;
                }
            }
        };
        let mut next = Some(first);
        // A tick that ends no lease needs no transaction.
        let mut idle_ticks_only = true;
        let mut taken = 0;
        let mut read_bytes = 0;
        while let Some(input) = next.take() {
            // Ticks, presence and sent outbox rows need no transaction of
            // their own.
            idle_ticks_only &= matches!(
                input,
                Inbound::LeaseTick
                    | Inbound::LocalPeers(_)
                    | Inbound::RemotePeers(_)
                    | Inbound::Forwarded(_)
            );
            match input {
                Inbound::LeaseTick => {
                    let ended = router.handle(Event::Tick, Now::read());
                    idle_ticks_only &= ended.is_empty();
                    ops.extend(ended);
                }
                Inbound::Open { conn, outbox } => {
                    outboxes.insert(conn, outbox);
                    ops.extend(router.handle(Event::Open(conn), Now::read()));
                }
                Inbound::Event { event, permit } => {
                    permits.extend(permit);
                    ops.extend(router.handle(event, Now::read()));
                }
                Inbound::Requeue(seqs) => ops.push(Op::Requeue(seqs)),
                Inbound::Remote(remote) => {
                    ops.extend(router.handle(Event::Remote(remote), Now::read()));
                }
                Inbound::Forwarded(ids) => store.forwarded(ids),
                Inbound::LocalPeers(answer) => {
                    let _ = answer.send(router.local_peers());
                }
                Inbound::RemotePeers(peers) => {
                    ops.extend(router.handle(Event::RemotePeers(peers), Now::read()));
                }
                Inbound::ReadDone(done) => {
                    read_bytes += done
                        .frames
                        .iter()
                        .filter_map(Out::frame)
                        .map(|f| f.len())
                        .sum::<usize>();
                    let unwritten = outboxes.finish_read(done.conn, done.ticket, done.frames);
                    if !unwritten.is_empty() {
                        ops.push(Op::Requeue(unwritten));
                    }
                }
                Inbound::Purge => ops.push(Op::Purge {
                    now: Now::read().unix,
                }),
                Inbound::Shutdown(done) => {
                    let pending = std::mem::take(&mut ops);
                    commit(&mut store, &mut router, &reader, pending, &mut outboxes);
                    let last = router.shutdown();
                    commit(&mut store, &mut router, &reader, last, &mut outboxes);
                    store.close();
                    let _ = done.send(());
                    return;
                }
            }
            taken += 1;
            if taken < STORE_BATCH {
                next = inbound.try_recv().ok();
            }
        }
        if idle_ticks_only && ops.is_empty() {
            continue;
        }
        let bytes = commit(
            &mut store,
            &mut router,
            &reader,
            std::mem::take(&mut ops),
            &mut outboxes,
        );
        permits.clear();
        trimmer.batch(taken, bytes + read_bytes);
    }
    store.close();
}

/// Has the store apply and commit `ops`, then settles the router's changes,
/// or rolls them back if the batch failed: router and database stay in step.
/// Hands the batch's reads to the reader; returns the bytes of frames the
/// batch made.
fn commit(
    store: &mut Store,
    router: &mut Router,
    reader: &Reader,
    ops: Vec<Op>,
    outboxes: &mut Outboxes,
) -> usize {
    let batch = store.run_batch(ops, outboxes);
    match batch.committed {
        true => router.settle(),
        false => router.roll_back(),
    }
    for job in batch.reads {
        reader.submit(job);
    }
    batch.bytes
}
