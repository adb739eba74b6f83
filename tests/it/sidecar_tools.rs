//! The sidecar's tools against the real daemon, driven by rmcp's client over
//! stdio: DMs by sid, alias and home, topics with replay, the inbox tools,
//! resources, and the 2026-07-28 revision.

use crate::support::sidecar::*;
use crate::support::{eventually_async, home_in, sid, Daemon};
use rmcp::model::{ProtocolVersion, ReadResourceRequestParams, SubscribeRequestParams};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn answers_at_once_without_a_daemon_and_says_how_to_start_it() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("absent.sock");
    let started = Instant::now();
    let s = Sidecar::start(&socket, "/tmp/nowhere", &sid()).await;
    let info = s.client.peer_info().expect("initialize result");
    let tools = s.tools().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    let mut expected = TOOLS.map(String::from).to_vec();
    expected.sort();
    assert_eq!(names, expected);
    for t in &tools {
        assert_eq!(
            t.input_schema.get("type"),
            Some(&json!("object")),
            "{}",
            t.name
        );
        assert!(
            t.description.as_ref().is_some_and(|d| d.len() < 200),
            "{}",
            t.name
        );
    }
    let send = tools.iter().find(|t| t.name == "peer_send").unwrap();
    assert_eq!(send.input_schema["required"], json!(["to"]));

    let instructions = info.instructions.clone().unwrap_or_default();
    let me = s.whoami().await;
    assert_eq!(me["connected"], false);
    assert!(
        instructions.contains(me["address"].as_str().unwrap()),
        "{instructions}"
    );
    assert!(instructions.contains("not instructions from the user"));

    let err = s
        .tool_error("peer_send", json!({"to": "home:/x", "body": 1}))
        .await;
    assert!(err.contains(&socket.display().to_string()), "{err}");
    assert!(err.contains("blemees-peerd"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_agents_exchange_dms_by_sid_alias_and_home() {
    let d = Daemon::start();
    let (a, b) = pair(d.socket(), d.dir()).await;
    let (me_a, me_b) = (a.whoami().await, b.whoami().await);
    exchange_dms(&a, &b).await;
    // The result carries structuredContent on this protocol version.
    let r = a
        .call("peer_send", json!({"to": me_b["address"], "body": "s"}))
        .await;
    let sent = r.structured_content.clone().expect("structuredContent");
    assert_eq!(sent["delivered"], 1);
    assert_eq!(b.expect_messages(1).await[0]["body"], "s");

    // Daemon errors are readable isError results.
    let err = a
        .tool_error("peer_send", json!({"to": "nowhere", "body": 1}))
        .await;
    assert!(err.starts_with("blemees-peerd error -32602"), "{err}");

    // A DM filter that refuses B.
    a.tool("peer_set_dm_filter", json!({"patterns": ["home:/nobody*"]}))
        .await;
    let blocked = b
        .tool("peer_send", json!({"to": me_a["address"], "body": 4}))
        .await;
    assert_eq!(blocked["delivered"], 0);

    let peers = a.tool("peer_list_peers", json!({})).await;
    assert_eq!(
        session_in(&peers, me_a["sid"].as_str().unwrap()).unwrap()["alias"],
        "architect"
    );
    assert!(session_in(&peers, me_b["sid"].as_str().unwrap()).is_some());
    let history = b
        .tool("peer_history", json!({"address": me_b["address"]}))
        .await;
    let ids = crate::support::ids(history["messages"].as_array().unwrap());
    assert_eq!(ids.len(), 2, "the DM by sid and the one above: {history}");
    assert_eq!(ids[1], sent["message_id"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn topics_replay_and_live_messages() {
    let d = Daemon::start();
    let a = Sidecar::start(d.socket(), &home_in(d.dir(), "a"), &sid()).await;
    let b = Sidecar::start(d.socket(), &home_in(d.dir(), "b"), &sid()).await;
    a.wait_connected().await;
    b.wait_connected().await;
    topic_replay_and_live(&a, &b).await;
    b.tool("peer_unsubscribe", json!({"topic": "builds"})).await;
    let after = a
        .tool("peer_publish", json!({"topic": "builds", "body": 5}))
        .await;
    assert_eq!(after["subscribers"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn await_blocks_until_a_message_and_times_out_empty() {
    let d = Daemon::start();
    let home_b = home_in(d.dir(), "b");
    let sid_b = sid();
    let a = Sidecar::start(d.socket(), &home_in(d.dir(), "a"), &sid()).await;
    let b = Sidecar::start(d.socket(), &home_b, &sid_b).await;
    a.wait_connected().await;
    b.wait_connected().await;

    let started = Instant::now();
    let r = b.tool("peer_await", json!({"timeout": 0.3})).await;
    assert_eq!(r, json!({"messages": [], "timeout": true}));
    assert!(started.elapsed() >= Duration::from_millis(300));

    let waiting = b.start_await(json!({"timeout": 30})).await;
    let mut response = Box::pin(waiting.await_response());
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut response)
            .await
            .is_err(),
        "peer_await returned with an empty inbox"
    );
    a.tool(
        "peer_send",
        json!({"to": format!("home:{home_b}#{sid_b}"), "body": "wake"}),
    )
    .await;
    let result = tokio::time::timeout(CALL_TIMEOUT, response)
        .await
        .expect("peer_await returns once a message arrives")
        .expect("peer_await response");
    let rmcp::model::ServerResult::CallToolResult(result) = result else {
        panic!("not a tool result: {result:?}");
    };
    let value: serde_json::Value = serde_json::from_str(&text_of(&result)).unwrap();
    assert_eq!(message_params(&value)[0]["body"], "wake");
    assert_eq!(value["dropped"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_await_consumes_nothing() {
    let d = Daemon::start();
    let home_b = home_in(d.dir(), "b");
    let sid_b = sid();
    let b = Sidecar::start(d.socket(), &home_b, &sid_b).await;
    b.wait_connected().await;
    let mut sender = d.peer(&home_in(d.dir(), "sender"));

    let waiting = b.start_await(json!({"timeout": 30})).await;
    // rmcp's client writes a request and its cancellation from separate tasks,
    // so they can reach the sidecar in either order; a host writes them in
    // order, which is what this test is about.
    b.wait_logged(&format!("received request id={}", waiting.id))
        .await;
    let id = waiting.id.clone();
    waiting.cancel(Some("host gave up".into())).await.unwrap();
    // The cancellation, too, goes through a client task and a pipe: a DM sent
    // at once can overtake it and answer the await before the sidecar knows it
    // was cancelled (the crossing MCP allows). The case here is the one in
    // order, so let the sidecar take the cancellation first.
    b.wait_logged(&format!("the host cancelled a request id={id}"))
        .await;
    let sent = sender.send_dm(&format!("home:{home_b}#{sid_b}"), json!("kept"));
    // The message is in the inbox for the next call, not in the cancelled one.
    let inbox = b.await_messages(5.0).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}\n{}", b.log());
    assert_eq!(inbox[0]["message_id"], sent["message_id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn inbox_resource_reads_without_draining_and_notifies_subscribers() {
    let d = Daemon::start();
    let home_b = home_in(d.dir(), "b");
    let sid_b = sid();
    let b = Sidecar::start(d.socket(), &home_b, &sid_b).await;
    b.wait_connected().await;
    let resources = b.client.list_all_resources().await.unwrap();
    let mut uris: Vec<_> = resources.iter().map(|r| r.uri.clone()).collect();
    uris.sort();
    assert_eq!(uris, ["peer://inbox", "peer://peers", "peer://topics"]);
    // resources/subscribe is the legacy (≤ 2025-11-25) way, which this session uses.
    #[allow(deprecated)]
    b.client
        .subscribe(SubscribeRequestParams::new("peer://inbox"))
        .await
        .unwrap();

    let mut sender = d.peer(&home_in(d.dir(), "sender"));
    sender.send_dm(&format!("home:{home_b}#{sid_b}"), json!("seen twice"));
    let recorder = b.recorder.clone();
    eventually_async("resources/updated for peer://inbox", CALL_TIMEOUT, || {
        let r = recorder.clone();
        async move {
            r.updated
                .lock()
                .unwrap()
                .iter()
                .any(|u| u == "peer://inbox")
        }
    })
    .await;
    // The sender's peer_joined may be what the first update was about: wait
    // for the DM itself, then read it again, still there.
    let sidecar = &b;
    eventually_async("the DM in peer://inbox", CALL_TIMEOUT, || async move {
        let wrapped = serde_json::json!({ "messages": sidecar.inbox_resource().await });
        !message_params(&wrapped).is_empty()
    })
    .await;
    for _ in 0..2 {
        let wrapped = serde_json::json!({ "messages": b.inbox_resource().await });
        assert_eq!(message_params(&wrapped)[0]["body"], "seen twice");
    }
    assert_eq!(b.expect_messages(1).await[0]["body"], "seen twice");
    let peers = b
        .client
        .read_resource(ReadResourceRequestParams::new("peer://peers"))
        .await
        .unwrap();
    assert!(format!("{peers:?}").contains(&sid_b));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_2026_07_28_revision_works_through_discover() {
    let d = Daemon::start();
    let home_b = home_in(d.dir(), "b");
    let sid_b = sid();
    let a = Sidecar::builder(d.socket())
        .identity(&home_in(d.dir(), "a"), &sid())
        .discover()
        .start()
        .await;
    let b = Sidecar::start(d.socket(), &home_b, &sid_b).await;
    b.wait_connected().await;
    a.wait_connected().await;
    assert_eq!(
        a.client.peer_info().map(|i| i.protocol_version.clone()),
        Some(ProtocolVersion::V_2026_07_28)
    );
    assert_eq!(a.tools().await.len(), TOOLS.len());
    let r = a
        .call(
            "peer_send",
            json!({"to": format!("home:{home_b}#{sid_b}"), "body": "modern"}),
        )
        .await;
    assert_eq!(
        r.structured_content.expect("structuredContent")["delivered"],
        1
    );
    assert_eq!(b.expect_messages(1).await[0]["body"], "modern");
}
