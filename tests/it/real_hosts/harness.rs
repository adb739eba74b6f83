//! Harness of the real-host tests: the real daemon, a raw second agent that
//! answers DMs, our sidecar under rmcp's client, the agent hosts from npm
//! (tests/hosts, installed by .ci/hosts.sh), and the scripted model endpoint
//! (tests/hosts/scripted-model.mjs) they talk to on 127.0.0.1.
//!
//! Self-contained on purpose: it shares no code with the other test binaries.
#![allow(dead_code)]

use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long one host run (its whole agent loop) may take.
pub const HOST_TIMEOUT: Duration = Duration::from_secs(120);
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sidecar_bin() -> &'static str {
    env!("CARGO_BIN_EXE_blemees-peer-mcp")
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh valid sid, unique in this process.
pub fn sid() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("sess_H{:05}-{:09}", std::process::id() % 100_000, n)
}

// ---------------------------------------------------------------------------
// The daemon and raw clients
// ---------------------------------------------------------------------------

/// The real `blemees-peerd` on a private socket; killed on drop.
pub struct Daemon {
    dir: tempfile::TempDir,
    child: Child,
}

impl Daemon {
    pub fn start() -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("real-hosts-")
            .tempdir()
            .unwrap();
        let log = std::fs::File::create(dir.path().join("peerd.stderr")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_blemees-peerd"))
            .arg("--socket")
            .arg(dir.path().join("peerd.sock"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn blemees-peerd");
        let d = Daemon { dir, child };
        let deadline = Instant::now() + START_TIMEOUT;
        while UnixStream::connect(d.socket()).is_err() {
            assert!(Instant::now() < deadline, "blemees-peerd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("peerd.sock")
    }
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// A new directory under the daemon's, as a home.
    pub fn home(&self, name: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p.to_string_lossy().into_owned()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("peerd.stderr"));
            eprintln!("---- daemon stderr ----\n{}", log.unwrap_or_default());
        }
    }
}

/// A raw newline-delimited JSON-RPC connection to the daemon.
pub struct Raw {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

impl Raw {
    pub fn connect(socket: &Path) -> Raw {
        let stream = UnixStream::connect(socket).expect("connect to the daemon");
        Raw {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            next_id: 1,
        }
    }

    /// Sends a request; returns its response and the notifications before it.
    pub fn request(&mut self, method: &str, params: Value) -> (Value, Vec<Value>) {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(self.writer, "{line}").unwrap();
        let mut notes = Vec::new();
        loop {
            let frame = self
                .next(Duration::from_secs(5))
                .expect("a response within 5 s");
            if frame.get("id") == Some(&json!(id)) && frame.get("method").is_none() {
                return (frame, notes);
            }
            notes.push(frame);
        }
    }

    /// The result of a request; panics on an error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let (r, _) = self.request(method, params);
        r.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("{method} failed: {r}"))
    }

    /// The next frame within `timeout`, if any.
    pub fn next(&mut self, timeout: Duration) -> Option<Value> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .unwrap();
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(serde_json::from_str(&line).expect("daemon frame is JSON")),
            Err(_) => None,
        }
    }

    /// Every notification that arrives within `window`.
    pub fn drain(&mut self, window: Duration) -> Vec<Value> {
        let deadline = Instant::now() + window;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return got;
            }
            if let Some(f) = self.next(left) {
                got.push(f);
            }
        }
    }

    pub fn hello(&mut self, sid: &str, home: &str) -> Value {
        self.call("peer.hello", json!({"sid": sid, "home": home}))
    }
}

/// A second agent on a raw connection: holds an alias, subscribes to the topic
/// `builds`, and answers every DM with `{"answer": "pong"}` as a reply to it.
/// Stops on drop.
pub struct Tester {
    pub address: String,
    stop: Arc<AtomicBool>,
    pub received: Arc<Mutex<Vec<Value>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tester {
    pub fn start(socket: &Path, home: &str, alias: &str) -> Tester {
        let mut raw = Raw::connect(socket);
        raw.hello(&sid(), home);
        raw.call("peer.set_alias", json!({ "alias": alias }));
        raw.call("peer.subscribe", json!({ "topic": "builds" }));
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (stop2, received2) = (stop.clone(), received.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let Some(frame) = raw.next(Duration::from_millis(100)) else {
                    continue;
                };
                if frame["method"] != "peer.message" {
                    continue;
                }
                let p = &frame["params"];
                received2.lock().unwrap().push(p.clone());
                if !p["to"].as_str().is_some_and(|t| t.starts_with("home:")) {
                    continue;
                }
                let answer = json!({"jsonrpc": "2.0", "id": 1_000_000, "method": "peer.send", "params": {
                    "to": p["from"], "body": {"answer": "pong"}, "reply_to": p["message_id"]}});
                let _ = writeln!(raw.writer, "{answer}");
            }
        });
        Tester {
            address: format!("home:{home}#{alias}"),
            stop,
            received,
            thread: Some(thread),
        }
    }
}

impl Drop for Tester {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------
// Our sidecar under rmcp's client
// ---------------------------------------------------------------------------

pub type Client = RunningService<RoleClient, ()>;

/// The sidecar on `socket` with a fixed home, after the MCP handshake.
pub async fn sidecar(socket: &Path, home: &str) -> Client {
    let mut cmd = tokio::process::Command::new(sidecar_bin());
    cmd.arg("--socket")
        .arg(socket)
        .args(["--home", home, "--sid", &sid()]);
    for k in [
        "BLEMEES_AGENT_HOME",
        "BLEMEES_AGENT_SID",
        "BLEMEES_AGENT_ALIAS",
        "CLAUDE_PROJECT_DIR",
        "CLAUDE_CODE_SESSION_ID",
        "BLEMEES_PEER_SOCKET",
    ] {
        cmd.env_remove(k);
    }
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn blemees-peer-mcp");
    tokio::time::timeout(START_TIMEOUT, ().serve(transport))
        .await
        .expect("handshake in time")
        .expect("MCP handshake")
}

pub async fn tools(client: &Client) -> Vec<Tool> {
    client.list_all_tools().await.expect("tools/list")
}

/// A tool call: `Ok` with the result (which may be `isError`), or `Err` with
/// the protocol error (e.g. arguments that do not deserialize).
pub async fn call(client: &Client, name: &str, args: Value) -> Result<CallToolResult, String> {
    let params = CallToolRequestParams::new(name.to_string())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    tokio::time::timeout(Duration::from_secs(15), client.call_tool(params))
        .await
        .unwrap_or_else(|_| panic!("{name} {args} did not answer in time"))
        .map_err(|e| e.to_string())
}

pub fn text_of(r: &CallToolResult) -> String {
    r.content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Node, the hosts and the scripted model
// ---------------------------------------------------------------------------

/// The installed hosts' `node_modules/.bin`, installing them on first use; None
/// (after saying why) when node or npm is missing, so the tests skip.
pub fn hosts_bin() -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        for tool in ["node", "npm"] {
            let found = Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !found {
                eprintln!(
                    "SKIPPED: `{tool}` is not installed; the real-host tests need node and npm"
                );
                return None;
            }
        }
        let status = Command::new(repo().join(".ci/hosts.sh"))
            .status()
            .expect("run .ci/hosts.sh");
        assert!(status.success(), ".ci/hosts.sh failed: {status}");
        Some(repo().join("tests/hosts/node_modules/.bin"))
    })
    .clone()
}

/// Environment for a host process: a private HOME, no inherited agent
/// identity, and every proxy pointed at a closed loopback port so that any
/// request a host makes besides the model endpoint fails at once and never
/// leaves the machine.
pub fn host_command(program: &Path, home: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd).env_clear();
    for k in ["PATH", "LANG", "TERM", "TMPDIR"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    let proxy = "http://127.0.0.1:9";
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("HTTPS_PROXY", proxy)
        .env("HTTP_PROXY", proxy)
        .env("https_proxy", proxy)
        .env("http_proxy", proxy)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null());
    cmd
}

/// What a finished process left.
pub struct Output {
    pub status: Option<std::process::ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {:?}\n---- stdout ----\n{}\n---- stderr ----\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to its end, killing it after `timeout`.
pub fn run(mut cmd: Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

/// tests/hosts/scripted-model.mjs playing `script`; stopped on drop.
pub struct Model {
    child: Child,
    pub port: u16,
    transcript: PathBuf,
    _dir: tempfile::TempDir,
}

impl Model {
    pub fn start(script: &Value) -> Model {
        let dir = tempfile::Builder::new().prefix("model-").tempdir().unwrap();
        let script_path = dir.path().join("script.json");
        std::fs::write(&script_path, script.to_string()).unwrap();
        let transcript = dir.path().join("transcript.json");
        let mut child = Command::new("node")
            .arg(repo().join("tests/hosts/scripted-model.mjs"))
            .arg(&script_path)
            .arg(&transcript)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node scripted-model.mjs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("scripted model did not start: {line:?}"));
        Model {
            child,
            port,
            transcript,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn transcript(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(&self.transcript).unwrap()).unwrap()
    }

    /// Fails the test unless the script ran to its end with every result as
    /// expected; returns the transcript.
    pub fn assert_played(&self, what: &str, host_output: &Output) -> Value {
        let t = self.transcript();
        let pretty = serde_json::to_string_pretty(&t["results"]).unwrap();
        assert_eq!(
            t["failures"],
            json!([]),
            "{what}: the scripted model saw unexpected tool results\n{pretty}\n{host_output}"
        );
        assert_eq!(
            t["finished"], true,
            "{what}: the script did not run to its end\n{pretty}\n{host_output}"
        );
        t
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
