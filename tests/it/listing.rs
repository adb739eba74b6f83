//! `peer.list_peers` and `peer.list_topics`.

use crate::support::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

#[test]
fn list_peers_groups_live_sessions_by_home() {
    let d = Daemon::start();
    let mut a1 = d.peer("~/a");
    let mut a2 = d.peer("~/a");
    let b = d.peer("/tmp/b");
    for topic in ["zeta", "alpha", "mid"] {
        a1.subscribe(topic);
    }
    a2.set_alias("two");
    let peers = a1.list_peers();
    let homes: BTreeSet<&str> = peers
        .iter()
        .map(|p| p["peer_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        homes,
        BTreeSet::from(["home:~/a", "home:/tmp/b"]),
        "{peers:?}"
    );
    assert_eq!(peers.len(), 2, "one entry per home: {peers:?}");

    let sids: BTreeSet<String> = sessions_of(&peers, "home:~/a")
        .iter()
        .map(|s| s["sid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        sids,
        BTreeSet::from([a1.sid().to_string(), a2.sid().to_string()])
    );
    let s1 = session_with_sid(&peers, a1.sid()).unwrap();
    assert_eq!(s1["alias"], Value::Null);
    assert_eq!(s1["subscriptions"], json!(["alpha", "mid", "zeta"]));
    let s2 = session_with_sid(&peers, a2.sid()).unwrap();
    assert_eq!(s2["alias"], "two");
    assert_eq!(s2["subscriptions"], json!([]));
    let sb = sessions_of(&peers, "home:/tmp/b");
    assert_eq!(sb.len(), 1);
    assert_eq!(sb[0]["sid"], b.sid());
}

#[test]
fn list_peers_forgets_disconnected_sessions() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let b = d.peer("~/b");
    let b_sid = b.sid().to_string();
    assert!(session_with_sid(&a.list_peers(), &b_sid).is_some());
    drop(b);
    eventually("the session to leave the list", TIMEOUT, || {
        let peers = a.list_peers();
        session_with_sid(&peers, &b_sid).is_none() && sessions_of(&peers, "home:~/b").is_empty()
    });
}

#[test]
fn list_topics_reports_subscribers_and_last_message_time() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    a.subscribe("subs-only");
    b.subscribe("subs-only");
    a.publish("stored-only", json!(1));
    b.subscribe("both");
    a.publish("both", json!(1));
    a.subscribe("ghost");
    a.call("peer.unsubscribe", json!({"topic": "ghost"}));

    let topics = a.list_topics();
    let names: BTreeSet<&str> = topics.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["subs-only", "stored-only", "both"]),
        "{topics:?}"
    );
    let topic = |name: &str| topics.iter().find(|t| t["name"] == name).unwrap().clone();

    assert_eq!(topic("subs-only")["subscribers"], 2);
    assert_eq!(topic("subs-only")["last_message_at"], Value::Null);
    assert_eq!(topic("stored-only")["subscribers"], 0);
    assert_eq!(topic("both")["subscribers"], 1);
    for name in ["stored-only", "both"] {
        let stored = a.history(json!({"address": format!("topic:{name}")}));
        let ts = stored[0]["ts"].as_f64().unwrap();
        let last = topic(name)["last_message_at"].as_f64().expect("a time");
        assert!((last - ts).abs() < 1.0, "{name}: {last} vs message ts {ts}");
    }
}
