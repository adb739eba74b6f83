//! Memory and latency under attack (issue 14): many clients together pushing
//! the daemon's memory where each alone stays within its own limits. Run on
//! demand (`--only attacks`): they move hundreds of megabytes.

use crate::daemon::{Daemon, Implementation};
use crate::raw::{self, Line, Raw};
use crate::workloads::{ping_pong, Latency, SETTLE};
use peer_proto::method;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How long an attacker keeps writing before it gives up (a daemon that cut it
/// off, or stopped reading, makes it wait).
const WRITE_PATIENCE: Duration = Duration::from_secs(10);
/// Round trips timed while the replays are asked for and served.
const ROUND_TRIPS: usize = 3000;
/// Round trips run this long before the replays are asked for.
const REPLAYS_AFTER: Duration = Duration::from_millis(50);

/// `clients` connections each send `line_bytes` of a request line and never
/// its newline; the daemon's resident memory once they have.
pub(crate) async fn unfinished_lines(
    imp: &Implementation,
    clients: usize,
    line_bytes: usize,
) -> anyhow::Result<u64> {
    let d = Daemon::start(imp).await?;
    let line: Arc<Vec<u8>> = Arc::new(
        br#"{"jsonrpc":"2.0","id":1,"method":"peer.send","params":{"to":"home:/v","body":""#
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'x', line_bytes))
            .collect(),
    );
    let attackers = (0..clients).map(|_| {
        let (socket, line) = (d.socket.clone(), line.clone());
        tokio::spawn(async move {
            let mut stream = tokio::net::UnixStream::connect(&socket).await?;
            // Cut off or not, the connection stays open until the end.
            let _ = tokio::time::timeout(WRITE_PATIENCE, stream.write_all(&line)).await;
            anyhow::Ok(stream)
        })
    });
    let mut held = Vec::with_capacity(clients);
    for attacker in attackers.collect::<Vec<_>>() {
        held.push(attacker.await??);
    }
    tokio::time::sleep(SETTLE).await;
    Ok(d.rss())
}

/// A topic of `messages` bodies of `body_bytes`; `clients` connections ask for
/// a replay of all of it and never read. Returns the daemon's resident memory
/// then, and the DM round trip of a healthy pair while the replays are pending.
pub(crate) async fn unread_replays(
    imp: &Implementation,
    clients: usize,
    messages: usize,
    body_bytes: usize,
) -> anyhow::Result<(u64, Latency)> {
    let d = Daemon::start(imp).await?;
    let mut publisher = Raw::hello(&d.socket, "/bench/pub").await?;
    let publish = raw::request(
        method::PUBLISH,
        &json!({"topic": "big", "body": "r".repeat(body_bytes)}),
    );
    for sent in (0..messages).step_by(50) {
        let n = 50.min(messages - sent);
        publisher.send_batch(&publish, n).await?;
        publisher.expect(Line::Response, n).await?;
    }
    let mut hoarders = Vec::with_capacity(clients);
    for i in 0..clients {
        hoarders.push(Raw::hello(&d.socket, &format!("/bench/h{i}")).await?);
    }
    // The healthy pair's round trips run while the replays are asked for.
    let a = Raw::hello(&d.socket, "/bench/a").await?;
    let b = Raw::hello(&d.socket, "/bench/b").await?;
    let ping = raw::request(method::SEND, &json!({"to": b.address, "body": "ping"}));
    let pong = raw::request(method::SEND, &json!({"to": a.address, "body": "pong"}));
    let cpu = {
        let pid = d.pid();
        move || crate::daemon::cpu(pid)
    };
    let healthy = tokio::spawn(ping_pong(a, b, ping, pong, ROUND_TRIPS, cpu));
    tokio::time::sleep(REPLAYS_AFTER).await;
    let subscribe = raw::request(
        method::SUBSCRIBE,
        &json!({"topic": "big", "replay": messages}),
    );
    for hoarder in &mut hoarders {
        hoarder.send_batch(&subscribe, 1).await?;
    }
    let latency = healthy.await??;
    tokio::time::sleep(SETTLE).await;
    let rss = d.rss();
    drop(hoarders);
    Ok((rss, latency))
}
