//! Our sidecar against the Python blemees-peer 0.1 daemon, for everything 0.1
//! supports: its hello has no `features`, so no acknowledged delivery and no
//! `subscribe {since}` — catch-up after a restart goes through `peer.history`.

use crate::support::py01::PyDaemon;
use crate::support::sidecar::*;
use crate::support::{bodies, home_in, sid};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn our_sidecars_talk_through_the_0_1_daemon() {
    let d = PyDaemon::start();
    let (a, b) = pair(&d.socket(), d.dir()).await;
    let me_b = b.whoami().await;
    exchange_dms(&a, &b).await;
    topic_replay_and_live(&a, &b).await;
    let peers = a.tool("peer_list_peers", json!({})).await;
    assert!(
        session_in(&peers, me_b["sid"].as_str().unwrap()).is_some(),
        "{peers}"
    );
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
        .tool("peer_send", json!({"to": me_b["address"], "body": "no"}))
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
    let home = home_in(d.dir(), "agent");
    let agent_sid = sid();
    let s = Sidecar::builder(&d.socket())
        .identity(&home, &agent_sid)
        .arg("--alias")
        .arg("keeper")
        .start()
        .await;
    s.wait_connected().await;
    let p = Sidecar::start(&d.socket(), &home_in(d.dir(), "pub"), &sid()).await;
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
