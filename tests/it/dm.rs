//! `peer.send` and `peer.set_dm_filter`: addressing, message shape, queueing, filters.

use crate::support::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

#[test]
fn send_answers_message_id_and_delivered_count() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let b = d.peer("~/b");
    let r = a.send_dm(&b.addr(), json!("hi"));
    assert!(
        r["message_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{r}"
    );
    assert_eq!(r["delivered"], 1);
}

#[test]
fn send_reports_whether_it_queued() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let b = d.peer("~/b");
    let live = a.send_dm(&b.addr(), json!("hi"));
    assert_eq!(live["queued"], false, "{live}");
    let absent = a.send_dm("home:~/nobody", json!("hi"));
    assert_eq!(absent["delivered"], 0);
    assert_eq!(absent["queued"], true, "{absent}");
}

#[test]
fn peer_message_has_exactly_the_spec_fields() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    a.set_alias("alice");
    let before = now();
    let r = a.send_dm(&b.addr(), json!({"k": "v"}));
    let m = b.expect_message();
    let keys = fields_but_seq(&m);
    let want: BTreeSet<&str> = [
        "message_id",
        "from",
        "from_alias",
        "to",
        "body",
        "reply_to",
        "ts",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, want, "{m}");
    assert_eq!(m["message_id"], r["message_id"]);
    assert_eq!(
        m["from"],
        a.addr(),
        "from is the sid form even with an alias"
    );
    assert_eq!(m["from_alias"], "alice");
    assert_eq!(m["to"], b.addr());
    assert_eq!(m["body"], json!({"k": "v"}));
    assert_eq!(m["reply_to"], Value::Null);
    let ts = m["ts"].as_f64().expect("float ts");
    assert!(
        (before - 1.0..now() + 1.0).contains(&ts),
        "ts {ts} vs {before}"
    );
}

#[test]
fn from_alias_is_the_alias_at_send_time() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    a.send_dm(&b.addr(), json!(1));
    a.set_alias("first");
    a.send_dm(&b.addr(), json!(2));
    a.set_alias("second");
    let got: Vec<Value> = (0..2)
        .map(|_| b.expect_message()["from_alias"].clone())
        .collect();
    assert_eq!(got, [Value::Null, json!("first")]);
}

#[test]
fn peer_message_carries_a_growing_seq() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    a.send_dm(&b.addr(), json!(1));
    a.send_dm(&b.addr(), json!(2));
    let first = b.expect_message()["seq"].as_u64().expect("integer seq");
    let second = b.expect_message()["seq"].as_u64().expect("integer seq");
    assert!(second > first, "seq {first} then {second}");
}

#[test]
fn send_by_sid_reaches_only_that_session() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b1 = d.peer("~/b");
    let mut b2 = d.peer("~/b");
    assert_eq!(a.send_dm(&b1.addr(), json!("for b1"))["delivered"], 1);
    assert_eq!(a.send_dm(&b2.addr(), json!("for b2"))["delivered"], 1);
    assert_eq!(b1.expect_message()["body"], "for b1");
    assert_eq!(b2.expect_message()["body"], "for b2");
}

#[test]
fn send_by_alias_reaches_the_alias_holder() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b1 = d.peer("~/b");
    let mut b2 = d.peer("~/b");
    b2.set_alias("bob");
    let r = a.send_dm("home:~/b#bob", json!("for bob"));
    assert_eq!(r["delivered"], 1);
    let m = b2.expect_message();
    assert_eq!(
        (m["to"].clone(), m["body"].clone()),
        (json!("home:~/b#bob"), json!("for bob"))
    );
    a.send_dm(&b1.addr(), json!("marker"));
    assert_eq!(b1.expect_message()["body"], "marker");
}

#[test]
fn home_broadcast_reaches_every_session_of_the_home_but_the_sender() {
    let d = Daemon::start();
    let mut a1 = d.peer("~/a");
    let mut a2 = d.peer("~/a");
    let mut b1 = d.peer("~/b");
    let mut b2 = d.peer("~/b");
    let mut c = d.peer("~/c");
    assert_eq!(a1.send_dm("home:~/b", json!("to b"))["delivered"], 2);
    for b in [&mut b1, &mut b2] {
        let m = b.expect_message();
        assert_eq!(
            (m["to"].clone(), m["body"].clone()),
            (json!("home:~/b"), json!("to b"))
        );
    }
    let frames = a1.request("peer.send", json!({"to": "home:~/a", "body": "own home"}));
    assert!(
        messages(&frames).is_empty(),
        "sender got its own: {frames:?}"
    );
    assert_eq!(frames.last().unwrap()["result"]["delivered"], 1);
    assert_eq!(a2.expect_message()["body"], "own home");
    // The sender gets nothing later either, and other homes got nothing.
    c.send_dm(&a1.addr(), json!("marker"));
    assert_eq!(a1.expect_message()["body"], "marker");
    a1.send_dm(&c.addr(), json!("marker"));
    assert_eq!(c.expect_message()["body"], "marker");
}

#[test]
fn sender_alone_in_its_home_queues_a_send_to_it() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    assert_eq!(a.send_dm("home:~/a", json!("note"))["delivered"], 0);
    let mut a2 = d.connect();
    let frames = a2.hello_frames(&sid(), "~/a");
    assert_eq!(bodies(&messages(&frames)), [json!("note")]);
}

#[test]
fn body_can_be_any_json_value() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    let values = [
        json!({"nested": {"list": [1, 2.5, "x", null, true]}, "ü": "ñ ✓"}),
        json!("plain string with \"quotes\" and \\ and \n newline"),
        json!(42),
        json!(-1.5),
        json!(null),
        json!([1, [2, [3]]]),
        json!(false),
    ];
    for v in &values {
        a.send_dm(&b.addr(), v.clone());
    }
    let got: Vec<Value> = values
        .iter()
        .map(|_| b.expect_message()["body"].clone())
        .collect();
    assert_eq!(got, values);
}

#[test]
fn reply_to_string_passes_through() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    let to = b.addr();
    a.call(
        "peer.send",
        json!({"to": to, "body": "re", "reply_to": "msg_original"}),
    );
    assert_eq!(b.expect_message()["reply_to"], "msg_original");
}

#[test]
fn reply_to_must_be_a_string() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    for reply_to in [json!(5), json!({}), json!(["msg"])] {
        a.assert_err(
            "peer.send",
            json!({"to": "home:~/b", "body": 1, "reply_to": reply_to}),
            INVALID_PARAMS,
        );
    }
    assert!(a.history(json!({"address": "home:~/b"})).is_empty());
}

#[test]
fn send_needs_a_home_address() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let bad = [
        json!("topic:news"),
        json!("garbage"),
        json!("home:relative"),
        json!("home:~/b/"),
        json!("home:~/b#Not-An-Alias"),
        json!("home:~/b#"),
        json!(""),
        json!(5),
    ];
    for to in bad {
        a.assert_err("peer.send", json!({"to": to, "body": 1}), INVALID_PARAMS);
    }
    a.assert_err("peer.send", json!({"body": 1}), INVALID_PARAMS);
}

#[test]
fn sid_address_with_another_home_does_not_deliver() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    let wrong = format!("home:~/other#{}", b.sid());
    let r = a.send_dm(&wrong, json!("misaddressed"));
    assert_eq!(r["delivered"], 0);
    a.send_dm(&b.addr(), json!("marker"));
    assert_eq!(b.expect_message()["body"], "marker");
    let queued = a.history(json!({"address": wrong}));
    assert_eq!(ids(&queued), [r["message_id"].as_str().unwrap()]);
}

#[test]
fn undelivered_dm_waits_for_a_hello_matching_its_exact_address() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let r = a.send_dm("home:~/late", json!("for later"));
    assert_eq!(r["delivered"], 0);
    let mut elsewhere = d.connect();
    let frames = elsewhere.hello_frames(&sid(), "~/late/sub");
    assert!(messages(&frames).is_empty(), "{frames:?}");
    let mut late = d.connect();
    let frames = late.hello_frames(&sid(), "~/late");
    let got = messages(&frames);
    assert_eq!(ids(&got), [r["message_id"].as_str().unwrap()]);
    assert_eq!(got[0]["from"], a.addr());
    assert_eq!(got[0]["to"], "home:~/late");
}

#[test]
fn set_dm_filter_echoes_its_patterns() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let patterns = json!(["home:~/x#*", "home:/tmp/?"]);
    assert_eq!(
        a.call("peer.set_dm_filter", json!({"patterns": patterns})),
        json!({"ok": true, "patterns": patterns})
    );
}

#[test]
fn empty_dm_filter_blocks_every_dm() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    b.call("peer.set_dm_filter", json!({"patterns": []}));
    assert_eq!(a.send_dm(&b.addr(), json!("blocked"))["delivered"], 0);
    assert_eq!(a.send_dm("home:~/b", json!("blocked"))["delivered"], 0);
    b.call("peer.set_dm_filter", json!({"patterns": ["*"]}));
    a.send_dm(&b.addr(), json!("marker"));
    assert_eq!(b.expect_message()["body"], "marker");
}

#[test]
fn dm_filter_globs_match_the_senders_from_case_sensitively() {
    let d = Daemon::start();
    let mut r = d.peer("~/r");
    r.call(
        "peer.set_dm_filter",
        json!({"patterns": ["home:~/friends#*", "home:~/team?#*", "home:~/[ab]x#*"]}),
    );
    let cases = [
        ("~/friends", true),
        ("~/Friends", false),
        ("~/friends2", false),
        ("~/team1", true),
        ("~/team12", false),
        ("~/ax", true),
        ("~/bx", true),
        ("~/cx", false),
    ];
    let to = r.addr();
    for (home, passes) in cases {
        let mut s = d.peer(home);
        let delivered = s.send_dm(&to, json!(home))["delivered"].clone();
        assert_eq!(delivered, json!(u8::from(passes)), "sender in {home}");
    }
    let expected: Vec<Value> = cases.iter().filter(|c| c.1).map(|c| json!(c.0)).collect();
    let got: Vec<Value> = expected
        .iter()
        .map(|_| r.expect_message()["body"].clone())
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn dm_filter_rejects_wrong_types() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    for patterns in [json!("*"), json!([1]), json!({"a": "*"}), Value::Null] {
        a.assert_err(
            "peer.set_dm_filter",
            json!({"patterns": patterns}),
            INVALID_PARAMS,
        );
    }
    a.assert_err("peer.set_dm_filter", json!({}), INVALID_PARAMS);
}

#[test]
fn dm_filter_does_not_apply_to_topic_messages() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    b.call("peer.set_dm_filter", json!({"patterns": []}));
    b.subscribe("news");
    assert_eq!(a.publish("news", json!("headline"))["subscribers"], 1);
    assert_eq!(b.expect_message()["body"], "headline");
}
