//! `peer.history`: limits, cursor, topic rings and DM addresses.

use crate::support::*;
use serde_json::{json, Value};

/// Publishes `n` messages with bodies `0..n` to `topic`; returns their ids.
fn publish_n(c: &mut Client, topic: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            c.publish(topic, json!(i))["message_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn range(r: std::ops::Range<usize>) -> Vec<Value> {
    r.map(|i| json!(i)).collect()
}

#[test]
fn history_defaults_to_the_last_100_oldest_first() {
    let d = Daemon::start();
    let mut c = d.peer("~/c");
    publish_n(&mut c, "log", 105);
    let got = c.history(json!({"address": "topic:log"}));
    assert_eq!(bodies(&got), range(5..105));
    let got = c.history(json!({"address": "topic:log", "limit": 3}));
    assert_eq!(bodies(&got), range(102..105));
}

#[test]
fn history_limit_must_be_1_to_1000() {
    let d = Daemon::start();
    let mut c = d.peer("~/c");
    publish_n(&mut c, "log", 2);
    for limit in [json!(0), json!(1001), json!(-1), json!("x"), json!(2.5)] {
        c.assert_err(
            "peer.history",
            json!({"address": "topic:log", "limit": limit}),
            INVALID_PARAMS,
        );
    }
    assert_eq!(
        c.history(json!({"address": "topic:log", "limit": 1})).len(),
        1
    );
    assert_eq!(
        c.history(json!({"address": "topic:log", "limit": 1000}))
            .len(),
        2
    );
}

#[test]
fn history_since_returns_only_later_messages() {
    let d = Daemon::start();
    let mut c = d.peer("~/c");
    let sent = publish_n(&mut c, "log", 10);
    let got = c.history(json!({"address": "topic:log", "since": sent[6]}));
    assert_eq!(ids(&got), sent[7..]);
    let got = c.history(json!({"address": "topic:log", "since": sent[9]}));
    assert!(got.is_empty(), "{got:?}");
    let got = c.history(json!({"address": "topic:log", "since": sent[2], "limit": 2}));
    assert_eq!(ids(&got), sent[3..5], "since pages forward from the cursor");
}

#[test]
fn history_with_an_unknown_since_returns_the_last_limit() {
    let d = Daemon::start();
    let mut c = d.peer("~/c");
    let sent = publish_n(&mut c, "log", 10);
    let got = c.history(json!({"address": "topic:log", "since": "msg_unknown", "limit": 3}));
    assert_eq!(ids(&got), sent[7..]);
}

#[test]
fn history_entries_are_whole_messages() {
    let d = Daemon::start();
    let mut c = d.peer("~/c");
    c.set_alias("carol");
    let r = c.publish("log", json!({"k": [1, 2]}));
    let got = c.history(json!({"address": "topic:log"}));
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m["message_id"], r["message_id"]);
    assert_eq!(m["from"], c.addr());
    assert_eq!(m["from_alias"], "carol");
    assert_eq!(m["to"], "topic:log");
    assert_eq!(m["body"], json!({"k": [1, 2]}));
    assert_eq!(m["reply_to"], Value::Null);
    assert!(m["ts"].is_f64(), "{m}");
}

#[test]
fn history_of_an_unused_address_is_empty() {
    let d = Daemon::start();
    let mut c = d.peer("~/c");
    assert!(c.history(json!({"address": "topic:nothing"})).is_empty());
    assert!(c.history(json!({"address": "home:~/nobody"})).is_empty());
}

#[test]
fn history_rejects_invalid_addresses_and_cursors() {
    let d = Daemon::start();
    let mut c = d.peer("~/c");
    for address in [
        json!("garbage"),
        json!("topic:"),
        json!("home:rel"),
        json!(5),
    ] {
        c.assert_err("peer.history", json!({"address": address}), INVALID_PARAMS);
    }
    c.assert_err("peer.history", json!({}), INVALID_PARAMS);
    c.assert_err(
        "peer.history",
        json!({"address": "topic:log", "since": 5}),
        INVALID_PARAMS,
    );
}

#[test]
fn dm_history_holds_undelivered_dms_of_that_exact_address() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let to = "home:~/away#sess_AAAAAAAAAAAAAAAA";
    let r1 = a.send_dm(to, json!(1));
    let r2 = a.send_dm(to, json!(2));
    a.send_dm("home:~/away", json!("other address"));
    let got = a.history(json!({"address": to}));
    assert_eq!(
        ids(&got),
        [
            r1["message_id"].as_str().unwrap(),
            r2["message_id"].as_str().unwrap()
        ]
    );
    assert_eq!(got[0]["to"], to);
    assert_eq!(got[0]["from"], a.addr());
}

#[test]
fn dm_history_includes_delivered_dms() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    let live = a.send_dm(&b.addr(), json!("live"));
    assert_eq!(live["delivered"], 1);
    b.expect_message();
    let got = a.history(json!({"address": b.addr()}));
    assert_eq!(ids(&got), [live["message_id"].as_str().unwrap()]);

    // A queued DM stays in history after a hello drained it.
    let queued = a.send_dm("home:~/later", json!("queued"));
    let mut later = d.connect();
    let frames = later.hello_frames(&sid(), "~/later");
    assert_eq!(messages(&frames).len(), 1);
    let got = a.history(json!({"address": "home:~/later"}));
    assert_eq!(ids(&got), [queued["message_id"].as_str().unwrap()]);
}
