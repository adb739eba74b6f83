//! Compatibility with the Python blemees-peer 0.1: its MCP sidecar, unchanged,
//! works against our daemon. Two 0.1 sidecars, spoken to over stdio exactly as an
//! agent host would, exchange DMs (by home and by alias) and a topic message.

use crate::support::py01::py01_bin;
use crate::support::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};

/// A 0.1 `blemees-peer-mcp` process driven over stdio.
struct PySidecar {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Value>,
    next_id: u64,
}

impl PySidecar {
    fn start(socket: &Path, home: &str, sid: &str, alias: Option<&str>) -> PySidecar {
        let mut cmd = Command::new(py01_bin("blemees-peer-mcp"));
        cmd.arg("--socket")
            .arg(socket)
            .args(["--home", home, "--sid", sid]);
        if let Some(alias) = alias {
            cmd.args(["--alias", alias]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the 0.1 sidecar");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        });
        let mut s = PySidecar {
            child,
            stdin,
            lines,
            next_id: 0,
        };
        let init = s.request(
            "initialize",
            json!({"protocolVersion": "2024-11-05", "capabilities": {},
                   "clientInfo": {"name": "compat-test", "version": "0"}}),
        );
        assert_eq!(init["serverInfo"]["name"], "blemees-peer-mcp", "{init}");
        s.write(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn write(&mut self, v: &Value) {
        writeln!(self.stdin, "{v}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Sends an MCP request and returns its result, skipping notifications.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.write(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let v = self
                .lines
                .recv_timeout(TIMEOUT)
                .expect("the 0.1 sidecar answers");
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method} failed: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Calls a tool and returns its JSON result.
    fn tool(&mut self, name: &str, arguments: Value) -> Value {
        let r = self.request("tools/call", json!({"name": name, "arguments": arguments}));
        assert_eq!(r["isError"], false, "{name}: {r}");
        serde_json::from_str(r["content"][0]["text"].as_str().unwrap()).unwrap()
    }

    /// Waits (through `peer_await`) for the next `peer.message` notification.
    fn next_message(&mut self) -> Value {
        for _ in 0..20 {
            let note = self.tool("peer_await", json!({"timeout": 5}));
            assert_ne!(note["timeout"], true, "no message arrived");
            if note["method"] == "peer.message" {
                return note["params"].clone();
            }
        }
        panic!("no peer.message among 20 notifications");
    }
}

impl Drop for PySidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn python_sidecars_exchange_dms_and_topic_messages_through_our_daemon() {
    let d = Daemon::start();
    let home_a = home_in(d.dir(), "a");
    let home_b = home_in(d.dir(), "b");
    let (sid_a, sid_b) = (sid(), sid());
    let mut a = PySidecar::start(d.socket(), &home_a, &sid_a, Some("architect"));
    let mut b = PySidecar::start(d.socket(), &home_b, &sid_b, None);

    let tools = b.request("tools/list", json!({}));
    assert_eq!(tools["tools"].as_array().unwrap().len(), 11);
    b.tool("peer_subscribe", json!({"topic": "build-events"}));

    // A → B by home broadcast.
    let sent = a.tool(
        "peer_send",
        json!({"to": format!("home:{home_b}"), "body": {"text": "hi"}}),
    );
    assert_eq!(sent["delivered"], 1);
    let got = b.next_message();
    assert_eq!(got["message_id"], sent["message_id"]);
    assert_eq!(got["body"], json!({"text": "hi"}));
    assert_eq!(got["from"], format!("home:{home_a}#{sid_a}"));
    assert_eq!(got["from_alias"], "architect");

    // B → A by the alias A's sidecar claimed at start-up, as a reply.
    let reply = b.tool(
        "peer_send",
        json!({"to": format!("home:{home_a}#architect"), "body": "ack", "reply_to": got["message_id"]}),
    );
    assert_eq!(reply["delivered"], 1);
    let back = a.next_message();
    assert_eq!(back["body"], "ack");
    assert_eq!(back["reply_to"], got["message_id"]);

    // A topic message.
    let published = a.tool(
        "peer_publish",
        json!({"topic": "build-events", "body": {"status": "red"}}),
    );
    assert_eq!(published["subscribers"], 1);
    let event = b.next_message();
    assert_eq!(event["to"], "topic:build-events");
    assert_eq!(event["body"], json!({"status": "red"}));

    // Discovery and history through the 0.1 tools.
    let peers = a.tool("peer_list_peers", json!({}));
    assert_eq!(peers["peers"].as_array().unwrap().len(), 2, "{peers}");
    let history = b.tool("peer_history", json!({"address": "topic:build-events"}));
    assert_eq!(
        history["messages"][0]["message_id"],
        published["message_id"]
    );
}

#[test]
fn a_python_sidecar_started_later_receives_its_queued_dm() {
    let d = Daemon::start();
    let home_b = home_in(d.dir(), "later");
    let sid_b = sid();
    let mut sender = d.peer("~/sender");
    let sent = sender.call(
        "peer.send",
        json!({"to": format!("home:{home_b}#{sid_b}"), "body": 42}),
    );
    assert_eq!(sent["queued"], true);
    let mut b = PySidecar::start(d.socket(), &home_b, &sid_b, None);
    let got = b.next_message();
    assert_eq!(got["message_id"], sent["message_id"]);
    assert_eq!(got["body"], 42);
}
