//! The daemon workloads. Every message is acknowledged by the daemon before the
//! next step counts it; ours has made it durable by then (Python 0.1 persists
//! only queued DMs and topic rings, and without fsync either).

use crate::daemon::{Daemon, Implementation};
use crate::floor::Relay;
use crate::raw::{self, Line, Raw};
use anyhow::Context;
use peer_client::{connect_hello, ClientError};
use peer_proto::api::{self, HelloParams, NoParams};
use peer_proto::identity::mint_sid;
use peer_proto::method;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// The longest any one workload may run before it is called stuck.
const WORKLOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// Requests each sender keeps in flight in the pipelined workloads.
const IN_FLIGHT: usize = 32;
/// Sender/receiver pairs of the pipelined workloads.
const PAIRS: usize = 4;
/// Pause between the last hello and reading a daemon's memory.
pub(crate) const SETTLE: Duration = Duration::from_millis(500);
/// Round trips before measuring, so both daemons are warm.
const WARM_UP: usize = 100;

pub(crate) struct Latency {
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) max: Duration,
    /// CPU time of the daemon (or relay) per round trip.
    pub(crate) cpu: Duration,
}

pub(crate) struct Throughput {
    /// Deliveries per second.
    pub(crate) rate: f64,
    /// CPU time of the daemon per delivery.
    pub(crate) cpu: Duration,
}

impl Throughput {
    pub(crate) fn of(deliveries: usize, elapsed: Duration, cpu: Duration) -> Throughput {
        Throughput {
            rate: deliveries as f64 / elapsed.as_secs_f64(),
            cpu: cpu / deliveries as u32,
        }
    }
}

pub(crate) struct Sized {
    pub(crate) elapsed: Duration,
    pub(crate) rss: u64,
}

/// `f`, failing if it takes longer than [`WORKLOAD_TIMEOUT`].
pub(crate) async fn bounded<T>(
    what: &str,
    f: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    within(WORKLOAD_TIMEOUT, what, f).await
}

/// `f`, failing if it takes longer than `limit`.
pub(crate) async fn within<T>(
    limit: Duration,
    what: &str,
    f: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::time::timeout(limit, f)
        .await
        .with_context(|| format!("{what} took longer than {limit:?}"))?
}

/// 1. A sends a DM to B, B answers; the time until A has the answer.
pub(crate) async fn round_trip(imp: &Implementation, iterations: usize) -> anyhow::Result<Latency> {
    local_round_trip(&Daemon::start(imp).await?, iterations).await
}

/// The round trip of 1. between two new sessions of the running daemon `d`.
pub(crate) async fn local_round_trip(d: &Daemon, iterations: usize) -> anyhow::Result<Latency> {
    let a = Raw::hello(&d.socket, "/bench/a").await?;
    let b = Raw::hello(&d.socket, "/bench/b").await?;
    let ping = raw::request(method::SEND, &json!({"to": b.address, "body": "ping"}));
    let pong = raw::request(method::SEND, &json!({"to": a.address, "body": "pong"}));
    ping_pong(a, b, ping, pong, iterations, || d.cpu()).await
}

/// The same exchange through a relay that only forwards bytes: the floor under
/// any daemon's round trip on this machine ([`floor`](crate::floor)).
pub(crate) async fn round_trip_floor(iterations: usize) -> anyhow::Result<Latency> {
    let relay = Relay::start().await?;
    let a = Raw::connect(&relay.socket).await?;
    let b = Raw::connect(&relay.socket).await?;
    // Lines the client counts as messages, as it does the daemons' notifications.
    let line = |body: &str| {
        format!("{{\"method\":\"peer.message\",\"params\":{{\"body\":\"{body}\"}}}}\n")
    };
    ping_pong(a, b, line("ping"), line("pong"), iterations, || relay.cpu()).await
}

/// A writes `ping`; B, on each message, writes `pong`; A times each exchange
/// until its message arrives ([`timed`]). `cpu` reads the server's CPU time.
pub(crate) async fn ping_pong(
    mut a: Raw,
    mut b: Raw,
    ping: String,
    pong: String,
    iterations: usize,
    cpu: impl Fn() -> Duration,
) -> anyhow::Result<Latency> {
    let echo = tokio::spawn(async move {
        loop {
            b.expect(Line::Message, 1).await?;
            b.send_batch(&pong, 1).await?;
        }
        #[allow(unreachable_code)]
        anyhow::Ok(())
    });
    let latency = timed(iterations, cpu, async move || {
        a.send_batch(&ping, 1).await?;
        a.expect(Line::Message, 1).await
    })
    .await;
    echo.abort();
    latency
}

/// Times `iterations` runs of `round_trip`, after [`WARM_UP`] unmeasured ones;
/// `cpu` reads the server's CPU time, of which the measured runs' share is
/// given per run.
pub(crate) async fn timed(
    iterations: usize,
    cpu: impl Fn() -> Duration,
    mut round_trip: impl AsyncFnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Latency> {
    let mut samples = Vec::with_capacity(iterations);
    let mut cpu_start = Duration::ZERO;
    bounded("round trips", async {
        for i in 0..WARM_UP + iterations {
            if i == WARM_UP {
                cpu_start = cpu();
            }
            let start = Instant::now();
            round_trip().await?;
            if i >= WARM_UP {
                samples.push(start.elapsed());
            }
        }
        anyhow::Ok(())
    })
    .await?;
    let cpu_used = cpu().saturating_sub(cpu_start);
    samples.sort();
    Ok(Latency {
        p50: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
        max: samples[samples.len() - 1],
        cpu: cpu_used / iterations as u32,
    })
}

/// Sends `total` copies of `request` on `conn`, keeping [`IN_FLIGHT`] of them
/// unanswered at all times: every answer that has arrived is replaced by a new
/// request, sent together once those answers are read. Gives `conn` back.
pub(crate) async fn pipeline(mut conn: Raw, total: usize, request: String) -> anyhow::Result<Raw> {
    let mut sent = IN_FLIGHT.min(total);
    conn.send_batch(&request, sent).await?;
    let mut answered = 0;
    while answered < total {
        // Requests are in flight until all are answered, so an answer is owed.
        let mut arrived = 0;
        loop {
            if conn.next().await? == Line::Response {
                arrived += 1;
            }
            if arrived > 0 && !conn.has_buffered() {
                break;
            }
        }
        answered += arrived;
        let more = arrived.min(total - sent);
        if more > 0 {
            conn.send_batch(&request, more).await?;
            sent += more;
        }
    }
    Ok(conn)
}

/// What a pipelined run measured.
pub(crate) struct Pipelined {
    /// Until every receiver has every message.
    pub(crate) delivered: Throughput,
    /// Sends answered per second, until every sender has every answer.
    pub(crate) answered: f64,
}

/// 2. Four sender/receiver pairs, 32 DMs in flight per sender, 200-byte bodies:
///    delivered messages per second.
pub(crate) async fn pipelined(imp: &Implementation, per_pair: usize) -> anyhow::Result<Pipelined> {
    let d = Daemon::start(imp).await?;
    pipelined_pairs(&d.socket, &d.socket, str::to_owned, per_pair, || d.cpu()).await
}

/// [`PAIRS`] senders, sessions of the daemon on `senders`, each sending
/// `per_pair` DMs as 2. does to a receiver of its own, a session of the
/// daemon on `receivers` addressed by `address` of its local address.
/// `cpu` reads the daemons' CPU time.
pub(crate) async fn pipelined_pairs(
    senders: &Path,
    receivers: &Path,
    address: impl Fn(&str) -> String,
    per_pair: usize,
    cpu: impl Fn() -> Duration,
) -> anyhow::Result<Pipelined> {
    let body = "x".repeat(200);
    let mut sending = Vec::new();
    let mut receiving = Vec::new();
    for pair in 0..PAIRS {
        let receiver = Raw::hello(receivers, &format!("/bench/r{pair}")).await?;
        let sender = Raw::hello(senders, &format!("/bench/s{pair}")).await?;
        let to = address(&receiver.address);
        let send = raw::request(method::SEND, &json!({"to": to, "body": body}));
        receiving.push(receiver);
        sending.push((sender, send));
    }
    let (start, cpu_start) = (Instant::now(), cpu());
    // Each task ends with the time it finished.
    let received: Vec<_> = receiving
        .into_iter()
        .map(|mut r| {
            tokio::spawn(async move {
                r.expect(Line::Message, per_pair).await?;
                anyhow::Ok(Instant::now())
            })
        })
        .collect();
    let sent: Vec<_> = sending
        .into_iter()
        .map(|(s, send)| {
            tokio::spawn(async move {
                pipeline(s, per_pair, send).await?;
                anyhow::Ok(Instant::now())
            })
        })
        .collect();
    let (answered, delivered) = bounded("pipelined DMs", async {
        let mut last_answer = start;
        for task in sent {
            last_answer = last_answer.max(task.await??);
        }
        let mut last_delivery = start;
        for task in received {
            last_delivery = last_delivery.max(task.await??);
        }
        anyhow::Ok((last_answer - start, last_delivery - start))
    })
    .await?;
    let messages = PAIRS * per_pair;
    Ok(Pipelined {
        delivered: Throughput::of(messages, delivered, cpu().saturating_sub(cpu_start)),
        answered: messages as f64 / answered.as_secs_f64(),
    })
}

/// The topic of the fan-out workloads.
const TOPIC: &str = "bench";

/// 3. One publisher, 16 subscribers: deliveries per second.
pub(crate) async fn fan_out(imp: &Implementation, publishes: usize) -> anyhow::Result<Throughput> {
    const SUBSCRIBERS: usize = 16;
    let d = Daemon::start(imp).await?;
    let mut subscribers = Vec::new();
    for i in 0..SUBSCRIBERS {
        subscribers.push(subscriber(&d.socket, &format!("/bench/sub{i}")).await?);
    }
    let publisher = Raw::hello(&d.socket, "/bench/pub").await?;
    let (start, cpu) = (Instant::now(), d.cpu());
    bounded(
        "fan-out",
        publish_round(vec![publisher], publishes, subscribers),
    )
    .await?;
    Ok(Throughput::of(
        SUBSCRIBERS * publishes,
        start.elapsed(),
        d.cpu().saturating_sub(cpu),
    ))
}

/// A new session of the daemon on `socket`, in `home`, subscribed to
/// [`TOPIC`].
pub(crate) async fn subscriber(socket: &Path, home: &str) -> anyhow::Result<Raw> {
    let mut s = Raw::hello(socket, home).await?;
    let subscribe = raw::request(method::SUBSCRIBE, &json!({"topic": TOPIC}));
    s.send_batch(&subscribe, 1).await?;
    s.expect(Line::Response, 1).await?;
    Ok(s)
}

/// Each of `publishers` publishes `per_publisher` small events on [`TOPIC`]
/// (pipelined, all publishers at once); done when every one of
/// `subscribers` has every message. Gives the connections back.
pub(crate) async fn publish_round(
    publishers: Vec<Raw>,
    per_publisher: usize,
    subscribers: Vec<Raw>,
) -> anyhow::Result<(Vec<Raw>, Vec<Raw>)> {
    let expected = publishers.len() * per_publisher;
    let body = json!({"event": "build", "status": "green", "pad": "y".repeat(100)});
    let publish = raw::request(method::PUBLISH, &json!({"topic": TOPIC, "body": body}));
    let received: Vec<_> = subscribers
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                s.expect(Line::Message, expected).await?;
                anyhow::Ok(s)
            })
        })
        .collect();
    let sent: Vec<_> = publishers
        .into_iter()
        .map(|p| tokio::spawn(pipeline(p, per_publisher, publish.clone())))
        .collect();
    let mut publishers = Vec::with_capacity(sent.len());
    for task in sent {
        publishers.push(task.await??);
    }
    let mut subscribers = Vec::with_capacity(received.len());
    for task in received {
        subscribers.push(task.await??);
    }
    Ok((publishers, subscribers))
}

/// 4. `n` concurrent connect+hello (each announced to all the others), then the
///    daemon's memory with them all live.
pub(crate) async fn connects(imp: &Implementation, n: usize) -> anyhow::Result<Sized> {
    let d = Daemon::start(imp).await?;
    let start = Instant::now();
    let hellos = (0..n).map(|i| {
        let socket = d.socket.clone();
        async move {
            let hello = HelloParams::new(mint_sid(), format!("/bench/c{}", i % 50));
            loop {
                // Nobody reads the joined notifications: drop them as they come.
                match connect_hello(&socket, &hello).await {
                    Ok((conn, _notes, _)) => return anyhow::Ok(conn),
                    // A full listen queue (0.1 listens with asyncio's default of
                    // 100): try again, as a client would.
                    Err(ClientError::Connect { source, .. })
                        if source.kind() == std::io::ErrorKind::WouldBlock =>
                    {
                        tokio::time::sleep(Duration::from_millis(1)).await
                    }
                    Err(e) => return Err(e.into()),
                }
            }
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
    // One more round trip, so every announcement has been routed, then a moment
    // for the daemon to settle: the figure is its steady state with them all live.
    conns[0].request::<api::ListPeers>(&NoParams {}).await?;
    tokio::time::sleep(SETTLE).await;
    let rss = d.rss();
    drop(conns);
    Ok(Sized { elapsed, rss })
}

/// 6. Start-up on a state directory holding `topics` × `per_topic` topic
///    messages (written in 0.1's format; ours imports them on a first start that
///    is not measured): time until a hello is answered, and memory then.
pub(crate) async fn cold_start(
    imp: &Implementation,
    topics: usize,
    per_topic: usize,
) -> anyhow::Result<Sized> {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    write_0_1_topics(&state, topics, per_topic)?;
    let (dir, state) = if imp.name == "ours" {
        Daemon::start_in(imp, dir, state, &[]).await?.stop()
    } else {
        (dir, state)
    };
    let d = Daemon::start_in(imp, dir, state, &[]).await?;
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
