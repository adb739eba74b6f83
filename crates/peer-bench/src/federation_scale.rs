//! 12. Federation at scale (`--only federation-scale`, run only when named):
//!     issue 12's 20 daemons × 50 sessions on one nats-server, every session
//!     subscribed to one topic. Publishes from one node, then the same number
//!     spread over every node (each node's publisher its share, all at once):
//!     deliveries per second until each of the 1000 sessions has every
//!     message, the CPU that cost, and the memory of each daemon and of
//!     nats-server afterwards.

use crate::daemon::Implementation;
use crate::federation::Federation;
use crate::raw::Raw;
use crate::workloads::{bounded, publish_round, subscriber, within, Throughput, SETTLE};
use anyhow::Context;
use std::path::Path;
use std::time::{Duration, Instant};

/// Daemons, each a node of its own.
const NODES: usize = 20;
/// Subscribed sessions per daemon.
const SESSIONS_PER_NODE: usize = 50;
/// How long a warm-up round may take: its first publishes wait for the
/// JetStream consumers of twenty daemons, started on two cores, to come up.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(120);
/// Descriptors this process holds besides its sessions' sockets (standard
/// streams, the runtime's, the operator connections while nodes start).
const SPARE_FDS: u64 = 64;

/// One fan-out variant.
pub(crate) struct FanOut {
    /// Deliveries across all sessions, and all daemons' CPU per delivery.
    pub(crate) delivered: Throughput,
    /// nats-server's CPU per publish.
    pub(crate) nats_cpu: Duration,
}

pub(crate) struct Scale {
    /// Every publish from the first node.
    pub(crate) from_one: FanOut,
    /// The publishes shared among all nodes.
    pub(crate) from_all: FanOut,
    /// Resident memory of the daemons afterwards: the median and the largest.
    pub(crate) rss_median: u64,
    pub(crate) rss_max: u64,
    pub(crate) nats_rss: u64,
}

/// `publishes` from one node, then about as many (rounded up to a multiple
/// of [`NODES`]) from all of them.
pub(crate) async fn run(
    imp: &Implementation,
    program: &Path,
    publishes: usize,
) -> anyhow::Result<Scale> {
    ensure_fd_room(NODES * (SESSIONS_PER_NODE + 1))?;
    let names = (0..NODES).map(|i| format!("n{i:02}"));
    let fed = Federation::start(imp, program, names).await?;
    let mut subscribers = Vec::with_capacity(NODES * SESSIONS_PER_NODE);
    let mut publishers = Vec::with_capacity(NODES);
    for node in &fed.nodes {
        for i in 0..SESSIONS_PER_NODE {
            subscribers.push(subscriber(&node.daemon.socket, &format!("/bench/sub{i}")).await?);
        }
        publishers.push(Raw::hello(&node.daemon.socket, "/bench/pub").await?);
    }
    let others = publishers.split_off(1);
    let (from_one, mut publishers, subscribers) =
        variant(&fed, publishers, publishes, subscribers).await?;
    publishers.extend(others);
    let (from_all, _publishers, _subscribers) =
        variant(&fed, publishers, publishes.div_ceil(NODES), subscribers).await?;
    // Measured with every session still connected.
    tokio::time::sleep(SETTLE).await;
    let mut rss: Vec<u64> = fed.nodes.iter().map(|n| n.daemon.rss()).collect();
    rss.sort();
    Ok(Scale {
        from_one,
        from_all,
        rss_median: rss[rss.len() / 2],
        rss_max: rss[rss.len() - 1],
        nats_rss: fed.nats.rss(),
    })
}

/// A warm-up round (one publish each, unmeasured: it waits out consumers and
/// outboxes starting), then `per_publisher` publishes from each of
/// `publishers`, timed until every subscriber has them all.
async fn variant(
    fed: &Federation,
    publishers: Vec<Raw>,
    per_publisher: usize,
    subscribers: Vec<Raw>,
) -> anyhow::Result<(FanOut, Vec<Raw>, Vec<Raw>)> {
    let (publishers, subscribers) = within(
        WARM_UP_TIMEOUT,
        "the warm-up publishes",
        publish_round(publishers, 1, subscribers),
    )
    .await?;
    let publishes = publishers.len() * per_publisher;
    let deliveries = publishes * subscribers.len();
    let (start, cpu, nats_cpu) = (Instant::now(), fed.cpu(), fed.nats.cpu());
    let (publishers, subscribers) = bounded(
        "the fan-out across nodes",
        publish_round(publishers, per_publisher, subscribers),
    )
    .await?;
    let elapsed = start.elapsed();
    let fan_out = FanOut {
        delivered: Throughput::of(deliveries, elapsed, fed.cpu().saturating_sub(cpu)),
        nats_cpu: fed.nats.cpu().saturating_sub(nats_cpu) / publishes as u32,
    };
    Ok((fan_out, publishers, subscribers))
}

/// Makes sure this process may hold `sockets` connections at once: lifts the
/// soft open-file limit towards the hard one when it is too low (the usual
/// soft limit, 1024, is just short of this workload's).
fn ensure_fd_room(sockets: usize) -> anyhow::Result<()> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let needed = sockets as u64 + SPARE_FDS;
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|soft| soft >= needed) {
        return Ok(());
    }
    anyhow::ensure!(
        limit.maximum.is_none_or(|hard| hard >= needed),
        "{needed} open files are needed; the hard limit is {:?} (ulimit -Hn)",
        limit.maximum
    );
    limit.current = limit.maximum;
    setrlimit(Resource::Nofile, limit).context("raising the open-file limit")
}
