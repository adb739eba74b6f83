//! [ext] Federation (issue 12): daemons as separate nodes (own socket, state
//! dir and `--node` name) exchanging DMs and publishes through a real
//! nats-server with JetStream. Each test asserts the exact message ids that
//! reach each agent, in order where a sender's order is promised, and that no
//! message surfaces twice, also across NATS restarts and `kill -9` of either
//! daemon.

use crate::support::federation::*;
use crate::support::nats::NatsServer;
use crate::support::*;
use serde_json::{json, Value};
use std::collections::HashSet;

/// The message id a `peer.send` or `peer.publish` answered with.
fn id_of(result: &Value) -> String {
    result["message_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no message_id in {result}"))
        .to_string()
}

/// `peer.send` of `body` to `to` on another node: answered as stored and
/// queued for that node, never as delivered here. Returns its message id.
fn send_remote(c: &mut Client, to: &str, body: Value) -> String {
    let result = c.send_dm(to, body);
    assert_eq!(
        (&result["delivered"], &result["queued"]),
        (&json!(0), &json!(true)),
        "{result}"
    );
    id_of(&result)
}

/// What an agent sees of `delivered` (message ids in arrival order): each id
/// once, where it first arrived, as the sidecar's inbox drops repeats by id.
/// Returns that, and the repeats the daemon sent.
fn agent_view(delivered: &[String]) -> (Vec<String>, Vec<String>) {
    let mut seen = HashSet::new();
    delivered
        .iter()
        .cloned()
        .partition(|id| seen.insert(id.clone()))
}

/// Has `a` send a DM to `to`, on another node, where `b` gets it. Once it has
/// arrived, both nodes have found the stream and made their consumers: what a
/// test does to NATS or a daemon next happens mid-stream, not mid-start-up.
fn warm_up(a: &mut Client, to: &str, b: &mut Client) {
    let id = send_remote(a, to, json!("warm-up"));
    assert_eq!(ids(&receive_all(b, &[&id])), [id]);
}

/// Nodes alpha and beta on `nats`, session `a` on alpha sending to session
/// `b` on beta at `to`, one DM through already.
struct Stream {
    nats: NatsServer,
    alpha: Daemon,
    /// Kept running for `b`.
    _beta: Daemon,
    a: Client,
    b: Client,
    to: String,
}

fn stream(nats: NatsServer) -> Stream {
    let urls = [nats.url()];
    let alpha = start_node(&urls, "alpha", &[]);
    let beta = start_node(&urls, "beta", &[]);
    let mut b = beta.peer("~/b");
    let mut a = alpha.peer("~/a");
    let to = on_node("beta", &format!("~/b#{}", b.sid()));
    warm_up(&mut a, &to, &mut b);
    Stream {
        nats,
        alpha,
        _beta: beta,
        a,
        b,
        to,
    }
}

/// The `(from, to)` of each of `msgs`.
fn ends(msgs: &[Value]) -> Vec<(&str, &str)> {
    msgs.iter()
        .map(|m| (m["from"].as_str().unwrap(), m["to"].as_str().unwrap()))
        .collect()
}

#[test]
fn dms_reach_another_node_by_home_sid_and_alias_and_replies_come_back() {
    let nats = NatsServer::start();
    let urls = [nats.url()];
    let alpha = start_node(&urls, "alpha", &[]);
    let beta = start_node(&urls, "beta", &[]);
    let mut a = alpha.peer("~/a");
    let mut b = beta.peer("~/b");
    let mut t = beta.peer("~/t");
    t.set_alias("tester");

    let by_home = send_remote(&mut a, &on_node("beta", "~/b"), json!("by home"));
    let b_sid = format!("~/b#{}", b.sid());
    let by_sid = send_remote(&mut a, &on_node("beta", &b_sid), json!("by sid"));
    let by_alias = send_remote(&mut a, &on_node("beta", "~/t#tester"), json!("by alias"));

    let from = addr_on("alpha", &a);
    let got = receive_all(&mut b, &[&by_home, &by_sid]);
    assert_eq!(ids(&got), [by_home.as_str(), by_sid.as_str()]);
    assert_eq!(bodies(&got), [json!("by home"), json!("by sid")]);
    let to_sid = format!("home:{b_sid}");
    assert_eq!(ends(&got), [(&*from, "home:~/b"), (&*from, &*to_sid)]);
    let got_t = receive_all(&mut t, &[&by_alias]);
    assert_eq!(ids(&got_t), [by_alias]);
    assert_eq!(ends(&got_t), [(&*from, "home:~/t#tester")]);

    // Each side's history has the DM under the address as that side names it.
    let sent = a.history(json!({"address": on_node("beta", &b_sid)}));
    assert_eq!(ids(&sent), [by_sid.as_str()]);
    assert_eq!(sent[0]["from"], a.addr());
    let stored = b.history(json!({"address": to_sid}));
    assert_eq!(ids(&stored), [by_sid]);
    assert_eq!(stored[0]["from"], from);

    // Replying to `from` reaches the sender's session on alpha.
    let reply = send_remote(&mut b, &from, json!("reply"));
    let back = receive_all(&mut a, &[&reply]);
    assert_eq!(ids(&back), [reply]);
    assert_eq!(ends(&back), [(&*addr_on("beta", &b), &*a.addr())]);
    assert_eq!(back[0]["body"], "reply");
}

#[test]
fn dm_filters_see_the_node_a_dm_comes_from() {
    let nats = NatsServer::start();
    let urls = [nats.url()];
    let alpha = start_node(&urls, "alpha", &[]);
    let beta = start_node(&urls, "beta", &[]);
    let mut a = alpha.peer("~/a");
    let mut remote_only = beta.peer("~/b");
    remote_only.call("peer.set_dm_filter", json!({"patterns": ["home@alpha:*"]}));
    let mut local_only = beta.peer("~/b");
    local_only.call("peer.set_dm_filter", json!({"patterns": ["home:*"]}));
    let mut neighbour = beta.peer("~/n");

    let remote = send_remote(&mut a, &on_node("beta", "~/b"), json!("remote"));
    let local = neighbour.send_dm("home:~/b", json!("local"));
    assert_eq!(local["delivered"], 1);
    let local = id_of(&local);
    // Each session's next message is the one its filter lets through.
    assert_eq!(ids(&receive_all(&mut remote_only, &[&remote])), [remote]);
    assert_eq!(local_only.expect_message()["message_id"], local.as_str());
    // The remote one went to one session of ~/b, so it was not queued.
    assert_eq!(
        beta.peer("~/w").call("peer.status", json!({}))["queued_dms"],
        0
    );
}

#[test]
fn publishes_reach_subscribers_history_and_replay_on_every_node() {
    let nats = NatsServer::start();
    let urls = [nats.url()];
    let names = ["alpha", "beta", "gamma"];
    let nodes: Vec<Daemon> = names.iter().map(|n| start_node(&urls, n, &[])).collect();
    let mut subscribers: Vec<Client> = nodes
        .iter()
        .map(|d| {
            let mut s = d.peer("~/s");
            s.subscribe("news");
            s
        })
        .collect();
    let mut publishers: Vec<Client> = nodes.iter().map(|d| d.peer("~/p")).collect();

    // Two rounds, each node publishing once per round.
    let mut by_origin: Vec<Vec<String>> = vec![Vec::new(); names.len()];
    for round in 0..2 {
        for (i, p) in publishers.iter_mut().enumerate() {
            let r = p.publish("news", json!(format!("{} {round}", names[i])));
            by_origin[i].push(id_of(&r));
        }
    }
    let all: Vec<String> = by_origin.concat();

    for (n, s) in subscribers.iter_mut().enumerate() {
        let got = receive_all(s, &all);
        assert_eq!(got.len(), all.len(), "a repeat on {}: {got:?}", names[n]);
        for (origin, sent) in by_origin.iter().enumerate() {
            let from = if origin == n {
                publishers[origin].addr()
            } else {
                addr_on(names[origin], &publishers[origin])
            };
            let of_origin: Vec<&Value> = got.iter().filter(|m| m["from"] == from).collect();
            let got_ids: Vec<&str> = of_origin
                .iter()
                .map(|m| m["message_id"].as_str().unwrap())
                .collect();
            assert_eq!(got_ids, *sent, "from {from} on {}", names[n]);
            assert!(of_origin.iter().all(|m| m["to"] == "topic:news"));
        }

        // History holds the same messages in the order they arrived; replay
        // gives the newest of them, oldest first.
        let history = s.history(json!({"address": "topic:news"}));
        assert_eq!(ids(&history), ids(&got), "history on {}", names[n]);
        let mut late = nodes[n].peer("~/late");
        for replay in [all.len(), 2] {
            let frames = late.request("peer.subscribe", json!({"topic": "news", "replay": replay}));
            let replayed = ids(&messages(&frames));
            assert_eq!(
                replayed,
                ids(&got)[all.len() - replay..],
                "replay on {}",
                names[n]
            );
        }
    }
}

#[test]
fn ack_mode_holds_a_remote_dm_until_it_is_acknowledged() {
    let nats = NatsServer::start();
    let urls = [nats.url()];
    let alpha = start_node(&urls, "alpha", &[]);
    let beta = start_node(&urls, "beta", &[]);
    let b_sid = sid();
    let (mut b, drained) = beta.ack_peer(&b_sid, "~/b");
    assert!(drained.is_empty(), "{drained:?}");
    let mut a = alpha.peer("~/a");
    let to = on_node("beta", &format!("~/b#{b_sid}"));
    let one = send_remote(&mut a, &to, json!("one"));
    let two = send_remote(&mut a, &to, json!("two"));
    let got = receive_all(&mut b, &[&one, &two]);
    assert_eq!(ids(&got), [one.as_str(), two.as_str()]);
    let acked = b.call("peer.ack", json!({"message_ids": [one]}));
    assert_eq!(acked, json!({"ok": true, "acked": 1}));
    drop(b);

    // The same sid again: the unacknowledged one comes back, as it was.
    let (mut b, again) = beta.ack_peer(&b_sid, "~/b");
    assert_eq!(ids(&again), [two.as_str()]);
    assert_eq!(
        ends(&again),
        [(&*addr_on("alpha", &a), &*format!("home:~/b#{b_sid}"))]
    );
    let acked = b.call("peer.ack", json!({"message_ids": [two]}));
    assert_eq!(acked, json!({"ok": true, "acked": 1}));
    drop(b);
    let (_b, after) = beta.ack_peer(&b_sid, "~/b");
    assert!(after.is_empty(), "{after:?}");
}

#[test]
fn a_remote_dm_for_nobody_waits_in_its_nodes_queue() {
    let nats = NatsServer::start();
    let urls = [nats.url()];
    let alpha = start_node(&urls, "alpha", &[]);
    let beta = start_node(&urls, "beta", &[]);
    let mut a = alpha.peer("~/a");
    let sent: Vec<String> = (0..3)
        .map(|i| send_remote(&mut a, &on_node("beta", "~/q"), json!(i)))
        .collect();
    let mut watcher = beta.peer("~/w");
    eventually("beta to queue the DMs", FED_TIMEOUT, || {
        watcher.call("peer.status", json!({}))["queued_dms"] == 3
    });

    let mut q = beta.connect();
    let frames = q.hello_frames(&sid(), "~/q");
    let got = messages(&frames);
    assert_eq!(ids(&got), sent);
    assert_eq!(ends(&got), [(&*addr_on("alpha", &a), "home:~/q"); 3]);
    assert_eq!(watcher.call("peer.status", json!({}))["queued_dms"], 0);
}

/// DMs streaming from alpha to a live session on beta while nats-server goes
/// away (`outage`) and comes back: every send is answered, and beta's session
/// gets every message once, in order.
fn dms_survive_a_nats_outage(outage: fn(&mut NatsServer)) {
    const N: usize = 200;
    let Stream {
        mut nats,
        alpha,
        mut a,
        mut b,
        to,
        _beta,
    } = stream(NatsServer::start());
    let mut sent = Vec::with_capacity(N);
    for i in 0..N {
        if i == N / 4 {
            outage(&mut nats);
        }
        if i == N / 2 {
            nats.restart();
        }
        sent.push(send_remote(&mut a, &to, json!(i)));
    }
    let got = receive_all(&mut b, &sent);
    assert_eq!(ids(&got), sent);
    wait_no_backlog(&alpha);
}

#[test]
fn dms_survive_a_nats_server_restart_mid_stream() {
    dms_survive_a_nats_outage(NatsServer::stop);
}

#[test]
fn dms_survive_a_nats_server_kill_9_mid_stream() {
    dms_survive_a_nats_outage(NatsServer::kill9);
}

/// A backlog built while NATS was down goes out as NATS returns; NATS dies
/// again in the middle of it. Whatever JetStream had stored by then, the rest
/// must not overtake what was lost with the connection.
#[test]
fn dms_keep_their_order_when_nats_dies_while_a_backlog_is_flushed() {
    const N: usize = 600;
    let Stream {
        mut nats,
        alpha,
        mut a,
        mut b,
        to,
        _beta,
    } = stream(NatsServer::start());
    nats.stop();
    let sent: Vec<String> = (0..N).map(|i| send_remote(&mut a, &to, json!(i))).collect();
    nats.restart();
    // Once JetStream has acknowledged some of the backlog, the rest is being
    // published: kill the server under it.
    eventually("alpha to flush part of its backlog", FED_TIMEOUT, || {
        federation_status(&alpha)["backlog"].as_u64() < Some(N as u64)
    });
    nats.kill9();
    nats.restart();
    let got = receive_all(&mut b, &sent);
    assert_eq!(ids(&got), sent);
    wait_no_backlog(&alpha);
}

#[test]
fn kill_9_of_the_receiving_daemon_mid_stream_loses_and_repeats_nothing() {
    const N: usize = 150;
    let nats = NatsServer::start();
    let urls = [nats.url()];
    let alpha = start_node(&urls, "alpha", &[]);
    // Room in the queue for every DM that arrives while nobody is connected.
    let mut beta = start_node(&urls, "beta", &["--dm-maxlen", "1000"]);
    let b_sid = sid();
    let (mut b, _) = beta.ack_peer(&b_sid, "~/b");
    let mut a = alpha.peer("~/a");
    let to = on_node("beta", &format!("~/b#{b_sid}"));

    // A first few, received and acknowledged: these must not come again.
    let acked: Vec<String> = (0..10)
        .map(|i| send_remote(&mut a, &to, json!(i)))
        .collect();
    let got = receive_all(&mut b, &acked);
    assert_eq!(ids(&got), acked);
    assert_eq!(
        b.call("peer.ack", json!({"message_ids": acked}))["acked"],
        10
    );

    let mut sent = acked.clone();
    let mut before_kill = Vec::new();
    for i in acked.len()..N {
        if i == N / 3 {
            beta.kill9();
            // What beta wrote to the session before it died.
            before_kill = ids(&messages(&b.expect_closed()));
        }
        if i == 2 * N / 3 {
            beta.restart();
        }
        sent.push(send_remote(&mut a, &to, json!(i)));
    }
    let (mut b, drained) = beta.ack_peer(&b_sid, "~/b");
    let mut delivered = [acked.clone(), before_kill.clone(), ids(&drained)].concat();
    let rest: Vec<String> = sent
        .iter()
        .filter(|id| !delivered.contains(id))
        .cloned()
        .collect();
    delivered.extend(ids(&receive_all(&mut b, &rest)));

    let (seen, repeats) = agent_view(&delivered);
    assert_eq!(seen, sent, "what the agent sees");
    // Only what beta delivered but never saw acknowledged comes again.
    for id in &repeats {
        assert!(
            before_kill.contains(id) && !acked.contains(id),
            "{id} repeated: {delivered:?}"
        );
    }
    // Beta stored each message once, in order.
    let history = b.history(json!({"address": format!("home:~/b#{b_sid}"), "limit": 1000}));
    assert_eq!(ids(&history), sent);
}

#[test]
fn kill_9_of_the_sending_daemon_mid_stream_loses_and_repeats_nothing() {
    const N: usize = 200;
    let mut nats = NatsServer::start();
    let urls = [nats.url()];
    let mut alpha = start_node(&urls, "alpha", &[]);
    let beta = start_node(&urls, "beta", &[]);
    let mut b = beta.peer("~/b");
    let a_sid = sid();
    // Alpha's session, again after each restart: the same sid, so `from`
    // stays the same.
    let session = |alpha: &Daemon| {
        let mut a = alpha.connect();
        a.hello(&a_sid, "~/a");
        a
    };
    let mut a = session(&alpha);
    let to = on_node("beta", &format!("~/b#{}", b.sid()));
    warm_up(&mut a, &to, &mut b);
    let mut sent = Vec::with_capacity(N);
    for i in 0..N {
        if i == N / 4 {
            // Between two answered sends, the link up: the outbox may be
            // publishing.
            alpha.kill9();
            alpha.restart();
            a = session(&alpha);
        }
        if i == N / 2 {
            nats.stop();
        }
        if i == 3 * N / 4 {
            // With what was sent meanwhile in the outbox, as NATS returns.
            nats.restart();
            alpha.kill9();
            alpha.restart();
            a = session(&alpha);
        }
        sent.push(send_remote(&mut a, &to, json!(i)));
    }
    let got = receive_all(&mut b, &sent);
    assert_eq!(ids(&got), sent);
    assert!(got.iter().all(|m| m["from"] == addr_on("alpha", &a)));
    wait_no_backlog(&alpha);
}

#[test]
fn a_daemon_started_while_nats_is_down_serves_and_catches_up() {
    let mut nats = NatsServer::start();
    nats.stop();
    let urls = [nats.url()];
    let alpha = start_node(&urls, "alpha", &[]);
    let beta = start_node(&urls, "beta", &[]);
    let status = federation_status(&alpha);
    assert_eq!(
        (&status["node"], &status["nats"]),
        (&json!("alpha"), &json!(nats.url()))
    );
    assert!(
        status["link"] == "connecting" || status["link"] == "down",
        "{status}"
    );

    // Local traffic is unaffected.
    let mut a = alpha.peer("~/a");
    let mut local = alpha.peer("~/l");
    local.subscribe("news");
    let dm = a.send_dm(&local.home_addr(), json!("local"));
    assert_eq!(dm["delivered"], 1);
    assert_eq!(local.expect_message()["message_id"], dm["message_id"]);

    // Remote sends and publishes are answered, and wait in the outbox.
    let mut b = beta.peer("~/b");
    b.subscribe("news");
    let remote = send_remote(
        &mut a,
        &on_node("beta", &format!("~/b#{}", b.sid())),
        json!("remote"),
    );
    let published = id_of(&a.publish("news", json!("published")));
    assert_eq!(local.expect_message()["message_id"], published.as_str());
    assert_eq!(federation_status(&alpha)["backlog"], 2);

    nats.restart();
    wait_link_up(&alpha);
    wait_link_up(&beta);
    // One of each kind: the order between a DM and a publish is not kept.
    let mut got = ids(&receive_all(&mut b, &[&remote, &published]));
    got.sort();
    let mut sent = [remote, published];
    sent.sort();
    assert_eq!(got, sent);
    wait_no_backlog(&alpha);
}

#[test]
fn node_qualified_addresses_are_checked_and_this_nodes_own_name_is_local() {
    let nats = NatsServer::start();
    let alpha = start_node(&[nats.url()], "alpha", &[]);
    let mut a = alpha.peer("~/a");
    for bad in [
        "home@not a node:~",
        "home@:~",
        "home@beta:relative",
        "home@beta",
    ] {
        a.assert_err("peer.send", json!({"to": bad, "body": 1}), INVALID_PARAMS);
    }

    // This node's own name: delivered here, as to the local address.
    let mut b = alpha.peer("~/b");
    let own = format!("~/b#{}", b.sid());
    let dm = a.send_dm(&on_node("alpha", &own), json!("own"));
    assert_eq!(
        (&dm["delivered"], &dm["queued"]),
        (&json!(1), &json!(false)),
        "{dm}"
    );
    let got = b.expect_message();
    assert_eq!(got["message_id"], dm["message_id"]);
    assert_eq!(got["from"], a.addr());
    assert_eq!(got["to"], format!("home:{own}"));
    let queued = a.send_dm(&on_node("alpha", "~/later"), json!("queued"));
    assert_eq!(
        (&queued["delivered"], &queued["queued"]),
        (&json!(0), &json!(true))
    );
    let mut later = alpha.connect();
    let frames = later.hello_frames(&sid(), "~/later");
    assert_eq!(ids(&messages(&frames)), [id_of(&queued)]);
    assert_eq!(federation_status(&alpha)["backlog"], 0);

    // Without --nats there are no other nodes to send to.
    let lone = Daemon::start();
    let mut c = lone.peer("~/c");
    let (code, message) = c.call_err("peer.send", json!({"to": "home@beta:~/b", "body": 1}));
    assert_eq!(code, INVALID_PARAMS, "{message}");
    assert!(message.contains("--nats"), "{message}");
}

/// A body too large for one NATS message is refused before it is stored,
/// whether sent to another node or published where publishes cross; the
/// same body stays deliverable on this node.
#[test]
fn a_body_too_large_to_cross_is_refused_with_a_clear_error() {
    let nats = NatsServer::start();
    let alpha = start_node(&[nats.url()], "alpha", &[]);
    let mut a = alpha.peer("~/a");
    let mut local = alpha.peer("~/l");
    let big = "x".repeat(600 * 1024);
    for (method, params) in [
        ("peer.send", json!({"to": "home@beta:~/b", "body": big})),
        ("peer.publish", json!({"topic": "t", "body": big})),
    ] {
        let (code, message) = a.call_err(method, params);
        assert_eq!(code, INVALID_PARAMS, "{method}: {message}");
        assert!(message.contains("too large"), "{message}");
    }
    assert_eq!(federation_status(&alpha)["backlog"], 0);
    assert_eq!(a.send_dm(&local.addr(), json!(big))["delivered"], 1);
    assert_eq!(
        local.expect_message()["body"].as_str().map(str::len),
        Some(big.len())
    );
}

/// A backlog on a nats-server with a small `max_payload` goes out in runs
/// that fit it, all of it, in order.
#[test]
fn a_backlog_flushes_in_runs_that_fit_a_small_max_payload() {
    const N: usize = 120;
    let Stream {
        mut nats,
        alpha,
        mut a,
        mut b,
        to,
        _beta,
    } = stream(NatsServer::with_config("max_payload: 65536\n"));
    nats.stop();
    // 120 KiB of messages: two NATS messages' worth at least.
    let body = "y".repeat(1024);
    let sent: Vec<String> = (0..N)
        .map(|i| send_remote(&mut a, &to, json!(format!("{i} {body}"))))
        .collect();
    nats.restart();
    let got = receive_all(&mut b, &sent);
    assert_eq!(ids(&got), sent);
    wait_no_backlog(&alpha);
}
