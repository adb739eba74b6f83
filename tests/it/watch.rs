//! `peer.watch` / `peer.unwatch`: wire observation.

use crate::support::*;
use serde_json::{json, Value};

fn watch(c: &mut Client, params: Value) {
    assert_eq!(
        c.call("peer.watch", params),
        json!({"ok": true, "watching": true})
    );
}

#[test]
fn watcher_sees_every_send_and_publish_as_wire_message() {
    let d = Daemon::start();
    let mut w = d.peer("~/w");
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    b.subscribe("news");
    watch(&mut w, json!({}));

    a.set_alias("alice");
    let dm = a.send_dm(&b.addr(), json!({"x": 1}));
    let m = w.expect_notification("peer.wire_message");
    let keys = fields_but_seq(&m);
    let want = [
        "message_id",
        "from",
        "from_alias",
        "to",
        "body",
        "reply_to",
        "ts",
        "delivered",
        "queued",
    ];
    assert_eq!(keys, want.into_iter().collect(), "{m}");
    assert_eq!(m["message_id"], dm["message_id"]);
    assert_eq!(m["from"], a.addr());
    assert_eq!(m["from_alias"], "alice");
    assert_eq!(m["to"], b.addr());
    assert_eq!(m["body"], json!({"x": 1}));
    assert_eq!(
        (m["delivered"].clone(), m["queued"].clone()),
        (json!(1), json!(false))
    );

    let absent = a.send_dm("home:~/nobody", json!("q"));
    let m = w.expect_notification("peer.wire_message");
    assert_eq!(m["message_id"], absent["message_id"]);
    assert_eq!(
        (m["delivered"].clone(), m["queued"].clone()),
        (json!(0), json!(true))
    );

    let published = a.publish("news", json!("headline"));
    let m = w.expect_notification("peer.wire_message");
    assert_eq!(m["message_id"], published["message_id"]);
    assert_eq!(m["to"], "topic:news");
    assert_eq!(
        (m["delivered"].clone(), m["queued"].clone()),
        (json!(1), json!(false))
    );
}

#[test]
fn watch_filters_by_from_and_to_globs() {
    let d = Daemon::start();
    let mut w = d.peer("~/w");
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    watch(
        &mut w,
        json!({"from_filter": ["home:~/a#*"], "to_filter": ["topic:*"]}),
    );
    b.publish("news", json!("from b"));
    a.send_dm(&b.addr(), json!("a dm"));
    a.publish("news", json!("match 1"));
    a.publish("other", json!("match 2"));
    for want in ["match 1", "match 2"] {
        assert_eq!(w.expect_notification("peer.wire_message")["body"], want);
    }
}

#[test]
fn watcher_is_not_shown_its_own_traffic() {
    let d = Daemon::start();
    let mut w = d.peer("~/w");
    let mut a = d.peer("~/a");
    let b = d.peer("~/b");
    watch(&mut w, json!({}));
    w.send_dm(&b.addr(), json!("mine"));
    w.publish("news", json!("mine"));
    a.publish("news", json!("theirs"));
    assert_eq!(w.expect_notification("peer.wire_message")["body"], "theirs");
}

#[test]
fn watch_accepts_only_messages() {
    let d = Daemon::start();
    let mut w = d.peer("~/w");
    let bad = [
        json!({"include": ["presence"]}),
        json!({"include": ["messages", "x"]}),
        json!({"include": "messages"}),
        json!({"from_filter": "*"}),
        json!({"to_filter": [1]}),
    ];
    for params in bad {
        w.assert_err("peer.watch", params, INVALID_PARAMS);
    }
    watch(&mut w, json!({"include": ["messages"]}));
}

#[test]
fn watching_again_replaces_the_filters() {
    let d = Daemon::start();
    let mut w = d.peer("~/w");
    let mut a = d.peer("~/a");
    watch(&mut w, json!({"to_filter": ["topic:first"]}));
    watch(&mut w, json!({"to_filter": ["topic:second"]}));
    a.publish("first", json!(1));
    a.publish("second", json!(2));
    assert_eq!(
        w.expect_notification("peer.wire_message")["to"],
        "topic:second"
    );
}

#[test]
fn unwatch_stops_observation_and_is_idempotent() {
    let d = Daemon::start();
    let mut w = d.peer("~/w");
    let mut a = d.peer("~/a");
    let unwatched = json!({"ok": true, "watching": false});
    assert_eq!(w.call("peer.unwatch", json!({})), unwatched);
    watch(&mut w, json!({}));
    assert_eq!(w.call("peer.unwatch", json!({})), unwatched);
    assert_eq!(w.call("peer.unwatch", json!({})), unwatched);
    w.subscribe("marker");
    a.publish("news", json!("unseen"));
    a.publish("marker", json!("marker"));
    // The next frame is the marker itself, not a wire copy of anything.
    assert_eq!(w.expect_message()["body"], "marker");
}

#[test]
fn recipient_watcher_gets_its_own_dm_only_as_peer_message() {
    let d = Daemon::start();
    let mut w = d.peer("~/w");
    let mut a = d.peer("~/a");
    let b = d.peer("~/b");
    watch(&mut w, json!({}));
    let to_w = a.send_dm(&w.addr(), json!("for w"));
    let to_b = a.send_dm(&b.addr(), json!("for b"));
    let first = w.read_frame();
    assert_eq!(first["method"], "peer.message", "{first}");
    assert_eq!(first["params"]["message_id"], to_w["message_id"]);
    let second = w.read_frame();
    assert_eq!(second["method"], "peer.wire_message", "{second}");
    assert_eq!(second["params"]["message_id"], to_b["message_id"]);
}
