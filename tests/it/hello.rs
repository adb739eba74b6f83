//! `peer.hello`: identity checks, queue draining, presence notifications.

use crate::support::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

#[test]
fn hello_returns_peer_id_sid_and_server_version() {
    let d = Daemon::start();
    let mut c = d.connect();
    let s = sid();
    let result = c.hello(&s, "~/proj");
    assert_eq!(result["peer_id"], "home:~/proj");
    assert_eq!(result["sid"], s.as_str());
    let version = result["server_version"].as_str().expect("server_version");
    assert!(!version.is_empty());
}

#[test]
fn hello_announces_protocol_and_features() {
    let d = Daemon::start();
    let result = d.connect().hello(&sid(), "~/proj");
    assert_eq!(result["protocol"], "blemees-peer/1");
    assert!(result["features"].is_array(), "features: {result}");
}

#[test]
fn second_hello_on_a_connection_is_an_invalid_request() {
    let d = Daemon::start();
    let mut c = d.peer("~/proj");
    c.assert_err(
        "peer.hello",
        json!({"sid": sid(), "home": "~/proj"}),
        INVALID_REQUEST,
    );
    c.assert_err(
        "peer.hello",
        json!({"sid": c.sid(), "home": "~/proj"}),
        INVALID_REQUEST,
    );
    // Still the same session.
    let peers = c.list_peers();
    assert_eq!(sessions_of(&peers, "home:~/proj").len(), 1);
}

#[test]
fn any_other_method_before_hello_requires_hello() {
    let d = Daemon::start();
    let mut c = d.connect();
    let calls = [
        ("peer.set_alias", json!({"alias": "bob"})),
        ("peer.set_dm_filter", json!({"patterns": ["*"]})),
        ("peer.send", json!({"to": "home:~/x", "body": "hi"})),
        ("peer.publish", json!({"topic": "t", "body": "hi"})),
        ("peer.subscribe", json!({"topic": "t"})),
        ("peer.unsubscribe", json!({"topic": "t"})),
        ("peer.list_peers", json!({})),
        ("peer.list_topics", json!({})),
        ("peer.history", json!({"address": "topic:t"})),
        ("peer.watch", json!({})),
        ("peer.unwatch", json!({})),
    ];
    for (method, params) in calls {
        c.assert_err(method, params, HELLO_REQUIRED);
    }
    // Nothing above took effect, and the connection still accepts hello.
    c.hello(&sid(), "~/proj");
    assert!(c.list_topics().is_empty());
    assert!(c.history(json!({"address": "home:~/x"})).is_empty());
}

#[test]
fn hello_rejects_malformed_sids() {
    let d = Daemon::start();
    let mut c = d.connect();
    let bad: [Value; 8] = [
        json!("sess_short"),
        json!("sess_ABCDEFGHIJKLMNOPQ"),
        json!("sess_ABCDEFGHIJKLMNO!"),
        json!("SESS_ABCDEFGHIJKLMNOP"),
        json!("ABCDEFGHIJKLMNOPQRSTU"),
        json!(""),
        json!(42),
        Value::Null,
    ];
    for sid in bad {
        c.assert_err(
            "peer.hello",
            json!({"sid": sid, "home": "~/proj"}),
            INVALID_PARAMS,
        );
    }
    c.assert_err("peer.hello", json!({"home": "~/proj"}), INVALID_PARAMS);
    // The connection survives and a valid sid (all allowed characters) works.
    c.hello("sess_aZ09_-aZ09_-aZ09", "~/proj");
}

#[test]
fn hello_rejects_homes_that_are_not_canonical() {
    let d = Daemon::start();
    let mut c = d.connect();
    let bad = [
        json!("~/a/"),
        json!("~/a/../b"),
        json!("~/./a"),
        json!("relative"),
        json!("/a//b"),
        json!("/a/"),
        json!(""),
        json!("~user/x"),
        json!(7),
    ];
    for home in bad {
        c.assert_err(
            "peer.hello",
            json!({"sid": sid(), "home": home}),
            INVALID_PARAMS,
        );
    }
    c.assert_err("peer.hello", json!({"sid": sid()}), INVALID_PARAMS);
    for home in ["~", "/", "/tmp/scratch", "~/a.b/c-d"] {
        let result = d.connect().hello(&sid(), home);
        assert_eq!(result["peer_id"], format!("home:{home}"));
    }
}

#[test]
fn sid_of_a_live_connection_is_in_use_until_it_disconnects() {
    let d = Daemon::start();
    let s = sid();
    let mut first = d.connect();
    first.hello(&s, "~/a");
    d.connect()
        .assert_err("peer.hello", json!({"sid": s, "home": "~/a"}), SID_IN_USE);
    d.connect().assert_err(
        "peer.hello",
        json!({"sid": s, "home": "~/elsewhere"}),
        SID_IN_USE,
    );
    drop(first);
    let (again, _) = d.hello_when_free(json!({"sid": s, "home": "~/a"}));
    assert_eq!(again.sid(), s);
}

/// Queues one DM to each of `addresses` (in order) from a session in `~/sender`;
/// returns their message ids.
fn queue_dms(d: &Daemon, addresses: &[&str]) -> Vec<String> {
    let mut sender = d.peer("~/sender");
    addresses
        .iter()
        .enumerate()
        .map(|(i, to)| {
            let r = sender.send_dm(to, json!({"n": i}));
            assert_eq!(r["delivered"], 0, "nobody should be listening on {to}");
            r["message_id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn hello_drains_home_and_sid_queues_before_its_response() {
    let d = Daemon::start();
    let s = sid();
    let for_sid = format!("home:~/b#{s}");
    let queued = queue_dms(
        &d,
        &["home:~/b", &for_sid, "home:~/b#sess_someoneelse00000"],
    );
    let mut b = d.connect();
    let frames = b.hello_frames(&s, "~/b");
    let mut got = ids(&messages(&frames));
    got.sort();
    let mut want = queued[..2].to_vec();
    want.sort();
    assert_eq!(got, want, "frames: {frames:?}");
    // Drained means gone: another session of the home gets nothing.
    let mut b2 = d.connect();
    let frames = b2.hello_frames(&sid(), "~/b");
    assert!(messages(&frames).is_empty(), "{frames:?}");
}

#[test]
fn hello_drains_both_queues_oldest_first() {
    let d = Daemon::start();
    let s = sid();
    let for_sid = format!("home:~/b#{s}");
    let queued = queue_dms(&d, &["home:~/b", &for_sid, "home:~/b", &for_sid]);
    let mut b = d.connect();
    let frames = b.hello_frames(&s, "~/b");
    assert_eq!(ids(&messages(&frames)), queued, "frames: {frames:?}");
}

#[test]
fn peer_joined_goes_to_every_other_session_not_the_joiner() {
    let d = Daemon::start();
    let mut same_home = d.peer("~/b");
    let mut other_home = d.peer("~/a");
    let mut b = d.connect();
    let s = sid();
    let frames = b.hello_frames(&s, "~/b");
    assert!(methods(&frames).is_empty(), "joiner got {frames:?}");
    for watcher in [&mut same_home, &mut other_home] {
        let joined = watcher.expect_presence("peer.peer_joined", &s);
        assert_eq!(joined["peer_id"], "home:~/b");
        assert_eq!(joined["alias"], Value::Null);
        assert!(joined["ts"].is_f64(), "ts: {joined}");
    }
    // The joiner's next frame is the answer to its next request.
    let frames = b.request("peer.list_topics", json!({}));
    assert_eq!(frames.len(), 1, "joiner got {frames:?}");
}

#[test]
fn peer_left_carries_the_alias_when_a_session_disconnects() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    let b_sid = b.sid().to_string();
    b.set_alias("bob");
    drop(b);
    let left = a.expect_presence("peer.peer_left", &b_sid);
    assert_eq!(left["peer_id"], "home:~/b");
    assert_eq!(left["alias"], "bob");
    assert!(left["ts"].is_f64(), "ts: {left}");
    assert!(session_with_sid(&a.list_peers(), &b_sid).is_none());
}

#[test]
fn hello_without_presence_is_hidden_and_announces_nothing() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut operator = d.connect();
    let op_sid = sid();
    operator.call(
        "peer.hello",
        json!({"sid": op_sid, "home": "~/ops", "presence": false}),
    );
    assert!(
        session_with_sid(&a.list_peers(), &op_sid).is_none(),
        "operator listed"
    );
    // The next presence event `a` sees is the later joiner's, not the operator's.
    let c = d.peer("~/c");
    let joined = a.expect_notification("peer.peer_joined");
    assert_eq!(joined["sid"], c.sid());
    let c_sid = c.sid().to_string();
    drop(operator);
    drop(c);
    let left = a.expect_notification("peer.peer_left");
    assert_eq!(
        left["sid"],
        c_sid.as_str(),
        "operator's leave was announced"
    );
}

#[test]
fn hello_without_presence_does_not_drain_its_home_queue() {
    let d = Daemon::start();
    let queued = queue_dms(&d, &["home:~/b"]);
    let mut operator = d.connect();
    let frames = operator.request(
        "peer.hello",
        json!({"sid": sid(), "home": "~/b", "presence": false}),
    );
    assert!(messages(&frames).is_empty(), "operator drained {frames:?}");
    let mut b = d.connect();
    let frames = b.hello_frames(&sid(), "~/b");
    assert_eq!(ids(&messages(&frames)), queued);
}

#[test]
fn hello_drains_a_queue_larger_than_the_outbox_bound() {
    let d = Daemon::start_with(&["--max-outbox-bytes", "1048576"]);
    let mut a = d.peer("~/a");
    let s = sid();
    let pad = "z".repeat(100_000);
    let sent: BTreeSet<String> = (0..100)
        .map(|i| {
            let r = a.send_dm(&format!("home:~/b#{s}"), json!({"i": i, "pad": pad}));
            r["message_id"].as_str().unwrap().to_string()
        })
        .collect();
    // 10 MB queued; the new session reads it all as it comes.
    let mut b = d.connect();
    let frames = b.hello_frames(&s, "~/b");
    let got: BTreeSet<String> = ids(&messages(&frames)).into_iter().collect();
    assert_eq!(got, sent);
}
