//! `peer.publish`, `peer.subscribe`, `peer.unsubscribe`.

use crate::support::*;
use serde_json::{json, Value};

#[test]
fn publish_reaches_subscribers_but_not_the_publisher() {
    let d = Daemon::start();
    let mut p = d.peer("~/p");
    let mut s1 = d.peer("~/s");
    let mut s2 = d.peer("~/t");
    for c in [&mut p, &mut s1, &mut s2] {
        assert_eq!(c.subscribe("news"), json!({"topic": "news", "ok": true}));
    }
    let frames = p.request("peer.publish", json!({"topic": "news", "body": "headline"}));
    assert!(
        messages(&frames).is_empty(),
        "publisher got its own: {frames:?}"
    );
    let r = &frames.last().unwrap()["result"];
    assert_eq!(r["subscribers"], 2);
    for s in [&mut s1, &mut s2] {
        let m = s.expect_message();
        assert_eq!(m["message_id"], r["message_id"]);
        assert_eq!(m["to"], "topic:news");
        assert_eq!(m["from"], p.addr());
        assert_eq!(m["body"], "headline");
        assert_eq!(m["reply_to"], Value::Null);
    }
    s1.publish("news", json!("marker"));
    assert_eq!(p.expect_message()["body"], "marker");
}

#[test]
fn publish_without_subscribers_is_stored() {
    let d = Daemon::start();
    let mut p = d.peer("~/p");
    let r = p.publish("quiet", json!("into the void"));
    assert_eq!(r["subscribers"], 0);
    let stored = p.history(json!({"address": "topic:quiet"}));
    assert_eq!(ids(&stored), [r["message_id"].as_str().unwrap()]);
    assert_eq!(stored[0]["body"], "into the void");
}

#[test]
fn subscribe_replays_the_last_n_before_answering_oldest_first() {
    let d = Daemon::start();
    let mut p = d.peer("~/p");
    for i in 0..5 {
        p.publish("log", json!(i));
    }
    let mut s = d.peer("~/s");
    let frames = s.request("peer.subscribe", json!({"topic": "log", "replay": 3}));
    assert_eq!(methods(&frames), ["peer.message"; 3], "{frames:?}");
    assert_eq!(bodies(&messages(&frames)), [json!(2), json!(3), json!(4)]);
    assert_eq!(frames[3]["result"], json!({"topic": "log", "ok": true}));

    let mut all = d.peer("~/s");
    let frames = all.request("peer.subscribe", json!({"topic": "log", "replay": 50}));
    assert_eq!(bodies(&messages(&frames)).len(), 5);
    // Each stays connected: the peer_left of one closed could reach the next
    // before its response, as a frame besides it.
    let mut without_replay = Vec::new();
    for params in [
        json!({"topic": "log", "replay": 0}),
        json!({"topic": "log"}),
    ] {
        let mut none = d.peer("~/s");
        let frames = none.request("peer.subscribe", params);
        assert_eq!(frames.len(), 1, "{frames:?}");
        without_replay.push(none);
    }
    // Replay is followed by live delivery.
    p.publish("log", json!(5));
    assert_eq!(s.expect_message()["body"], 5);
}

#[test]
fn subscribe_since_resends_everything_after_that_message() {
    let d = Daemon::start();
    let mut p = d.peer("~/p");
    let sent: Vec<Value> = (0..4).map(|i| p.publish("log", json!(i))).collect();
    let mut s = d.peer("~/s");
    let frames = s.request(
        "peer.subscribe",
        json!({"topic": "log", "since": sent[1]["message_id"]}),
    );
    assert_eq!(
        bodies(&messages(&frames)),
        [json!(2), json!(3)],
        "{frames:?}"
    );
    assert_eq!(frames.last().unwrap()["result"]["ok"], true);
}

#[test]
fn subscribe_rejects_bad_replay() {
    let d = Daemon::start();
    let mut s = d.peer("~/s");
    for replay in [json!(-1), json!(1.5), json!("3"), json!([1])] {
        s.assert_err(
            "peer.subscribe",
            json!({"topic": "t", "replay": replay}),
            INVALID_PARAMS,
        );
    }
}

#[test]
fn topic_names_are_validated() {
    let d = Daemon::start();
    let mut c = d.peer("~/c");
    let bad = [
        json!(""),
        json!("/x"),
        json!("a#b"),
        json!("x".repeat(257)),
        json!(format!("{}a", "é".repeat(128))),
        json!(5),
    ];
    for topic in &bad {
        c.assert_err(
            "peer.publish",
            json!({"topic": topic, "body": 1}),
            INVALID_PARAMS,
        );
        c.assert_err("peer.subscribe", json!({"topic": topic}), INVALID_PARAMS);
        c.assert_err("peer.unsubscribe", json!({"topic": topic}), INVALID_PARAMS);
    }
    c.assert_err("peer.publish", json!({"body": 1}), INVALID_PARAMS);
    c.assert_err("peer.subscribe", json!({}), INVALID_PARAMS);
    // 256 bytes is fine, in ASCII or not; so are slashes inside and spaces.
    for topic in ["x".repeat(256), "é".repeat(128), "a/b c:d".to_string()] {
        c.publish(&topic, json!(1));
        c.subscribe(&topic);
    }
}

#[test]
fn unsubscribe_stops_delivery() {
    let d = Daemon::start();
    let mut p = d.peer("~/p");
    let mut s = d.peer("~/s");
    s.subscribe("news");
    s.subscribe("marker");
    assert_eq!(
        s.call("peer.unsubscribe", json!({"topic": "news"})),
        json!({"ok": true})
    );
    assert_eq!(p.publish("news", json!("missed"))["subscribers"], 0);
    p.publish("marker", json!("marker"));
    assert_eq!(s.expect_message()["body"], "marker");
    // Unsubscribing from a topic one is not subscribed to is fine.
    assert_eq!(
        s.call("peer.unsubscribe", json!({"topic": "never"})),
        json!({"ok": true})
    );
}

#[test]
fn subscriptions_end_with_the_connection() {
    let d = Daemon::start();
    let mut p = d.peer("~/p");
    let mut s = d.peer("~/s");
    s.subscribe("news");
    assert_eq!(p.publish("news", json!(1))["subscribers"], 1);
    drop(s);
    eventually("the subscription to go", TIMEOUT, || {
        p.publish("news", json!("probe"))["subscribers"] == 0
    });
}

/// [ext] Replays are read off the daemon's event thread; a message published
/// while one is being read reaches the subscriber exactly once, after the
/// replay and its response, whichever way the two cross.
#[test]
fn a_publish_racing_a_replay_arrives_once_and_after_it() {
    let d = Daemon::start();
    let mut p = d.peer("~/p");
    for round in 0..20 {
        let topic = format!("race{round}");
        for i in 0..3 {
            p.publish(&topic, json!(i));
        }
        let mut s = d.peer("~/s");
        s.send_json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "peer.subscribe",
                            "params": {"topic": topic, "replay": 10}}),
        );
        p.publish(&topic, json!(3));
        let mut frames = s.frames_until_response(&json!(1));
        let answered = frames.len();
        while bodies(&messages(&frames)).len() < 4 {
            frames.push(s.read_frame());
        }
        s.expect_silence(20);
        let got = bodies(&messages(&frames));
        assert_eq!(got, [json!(0), json!(1), json!(2), json!(3)], "{frames:?}");
        // Nothing of the replay after the response; only the live message may be.
        assert!(bodies(&messages(&frames[answered..]))
            .iter()
            .all(|b| b == &json!(3)));
    }
}
