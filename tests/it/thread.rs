//! `peer.thread` (SPEC §14): the reply chain around a message, across DMs and
//! topics, from stored history.

use crate::support::*;
use serde_json::json;

#[test]
fn a_thread_is_reconstructed_across_dms_and_topics() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    let root = a.publish("plans", json!("who takes the parser?"))["message_id"].clone();
    let r1 = b.call(
        "peer.send",
        json!({"to": a.addr(), "body": "I will", "reply_to": root}),
    )["message_id"]
        .clone();
    let unrelated = a.send_dm(&b.addr(), json!("lunch?"))["message_id"].clone();
    let r2 = a.call(
        "peer.send",
        json!({"to": b.addr(), "body": "thanks", "reply_to": r1}),
    )["message_id"]
        .clone();
    let side = a.call(
        "peer.send",
        json!({"to": b.home_addr(), "body": "fyi", "reply_to": root}),
    )["message_id"]
        .clone();
    let expected = vec![&root, &r1, &r2, &side];
    // From any message of it, the whole conversation in order.
    for from in [&root, &r2, &side] {
        let t = b.call("peer.thread", json!({"message_id": from}));
        let got: Vec<_> = t["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["message_id"])
            .collect();
        assert_eq!(got, expected, "from {from}");
    }
    let alone = b.call("peer.thread", json!({"message_id": unrelated}));
    assert_eq!(alone["messages"].as_array().unwrap().len(), 1);
    let limited = b.call("peer.thread", json!({"message_id": root, "limit": 2}));
    assert_eq!(limited["messages"].as_array().unwrap().len(), 2);
    let none = b.call("peer.thread", json!({"message_id": "msg_nope"}));
    assert_eq!(none["messages"], json!([]));
    b.assert_err("peer.thread", json!({}), -32602);
}
