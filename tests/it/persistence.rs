//! Durability across SIGKILL and SIGTERM, graceful shutdown, storage, bounds.

use crate::support::*;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;

#[test]
fn answered_dm_survives_sigkill_and_reaches_the_next_matching_hello() {
    let mut d = Daemon::start();
    let b_sid = sid();
    let to = format!("home:~/b#{b_sid}");
    let r = d.peer("~/a").send_dm(&to, json!("durable"));
    assert_eq!(r["delivered"], 0);
    d.kill9();
    d.restart();

    let stored = d.peer("~/x").history(json!({"address": to}));
    assert_eq!(ids(&stored), [r["message_id"].as_str().unwrap()]);
    assert_eq!(stored[0]["body"], "durable");
    let mut b = d.connect();
    let frames = b.hello_frames(&b_sid, "~/b");
    assert_eq!(ids(&messages(&frames)), ids(&stored));
}

#[test]
fn delivered_dm_is_in_history_after_sigkill() {
    let mut d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    let r = a.send_dm(&b.addr(), json!("live"));
    assert_eq!(r["delivered"], 1);
    b.expect_message();
    let to = b.addr();
    d.kill9();
    d.restart();
    let stored = d.peer("~/x").history(json!({"address": to}));
    assert_eq!(ids(&stored), [r["message_id"].as_str().unwrap()]);
}

#[test]
fn drained_dm_is_not_delivered_again_after_a_restart() {
    let mut d = Daemon::start();
    let b_sid = sid();
    d.peer("~/a")
        .send_dm(&format!("home:~/b#{b_sid}"), json!("once"));
    let mut b = d.connect();
    assert_eq!(messages(&b.hello_frames(&b_sid, "~/b")).len(), 1);
    drop(b);
    d.kill9();
    d.restart();
    let mut b = d.connect();
    let frames = b.hello_frames(&b_sid, "~/b");
    assert!(messages(&frames).is_empty(), "{frames:?}");
}

/// Publishes three messages, stops the daemon with `stop`, restarts it, and
/// checks history and replay still have them.
fn topic_survives(stop: impl FnOnce(&mut Daemon)) {
    let mut d = Daemon::start();
    let mut p = d.peer("~/p");
    let sent: Vec<String> = (0..3)
        .map(|i| {
            p.publish("log", json!(i))["message_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    drop(p);
    stop(&mut d);
    d.restart();
    let mut c = d.peer("~/c");
    assert_eq!(ids(&c.history(json!({"address": "topic:log"}))), sent);
    let frames = c.request("peer.subscribe", json!({"topic": "log", "replay": 10}));
    assert_eq!(ids(&messages(&frames)), sent);
}

#[test]
fn topic_messages_survive_sigkill() {
    topic_survives(Daemon::kill9);
}

#[test]
fn topic_messages_survive_sigterm() {
    topic_survives(|d| assert!(d.terminate().success()));
}

#[test]
fn sigterm_exits_zero_and_removes_the_socket() {
    let mut d = Daemon::start();
    d.peer("~/a").publish("t", json!(1));
    let _live = d.peer("~/b");
    let status = d.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(!d.socket().exists(), "socket left behind");
}

#[test]
fn sigint_shuts_down_like_sigterm() {
    let mut d = Daemon::start();
    let _live = d.peer("~/a");
    let status = d.stop_with(rustix::process::Signal::INT);
    assert!(status.success(), "exit status {status}");
    assert!(!d.socket().exists(), "socket left behind");
}

#[test]
fn sigterm_tells_subscribers_their_subscriptions_are_lost() {
    let mut d = Daemon::start();
    let mut s = d.peer("~/s");
    s.subscribe("alpha");
    s.subscribe("beta");
    assert!(d.terminate().success());
    let frames = s.expect_closed();
    let mut lost: Vec<Value> = notifications(&frames, "peer.subscription_lost");
    lost.sort_by_key(|p| p["topic"].to_string());
    assert_eq!(lost.len(), 2, "{frames:?}");
    for (params, topic) in lost.iter().zip(["alpha", "beta"]) {
        assert_eq!(params["topic"], topic);
        assert!(
            params["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{params}"
        );
    }
}

#[test]
fn state_dir_holds_a_wal_sqlite_database() {
    let d = Daemon::start();
    d.peer("~/a").publish("t", json!(1));
    let db = d.state_dir().join("peerd.db");
    assert!(db.is_file(), "no {}", db.display());
    let mode: String = query_db(&db, "PRAGMA journal_mode");
    assert_eq!(mode.to_lowercase(), "wal");
}

#[test]
fn state_dir_is_created_private() {
    let d = Daemon::start();
    let mode = std::fs::metadata(d.state_dir())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "state dir mode {:o}", mode & 0o777);
}

#[test]
fn dm_queue_is_bounded_and_drops_the_oldest() {
    let d = Daemon::start_with(&["--dm-maxlen", "3"]);
    let mut a = d.peer("~/a");
    for i in 0..5 {
        a.send_dm("home:~/b", json!(i));
    }
    let mut b = d.connect();
    let frames = b.hello_frames(&sid(), "~/b");
    assert_eq!(bodies(&messages(&frames)), [json!(2), json!(3), json!(4)]);
}

#[test]
fn topic_ring_is_bounded_and_keeps_the_newest() {
    let d = Daemon::start_with(&["--topic-maxlen", "5"]);
    let mut p = d.peer("~/p");
    for i in 0..8 {
        p.publish("log", json!(i));
    }
    let newest: Vec<Value> = (3..8).map(|i| json!(i)).collect();
    assert_eq!(bodies(&p.history(json!({"address": "topic:log"}))), newest);
    let mut s = d.peer("~/s");
    let frames = s.request("peer.subscribe", json!({"topic": "log", "replay": 100}));
    assert_eq!(bodies(&messages(&frames)), newest);
}

#[test]
fn recent_messages_outlive_a_short_retention() {
    let mut d = Daemon::start_with(&["--retention-days", "1"]);
    let sent = d.peer("~/p").publish("log", json!("recent"));
    d.kill9();
    d.restart();
    let stored = d.peer("~/c").history(json!({"address": "topic:log"}));
    assert_eq!(ids(&stored), [sent["message_id"].as_str().unwrap()]);
}
