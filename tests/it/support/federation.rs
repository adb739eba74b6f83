//! Federated daemons for the federation tests (issue 12): each one a node of
//! its own (socket, state dir, `--node` name) on a shared NATS, and what the
//! tests read of them: the link in `peer.status`, node-qualified addresses,
//! and the messages a connection receives until a given one.

use super::client::{is_presence, sid, Client, Next};
use super::daemon::Daemon;
use super::eventually;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// How long a message may take from one node to another: the link may be
/// (re)connecting, with the NATS client's back-off of up to 4 s between tries,
/// and a consumer recreated after its heartbeats went missing. Generous, for a
/// loaded machine; tests wait for what they expect, never this long when all
/// is well.
pub const FED_TIMEOUT: Duration = Duration::from_secs(30);

/// A daemon federated as node `node` through the NATS servers `urls`, with
/// `extra` flags.
pub fn start_node(urls: &[String], node: &str, extra: &[&str]) -> Daemon {
    let mut args: Vec<&str> = urls.iter().flat_map(|u| ["--nats", u.as_str()]).collect();
    args.extend(["--node", node]);
    args.extend(extra);
    Daemon::start_with(&args)
}

/// The `federation` part of the daemon's `peer.status`, asked the way the
/// operator's `blemees-peerd status` does: a connection without presence, so
/// that no session sees it come and go.
pub fn federation_status(d: &Daemon) -> Value {
    let mut operator = d.connect();
    let hello = json!({"sid": sid(), "home": "~", "presence": false});
    operator.call("peer.hello", hello);
    let status = operator.call("peer.status", json!({}));
    assert!(status["federation"].is_object(), "{status}");
    status["federation"].clone()
}

/// Waits until the daemon's link to NATS is `up`.
pub fn wait_link_up(d: &Daemon) {
    eventually("the NATS link to be up", FED_TIMEOUT, || {
        federation_status(d)["link"] == "up"
    });
}

/// Waits until JetStream has acknowledged everything in the daemon's outbox.
pub fn wait_no_backlog(d: &Daemon) {
    eventually("the federation backlog to be 0", FED_TIMEOUT, || {
        federation_status(d)["backlog"] == 0
    });
}

/// `home@<node>:<rest>`: the address of `home:<rest>` on another node.
pub fn on_node(node: &str, rest: &str) -> String {
    format!("home@{node}:{rest}")
}

/// The address of `c`'s session as node `node` names it to other nodes (what
/// they see in `from`).
pub fn addr_on(node: &str, c: &Client) -> String {
    on_node(node, &format!("{}#{}", c.home(), c.sid()))
}

/// The `peer.message`s `c` receives until every one of `expected` (message
/// ids) has arrived, in arrival order, repeats included; presence
/// notifications are skipped. Any other frame, the connection closing or
/// [`FED_TIMEOUT`] passing fails the test.
pub fn receive_all(c: &mut Client, expected: &[impl AsRef<str>]) -> Vec<Value> {
    let deadline = Instant::now() + FED_TIMEOUT;
    let mut missing: HashSet<&str> = expected.iter().map(AsRef::as_ref).collect();
    let mut got = Vec::new();
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = match c.next(left) {
            Next::Frame(f) => f,
            Next::Timeout => panic!(
                "{} messages did not arrive within {FED_TIMEOUT:?}: {missing:?}; got {got:?}",
                missing.len()
            ),
            Next::Closed => panic!("the daemon closed the connection; got {got:?}"),
        };
        if is_presence(&frame) {
            continue;
        }
        assert_eq!(frame["method"], "peer.message", "unexpected frame {frame}");
        let message = frame["params"].clone();
        missing.remove(message["message_id"].as_str().expect("message_id"));
        got.push(message);
    }
    got
}
