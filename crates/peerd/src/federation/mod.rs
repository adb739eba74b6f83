//! Federation (SPEC §16): daemons on different machines exchange DMs and topic
//! messages through NATS JetStream. Each daemon keeps its own socket and
//! store; a DM for `home@<node>:…` and every publish are stored here first,
//! then forwarded; what other nodes send is stored and delivered here by the
//! usual rules.
//!
//! Its tasks run on the event thread's runtime, between batches: they only
//! wait on NATS, never block, so NATS being slow, down or far away holds up
//! nothing (a thread of its own cost two more thread hand-offs per message
//! and a fifth of the CPU of a cross-node round trip). They meet the event
//! loop only through its queue (arriving messages, outbox rows sent) and the
//! outbox rows each commit hands over.

mod handoff;
mod inbound;
mod link;
mod outbound;
mod presence;
pub(crate) mod wire;

pub(crate) use handoff::{Handoff, Row};
pub(crate) use inbound::{Position, Remote};
pub(crate) use link::LinkState;
pub(crate) use presence::RemotePeers;

use crate::event_loop::Inbound;
use crate::op::Kind;
use anyhow::Context;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use wire::Subjects;

/// The subject prefix when none is given.
pub(crate) const DEFAULT_PREFIX: &str = "blemees";
/// Days JetStream keeps a message when `--nats-max-age-days` is not given: a
/// node offline longer misses what was sent to it meanwhile.
pub(crate) const DEFAULT_MAX_AGE_DAYS: u32 = 7;

/// How to reach NATS and who this node is.
#[derive(Debug, Clone)]
pub(crate) struct FederationConfig {
    /// Server URLs (`nats://`, `tls://`), several for a cluster.
    pub(crate) urls: Vec<String>,
    /// This node's name.
    pub(crate) node: String,
    pub(crate) prefix: String,
    pub(crate) creds: Option<PathBuf>,
    pub(crate) nkey: Option<PathBuf>,
    pub(crate) token: Option<PathBuf>,
    pub(crate) ca: Option<PathBuf>,
    pub(crate) max_age_days: u32,
}

impl FederationConfig {
    pub(crate) fn subjects(&self) -> Subjects {
        Subjects::new(&self.prefix, &self.node)
    }
}

/// The running federation: what the event thread needs of it.
pub(crate) struct Federation {
    /// Takes copies of the outbox rows each commit added.
    pub(crate) handoff: Arc<Handoff>,
    pub(crate) link: LinkState,
    /// Bumped when a batch holding messages from other nodes failed to
    /// commit: the consumers go back to the last stream sequence stored, so
    /// that what the batch lost is read again.
    pub(crate) rewind: watch::Sender<u64>,
}

/// Starts the federation's tasks. It connects in the background: a daemon
/// whose NATS is down starts, serves local traffic and keeps its remote sends
/// in the outbox until the link comes up.
pub(crate) fn start(
    config: FederationConfig,
    db_path: &Path,
    to_loop: mpsc::Sender<Inbound>,
) -> anyhow::Result<Federation> {
    let handoff = Arc::new(Handoff::default());
    let (rewind, rewound) = watch::channel(0);
    let link = LinkState::new(&config);
    let dbs = Databases {
        outbox: read_only(db_path)?,
        dms: read_only(db_path)?,
        topics: read_only(db_path)?,
    };
    let shared = (link.clone(), handoff.clone(), rewound);
    tokio::spawn(run(config, shared, dbs, to_loop));
    Ok(Federation {
        handoff,
        link,
        rewind,
    })
}

/// The read-only connections the tasks read their state with.
struct Databases {
    outbox: Connection,
    dms: Connection,
    topics: Connection,
}

/// Connects, finds the stream, then runs the two consumers, the outbox and
/// presence until the event loop goes away.
async fn run(
    config: FederationConfig,
    (state, handoff, rewound): (LinkState, Arc<Handoff>, watch::Receiver<u64>),
    dbs: Databases,
    to_loop: mpsc::Sender<Inbound>,
) {
    let client = match link::connect(&config, state.clone()).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("federation is off: {e:#}");
            return;
        }
    };
    let me = config.subjects();
    let presence = presence::run(client.clone(), me.clone(), to_loop.clone());
    let js = async_nats::jetstream::new(client);
    let max_age = Duration::from_secs(u64::from(config.max_age_days) * 86_400);
    let stream = loop {
        match link::stream(&js, &me, max_age).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!("{e:#}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    tracing::info!(node = me.node(), stream = %me.stream_name(), "federation up");
    let consume = |db, stream, kind| {
        inbound::run(
            db,
            (stream, rewound.clone()),
            me.clone(),
            kind,
            state.connections(),
            to_loop.clone(),
        )
    };
    let dms = consume(dbs.dms, stream.clone(), Kind::Dm);
    let topics = consume(dbs.topics, stream, Kind::Topic);
    let origin = me.node().to_owned();
    let out = outbound::run(
        dbs.outbox,
        (js, origin),
        handoff,
        state.connections(),
        to_loop,
    );
    tokio::join!(dms, topics, out, presence);
}

fn read_only(db: &Path) -> anyhow::Result<Connection> {
    Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {} for federation", db.display()))
}

/// The default node name: this host's name up to its first dot, as a node
/// name may hold (`[A-Za-z0-9_-]`, other characters become `-`).
pub(crate) fn default_node() -> String {
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let first = host.split('.').next().unwrap_or_default();
    let node: String = first
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if node.is_empty() {
        "node".to_owned()
    } else {
        node
    }
}
