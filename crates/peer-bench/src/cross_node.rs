//! 11. Two nodes (`--only federation`, run only when named): issue 12's
//!     round-trip goal and cross-node throughput, on one nats-server. Node
//!     alpha's local DM round trip, the cross-node one (A on alpha, B on
//!     beta) and a bare NATS request/reply on the same server, all in one run,
//!     so the goal (cross-node ≤ local + 2 × NATS) compares like with like;
//!     then pipelined DMs from alpha to beta.

use crate::daemon::Implementation;
use crate::federation::{Federation, Node};
use crate::nats;
use crate::raw::{self, Line, Raw};
use crate::workloads::{local_round_trip, ping_pong, pipelined_pairs, within, Latency, Pipelined};
use anyhow::Context;
use peer_proto::method;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// The node the round trips start from, and the pipelined DMs' sender.
const ALPHA: &str = "alpha";
/// The other node.
const BETA: &str = "beta";
/// How long the first cross-node exchange may take: it waits for both
/// daemons' JetStream consumers to start.
const FIRST_EXCHANGE_TIMEOUT: Duration = Duration::from_secs(60);

/// The round trips of one run.
pub(crate) struct RoundTrips {
    /// Both sessions on alpha, which federates.
    pub(crate) local: Latency,
    /// A on alpha, B on beta; CPU is both daemons'.
    pub(crate) cross: Latency,
    /// nats-server's CPU per cross-node round trip: the JetStream work
    /// (two stored publishes, their acknowledgements and deliveries) that a
    /// core request/reply does not do.
    pub(crate) cross_server_cpu: Duration,
    /// Core NATS request/reply on the daemons' server; CPU is nats-server's.
    pub(crate) nats: Latency,
}

impl RoundTrips {
    /// Issue 12's bound on the cross-node p50: local p50 + 2 × NATS p50.
    pub(crate) fn goal(&self) -> Duration {
        self.local.p50 + 2 * self.nats.p50
    }
}

/// Nodes alpha and beta on a fresh nats-server.
pub(crate) async fn start(imp: &Implementation, program: &Path) -> anyhow::Result<Federation> {
    Federation::start(imp, program, [ALPHA, BETA].map(String::from)).await
}

/// `iterations` of each round trip, one kind after the other. The bare NATS
/// one goes first: measured after the cross-node one (server and daemons
/// idle by then) its p50 stayed near 128 µs in three runs, for no known
/// reason, while measured first it is what nats-rtt measures on a server of
/// its own (docs/BENCHMARKS.md).
pub(crate) async fn round_trips(fed: &Federation, iterations: usize) -> anyhow::Result<RoundTrips> {
    let (alpha, beta) = pair(fed);
    let nats = nats::request_reply(&fed.nats, iterations).await?;
    let local = local_round_trip(&alpha.daemon, iterations).await?;
    let (cross, cross_server_cpu) = cross_round_trip(fed, alpha, beta, iterations).await?;
    Ok(RoundTrips {
        local,
        cross,
        cross_server_cpu,
        nats,
    })
}

/// Pipelined DMs (workload 2's pairs) from senders on alpha to receivers on
/// beta; CPU is both daemons'.
pub(crate) async fn pipelined(fed: &Federation, per_pair: usize) -> anyhow::Result<Pipelined> {
    let (alpha, beta) = pair(fed);
    let to_beta = |local: &str| beta.address(local);
    pipelined_pairs(
        &alpha.daemon.socket,
        &beta.daemon.socket,
        to_beta,
        per_pair,
        || fed.cpu(),
    )
    .await
}

fn pair(fed: &Federation) -> (&Node, &Node) {
    (&fed.nodes[0], &fed.nodes[1])
}

/// A on alpha sends to B on beta by `home@beta:<home>#<sid>`; B answers to
/// the `from` its first message came with; timed as the local round trip.
/// Also gives nats-server's CPU per round trip.
async fn cross_round_trip(
    fed: &Federation,
    alpha: &Node,
    beta: &Node,
    iterations: usize,
) -> anyhow::Result<(Latency, Duration)> {
    let mut a = Raw::hello(&alpha.daemon.socket, "/bench/a").await?;
    let mut b = Raw::hello(&beta.daemon.socket, "/bench/b").await?;
    let to_b = beta.address(&b.address);
    let ping = raw::request(method::SEND, &json!({"to": to_b, "body": "ping"}));
    // One unmeasured exchange, parsed rather than counted, to learn the
    // address beta gives A (and to check it names alpha).
    let pong = within(FIRST_EXCHANGE_TIMEOUT, "the first cross-node DM", async {
        a.send_batch(&ping, 1).await?;
        let first = b.message().await?;
        let from = first["from"].as_str().context("a message without `from`")?;
        anyhow::ensure!(
            from == alpha.address(&a.address),
            "beta delivered A's DM from {from}, not from A on alpha"
        );
        let pong = raw::request(method::SEND, &json!({"to": from, "body": "pong"}));
        b.send_batch(&pong, 1).await?;
        a.expect(Line::Message, 1).await?;
        Ok(pong)
    })
    .await?;
    // The CPU is read once before the measured round trips and once after:
    // nats-server's beside the daemons'.
    let server = std::cell::RefCell::new(Vec::with_capacity(2));
    let latency = ping_pong(a, b, ping, pong, iterations, || {
        server.borrow_mut().push(fed.nats.cpu());
        fed.cpu()
    })
    .await?;
    // `timed` reads the CPU once before the measured runs, once after.
    let [before, after] = server.into_inner()[..] else {
        anyhow::bail!("the CPU was not read before and after the round trips");
    };
    Ok((latency, (after - before) / u32::try_from(iterations)?))
}
