//! `--claude-channel`: the sidecar declares the experimental `claude/channel`
//! capability and pushes each arriving message as
//! `notifications/claude/channel`, as Claude Code expects; rmcp's client
//! records the pushes. The messages stay readable through `peer_inbox`.

use crate::support::sidecar::*;
use crate::support::{eventually_async, home_in, sid, Daemon};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const METHOD: &str = "notifications/claude/channel";

/// A connected sidecar; `channel` adds `--claude-channel`.
async fn sidecar(socket: &Path, home: &str, channel: bool) -> Sidecar {
    let mut b = Sidecar::builder(socket).identity(home, &sid());
    if channel {
        b = b.arg("--claude-channel");
    }
    let s = b.start().await;
    s.wait_connected().await;
    s
}

/// The params of the channel pushes recorded so far.
fn pushes(s: &Sidecar) -> Vec<Value> {
    s.recorder
        .custom
        .lock()
        .unwrap()
        .iter()
        .map(|n| {
            assert_eq!(n.method, METHOD);
            n.params.clone().expect("a channel event has params")
        })
        .collect()
}

/// Waits until `n` pushes were recorded and returns them.
async fn expect_pushes(s: &Sidecar, n: usize) -> Vec<Value> {
    eventually_async(&format!("{n} channel pushes"), CALL_TIMEOUT, || async {
        pushes(s).len() >= n
    })
    .await;
    let got = pushes(s);
    assert_eq!(got.len(), n, "more pushes than expected: {got:?}");
    got
}

#[tokio::test(flavor = "multi_thread")]
async fn arriving_messages_are_pushed_and_stay_in_the_inbox() {
    let d = Daemon::start();
    let a = sidecar(d.socket(), &home_in(d.dir(), "a"), true).await;
    let b = sidecar(d.socket(), &home_in(d.dir(), "b"), false).await;
    let caps = &a
        .client
        .peer_info()
        .expect("initialize result")
        .capabilities;
    assert_eq!(
        caps.experimental
            .as_ref()
            .and_then(|e| e.get("claude/channel")),
        Some(&serde_json::Map::new()),
        "{caps:?}"
    );
    let instructions = a.client.peer_info().unwrap().instructions.clone();
    assert!(instructions.unwrap_or_default().contains("channel events"));

    b.tool("peer_set_alias", json!({"alias": "tester"})).await;
    let (me_a, me_b) = (a.whoami().await, b.whoami().await);
    let dm = b
        .tool(
            "peer_send",
            json!({"to": me_a["address"], "body": "build is green"}),
        )
        .await;
    let reply = b
        .tool(
            "peer_send",
            json!({"to": me_a["address"], "body": {"failing": ["dm.rs"]}, "reply_to": dm["message_id"]}),
        )
        .await;
    let got = expect_pushes(&a, 2).await;
    assert_eq!(
        got[0],
        json!({
            "content": "build is green",
            "meta": {
                "from": me_b["address"],
                "from_alias": "tester",
                "to": me_a["address"],
                "message_id": dm["message_id"],
            }
        })
    );
    assert_eq!(got[1]["content"], r#"{"failing":["dm.rs"]}"#);
    assert_eq!(got[1]["meta"]["reply_to"], dm["message_id"]);
    assert_eq!(got[1]["meta"]["message_id"], reply["message_id"]);
    for push in &got {
        for key in push["meta"].as_object().unwrap().keys() {
            assert!(
                key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "meta key {key:?} is not an identifier"
            );
        }
    }

    // Pushing does not take: the inbox still holds both, in order.
    let inbox = a.tool("peer_inbox", json!({})).await;
    let ids: Vec<_> = message_params(&inbox)
        .iter()
        .map(|m| m["message_id"].clone())
        .collect();
    assert_eq!(ids, [dm["message_id"].clone(), reply["message_id"].clone()]);

    // Topic messages are pushed too; presence events are not.
    a.tool("peer_subscribe", json!({"topic": "builds"})).await;
    let published = b
        .tool("peer_publish", json!({"topic": "builds", "body": 7}))
        .await;
    let got = expect_pushes(&a, 3).await;
    assert_eq!(got[2]["content"], "7");
    assert_eq!(got[2]["meta"]["to"], "topic:builds");
    assert_eq!(got[2]["meta"]["message_id"], published["message_id"]);
    assert!(got[2]["meta"].get("from_alias").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn off_by_default() {
    let d = Daemon::start();
    let a = sidecar(d.socket(), &home_in(d.dir(), "a"), false).await;
    let b = sidecar(d.socket(), &home_in(d.dir(), "b"), false).await;
    let info = a.client.peer_info().expect("initialize result");
    assert!(info.capabilities.experimental.is_none(), "{info:?}");
    let me_a = a.whoami().await;
    b.tool("peer_send", json!({"to": me_a["address"], "body": 1}))
        .await;
    assert_eq!(a.expect_messages(1).await[0]["body"], 1);
    // A push would have been written before the message reached the inbox
    // tool; give a stray one a moment to show anyway.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(pushes(&a).is_empty());
}
