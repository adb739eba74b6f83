//! The router on its own: events in, operations out, no socket, disk or clock.
//! The harness "executes" operations by collecting their frames per
//! connection, as the store would after a commit.

use super::*;
use crate::call;
use crate::op::Kind;
use peer_proto::rpc::decode;
use peer_proto::PROTOCOL;
use serde_json::{json, Value};

struct Harness {
    router: Router,
    now: Now,
    /// Frames pushed to each connection, decoded; "close" for a close.
    frames: HashMap<ConnId, Vec<Value>>,
    /// Every operation that is not a frame.
    ops: Vec<Op>,
}

impl Harness {
    fn new() -> Self {
        let now = Now::read();
        Harness {
            router: Router::new(1, now.mono),
            now,
            frames: HashMap::new(),
            ops: Vec::new(),
        }
    }

    fn open(&mut self, conn: ConnId) {
        let ops = self.router.handle(Event::Open(conn), self.now);
        self.apply(ops);
    }

    fn close(&mut self, conn: ConnId) {
        let ops = self.router.handle(Event::Closed(conn), self.now);
        self.apply(ops);
    }

    fn call(&mut self, conn: ConnId, method: &str, params: Value) {
        let line =
            json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let env = decode(line.as_bytes()).unwrap();
        let parsed = call::parse(env.method, &env.params);
        let id = env.id.map(ToOwned::to_owned);
        let ops = self
            .router
            .handle(Event::Request { conn, id, parsed }, self.now);
        self.apply(ops);
    }

    fn push(&mut self, to: ConnId, out: &Out) {
        let frame = match out.frame() {
            Some(bytes) => serde_json::from_slice(bytes).unwrap(),
            None => json!("close"),
        };
        self.frames.entry(to).or_default().push(frame);
    }

    fn apply(&mut self, ops: Vec<Op>) {
        for op in ops {
            match op {
                Op::Push { to, out } => self.push(to, &out),
                Op::Fanout { to, out } => to.iter().for_each(|t| self.push(*t, &out)),
                Op::Respond { to, frame, .. } | Op::Error { to, frame } => {
                    self.push(to, &Out::Frame(frame))
                }
                other => self.ops.push(other),
            }
        }
    }

    fn hello(&mut self, conn: ConnId, sid: &str, home: &str) {
        self.open(conn);
        self.call(conn, "peer.hello", json!({"sid": sid, "home": home}));
        self.frames(conn);
    }

    /// Everything pushed to `conn` since the last call.
    fn frames(&mut self, conn: ConnId) -> Vec<Value> {
        self.frames.remove(&conn).unwrap_or_default()
    }

    fn result(&mut self, conn: ConnId) -> Value {
        self.frames(conn).last().cloned().unwrap()
    }
}

const A: &str = "sess_aaaaaaaaaaaaaaaa";
const B: &str = "sess_bbbbbbbbbbbbbbbb";
const C: &str = "sess_cccccccccccccccc";

#[test]
fn hello_first_then_one_hello_and_unique_sids() {
    let mut h = Harness::new();
    h.open(1);
    h.call(1, "peer.list_peers", json!({}));
    assert_eq!(h.result(1)["error"]["code"], -32000);
    h.call(1, "peer.nope", json!({}));
    assert_eq!(h.result(1)["error"]["code"], -32601);
    h.call(1, "peer.hello", json!({"sid": A, "home": "~/p"}));
    assert_eq!(h.result(1)["result"]["protocol"], PROTOCOL);
    h.call(1, "peer.hello", json!({"sid": A, "home": "~/p"}));
    assert_eq!(h.result(1)["error"]["code"], -32600);
    h.open(2);
    h.call(2, "peer.hello", json!({"sid": A, "home": "~/q"}));
    assert_eq!(h.result(2)["error"]["code"], -32011);
}

#[test]
fn alias_is_unique_per_home_and_released_on_close() {
    let mut h = Harness::new();
    h.hello(1, A, "~/p");
    h.hello(2, B, "~/p");
    h.hello(3, C, "~/q");
    h.frames(1);
    h.call(1, "peer.set_alias", json!({"alias": "architect"}));
    let frames = h.frames(1);
    assert_eq!(
        frames[0]["method"], "peer.alias_changed",
        "caller is told too"
    );
    assert_eq!(frames[1]["result"]["alias"], "architect");
    h.call(2, "peer.set_alias", json!({"alias": "architect"}));
    assert_eq!(h.frames(2).last().unwrap()["error"]["code"], -32010);
    h.call(3, "peer.set_alias", json!({"alias": "architect"}));
    assert_eq!(
        h.frames(3).last().unwrap()["result"]["ok"],
        true,
        "other home"
    );
    h.close(1);
    h.frames(2);
    h.call(2, "peer.set_alias", json!({"alias": "architect"}));
    assert_eq!(h.frames(2).last().unwrap()["result"]["alias"], "architect");
}

#[test]
fn dms_skip_the_sender_and_respect_filters() {
    let mut h = Harness::new();
    h.hello(1, A, "~/p");
    h.hello(2, B, "~/p");
    h.hello(3, C, "~/p");
    h.frames(1);
    h.frames(2);
    h.call(3, "peer.set_dm_filter", json!({"patterns": ["*#sess_b*"]}));
    h.call(1, "peer.send", json!({"to": "home:~/p", "body": 1}));
    let result = h.result(1)["result"].clone();
    assert_eq!(result["delivered"], 1);
    assert_eq!(result["queued"], false);
    let got = h.frames(2);
    assert_eq!(got[0]["params"]["from"], format!("home:~/p#{A}"));
    assert_eq!(got[0]["params"]["seq"], 1);
    assert!(h.frames(3).iter().all(|f| f["method"] != "peer.message"));
    assert!(h.ops.iter().any(|op| matches!(
        op,
        Op::Insert {
            queued: false,
            kind: Kind::Dm,
            ..
        }
    )));
}

#[test]
fn undeliverable_dms_are_queued_and_drained_at_hello() {
    let mut h = Harness::new();
    h.hello(1, A, "~/p");
    h.call(
        1,
        "peer.send",
        json!({"to": format!("home:~/q#{B}"), "body": 1}),
    );
    assert_eq!(h.result(1)["result"]["queued"], true);
    h.ops.clear();
    h.hello(2, B, "~/q");
    match &h.ops[..] {
        [Op::Drain { addresses, .. }] => {
            assert_eq!(
                addresses,
                &["home:~/q".to_string(), format!("home:~/q#{B}")]
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn watchers_get_wire_copies_except_of_their_own_traffic() {
    let mut h = Harness::new();
    h.hello(1, A, "~/p");
    h.hello(2, B, "~/q");
    h.hello(3, C, "~/w");
    h.call(3, "peer.watch", json!({"to_filter": ["home:~/q*"]}));
    h.call(2, "peer.watch", json!({}));
    h.frames(3);
    h.frames(2);
    h.call(1, "peer.send", json!({"to": "home:~/q", "body": "x"}));
    let w = h.frames(3);
    assert_eq!(w[0]["method"], "peer.wire_message");
    assert_eq!(w[0]["params"]["delivered"], 1);
    let r = h.frames(2);
    assert_eq!(r.len(), 1, "the recipient gets the message once: {r:?}");
    assert_eq!(r[0]["method"], "peer.message");
    h.call(1, "peer.send", json!({"to": "home:~/z", "body": "y"}));
    assert!(h.frames(3).is_empty(), "to_filter excludes ~/z");
    assert_eq!(h.frames(2)[0]["params"]["queued"], true);
}

#[test]
fn invisible_sessions_are_not_listed_and_drain_nothing() {
    let mut h = Harness::new();
    h.hello(1, A, "~/p");
    h.ops.clear();
    h.open(2);
    h.call(
        2,
        "peer.hello",
        json!({"sid": B, "home": "~/p", "presence": false}),
    );
    assert!(h.ops.is_empty(), "no drain: {:?}", h.ops);
    assert!(h.frames(1).is_empty(), "no joined");
    h.frames(2);
    h.call(2, "peer.list_peers", json!({}));
    let peers = h.result(2)["result"]["peers"].clone();
    assert_eq!(peers[0]["sessions"].as_array().unwrap().len(), 1);
    h.call(1, "peer.send", json!({"to": "home:~/p", "body": 1}));
    assert_eq!(
        h.result(1)["result"]["delivered"],
        0,
        "no share of broadcasts"
    );
}

#[test]
fn shutdown_tells_subscribers_then_closes_everyone() {
    let mut h = Harness::new();
    h.hello(1, A, "~/p");
    h.call(1, "peer.subscribe", json!({"topic": "t"}));
    h.frames(1);
    let ops = h.router.shutdown();
    h.apply(ops);
    let frames = h.frames(1);
    assert_eq!(frames[0]["method"], "peer.subscription_lost");
    assert_eq!(frames[0]["params"]["topic"], "t");
    assert_eq!(frames[1], json!("close"));
}

#[test]
fn time_is_an_input() {
    let mut h = Harness::new();
    h.now.unix = 1234.5;
    h.hello(1, A, "~/p");
    h.hello(2, B, "~/q");
    h.call(1, "peer.send", json!({"to": "home:~/q", "body": 1}));
    assert_eq!(h.frames(2)[0]["params"]["ts"], 1234.5);
    h.now.mono += std::time::Duration::from_secs(90);
    h.call(1, "peer.status", json!({}));
    match h.ops.last() {
        Some(Op::Answer {
            query: Query::Status(live),
            ..
        }) => assert_eq!(live.uptime_s, 90.0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ack_mode_is_an_operation_before_the_drain() {
    let mut h = Harness::new();
    h.open(1);
    h.call(
        1,
        "peer.hello",
        json!({"sid": A, "home": "~/p", "ack": true}),
    );
    assert!(matches!(
        &h.ops[..],
        [Op::HoldForAck(1), Op::Drain { to: 1, .. }]
    ));
}

#[test]
fn events_for_unknown_connections_are_ignored_not_fatal() {
    let mut h = Harness::new();
    h.call(9, "peer.send", json!({"to": "home:~", "body": 1}));
    h.close(9);
    assert!(h.frames.is_empty() && h.ops.is_empty());
}

#[test]
fn a_rolled_back_batch_leaves_no_trace() {
    let mut h = Harness::new();
    h.hello(1, A, "~/p");
    h.call(1, "peer.subscribe", json!({"topic": "kept"}));
    h.router.settle();
    h.call(1, "peer.set_alias", json!({"alias": "boss"}));
    h.call(1, "peer.subscribe", json!({"topic": "t"}));
    h.call(1, "peer.unsubscribe", json!({"topic": "kept"}));
    h.call(1, "peer.set_dm_filter", json!({"patterns": []}));
    h.call(1, "peer.watch", json!({}));
    h.hello(2, B, "~/q");
    h.router.roll_back();
    h.frames(1);

    let peers = h.router.list_peers().peers;
    assert_eq!(peers.len(), 1, "B's hello was undone");
    let a = &peers[0].sessions[0];
    assert_eq!(
        (a.alias.as_deref(), &a.subscriptions[..]),
        (None, &["kept".to_owned()][..])
    );
    h.open(3);
    h.call(3, "peer.hello", json!({"sid": B, "home": "~/q"}));
    assert_eq!(h.result(3)["result"]["sid"], B, "B's sid is free again");
    h.call(3, "peer.set_alias", json!({"alias": "boss"}));
    h.call(3, "peer.send", json!({"to": "home:~/p", "body": 1}));
    assert_eq!(h.result(3)["result"]["delivered"], 1, "A's filter is back");
    assert!(h.router.watchers.is_empty(), "the watch was undone");
    assert!(h.router.conns[&1].watch.is_none());
    h.call(3, "peer.publish", json!({"topic": "kept", "body": 2}));
    assert_eq!(h.result(3)["result"]["subscribers"], 1);
}

/// The message ops on `topic:leases`: their `event`s in order.
fn lease_events(h: &mut Harness) -> Vec<String> {
    let events = h
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::Insert { message, .. } if message.to == "topic:leases" => {
                let body: Value = serde_json::from_str(message.body.get()).unwrap();
                Some(body["event"].as_str().unwrap().to_owned())
            }
            _ => None,
        })
        .collect();
    h.ops.clear();
    events
}

#[test]
fn exclusive_leases_refuse_overlaps_and_shared_ones_report_them() {
    let mut h = Harness::new();
    h.hello(1, A, "~/p");
    h.hello(2, B, "~/p");
    h.call(
        1,
        "peer.lease",
        json!({"paths": ["src/*"], "reason": "refactor"}),
    );
    let r = h.result(1)["result"].clone();
    assert_eq!(r["granted"], true);
    assert_eq!(r["lease"]["holder"], format!("home:~/p#{A}"));
    assert!(r["lease"]["lease_id"]
        .as_str()
        .unwrap()
        .starts_with("lease_"));
    assert_eq!(lease_events(&mut h), ["granted"]);
    // B's exclusive lease on an overlapping glob is refused, naming A's.
    h.call(2, "peer.lease", json!({"paths": ["*.rs"], "ttl_s": 60}));
    let r = h.result(2)["result"].clone();
    assert_eq!(r["granted"], false);
    assert_eq!(r["lease"], Value::Null);
    assert_eq!(r["conflicts"][0]["reason"], "refactor");
    assert_eq!(r["conflicts"][0]["paths"], json!(["src/*"]));
    assert!(lease_events(&mut h).is_empty());
    // A disjoint one is granted; a shared overlapping one is granted with
    // its conflict reported.
    h.call(2, "peer.lease", json!({"paths": ["docs/*"]}));
    assert_eq!(h.result(2)["result"]["granted"], true);
    h.call(
        2,
        "peer.lease",
        json!({"paths": ["src/a.rs"], "exclusive": false}),
    );
    let r = h.result(2)["result"].clone();
    assert_eq!(r["granted"], true);
    assert_eq!(r["conflicts"].as_array().unwrap().len(), 1);
    // A's own leases never conflict with each other.
    h.call(
        1,
        "peer.lease",
        json!({"paths": ["src/lib.rs"], "exclusive": false}),
    );
    assert_eq!(h.result(1)["result"]["conflicts"], json!([]));
    h.call(1, "peer.leases", json!({"path": "src/a.rs"}));
    // src/* and the shared src/a.rs; not src/lib.rs.
    assert_eq!(h.result(1)["result"]["leases"].as_array().unwrap().len(), 2);
    h.call(1, "peer.leases", json!({}));
    assert_eq!(h.result(1)["result"]["leases"].as_array().unwrap().len(), 4);
}

#[test]
fn leases_renew_release_and_expire_on_time() {
    let mut h = Harness::new();
    h.hello(1, A, "~/p");
    h.hello(2, B, "~/p");
    h.call(1, "peer.lease", json!({"paths": ["a"], "ttl_s": 10}));
    let id = h.result(1)["result"]["lease"]["lease_id"].clone();
    h.call(1, "peer.lease", json!({"paths": ["b"], "ttl_s": 10}));
    h.frames(1);
    // Only the holder renews.
    h.call(2, "peer.lease_renew", json!({"lease_id": id, "ttl_s": 30}));
    assert_eq!(h.result(2)["error"]["code"], -32602);
    h.call(1, "peer.lease_renew", json!({"lease_id": id, "ttl_s": 30}));
    let expires = h.result(1)["result"]["lease"]["expires"].as_f64().unwrap();
    assert!((expires - (h.now.unix + 30.0)).abs() < 1e-6);
    lease_events(&mut h);
    // Past b's TTL it no longer counts, and the tick ends it.
    h.now.unix += 11.0;
    h.call(2, "peer.lease", json!({"paths": ["b"]}));
    assert_eq!(h.result(2)["result"]["granted"], true);
    let ops = h.router.handle(Event::Tick, h.now);
    h.apply(ops);
    assert_eq!(lease_events(&mut h), ["granted", "expired"]);
    // Releasing all of A's.
    h.call(1, "peer.lease_release", json!({"all": true}));
    assert_eq!(h.result(1)["result"]["released"], json!([id]));
    assert_eq!(lease_events(&mut h), ["released"]);
    h.call(1, "peer.leases", json!({}));
    assert_eq!(h.result(1)["result"]["leases"].as_array().unwrap().len(), 1);
}

#[test]
fn a_lease_waits_the_grace_period_for_its_holder() {
    let mut h = Harness::new();
    h.router.set_lease_grace(5.0);
    h.hello(1, A, "~/p");
    h.hello(2, B, "~/p");
    h.call(1, "peer.lease", json!({"paths": ["a"]}));
    h.frames(1);
    h.close(1);
    // Back within the grace with the same sid: the lease stays.
    h.now.unix += 4.0;
    h.hello(3, A, "~/p");
    h.now.unix += 4.0;
    let ops = h.router.handle(Event::Tick, h.now);
    assert!(ops.is_empty());
    h.call(2, "peer.lease", json!({"paths": ["a"]}));
    assert_eq!(h.result(2)["result"]["granted"], false);
    // Gone for longer than the grace: it ends.
    h.close(3);
    h.now.unix += 5.5;
    h.call(2, "peer.lease", json!({"paths": ["a"]}));
    assert_eq!(h.result(2)["result"]["granted"], true);
}

#[test]
fn a_failed_batch_takes_its_lease_back() {
    let mut h = Harness::new();
    h.hello(1, A, "~/p");
    h.router.settle();
    h.call(1, "peer.lease", json!({"paths": ["a"]}));
    h.router.roll_back();
    h.call(1, "peer.leases", json!({}));
    assert_eq!(h.result(1)["result"]["leases"], json!([]));
}
