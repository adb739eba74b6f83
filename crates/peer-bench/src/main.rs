//! `peer-bench`: drives any blemees-peer/1 daemon (and MCP sidecar) through its
//! real socket (and stdio), so one run measures this implementation and the
//! Python 0.1 side by side on the same machine, and prints the ratios against
//! the project's targets.
//!
//! ```sh
//! cargo build --release --workspace
//! target/release/peer-bench            # all workloads, ours vs .ci/py01
//! target/release/peer-bench --only rtt --only fanout
//! target/release/peer-bench --only nats-rtt   # bare NATS, on .ci/nats
//! target/release/peer-bench --only federation --only federation-scale
//! ```

mod attacks;
mod cross_node;
mod daemon;
mod federation;
mod federation_scale;
mod floor;
mod hook;
mod nats;
mod nats_server;
mod raw;
mod report;
mod sidecar;
mod workloads;

use clap::Parser;
use daemon::Implementation;
use report::{Figure, Row};
use std::path::PathBuf;

/// Every tool group of our sidecar's `--tools`.
const ALL_TOOL_GROUPS: &str = "core,leases,threads,search";

/// Benchmarks ours against Python 0.1 and prints the ratios.
#[derive(Debug, Parser)]
struct Args {
    /// Our binaries' directory [default: the directory of this program]
    #[arg(long)]
    ours: Option<PathBuf>,
    /// Python 0.1 binaries' directory [default: .ci/py01/bin, installed if missing]
    #[arg(long)]
    python: Option<PathBuf>,
    /// Run only these workloads (rtt, pipelined, fanout, connects, sidecar,
    /// tools, coldstart, hook; and, only when named, attacks, nats-rtt,
    /// federation and federation-scale)
    #[arg(long)]
    only: Vec<String>,
    /// The nats-server program for nats-rtt and federation [default:
    /// .ci/nats/bin/nats-server, installed if missing]
    #[arg(long, env = "BLEMEES_NATS_SERVER")]
    nats_server: Option<PathBuf>,
    /// Scale message counts down (e.g. 0.1 for a quick look)
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Internal: serve as the byte relay of the round-trip floor on this socket
    #[arg(long, hide = true)]
    relay: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(socket) = &args.relay {
        return floor::serve(socket);
    }
    // The round trips run on one client thread: an exchange that never hands
    // off between the client's own threads adds the least to what is measured.
    // The other workloads need the client's parallelism so that the client is
    // not what limits them.
    let one_thread = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let threads = tokio::runtime::Runtime::new()?;
    let ours = Implementation::ours(args.ours)?;
    let python = Implementation::python(args.python)?;
    let named = |name: &str| args.only.iter().any(|o| o == name);
    let wants = |name: &str| args.only.is_empty() || named(name);
    let n = |count: f64| ((count * args.scale).round() as usize).max(1);
    println!(
        "peer-bench: ours = {}, python = {}",
        ours.dir.display(),
        python.dir.display()
    );

    let mut rows: Vec<Row> = Vec::new();
    let mut run = |row: Row| {
        row.print();
        rows.push(row);
    };
    if wants("rtt") {
        let iterations = n(2000.0);
        let o = one_thread.block_on(workloads::round_trip(&ours, iterations))?;
        let p = one_thread.block_on(workloads::round_trip(&python, iterations))?;
        let f = one_thread.block_on(workloads::round_trip_floor(iterations))?;
        run(Row::new(
            "DM round trip p50",
            Figure::Micros(o.p50),
            Figure::Micros(p.p50),
            "≤ 1/5",
            0.2,
        ));
        run(Row::new(
            "DM round trip p99",
            Figure::Micros(o.p99),
            Figure::Micros(p.p99),
            "",
            0.0,
        ));
        run(Row::new(
            "DM round trip, daemon CPU",
            Figure::Micros(o.cpu),
            Figure::Micros(p.cpu),
            "",
            0.0,
        ));
        // Not a daemon: what two wake-ups per direction cost on this machine.
        run(Row::new(
            "round-trip floor p50 (relay)",
            Figure::Micros(f.p50),
            Figure::Micros(p.p50),
            "",
            0.0,
        ));
        run(Row::new(
            "round-trip floor, relay CPU",
            Figure::Micros(f.cpu),
            Figure::Micros(p.cpu),
            "",
            0.0,
        ));
    }
    if wants("pipelined") {
        let per_pair = n(5000.0);
        let o = threads.block_on(workloads::pipelined(&ours, per_pair))?;
        let p = threads.block_on(workloads::pipelined(&python, per_pair))?;
        run(Row::new(
            "pipelined DMs msg/s",
            Figure::Rate(o.delivered.rate),
            Figure::Rate(p.delivered.rate),
            "≥ 8×",
            8.0,
        ));
        run(Row::new(
            "pipelined, CPU per message",
            Figure::Micros(o.delivered.cpu),
            Figure::Micros(p.delivered.cpu),
            "",
            0.0,
        ));
    }
    if wants("fanout") {
        let publishes = n(2000.0);
        let o = threads.block_on(workloads::fan_out(&ours, publishes))?;
        let p = threads.block_on(workloads::fan_out(&python, publishes))?;
        run(Row::new(
            "fan-out deliveries/s",
            Figure::Rate(o.rate),
            Figure::Rate(p.rate),
            "≥ 50×",
            50.0,
        ));
        run(Row::new(
            "fan-out, CPU per delivery",
            Figure::Micros(o.cpu),
            Figure::Micros(p.cpu),
            "",
            0.0,
        ));
    }
    if wants("connects") {
        let o = threads.block_on(workloads::connects(&ours, 1000))?;
        let p = threads.block_on(workloads::connects(&python, 1000))?;
        run(Row::new(
            "1000 connect+hello",
            Figure::Millis(o.elapsed),
            Figure::Millis(p.elapsed),
            "≥ 10× faster",
            0.1,
        ));
        run(Row::new(
            "daemon RSS, 1000 sessions",
            Figure::Mib(o.rss),
            Figure::Mib(p.rss),
            "≤ 1/3",
            1.0 / 3.0,
        ));
    }
    if wants("sidecar") {
        let o = threads.block_on(sidecar::ready(&ours, 10))?;
        let p = threads.block_on(sidecar::ready(&python, 10))?;
        run(Row::new(
            "sidecar ready",
            Figure::Millis(o.elapsed),
            Figure::Millis(p.elapsed),
            "≤ 1/5",
            0.2,
        ));
        run(Row::new(
            "sidecar RSS",
            Figure::Mib(o.rss),
            Figure::Mib(p.rss),
            "≤ 1/4",
            0.25,
        ));
    }
    if wants("tools") {
        // What every agent pays in context before its first call: the
        // default tools, and every group at once (0.1 has one set).
        let core = threads.block_on(sidecar::tools_cost(&ours, &[]))?;
        let all = threads.block_on(sidecar::tools_cost(&ours, &["--tools", ALL_TOOL_GROUPS]))?;
        let p = threads.block_on(sidecar::tools_cost(&python, &[]))?;
        println!(
            "  (tools: ours core {}, ours all groups {}, python {})",
            core.tools, all.tools, p.tools
        );
        run(Row::new(
            "tools/list, core",
            Figure::Bytes(core.bytes),
            Figure::Bytes(p.bytes),
            "",
            0.0,
        ));
        run(Row::new(
            "tools/list tokens, core",
            Figure::Tokens(core.tokens),
            Figure::Tokens(p.tokens),
            "< 2000",
            0.0,
        ));
        run(Row::new(
            "tools/list tokens, all groups",
            Figure::Tokens(all.tokens),
            Figure::Tokens(p.tokens),
            "< 2000",
            0.0,
        ));
    }
    if wants("coldstart") {
        let (topics, per_topic) = (200, n(1000.0));
        let o = threads.block_on(workloads::cold_start(&ours, topics, per_topic))?;
        let p = threads.block_on(workloads::cold_start(&python, topics, per_topic))?;
        run(Row::new(
            "cold start time",
            Figure::Millis(o.elapsed),
            Figure::Millis(p.elapsed),
            "≤ 1/10",
            0.1,
        ));
        run(Row::new(
            "cold start RSS",
            Figure::Mib(o.rss),
            Figure::Mib(p.rss),
            "≤ 1/5",
            0.2,
        ));
    }
    if named("attacks") {
        let (clients, line) = (n(200.0), 4 * 1024 * 1024 - 1024);
        let o = threads.block_on(attacks::unfinished_lines(&ours, clients, line))?;
        let p = threads.block_on(attacks::unfinished_lines(&python, clients, line))?;
        run(Row::new(
            "RSS, 200 unfinished 4 MiB lines",
            Figure::Mib(o),
            Figure::Mib(p),
            "",
            0.0,
        ));
        let (clients, messages, body) = (8, n(500.0), 200 * 1024);
        let (o_rss, o_rtt) =
            threads.block_on(attacks::unread_replays(&ours, clients, messages, body))?;
        let (p_rss, p_rtt) =
            threads.block_on(attacks::unread_replays(&python, clients, messages, body))?;
        run(Row::new(
            "RSS, 8 unread 100 MiB replays",
            Figure::Mib(o_rss),
            Figure::Mib(p_rss),
            "",
            0.0,
        ));
        run(Row::new(
            "DM round trip p99 meanwhile",
            Figure::Micros(o_rtt.p99),
            Figure::Micros(p_rtt.p99),
            "< 20 ms",
            0.0,
        ));
        run(Row::new(
            "DM round trip max meanwhile",
            Figure::Micros(o_rtt.max),
            Figure::Micros(p_rtt.max),
            "",
            0.0,
        ));
    }
    if named("nats-rtt") {
        let program = nats_server::program(args.nats_server.clone())?;
        let l = one_thread.block_on(nats::round_trips(&program, n(2000.0)))?;
        run(Row::ours_only(
            "NATS request/reply p50",
            Figure::Micros(l.request.p50),
        ));
        run(Row::ours_only(
            "NATS request/reply p99",
            Figure::Micros(l.request.p99),
        ));
        run(Row::ours_only(
            "JetStream publish+ack p50",
            Figure::Micros(l.publish.p50),
        ));
        run(Row::ours_only(
            "JetStream publish+ack p99",
            Figure::Micros(l.publish.p99),
        ));
    }
    if named("federation") {
        // One federation for both parts: the round trips on the one-thread
        // client like workload 1, the pipelined DMs on the threaded one like 2.
        let program = nats_server::program(args.nats_server.clone())?;
        let fed = one_thread.block_on(cross_node::start(&ours, &program))?;
        let r = one_thread.block_on(cross_node::round_trips(&fed, n(2000.0)))?;
        let p = threads.block_on(cross_node::pipelined(&fed, n(5000.0)))?;
        drop(fed);
        run(Row::ours_only(
            "fed: local DM rtt p50",
            Figure::Micros(r.local.p50),
        ));
        run(Row::ours_only(
            "fed: local DM rtt p99",
            Figure::Micros(r.local.p99),
        ));
        run(Row::ours_only(
            "fed: local rtt, daemon CPU",
            Figure::Micros(r.local.cpu),
        ));
        run(Row::ours_only(
            "fed: cross-node DM rtt p50",
            Figure::Micros(r.cross.p50),
        ));
        run(Row::ours_only(
            "fed: cross-node DM rtt p99",
            Figure::Micros(r.cross.p99),
        ));
        run(Row::ours_only(
            "fed: cross rtt, daemons' CPU",
            Figure::Micros(r.cross.cpu),
        ));
        run(Row::ours_only(
            "fed: cross rtt, NATS CPU",
            Figure::Micros(r.cross_server_cpu),
        ));
        run(Row::ours_only(
            "fed: NATS req/reply p50",
            Figure::Micros(r.nats.p50),
        ));
        run(Row::ours_only(
            "fed: NATS req/reply p99",
            Figure::Micros(r.nats.p99),
        ));
        run(Row::ours_only(
            "fed: NATS req/reply, its CPU",
            Figure::Micros(r.nats.cpu),
        ));
        run(Row::goal(
            "fed: cross-node p50 vs goal",
            Figure::Micros(r.cross.p50),
            Figure::Micros(r.goal()),
            "≤ local+2×NATS",
        ));
        run(Row::ours_only(
            "fed: pipelined delivered",
            Figure::Rate(p.delivered.rate),
        ));
        run(Row::ours_only(
            "fed: pipelined answered",
            Figure::Rate(p.answered),
        ));
        run(Row::ours_only(
            "fed: pipelined, CPU per msg",
            Figure::Micros(p.delivered.cpu),
        ));
    }
    if named("federation-scale") {
        let program = nats_server::program(args.nats_server.clone())?;
        let s = threads.block_on(federation_scale::run(&ours, &program, n(5000.0)))?;
        for (name, f) in [
            ("scale: from 1 node", &s.from_one),
            ("scale: from every node", &s.from_all),
        ] {
            run(Row::ours_only(name, Figure::Rate(f.delivered.rate)));
            run(Row::ours_only(
                "  daemons' CPU per delivery",
                Figure::Micros(f.delivered.cpu),
            ));
            run(Row::ours_only(
                "  nats-server CPU/publish",
                Figure::Micros(f.nats_cpu),
            ));
        }
        run(Row::ours_only(
            "scale: daemon RSS, median",
            Figure::Mib(s.rss_median),
        ));
        run(Row::ours_only(
            "scale: daemon RSS, largest",
            Figure::Mib(s.rss_max),
        ));
        run(Row::ours_only(
            "scale: nats-server RSS",
            Figure::Mib(s.nats_rss),
        ));
    }
    if wants("hook") {
        let h = threads.block_on(hook::cold_runs(&ours, n(50.0)))?;
        run(Row::ours_only(
            "hook, nothing waiting",
            Figure::Millis(h.quiet),
        ));
        run(Row::ours_only(
            "hook, a DM waiting",
            Figure::Millis(h.waiting),
        ));
        run(Row::ours_only(
            "hook, no sidecar (daemon)",
            Figure::Millis(h.no_sidecar),
        ));
        run(Row::ours_only(
            "hook, no daemon",
            Figure::Millis(h.no_daemon),
        ));
        run(Row::ours_only(
            "spawn floor (--version)",
            Figure::Millis(h.floor),
        ));
    }
    report::summary(&rows);
    Ok(())
}
