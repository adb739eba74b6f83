//! Presence across nodes (SPEC §16): each node tells the others which
//! sessions it has, so `peer.list_peers` shows remote sessions with their
//! node and an agent can address them.
//!
//! Its cost is bounded by design, not by traffic: a node publishes its whole
//! list (core NATS, not JetStream: it is soft state) at most once per
//! [`TICK`] and only when it changed, plus once per [`HEARTBEAT`]; a burst of
//! a thousand joins or leaves is one message. A node that starts says so
//! (`hello`, on each of its first ticks until it hears from another node),
//! and the others answer with their lists at their next tick. A
//! node not heard from for [`EXPIRY`] is dropped. Sessions of other nodes are
//! listed only: they cause no `peer.peer_joined`/`peer_left` here.

use super::wire::Subjects;
use crate::event_loop::Inbound;
use futures::StreamExt;
use peer_proto::address::qualify;
use peer_proto::api::PeerEntry;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How often a node looks whether its list changed (the most often it
/// publishes it).
const TICK: Duration = Duration::from_millis(500);
/// How often a node publishes its list even if it did not change.
const HEARTBEAT: Duration = Duration::from_secs(30);
/// How long a node's list stands without word from it.
const EXPIRY: Duration = Duration::from_secs(90);
/// Ticks on which a starting node says hello until it hears another node.
const HELLO_TICKS: u32 = 10;
/// Most sessions one node lists to the others, so that a list fits in one
/// NATS message (1 MiB by default) whatever happens locally.
const MAX_SESSIONS: usize = 2000;

/// One node's sessions, as published.
#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    node: String,
    /// The node just started: others should publish theirs.
    hello: bool,
    /// Its homes and their sessions (as in `peer.list_peers`, unqualified).
    peers: Vec<PeerEntry>,
}

/// Another node's sessions changed (`None`: it is gone).
#[derive(Debug)]
pub(crate) struct RemotePeers {
    pub(crate) node: String,
    /// Addresses qualified with the node.
    pub(crate) peers: Option<Vec<PeerEntry>>,
}

/// Publishes this node's list and keeps the event loop told of the others'.
pub(crate) async fn run(client: async_nats::Client, me: Subjects, to_loop: mpsc::Sender<Inbound>) {
    let mut heard = match client.subscribe(me.all_presence()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("subscribing to presence: {e}; remote sessions are not listed");
            return;
        }
    };
    let mut known: HashMap<String, (Vec<PeerEntry>, Instant)> = HashMap::new();
    let mut published: Option<(Vec<PeerEntry>, Instant)> = None;
    // Hello goes out on each of the first ticks until another node is heard:
    // right after subscribing, a server of a cluster may not yet have told
    // the others, which would drop a single hello (and leave the lists to
    // the heartbeat).
    let mut hellos_left = HELLO_TICKS;
    let mut answer_due = false;
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let Some(mine) = local_peers(&to_loop).await else { return };
                let now = Instant::now();
                let hello = hellos_left > 0 && known.is_empty();
                hellos_left = hellos_left.saturating_sub(1);
                let due = match &published {
                    None => true,
                    Some((last, at)) => {
                        *last != mine || now >= *at + HEARTBEAT || answer_due || hello
                    }
                };
                if due {
                    let snapshot = Snapshot { node: me.node().to_owned(), hello, peers: mine.clone() };
                    let payload = serde_json::to_vec(&snapshot).expect("a snapshot serializes");
                    match client.publish(me.my_presence(), payload.into()).await {
                        Ok(()) => {
                            published = Some((mine, now));
                            answer_due = false;
                        }
                        Err(e) => tracing::debug!("publishing presence: {e}"),
                    }
                }
                let gone: Vec<String> = known
                    .iter()
                    .filter(|(_, (_, at))| now >= *at + EXPIRY)
                    .map(|(node, _)| node.clone())
                    .collect();
                for node in gone {
                    known.remove(&node);
                    if tell(&to_loop, node, None).await.is_err() {
                        return;
                    }
                }
            }
            message = heard.next() => {
                let Some(message) = message else { return };
                let Some(snapshot) = read(&me, &message.subject, &message.payload) else { continue };
                answer_due |= snapshot.hello;
                let peers = qualified(&snapshot);
                let changed = known.get(&snapshot.node).is_none_or(|(old, _)| *old != peers);
                known.insert(snapshot.node.clone(), (peers.clone(), Instant::now()));
                if changed && tell(&to_loop, snapshot.node, Some(peers)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// This node's list, from the router, capped at [`MAX_SESSIONS`].
async fn local_peers(to_loop: &mpsc::Sender<Inbound>) -> Option<Vec<PeerEntry>> {
    let (tx, rx) = oneshot::channel();
    to_loop.send(Inbound::LocalPeers(tx)).await.ok()?;
    let mut peers = rx.await.ok()?;
    let mut room = MAX_SESSIONS;
    for p in &mut peers {
        p.sessions.truncate(room);
        room -= p.sessions.len();
    }
    peers.retain(|p| !p.sessions.is_empty());
    Some(peers)
}

/// A snapshot that agrees with its subject, from another node.
fn read(me: &Subjects, subject: &str, payload: &[u8]) -> Option<Snapshot> {
    let origin = me.presence_origin(subject)?;
    let snapshot: Snapshot = serde_json::from_slice(payload).ok()?;
    if snapshot.node != origin {
        tracing::warn!(subject, claimed = %snapshot.node, "refused presence with a forged origin");
        return None;
    }
    (origin != me.node()).then_some(snapshot)
}

/// Its homes as addresses of its node.
fn qualified(snapshot: &Snapshot) -> Vec<PeerEntry> {
    snapshot
        .peers
        .iter()
        .map(|p| PeerEntry {
            peer_id: qualify(&p.peer_id, &snapshot.node),
            node: Some(snapshot.node.clone()),
            sessions: p.sessions.clone(),
        })
        .collect()
}

async fn tell(
    to_loop: &mpsc::Sender<Inbound>,
    node: String,
    peers: Option<Vec<PeerEntry>>,
) -> Result<(), mpsc::error::SendError<Inbound>> {
    to_loop
        .send(Inbound::RemotePeers(RemotePeers { node, peers }))
        .await
}
