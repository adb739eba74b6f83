//! The daemon workloads. Every message is acknowledged by the daemon before the
//! next step counts it; ours has made it durable by then (Python 0.1 persists
//! only queued DMs and topic rings, and without fsync either).

use crate::daemon::{Daemon, Implementation};
use anyhow::{bail, Context};
use futures::future::try_join_all;
use peer_client::{connect_hello, Connection, Hello, Notifications};
use peer_proto::identity::mint_sid;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// The longest any one workload may run before it is called stuck.
const WORKLOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// Requests each sender keeps in flight in the pipelined workloads.
const IN_FLIGHT: usize = 32;
/// Round trips before measuring, so both daemons are warm.
const WARM_UP: usize = 100;

pub struct Latency {
    pub p50: Duration,
    pub p99: Duration,
}

pub struct Sized {
    pub elapsed: Duration,
    pub rss: u64,
}

/// A visible session in `home` with a fresh sid; returns its own address too.
async fn session(d: &Daemon, home: &str) -> anyhow::Result<(Connection, Notifications, String)> {
    let sid = mint_sid();
    let (conn, notes, _) = connect_hello(&d.socket, &Hello::new(&sid, home)).await?;
    Ok((conn, notes, format!("home:{home}#{sid}")))
}

/// The next `peer.message` on `notes`.
async fn next_message(notes: &mut Notifications) -> anyhow::Result<Value> {
    while let Some(n) = notes.recv().await {
        if n.method == "peer.message" {
            return Ok(n.params);
        }
    }
    bail!("the connection closed")
}

/// Counts `peer.message`s on `notes` until there are `n`.
async fn count_messages(mut notes: Notifications, n: usize) -> anyhow::Result<()> {
    for _ in 0..n {
        next_message(&mut notes).await?;
    }
    Ok(())
}

/// Sends `total` requests from `conn`, [`IN_FLIGHT`] at a time.
async fn pipeline(
    conn: Connection,
    total: usize,
    method: &'static str,
    params: Value,
) -> anyhow::Result<()> {
    let lanes = (0..IN_FLIGHT).map(|lane| {
        let (conn, params) = (conn.clone(), params.clone());
        async move {
            for _ in (lane..total).step_by(IN_FLIGHT) {
                conn.call(method, &params).await?;
            }
            anyhow::Ok(())
        }
    });
    try_join_all(lanes).await?;
    Ok(())
}

async fn bounded<T>(
    what: &str,
    f: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::time::timeout(WORKLOAD_TIMEOUT, f)
        .await
        .with_context(|| format!("{what} took longer than {WORKLOAD_TIMEOUT:?}"))?
}

/// 1. A sends a DM to B, B answers; the time until A has the answer.
pub async fn round_trip(imp: &Implementation, iterations: usize) -> anyhow::Result<Latency> {
    let d = Daemon::start(imp).await?;
    let (a, mut a_notes, _) = session(&d, "/bench/a").await?;
    let (b, mut b_notes, b_addr) = session(&d, "/bench/b").await?;
    let echo = tokio::spawn(async move {
        while let Ok(m) = next_message(&mut b_notes).await {
            b.call("peer.send", json!({"to": m["from"], "body": "pong"}))
                .await?;
        }
        anyhow::Ok(())
    });
    let ping = json!({"to": b_addr, "body": "ping"});
    let mut samples = Vec::with_capacity(iterations);
    bounded("round trips", async {
        for i in 0..WARM_UP + iterations {
            let start = Instant::now();
            a.call("peer.send", &ping).await?;
            next_message(&mut a_notes).await?;
            if i >= WARM_UP {
                samples.push(start.elapsed());
            }
        }
        anyhow::Ok(())
    })
    .await?;
    echo.abort();
    samples.sort();
    Ok(Latency {
        p50: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
    })
}

/// 2. Four sender/receiver pairs, 32 DMs in flight per sender, 200-byte bodies:
///    delivered messages per second.
pub async fn pipelined(imp: &Implementation, per_pair: usize) -> anyhow::Result<f64> {
    let d = Daemon::start(imp).await?;
    let body = "x".repeat(200);
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for pair in 0..4 {
        let (_r, r_notes, r_addr) = session(&d, &format!("/bench/r{pair}")).await?;
        let (s, _s_notes, _) = session(&d, &format!("/bench/s{pair}")).await?;
        receivers.push((_r, r_notes));
        senders.push((s, json!({"to": r_addr, "body": body})));
    }
    let start = Instant::now();
    let received: Vec<_> = receivers
        .into_iter()
        .map(|(conn, notes)| {
            tokio::spawn(async move {
                let _keep = conn;
                count_messages(notes, per_pair).await
            })
        })
        .collect();
    let sent = senders
        .into_iter()
        .map(|(s, params)| pipeline(s, per_pair, "peer.send", params));
    bounded("pipelined DMs", async {
        try_join_all(sent).await?;
        for r in received {
            r.await??;
        }
        anyhow::Ok(())
    })
    .await?;
    Ok((4 * per_pair) as f64 / start.elapsed().as_secs_f64())
}

/// 3. One publisher, 16 subscribers: deliveries per second.
pub async fn fan_out(imp: &Implementation, publishes: usize) -> anyhow::Result<f64> {
    const SUBSCRIBERS: usize = 16;
    let d = Daemon::start(imp).await?;
    let mut subscribers = Vec::new();
    for i in 0..SUBSCRIBERS {
        let (conn, notes, _) = session(&d, &format!("/bench/sub{i}")).await?;
        conn.call("peer.subscribe", json!({"topic": "bench"}))
            .await?;
        subscribers.push((conn, notes));
    }
    let (publisher, _notes, _) = session(&d, "/bench/pub").await?;
    let start = Instant::now();
    let received: Vec<_> = subscribers
        .into_iter()
        .map(|(conn, notes)| {
            tokio::spawn(async move {
                let _keep = conn;
                count_messages(notes, publishes).await
            })
        })
        .collect();
    let body = json!({"event": "build", "status": "green", "pad": "y".repeat(100)});
    bounded("fan-out", async {
        pipeline(
            publisher,
            publishes,
            "peer.publish",
            json!({"topic": "bench", "body": body}),
        )
        .await?;
        for r in received {
            r.await??;
        }
        anyhow::Ok(())
    })
    .await?;
    Ok((SUBSCRIBERS * publishes) as f64 / start.elapsed().as_secs_f64())
}

/// 4. `n` concurrent connect+hello (each announced to all the others), then the
///    daemon's memory with them all live.
pub async fn connects(imp: &Implementation, n: usize) -> anyhow::Result<Sized> {
    let d = Daemon::start(imp).await?;
    let start = Instant::now();
    let hellos = (0..n).map(|i| {
        let socket = d.socket.clone();
        async move {
            let hello = Hello::new(mint_sid(), format!("/bench/c{}", i % 50));
            // Nobody reads the joined notifications: drop them as they come.
            let (conn, _notes, _) = connect_hello(&socket, &hello).await?;
            anyhow::Ok(conn)
        }
    });
    let tasks: Vec<_> = hellos.map(tokio::spawn).collect();
    let conns = bounded("connects", async {
        let mut conns = Vec::with_capacity(n);
        for task in tasks {
            conns.push(task.await??);
        }
        anyhow::Ok(conns)
    })
    .await?;
    let elapsed = start.elapsed();
    // One more round trip, so every announcement has been routed.
    conns[0].call("peer.list_peers", json!({})).await?;
    let rss = d.rss();
    drop(conns);
    Ok(Sized { elapsed, rss })
}

/// 6. Start-up on a state directory holding `topics` × `per_topic` topic
///    messages (written in 0.1's format; ours imports them on a first start that
///    is not measured): time until a hello is answered, and memory then.
pub async fn cold_start(
    imp: &Implementation,
    topics: usize,
    per_topic: usize,
) -> anyhow::Result<Sized> {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    write_0_1_topics(&state, topics, per_topic)?;
    let (dir, state) = if imp.name == "ours" {
        Daemon::start_in(imp, dir, state).await?.stop()
    } else {
        (dir, state)
    };
    let d = Daemon::start_in(imp, dir, state).await?;
    Ok(Sized {
        elapsed: d.startup,
        rss: d.rss(),
    })
}

/// Topic rings as the Python 0.1 daemon stores them: one JSON line per message.
fn write_0_1_topics(state: &Path, topics: usize, per_topic: usize) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = state.join("topics");
    std::fs::create_dir_all(&dir)?;
    let from = format!("home:/bench/old#{}", mint_sid());
    for t in 0..topics {
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(dir.join(format!("{t:016x}.jsonl")))?);
        for i in 0..per_topic {
            let line = json!({
                "message_id": format!("msg_t{t:05}m{i:010}"),
                "from": from, "from_alias": null, "to": format!("topic:t{t}"),
                "body": {"n": i, "text": "a stored message of moderate length"},
                "reply_to": null, "ts": 1.7e9 + (t * per_topic + i) as f64,
            });
            writeln!(file, "{line}")?;
        }
    }
    Ok(())
}
