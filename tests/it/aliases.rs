//! `peer.set_alias`: form, uniqueness per home, release, queue draining, notification.

use crate::support::*;
use serde_json::{json, Value};

fn alias_in_list(c: &mut Client, sid: &str) -> Value {
    let peers = c.list_peers();
    session_with_sid(&peers, sid).expect("session listed")["alias"].clone()
}

#[test]
fn set_alias_answers_ok_and_shows_in_list_peers() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    assert_eq!(a.set_alias("alice"), json!({"ok": true, "alias": "alice"}));
    let me = a.sid().to_string();
    assert_eq!(alias_in_list(&mut a, &me), "alice");
}

#[test]
fn set_alias_rejects_invalid_forms() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    a.set_alias("keep");
    let too_long = format!("a{}", "b".repeat(64));
    let bad = [
        json!("Bad"),
        json!("sess_x"),
        json!("1abc"),
        json!(too_long),
        json!("a b"),
        json!("-a"),
        json!("ali#as"),
        json!(5),
        Value::Null,
    ];
    for alias in bad {
        a.assert_err("peer.set_alias", json!({"alias": alias}), INVALID_PARAMS);
    }
    a.assert_err("peer.set_alias", json!({}), INVALID_PARAMS);
    let me = a.sid().to_string();
    assert_eq!(alias_in_list(&mut a, &me), "keep");
    let longest = format!("a{}", "b".repeat(63));
    assert_eq!(a.set_alias(&longest)["alias"], longest.as_str());
    assert_eq!(a.set_alias("a0_-z")["alias"], "a0_-z");
}

#[test]
fn empty_alias_clears_it() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    a.set_alias("alice");
    let frames = a.request("peer.set_alias", json!({"alias": ""}));
    assert_eq!(
        frames.last().unwrap()["result"],
        json!({"ok": true, "alias": null})
    );
    let changed = notifications(&frames, "peer.alias_changed");
    assert_eq!(changed.len(), 1, "{frames:?}");
    assert_eq!(changed[0]["alias"], Value::Null);
    assert_eq!(changed[0]["previous"], "alice");
    let me = a.sid().to_string();
    assert_eq!(alias_in_list(&mut a, &me), Value::Null);
    // Released: another session of the home can take it.
    d.peer("~/a").set_alias("alice");
}

#[test]
fn alias_held_in_the_same_home_is_taken_and_the_loser_keeps_its_own() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/a");
    a.set_alias("dev");
    b.set_alias("old");
    b.assert_err("peer.set_alias", json!({"alias": "dev"}), ALIAS_TAKEN);
    let (a_sid, b_sid) = (a.sid().to_string(), b.sid().to_string());
    assert_eq!(alias_in_list(&mut b, &b_sid), "old");
    assert_eq!(alias_in_list(&mut b, &a_sid), "dev");
}

#[test]
fn same_alias_in_another_home_is_fine() {
    let d = Daemon::start();
    d.peer("~/a").set_alias("dev");
    let mut b = d.peer("~/b");
    assert_eq!(b.set_alias("dev")["alias"], "dev");
}

#[test]
fn reclaiming_ones_own_alias_succeeds() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    a.set_alias("dev");
    assert_eq!(a.set_alias("dev"), json!({"ok": true, "alias": "dev"}));
}

#[test]
fn alias_is_released_when_its_holder_disconnects() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    a.set_alias("dev");
    let mut b = d.peer("~/a");
    b.assert_err("peer.set_alias", json!({"alias": "dev"}), ALIAS_TAKEN);
    drop(a);
    eventually("the alias to be released", TIMEOUT, || {
        let resp = b
            .request("peer.set_alias", json!({"alias": "dev"}))
            .pop()
            .unwrap();
        match error_of(&resp) {
            None => true,
            Some((code, _)) => {
                assert_eq!(code, ALIAS_TAKEN, "{resp}");
                false
            }
        }
    });
}

#[test]
fn claiming_an_alias_drains_its_queue_then_announces_then_answers() {
    let d = Daemon::start();
    let mut sender = d.peer("~/s");
    let m1 = sender.send_dm("home:~/p#dev", json!("one"));
    let m2 = sender.send_dm("home:~/p#dev", json!("two"));
    assert_eq!(
        (m1["delivered"].clone(), m2["delivered"].clone()),
        (json!(0), json!(0))
    );
    let mut p = d.connect();
    let hello = p.hello_frames(&sid(), "~/p");
    assert!(messages(&hello).is_empty(), "hello drained an alias queue");

    let frames = p.request("peer.set_alias", json!({"alias": "dev"}));
    assert_eq!(
        methods(&frames),
        ["peer.message", "peer.message", "peer.alias_changed"],
        "{frames:?}"
    );
    assert_eq!(bodies(&messages(&frames)), [json!("one"), json!("two")]);
    let changed = &frames[2]["params"];
    assert_eq!(changed["peer_id"], "home:~/p");
    assert_eq!(changed["sid"], p.sid());
    assert_eq!(changed["alias"], "dev");
    assert_eq!(changed["previous"], Value::Null);
    assert!(changed["ts"].is_f64(), "{changed}");
    assert_eq!(frames[3]["result"], json!({"ok": true, "alias": "dev"}));

    // Every other session hears it too, with `previous` on a later change.
    let seen = sender.expect_notification("peer.alias_changed");
    assert_eq!(seen["alias"], "dev");
    p.set_alias("ops");
    let seen = sender.expect_notification("peer.alias_changed");
    assert_eq!(
        (seen["alias"].clone(), seen["previous"].clone()),
        (json!("ops"), json!("dev"))
    );
}
