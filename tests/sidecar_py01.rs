//! Our sidecar against the Python blemees-peer 0.1 daemon, for everything 0.1
//! supports: its hello has no `features`, so no acknowledged delivery and no
//! `subscribe {since}` — catch-up after a restart goes through `peer.history`.

mod common;
mod py01;
mod sidecar;

use common::{bodies, sid};
use py01::PyDaemon;
use serde_json::{json, Value};
use sidecar::*;

#[tokio::test(flavor = "multi_thread")]
async fn our_sidecars_talk_through_the_0_1_daemon() {
    let d = PyDaemon::start();
    let home_a = d.dir().join("a").to_string_lossy().into_owned();
    let home_b = d.dir().join("b").to_string_lossy().into_owned();
    let (sid_a, sid_b) = (sid(), sid());
    let a = Sidecar::builder(&d.socket())
        .identity(&home_a, &sid_a)
        .arg("--alias")
        .arg("architect")
        .start()
        .await;
    let b = Sidecar::start(&d.socket(), &home_b, &sid_b).await;
    a.wait_connected().await;
    b.wait_connected().await;
    assert_eq!(a.whoami().await["alias"], "architect");

    // DMs by sid, by alias, by home.
    let sent = a
        .tool(
            "peer_send",
            json!({"to": format!("home:{home_b}#{sid_b}"), "body": {"n": 1}}),
        )
        .await;
    assert_eq!(sent["delivered"], 1);
    let got = b.expect_messages(1).await;
    assert_eq!(got[0]["message_id"], sent["message_id"]);
    assert_eq!(got[0]["from"], format!("home:{home_a}#{sid_a}"));
    assert_eq!(got[0]["from_alias"], "architect");
    let reply = b
        .tool(
            "peer_send",
            json!({"to": format!("home:{home_a}#architect"), "body": "ack", "reply_to": sent["message_id"]}),
        )
        .await;
    assert_eq!(reply["delivered"], 1);
    let back = a.expect_messages(1).await;
    assert_eq!(back[0]["reply_to"], sent["message_id"]);
    a.tool(
        "peer_send",
        json!({"to": format!("home:{home_b}"), "body": "all"}),
    )
    .await;
    assert_eq!(bodies(&b.expect_messages(1).await), [json!("all")]);

    // Topics with replay, live delivery, listings and history.
    for n in 1..=3 {
        a.tool("peer_publish", json!({"topic": "builds", "body": n}))
            .await;
    }
    b.tool("peer_subscribe", json!({"topic": "builds", "replay": 2}))
        .await;
    assert_eq!(bodies(&b.expect_messages(2).await), [json!(2), json!(3)]);
    a.tool("peer_publish", json!({"topic": "builds", "body": 4}))
        .await;
    assert_eq!(bodies(&b.expect_messages(1).await), [json!(4)]);
    let topics = a.tool("peer_list_topics", json!({})).await;
    assert_eq!(topics["topics"][0]["name"], "builds");
    let peers = a.tool("peer_list_peers", json!({})).await;
    assert!(session_in(&peers, &sid_b).is_some(), "{peers}");
    let history = b
        .tool(
            "peer_history",
            json!({"address": "topic:builds", "limit": 2}),
        )
        .await;
    assert_eq!(
        bodies(history["messages"].as_array().unwrap()),
        [json!(3), json!(4)]
    );
    b.tool("peer_set_dm_filter", json!({"patterns": ["home:/nobody*"]}))
        .await;
    let blocked = a
        .tool(
            "peer_send",
            json!({"to": format!("home:{home_b}#{sid_b}"), "body": "no"}),
        )
        .await;
    assert_eq!(blocked["delivered"], 0);
    let err = a
        .tool_error("peer_set_alias", json!({"alias": "Bad"}))
        .await;
    assert!(err.contains("-32602"), "{err}");
    assert_eq!(b.await_messages(0.2).await, Vec::<Value>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn our_sidecar_survives_a_0_1_daemon_restart() {
    let mut d = PyDaemon::start();
    let home = d.dir().join("agent").to_string_lossy().into_owned();
    let agent_sid = sid();
    let s = Sidecar::builder(&d.socket())
        .identity(&home, &agent_sid)
        .arg("--alias")
        .arg("keeper")
        .start()
        .await;
    s.wait_connected().await;
    let p = Sidecar::start(&d.socket(), &d.dir().join("pub").to_string_lossy(), &sid()).await;
    p.wait_connected().await;
    p.tool("peer_publish", json!({"topic": "news", "body": "old"}))
        .await;
    s.tool("peer_subscribe", json!({"topic": "news"})).await;

    d.kill9();
    s.wait_disconnected().await;
    d.restart();
    p.wait_connected().await;
    p.tool(
        "peer_publish",
        json!({"topic": "news", "body": "while away"}),
    )
    .await;
    s.wait_connected().await;

    let peers = p.tool("peer_list_peers", json!({})).await;
    let me = session_in(&peers, &agent_sid).expect("listed after the restart");
    assert_eq!(me["alias"], "keeper");
    assert_eq!(me["subscriptions"], json!(["news"]));
    assert_eq!(bodies(&s.expect_messages(1).await), [json!("while away")]);
    p.tool(
        "peer_send",
        json!({"to": format!("home:{home}#keeper"), "body": "dm"}),
    )
    .await;
    p.tool("peer_publish", json!({"topic": "news", "body": "live"}))
        .await;
    assert_eq!(
        bodies(&s.expect_messages(2).await),
        [json!("dm"), json!("live")]
    );
}
