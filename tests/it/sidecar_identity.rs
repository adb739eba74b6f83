//! The sidecar's identity from its environment (SPEC §9): BLEMEES_AGENT_*,
//! Claude Code's variables, the working directory, and what happens to a
//! malformed or taken alias.

use crate::support::sidecar::*;
use crate::support::{home_in, sid, Daemon};
use serde_json::json;
use std::fs;

#[tokio::test(flavor = "multi_thread")]
async fn identity_comes_from_the_blemees_agent_environment() {
    let d = Daemon::start();
    let user = fs::canonicalize(d.dir()).unwrap().join("user");
    fs::create_dir_all(user.join("proj")).unwrap();
    let agent_sid = sid();
    let s = Sidecar::builder(d.socket())
        .env("HOME", user.to_str().unwrap())
        .env("BLEMEES_AGENT_HOME", user.join("proj").to_str().unwrap())
        .env("BLEMEES_AGENT_SID", &agent_sid)
        .env("BLEMEES_AGENT_ALIAS", "reviewer")
        .start()
        .await;
    s.wait_connected().await;
    let me = s.whoami().await;
    assert_eq!(me["peer_id"], "home:~/proj", "under $HOME → ~ form");
    assert_eq!(me["sid"], agent_sid.as_str());
    assert_eq!(me["alias"], "reviewer");

    let mut other = d.peer("/elsewhere");
    let sent = other.send_dm("home:~/proj#reviewer", json!("by alias"));
    assert_eq!(sent["delivered"], 1);
    assert_eq!(s.expect_messages(1).await[0]["body"], "by alias");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_session_id_gives_the_same_sid_on_every_start() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("no-daemon.sock");
    let start = |session: &'static str| {
        Sidecar::builder(&socket)
            .env("CLAUDE_CODE_SESSION_ID", session)
            .env("CLAUDE_PROJECT_DIR", "/work/project")
            .start()
    };
    let first = start("5f0e8a52-claude-session").await.whoami().await;
    let again = start("5f0e8a52-claude-session").await.whoami().await;
    let other = start("another-session").await.whoami().await;
    let sid = first["sid"].as_str().unwrap();
    assert!(peer_proto::identity::is_valid_sid(sid), "{sid}");
    assert_eq!(again["sid"], first["sid"]);
    assert_ne!(other["sid"], first["sid"]);
    assert_eq!(first["peer_id"], "home:/work/project");

    // A BLEMEES_AGENT_SID that is not a sid (a UUID) is derived the same way.
    let uuid = || {
        Sidecar::builder(&socket)
            .env("BLEMEES_AGENT_SID", "123e4567-e89b-12d3-a456-426614174000")
            .start()
    };
    let u1 = uuid().await.whoami().await;
    let u2 = uuid().await.whoami().await;
    assert_eq!(u1["sid"], u2["sid"]);
    assert!(peer_proto::identity::is_valid_sid(
        u1["sid"].as_str().unwrap()
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_working_directory_is_the_last_resort_home() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = fs::canonicalize(dir.path()).unwrap();
    let s = Sidecar::builder(&cwd.join("none.sock"))
        .cwd(&cwd)
        .env("HOME", "/nonexistent-home")
        .start()
        .await;
    let me = s.whoami().await;
    assert_eq!(me["peer_id"], format!("home:{}", cwd.display()));
    assert!(peer_proto::identity::is_valid_sid(
        me["sid"].as_str().unwrap()
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_taken_aliases_are_logged_not_fatal() {
    let d = Daemon::start();
    let home = home_in(d.dir(), "shared");
    let bad = Sidecar::builder(d.socket())
        .identity(&home, &sid())
        .env("BLEMEES_AGENT_ALIAS", "Not An Alias")
        .start()
        .await;
    bad.wait_connected().await;
    assert_eq!(bad.whoami().await["alias"], serde_json::Value::Null);
    assert!(
        bad.log().contains("ignoring BLEMEES_AGENT_ALIAS"),
        "{}",
        bad.log()
    );

    let first = Sidecar::builder(d.socket())
        .identity(&home, &sid())
        .arg("--alias")
        .arg("builder")
        .start()
        .await;
    first.wait_connected().await;
    assert_eq!(first.whoami().await["alias"], "builder");
    let second = Sidecar::builder(d.socket())
        .identity(&home, &sid())
        .arg("--alias")
        .arg("builder")
        .start()
        .await;
    second.wait_connected().await;
    assert_eq!(second.whoami().await["alias"], serde_json::Value::Null);
    assert!(second.log().contains("alias taken"), "{}", second.log());
    // Still a working session, reachable by sid.
    let peers = second.tool("peer_list_peers", json!({})).await;
    let me = second.whoami().await;
    assert!(session_in(&peers, me["sid"].as_str().unwrap()).is_some());
}
