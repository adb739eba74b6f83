//! The client side of the harness: a raw JSON-RPC connection to the daemon
//! over its Unix socket, fresh identities, and helpers that pick frames apart.

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long any single read waits before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(5);
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const HELLO_REQUIRED: i64 = -32000;
pub const ALIAS_TAKEN: i64 = -32010;
pub const SID_IN_USE: i64 = -32011;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh valid sid: `sess_` + 16 chars of `[A-Za-z0-9_-]`, unique in this process.
pub fn sid() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("sess_T{:05}-{:09}", std::process::id() % 100_000, n)
}

/// Wall clock in float seconds, comparable with a message's `ts`.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// What the next read from the daemon gave.
#[derive(Debug)]
pub enum Next {
    Frame(Value),
    Timeout,
    Closed,
}

/// A raw JSON-RPC connection to the daemon.
pub struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
    next_id: u64,
    sid: Option<String>,
    home: Option<String>,
}

impl Client {
    pub fn connect(path: &Path) -> Client {
        let stream =
            UnixStream::connect(path).unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        Client {
            stream,
            buf: Vec::new(),
            next_id: 1,
            sid: None,
            home: None,
        }
    }

    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// The sid given in the successful hello.
    pub fn sid(&self) -> &str {
        self.sid.as_deref().expect("no hello yet")
    }
    pub fn home(&self) -> &str {
        self.home.as_deref().expect("no hello yet")
    }
    /// `home:<home>#<sid>`
    pub fn addr(&self) -> String {
        format!("home:{}#{}", self.home(), self.sid())
    }
    /// `home:<home>`
    pub fn home_addr(&self) -> String {
        format!("home:{}", self.home())
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to daemon");
    }
    pub fn send_line(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }
    pub fn send_json(&mut self, v: &Value) {
        self.send_line(&v.to_string());
    }

    /// Reads one frame, waiting at most `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Next {
        let deadline = Instant::now() + timeout;
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=scanned + pos).collect();
                let frame = serde_json::from_slice(&line).unwrap_or_else(|e| {
                    panic!(
                        "daemon wrote invalid JSON ({e}): {}",
                        String::from_utf8_lossy(&line)
                    )
                });
                return Next::Frame(frame);
            }
            scanned = self.buf.len();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Next::Timeout;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Next::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Next::Timeout
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Next::Closed,
                Err(e) => panic!("read from daemon: {e}"),
            }
        }
    }

    pub fn read_frame(&mut self) -> Value {
        match self.next(TIMEOUT) {
            Next::Frame(v) => v,
            Next::Timeout => panic!("no frame from the daemon within {TIMEOUT:?}"),
            Next::Closed => panic!("the daemon closed the connection"),
        }
    }

    /// Sends a request with a fresh id; returns every frame read up to and
    /// including the response to it (so the last one is the response).
    pub fn request(&mut self, method: &str, params: Value) -> Vec<Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send_json(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.frames_until_response(&json!(id))
    }

    /// Reads frames until the response with `id` (included).
    pub fn frames_until_response(&mut self, id: &Value) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            let frame = self.read_frame();
            let done = frame.get("method").is_none() && frame.get("id") == Some(id);
            frames.push(frame);
            if done {
                return frames;
            }
            assert!(
                frames.last().unwrap().get("method").is_some(),
                "unexpected response while waiting for id {id}: {}",
                frames.last().unwrap()
            );
        }
    }

    /// The `result` of a request; panics on an error response.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let resp = self.request(method, params).pop().unwrap();
        match resp.get("result") {
            Some(r) => r.clone(),
            None => panic!("{method} failed: {resp}"),
        }
    }

    /// The `(code, message)` of a request that must fail.
    pub fn call_err(&mut self, method: &str, params: Value) -> (i64, String) {
        let resp = self.request(method, params).pop().unwrap();
        error_of(&resp).unwrap_or_else(|| panic!("{method} should have failed: {resp}"))
    }

    /// Asserts `method` fails with `code`.
    pub fn assert_err(&mut self, method: &str, params: Value, code: i64) {
        let (got, message) = self.call_err(method, params.clone());
        assert_eq!(got, code, "{method} {params}: {message}");
        assert!(
            !message.is_empty(),
            "{method} {params}: empty error message"
        );
    }

    /// `peer.hello`; remembers the identity on success.
    pub fn hello(&mut self, sid: &str, home: &str) -> Value {
        let result = self.call("peer.hello", json!({"sid": sid, "home": home}));
        self.sid = Some(sid.to_string());
        self.home = Some(home.to_string());
        result
    }

    /// `peer.hello`, returning all frames up to the response.
    pub fn hello_frames(&mut self, sid: &str, home: &str) -> Vec<Value> {
        let frames = self.try_hello(json!({"sid": sid, "home": home}));
        assert!(
            frames.last().unwrap().get("result").is_some(),
            "hello failed: {frames:?}"
        );
        frames
    }

    /// `peer.hello` with any params, returning all frames up to the response;
    /// remembers the identity if it succeeded.
    pub fn try_hello(&mut self, params: Value) -> Vec<Value> {
        let frames = self.request("peer.hello", params.clone());
        if frames.last().unwrap().get("result").is_some() {
            self.sid = params["sid"].as_str().map(str::to_string);
            self.home = params["home"].as_str().map(str::to_string);
        }
        frames
    }

    pub fn set_alias(&mut self, alias: &str) -> Value {
        self.call("peer.set_alias", json!({"alias": alias}))
    }
    pub fn send_dm(&mut self, to: &str, body: Value) -> Value {
        self.call("peer.send", json!({"to": to, "body": body}))
    }
    pub fn publish(&mut self, topic: &str, body: Value) -> Value {
        self.call("peer.publish", json!({"topic": topic, "body": body}))
    }
    pub fn subscribe(&mut self, topic: &str) -> Value {
        self.call("peer.subscribe", json!({"topic": topic}))
    }
    pub fn history(&mut self, params: Value) -> Vec<Value> {
        let result = self.call("peer.history", params);
        result["messages"]
            .as_array()
            .expect("messages array")
            .clone()
    }
    pub fn list_peers(&mut self) -> Vec<Value> {
        let result = self.call("peer.list_peers", json!({}));
        result["peers"].as_array().expect("peers array").clone()
    }
    pub fn list_topics(&mut self) -> Vec<Value> {
        let result = self.call("peer.list_topics", json!({}));
        result["topics"].as_array().expect("topics array").clone()
    }

    /// The params of the next notification `method`, skipping presence
    /// notifications (joined/left/alias_changed) of other methods; any other
    /// frame is a failure.
    pub fn expect_notification(&mut self, method: &str) -> Value {
        loop {
            let frame = self.read_frame();
            let got = frame.get("method").and_then(Value::as_str).unwrap_or("");
            if got == method {
                return frame["params"].clone();
            }
            assert!(
                is_presence(&frame),
                "expected {method}, got another frame: {frame}"
            );
        }
    }

    /// The next `peer.message` (presence notifications are skipped).
    pub fn expect_message(&mut self) -> Value {
        self.expect_notification("peer.message")
    }

    /// The next presence notification `method` about `sid`, skipping other
    /// presence notifications.
    pub fn expect_presence(&mut self, method: &str, sid: &str) -> Value {
        loop {
            let params = self.expect_notification(method);
            if params["sid"] == sid {
                return params;
            }
        }
    }

    /// Asserts that nothing at all arrives for `ms` milliseconds.
    pub fn expect_silence(&mut self, ms: u64) {
        match self.next(Duration::from_millis(ms)) {
            Next::Timeout => {}
            Next::Frame(v) => panic!("expected silence, got {v}"),
            Next::Closed => panic!("expected silence, the daemon closed the connection"),
        }
    }

    /// Every frame that arrives within `window`; the daemon closing the
    /// connection meanwhile fails the test.
    pub fn drain(&mut self, window: Duration) -> Vec<Value> {
        let deadline = Instant::now() + window;
        let mut frames = Vec::new();
        loop {
            match self.next(deadline.saturating_duration_since(Instant::now())) {
                Next::Frame(v) => frames.push(v),
                Next::Timeout => return frames,
                Next::Closed => panic!("the daemon closed the connection: {frames:?}"),
            }
        }
    }

    /// Asserts the daemon closes the connection (frames before that are returned).
    pub fn expect_closed(&mut self) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            match self.next(TIMEOUT) {
                Next::Frame(v) => frames.push(v),
                Next::Closed => return frames,
                Next::Timeout => panic!("connection still open after {TIMEOUT:?}: {frames:?}"),
            }
        }
    }
}

/// The field names of a message, but `seq` (an extension of ours).
pub fn fields_but_seq(message: &Value) -> BTreeSet<&str> {
    message
        .as_object()
        .expect("a message is an object")
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "seq")
        .collect()
}

/// `(code, message)` if `frame` is an error response.
pub fn error_of(frame: &Value) -> Option<(i64, String)> {
    let err = frame.get("error")?;
    let code = err["code"].as_i64().expect("integer error code");
    let message = err["message"].as_str().expect("string error message");
    Some((code, message.to_string()))
}

pub fn is_presence(frame: &Value) -> bool {
    matches!(
        frame.get("method").and_then(Value::as_str),
        Some("peer.peer_joined" | "peer.peer_left" | "peer.alias_changed")
    )
}

/// Method names of the notifications among `frames` (responses excluded).
pub fn methods(frames: &[Value]) -> Vec<&str> {
    frames
        .iter()
        .filter_map(|f| f.get("method").and_then(Value::as_str))
        .collect()
}

/// The params of the `peer.message` notifications among `frames`.
pub fn messages(frames: &[Value]) -> Vec<Value> {
    notifications(frames, "peer.message")
}

/// The params of the `method` notifications among `frames`.
pub fn notifications(frames: &[Value], method: &str) -> Vec<Value> {
    frames
        .iter()
        .filter(|f| f.get("method").and_then(Value::as_str) == Some(method))
        .map(|f| f["params"].clone())
        .collect()
}

/// The bodies of `msgs`.
pub fn bodies(msgs: &[Value]) -> Vec<Value> {
    msgs.iter().map(|m| m["body"].clone()).collect()
}

/// The message ids of `msgs`.
pub fn ids(msgs: &[Value]) -> Vec<String> {
    msgs.iter()
        .map(|m| m["message_id"].as_str().expect("message_id").to_string())
        .collect()
}

/// The sessions listed for `peer_id` in a `list_peers` result.
pub fn sessions_of(peers: &[Value], peer_id: &str) -> Vec<Value> {
    peers
        .iter()
        .filter(|p| p["peer_id"] == peer_id)
        .flat_map(|p| p["sessions"].as_array().unwrap().clone())
        .collect()
}

/// The session with `sid` in a `list_peers` result, if listed.
pub fn session_with_sid(peers: &[Value], sid: &str) -> Option<Value> {
    peers
        .iter()
        .flat_map(|p| p["sessions"].as_array().unwrap().iter())
        .find(|s| s["sid"] == sid)
        .cloned()
}
