//! [ext] Client sub-commands of `blemees-peerd` (SPEC §8). They find the
//! daemon through `$BLEMEES_PEER_SOCKET` here, and connect with `presence: false`.

use crate::support::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn send_delivers_a_json_body_or_else_a_string_without_announcing_itself() {
    let d = Daemon::start();
    let mut b = d.peer("~/b");
    let to = b.addr();
    cli_ok(d.socket(), &["send", &to, r#"{"a": [1, 2]}"#]);
    cli_ok(d.socket(), &["send", &to, "hello there"]);
    // Strict reads: no peer_joined/peer_left from the CLI connections.
    for want in [json!({"a": [1, 2]}), json!("hello there")] {
        let frame = b.read_frame();
        assert_eq!(frame["method"], "peer.message", "{frame}");
        assert_eq!(frame["params"]["body"], want);
    }
    b.expect_silence(100);
}

#[test]
fn publish_reaches_subscribers() {
    let d = Daemon::start();
    let mut s = d.peer("~/s");
    s.subscribe("news");
    cli_ok(d.socket(), &["publish", "news", "42"]);
    let m = s.expect_message();
    assert_eq!(
        (m["to"].clone(), m["body"].clone()),
        (json!("topic:news"), json!(42))
    );
}

#[test]
fn history_prints_the_last_messages_of_an_address() {
    let d = Daemon::start();
    let mut p = d.peer("~/p");
    p.publish("log", json!("first-body-xyz"));
    p.publish("log", json!("second-body-xyz"));
    let all = cli_ok(d.socket(), &["history", "topic:log"]);
    assert!(
        all.contains("first-body-xyz") && all.contains("second-body-xyz"),
        "{all}"
    );
    let last = cli_ok(d.socket(), &["history", "topic:log", "--limit", "1"]);
    assert!(
        last.contains("second-body-xyz") && !last.contains("first-body-xyz"),
        "{last}"
    );
}

#[test]
fn status_peers_and_topics_describe_the_daemon() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    a.subscribe("some-topic");
    let status = cli_ok(d.socket(), &["status"]);
    assert!(status.contains(&d.pid().to_string()), "{status}");
    let peers = cli_ok(d.socket(), &["peers"]);
    assert!(peers.contains(a.sid()), "{peers}");
    let topics = cli_ok(d.socket(), &["topics"]);
    assert!(topics.contains("some-topic"), "{topics}");
}

#[test]
fn exit_codes_tell_usage_daemon_errors_and_absence_apart() {
    let d = Daemon::start_with(&["--max-line-bytes", "4096"]);
    let absent = d.dir().join("nobody-here.sock");
    assert_eq!(cli(&absent, &["status"]).code, Some(3));
    assert_eq!(cli(d.socket(), &["send"]).code, Some(2));
    assert_eq!(cli(d.socket(), &["no-such-command"]).code, Some(2));
    // Only the daemon knows its line limit: this is the daemon's error.
    let body = "x".repeat(8000);
    let run = cli(d.socket(), &["send", "home:~/b", &body]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
}

/// Lines of a running `watch`, read on a thread.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Watch {
    fn start(socket: &Path, args: &[&str]) -> Watch {
        let mut child = cli_command(socket, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn watch");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines }
    }

    fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_streams_matching_traffic_as_json_lines() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let b = d.peer("~/b");
    let watch = Watch::start(d.socket(), &["watch", "--to", "topic:*", "--json"]);
    // It is watching once a probe shows up.
    eventually("watch to print a probe", TIMEOUT, || {
        a.publish("probe", json!("probe"));
        watch.next_line(Duration::from_millis(50)).is_some()
    });
    while watch.next_line(Duration::from_millis(50)).is_some() {}

    let dm = a.send_dm(&b.addr(), json!("not a topic"));
    let marker = a.publish("news", json!("marker"));
    let line = watch.next_line(TIMEOUT).expect("a line for the marker");
    let parsed: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let id = marker["message_id"].as_str().unwrap();
    assert!(parsed.to_string().contains(id), "{line}");
    assert!(!line.contains(dm["message_id"].as_str().unwrap()), "{line}");
}

#[test]
fn leases_lists_holders_globs_and_reasons() {
    let d = Daemon::start();
    assert!(cli_ok(d.socket(), &["leases"]).contains("(no leases)"));
    let mut a = d.peer("~/a");
    a.set_alias("alice");
    a.call(
        "peer.lease",
        json!({"paths": ["src/*", "Cargo.toml"], "reason": "refactor"}),
    );
    let listed = cli_ok(d.socket(), &["leases"]);
    for expected in [
        a.sid(),
        "alice",
        "src/* Cargo.toml",
        "exclusive",
        "refactor",
    ] {
        assert!(listed.contains(expected), "{expected} in {listed}");
    }
    assert!(cli_ok(d.socket(), &["leases", "docs/x.md"]).contains("(no leases)"));
    let json: Value = serde_json::from_str(&cli_ok(d.socket(), &["leases", "--json"])).unwrap();
    assert_eq!(json["leases"][0]["paths"], json!(["src/*", "Cargo.toml"]));
}
