//! [ext] Acknowledged delivery (SPEC §6): a connection that says `ack: true` in
//! hello keeps each DM pending until `peer.ack`; unacknowledged DMs go back to
//! their queue when it disconnects — or when the daemon dies — and reach the next
//! matching session with their original message id.

use crate::support::*;
use serde_json::json;

#[test]
fn an_unacknowledged_dm_comes_again_to_the_same_sid_after_a_disconnect() {
    let d = Daemon::start();
    let mut sender = d.peer("~/s");
    let sid = sid();
    let (mut a, _) = d.ack_peer(&sid, "~/a");
    let sent = sender.send_dm(&format!("home:~/a#{sid}"), json!("first"));
    assert_eq!(sent["delivered"], 1);
    assert_eq!(a.expect_message()["message_id"], sent["message_id"]);
    drop(a);

    let (_a, again) = d.ack_peer(&sid, "~/a");
    assert_eq!(ids(&again), [sent["message_id"].as_str().unwrap()]);
    assert_eq!(bodies(&again), [json!("first")]);
}

#[test]
fn acknowledged_dms_never_come_again() {
    let d = Daemon::start();
    let mut sender = d.peer("~/s");
    let sid = sid();
    let (mut a, _) = d.ack_peer(&sid, "~/a");
    let one = sender.send_dm(&format!("home:~/a#{sid}"), json!(1));
    let two = sender.send_dm(&format!("home:~/a#{sid}"), json!(2));
    a.expect_message();
    a.expect_message();
    let acked = a.call(
        "peer.ack",
        json!({"message_ids": [one["message_id"], "msg_unknown000000", one["message_id"]]}),
    );
    assert_eq!(acked, json!({"ok": true, "acked": 1}));
    drop(a);

    let (_a, again) = d.ack_peer(&sid, "~/a");
    assert_eq!(ids(&again), [two["message_id"].as_str().unwrap()]);
}

#[test]
fn an_unacknowledged_dm_reaches_the_next_holder_of_its_alias() {
    let d = Daemon::start();
    let mut sender = d.peer("~/s");
    let (mut first, _) = d.ack_peer(&sid(), "~/team");
    first.set_alias("tester");
    let sent = sender.send_dm("home:~/team#tester", json!({"task": "run"}));
    assert_eq!(first.expect_message()["message_id"], sent["message_id"]);
    drop(first);

    let (mut second, _) = d.ack_peer(&sid(), "~/team");
    let frames = second.request("peer.set_alias", json!({"alias": "tester"}));
    let got = messages(&frames);
    assert_eq!(ids(&got), [sent["message_id"].as_str().unwrap()]);
    assert_eq!(frames.last().unwrap()["result"]["alias"], "tester");
}

#[test]
fn a_home_broadcast_left_unacknowledged_goes_to_the_next_session_of_the_home() {
    let d = Daemon::start();
    let mut sender = d.peer("~/s");
    let (mut a, _) = d.ack_peer(&sid(), "~/h");
    let sent = sender.send_dm("home:~/h", json!("all"));
    a.expect_message();
    drop(a);
    let mut watcher = d.peer("~/w");
    eventually("the disconnect to be routed", TIMEOUT, || {
        watcher.call("peer.status", json!({}))["queued_dms"] == 1
    });
    let (_b, got) = d.ack_peer(&sid(), "~/h");
    assert_eq!(ids(&got), [sent["message_id"].as_str().unwrap()]);
}

#[test]
fn pending_dms_survive_kill_9_of_the_daemon() {
    let mut d = Daemon::start();
    let mut sender = d.peer("~/s");
    let sid = sid();
    let (mut a, _) = d.ack_peer(&sid, "~/a");
    let sent = sender.send_dm(&format!("home:~/a#{sid}"), json!("keep me"));
    assert_eq!(a.expect_message()["message_id"], sent["message_id"]);
    d.kill9();
    d.restart();
    let (_a, again) = d.ack_peer(&sid, "~/a");
    assert_eq!(ids(&again), [sent["message_id"].as_str().unwrap()]);
}

#[test]
fn connections_without_ack_mode_are_unchanged() {
    let d = Daemon::start();
    let mut sender = d.peer("~/s");
    let mut plain = d.connect();
    let sid = sid();
    plain.hello(&sid, "~/p");
    sender.send_dm(&format!("home:~/p#{sid}"), json!(1));
    plain.expect_message();
    assert_eq!(
        plain.call("peer.ack", json!({"message_ids": []})),
        json!({"ok": true, "acked": 0})
    );
    drop(plain);
    let (_again, redelivered) = d.ack_peer(&sid, "~/p");
    assert!(redelivered.is_empty(), "{redelivered:?}");
}

#[test]
fn ack_params_are_checked() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    a.assert_err("peer.ack", json!({}), INVALID_PARAMS);
    a.assert_err("peer.ack", json!({"message_ids": "msg_x"}), INVALID_PARAMS);
    a.assert_err("peer.ack", json!({"message_ids": [1]}), INVALID_PARAMS);
    let mut fresh = d.connect();
    fresh.assert_err("peer.ack", json!({"message_ids": []}), HELLO_REQUIRED);
    fresh.assert_err(
        "peer.hello",
        json!({"sid": sid(), "home": "~", "ack": "yes"}),
        INVALID_PARAMS,
    );
}
