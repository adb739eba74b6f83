//! Presence across nodes (SPEC §16): `peer.list_peers` shows other nodes'
//! sessions with their node, and a burst of joins costs a few messages, not
//! one per session.

use crate::support::nats::NatsServer;
use crate::support::*;
use serde_json::{json, Value};
use std::time::Duration;

/// How long presence may take to cross (it is published at most every
/// half second).
const PRESENCE_TIMEOUT: Duration = Duration::from_secs(10);

fn node(nats: &NatsServer, name: &str) -> Daemon {
    Daemon::start_with(&["--nats", &nats.url(), "--node", name])
}

/// The homes of `node` in `d`'s list of peers.
fn remote_homes(c: &mut Client, node: &str) -> Vec<Value> {
    c.list_peers()
        .into_iter()
        .filter(|p| p["node"] == node)
        .collect()
}

#[test]
fn list_peers_shows_other_nodes_sessions_and_forgets_them() {
    let nats = NatsServer::start();
    let alpha = node(&nats, "alpha");
    let beta = node(&nats, "beta");
    let mut a = alpha.peer("~/a");
    let b_sid = sid();
    let (mut b, _) = beta.hello_when_free(json!({"sid": b_sid, "home": "~/b"}));
    b.set_alias("tester");

    let homes = eventually("beta's session listed on alpha", PRESENCE_TIMEOUT, || {
        let homes = remote_homes(&mut a, "beta");
        let listed = homes.iter().any(|h| h["sessions"][0]["alias"] == "tester");
        listed.then_some(homes)
    });
    assert_eq!(homes.len(), 1, "{homes:?}");
    assert_eq!(homes[0]["peer_id"], "home@beta:~/b");
    assert_eq!(homes[0]["sessions"][0]["sid"], b_sid.as_str());
    // Local homes stay unqualified, with no node.
    let local: Vec<Value> = a
        .list_peers()
        .into_iter()
        .filter(|p| p["node"].is_null())
        .collect();
    assert_eq!(local.len(), 1);
    assert_eq!(local[0]["peer_id"], "home:~/a");
    // So does the operator's listing, with a column for the node.
    let listing = std::process::Command::new(env!("CARGO_BIN_EXE_blemees-peerd"))
        .arg("--socket")
        .arg(alpha.socket())
        .arg("peers")
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    let row = listing
        .lines()
        .find(|l| l.contains("tester"))
        .unwrap_or_default();
    assert!(
        row.starts_with("beta") && row.contains("home@beta:~/b"),
        "{listing}"
    );
    assert!(listing.starts_with("NODE"), "{listing}");
    // The listed address reaches the session.
    let to = format!("home@beta:~/b#{b_sid}");
    a.send_dm(&to, json!("found you"));
    assert_eq!(b.expect_message()["body"], "found you");

    drop(b);
    eventually("beta's session gone from alpha", PRESENCE_TIMEOUT, || {
        remote_homes(&mut a, "beta").is_empty()
    });
}

#[test]
fn a_burst_of_joins_is_a_few_presence_messages() {
    const SESSIONS: usize = 200;
    let nats = NatsServer::start();
    let alpha = node(&nats, "alpha");
    let beta = node(&nats, "beta");
    let mut a = alpha.peer("~/a");
    let mut probe = beta.peer("~/probe");
    eventually("alpha and beta to meet", PRESENCE_TIMEOUT, || {
        !remote_homes(&mut probe, "alpha").is_empty()
    });
    let before = nats.monitor("/varz")["in_msgs"].as_u64().unwrap();
    let sessions: Vec<Client> = (0..SESSIONS)
        .map(|i| beta.peer(&format!("~/s{i}")))
        .collect();
    eventually("every session listed on alpha", PRESENCE_TIMEOUT, || {
        remote_homes(&mut a, "beta").len() >= SESSIONS
    });
    let sent = nats.monitor("/varz")["in_msgs"].as_u64().unwrap() - before;
    // Each node publishes at most once per half second, whatever happens.
    assert!(
        sent < (SESSIONS / 10) as u64,
        "{sent} messages reached NATS for {SESSIONS} joins"
    );
    drop(sessions);
}
