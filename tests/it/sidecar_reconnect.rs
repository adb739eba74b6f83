//! The sidecar outlives its daemon: it starts before the daemon exists, and it
//! survives a kill -9 and restart with its sid, alias, DM filter and topic
//! subscriptions intact, catching up on topic messages published while it was
//! reconnecting.

use crate::support::sidecar::*;
use crate::support::{bodies, home_in, sid, Daemon};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_started_later_is_found() {
    let builder = Daemon::builder();
    let socket = builder.dir().join("peerd.sock");
    let home = home_in(builder.dir(), "agent");
    let s = Sidecar::builder(&socket)
        .identity(&home, &sid())
        .arg("--alias")
        .arg("early")
        .start()
        .await;
    let err = s.tool_error("peer_list_peers", json!({})).await;
    assert!(err.contains("not reachable"), "{err}");

    let d = builder.start();
    s.wait_connected().await;
    let me = s.whoami().await;
    assert_eq!(
        me["alias"], "early",
        "the start-up alias is claimed on the late connect"
    );
    let mut sender = d.peer("/sender");
    let sent = sender.send_dm(&format!("home:{home}#early"), json!("hello late"));
    assert_eq!(sent["delivered"], 1);
    assert_eq!(s.expect_messages(1).await[0]["body"], "hello late");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_and_restart_restore_the_session() {
    let mut d = Daemon::start();
    let home = home_in(d.dir(), "agent");
    let agent_sid = sid();
    let s = Sidecar::start(d.socket(), &home, &agent_sid).await;
    s.wait_connected().await;
    s.tool("peer_set_alias", json!({"alias": "keeper"})).await;
    s.tool(
        "peer_set_dm_filter",
        json!({"patterns": ["home:/friends*"]}),
    )
    .await;
    {
        let mut publisher = d.peer("/friends");
        publisher.publish("news", json!("before"));
    }
    s.tool("peer_subscribe", json!({"topic": "news", "replay": 1}))
        .await;
    s.tool("peer_subscribe", json!({"topic": "fresh"})).await;
    assert_eq!(bodies(&s.expect_messages(1).await), [json!("before")]);

    d.kill9();
    s.wait_disconnected().await;
    let err = s
        .tool_error("peer_publish", json!({"topic": "news", "body": 0}))
        .await;
    assert!(err.contains("blemees-peerd"), "{err}");
    d.restart();

    // Published right after the restart, most likely before the sidecar is
    // back: caught up on reconnect (with `since`, or from history for a topic
    // it had seen nothing on) — or received live. Either way, exactly once.
    let mut friend = d.peer("/friends");
    friend.publish("news", json!("missed news"));
    friend.publish("fresh", json!("missed fresh"));

    s.wait_connected().await;
    assert_eq!(s.whoami().await["sid"], agent_sid.as_str());
    let peers = s.tool("peer_list_peers", json!({})).await;
    let me = session_in(&peers, &agent_sid).expect("listed after the restart");
    assert_eq!(me["alias"], "keeper");
    assert_eq!(me["subscriptions"], json!(["fresh", "news"]));

    let mut got = bodies(&s.expect_messages(2).await);
    got.sort_by_key(|b| b.to_string());
    assert_eq!(got, [json!("missed fresh"), json!("missed news")]);

    // The alias and the DM filter hold on the new connection.
    let to_alias = friend.send_dm(&format!("home:{home}#keeper"), json!("after restart"));
    assert_eq!(to_alias["delivered"], 1);
    assert_eq!(
        bodies(&s.expect_messages(1).await),
        [json!("after restart")]
    );
    let mut stranger = d.peer("/strangers");
    let filtered = stranger.send_dm(&format!("home:{home}#keeper"), json!("no"));
    assert_eq!(filtered["delivered"], 0);
    friend.publish("news", json!("live"));
    assert_eq!(bodies(&s.expect_messages(1).await), [json!("live")]);
    assert_eq!(s.await_messages(0.2).await, Vec::<serde_json::Value>::new());
}
