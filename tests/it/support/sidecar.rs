//! End-to-end harness for `blemees-peer-mcp`: spawns the real sidecar binary and
//! drives it over stdio with rmcp's own client, as an agent host would.

use super::{eventually_async, home_in};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientRequest, CustomNotification,
    ProgressNotificationParam, ProtocolVersion, ReadResourceRequestParams, Request,
    ResourceContents, ResourceUpdatedNotificationParam, Tool,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt, NotificationContext, PeerRequestOptions, RequestHandle,
    RunningService,
};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceError};
use serde_json::{json, Value};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The sidecar under test, as a host is told to run it.
pub const SIDECAR_BIN: &str = env!("CARGO_BIN_EXE_blemees-peer-mcp");

/// The sidecar's twelve tools.
pub const TOOLS: [&str; 12] = [
    "peer_send",
    "peer_publish",
    "peer_subscribe",
    "peer_unsubscribe",
    "peer_inbox",
    "peer_await",
    "peer_set_alias",
    "peer_set_dm_filter",
    "peer_list_peers",
    "peer_list_topics",
    "peer_history",
    "peer_whoami",
];

/// The tools of `--tools leases`.
pub const LEASE_TOOLS: [&str; 3] = ["peer_lease", "peer_lease_release", "peer_leases"];

/// The tools of `--tools threads`.
pub const THREAD_TOOLS: [&str; 1] = ["peer_thread"];

/// The tools of `--tools search`.
pub const SEARCH_TOOLS: [&str; 1] = ["peer_search"];

/// How long one MCP request may take before the test fails.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a sidecar may take to (re)connect to a daemon: the backoff peaks
/// at 5 s, so this allows one full cycle and slack.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Environment variables the sidecar reads; cleared so the test's own
/// environment (possibly an agent's) cannot leak in.
const IDENTITY_ENV: &[&str] = &[
    "BLEMEES_AGENT_HOME",
    "BLEMEES_AGENT_SID",
    "BLEMEES_AGENT_ALIAS",
    "CLAUDE_PROJECT_DIR",
    "CLAUDE_CODE_SESSION_ID",
    "BLEMEES_PEER_SOCKET",
];

/// Records what the sidecar pushes besides responses.
#[derive(Clone, Default)]
pub struct Recorder {
    pub progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    pub updated: Arc<Mutex<Vec<String>>>,
    /// Notifications outside the MCP schema (`notifications/claude/channel`).
    pub custom: Arc<Mutex<Vec<CustomNotification>>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        self.updated.lock().unwrap().push(params.uri);
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _ctx: NotificationContext<RoleClient>,
    ) {
        self.custom.lock().unwrap().push(notification);
    }
}

/// How to start a sidecar.
pub struct SidecarBuilder {
    socket: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    cwd: Option<PathBuf>,
    lifecycle: ClientLifecycleMode,
}

impl SidecarBuilder {
    pub fn arg(mut self, arg: impl AsRef<str>) -> Self {
        self.args.push(arg.as_ref().to_string());
        self
    }
    /// `--home H --sid S` (a fixed identity).
    pub fn identity(self, home: &str, sid: &str) -> Self {
        self.arg("--home").arg(home).arg("--sid").arg(sid)
    }
    pub fn env(mut self, key: &str, value: impl AsRef<str>) -> Self {
        self.envs.push((key.into(), value.as_ref().into()));
        self
    }
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }
    /// Speak the 2026-07-28 revision (`server/discover`, no initialize).
    pub fn discover(mut self) -> Self {
        self.lifecycle = ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        };
        self
    }

    pub async fn start(self) -> Sidecar {
        let log_dir = tempfile::Builder::new()
            .prefix("sidecar-log-")
            .tempdir()
            .expect("tempdir");
        let log_path = log_dir.path().join("stderr");
        let log = File::create(&log_path).expect("stderr file");
        let mut cmd = tokio::process::Command::new(SIDECAR_BIN);
        cmd.arg("--socket")
            .arg(&self.socket)
            .args(&self.args)
            .arg("--log-level")
            .arg("debug");
        for k in IDENTITY_ENV {
            cmd.env_remove(k);
        }
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        let (transport, _) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn blemees-peer-mcp");
        let recorder = Recorder::default();
        let client = tokio::time::timeout(
            CALL_TIMEOUT,
            recorder
                .clone()
                .serve_with_lifecycle(transport, self.lifecycle),
        )
        .await
        .expect("the sidecar answers the handshake in time")
        .expect("MCP handshake with the sidecar");
        Sidecar {
            client,
            recorder,
            _log_dir: log_dir,
            log_path,
        }
    }
}

/// A running sidecar and rmcp's client session with it; the process ends when
/// this is dropped.
pub struct Sidecar {
    pub client: RunningService<RoleClient, Recorder>,
    pub recorder: Recorder,
    _log_dir: tempfile::TempDir,
    log_path: PathBuf,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- sidecar log ----\n{}", self.log());
        }
    }
}

impl Sidecar {
    pub fn builder(socket: &Path) -> SidecarBuilder {
        SidecarBuilder {
            socket: socket.to_path_buf(),
            args: Vec::new(),
            envs: Vec::new(),
            cwd: None,
            lifecycle: ClientLifecycleMode::Initialize,
        }
    }

    /// A sidecar with a fixed home and sid.
    pub async fn start(socket: &Path, home: &str, sid: &str) -> Sidecar {
        Self::builder(socket).identity(home, sid).start().await
    }

    /// What the sidecar logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Calls a tool: `Ok` with the result (which may be `isError`), `Err` with
    /// the protocol error (e.g. arguments that do not deserialize); fails the
    /// test if it times out.
    pub async fn try_call(&self, name: &str, args: Value) -> Result<CallToolResult, ServiceError> {
        let params = CallToolRequestParams::new(name.to_string())
            .with_arguments(args.as_object().cloned().unwrap_or_default());
        tokio::time::timeout(CALL_TIMEOUT, self.client.call_tool(params))
            .await
            .unwrap_or_else(|_| panic!("{name} {args} did not answer within {CALL_TIMEOUT:?}"))
    }

    /// Calls a tool; fails the test if the call itself fails or times out.
    pub async fn call(&self, name: &str, args: Value) -> CallToolResult {
        self.try_call(name, args)
            .await
            .unwrap_or_else(|e| panic!("{name} failed at the protocol level: {e}\n{}", self.log()))
    }

    /// `tools/list`, every page.
    pub async fn tools(&self) -> Vec<Tool> {
        tokio::time::timeout(CALL_TIMEOUT, self.client.list_all_tools())
            .await
            .expect("tools/list in time")
            .expect("tools/list")
    }

    /// A tool's JSON result; fails the test on an `isError` result.
    pub async fn tool(&self, name: &str, args: Value) -> Value {
        let r = self.call(name, args.clone()).await;
        assert_ne!(r.is_error, Some(true), "{name} {args}: {}", text_of(&r));
        serde_json::from_str(&text_of(&r)).expect("a tool result is JSON text")
    }

    /// The text of a tool's `isError` result; fails the test on success.
    pub async fn tool_error(&self, name: &str, args: Value) -> String {
        let r = self.call(name, args.clone()).await;
        assert_eq!(
            r.is_error,
            Some(true),
            "{name} {args} should fail: {}",
            text_of(&r)
        );
        text_of(&r)
    }

    /// Starts `peer_await` as a cancellable request.
    pub async fn start_await(&self, args: Value) -> RequestHandle<RoleClient> {
        let params = CallToolRequestParams::new("peer_await")
            .with_arguments(args.as_object().cloned().unwrap_or_default());
        self.client
            .send_cancellable_request(
                ClientRequest::CallToolRequest(Request::new(params)),
                PeerRequestOptions::no_options(),
            )
            .await
            .expect("send peer_await")
    }

    /// The params of the peer messages the next `peer_await` returns (at most
    /// `timeout_s` of waiting); empty on timeout.
    pub async fn await_messages(&self, timeout_s: f64) -> Vec<Value> {
        let r = self
            .tool("peer_await", json!({ "timeout": timeout_s }))
            .await;
        message_params(&r)
    }

    /// Waits (by `peer_await`) until `n` peer messages have arrived.
    pub async fn expect_messages(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + CALL_TIMEOUT;
        let mut got = Vec::new();
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "only {} of {n} messages arrived: {got:?}",
                got.len()
            );
            got.extend(self.await_messages(left.as_secs_f64().min(5.0)).await);
        }
        assert_eq!(got.len(), n, "more messages than expected: {got:?}");
        got
    }

    /// `peer_whoami`.
    pub async fn whoami(&self) -> Value {
        self.tool("peer_whoami", json!({})).await
    }

    /// The `peer://inbox` resource: every entry held, not drained.
    pub async fn inbox_resource(&self) -> Vec<Value> {
        let read = self
            .client
            .read_resource(ReadResourceRequestParams::new("peer://inbox"))
            .await
            .expect("read peer://inbox");
        match &read.contents[0] {
            ResourceContents::TextResourceContents { text, .. } => {
                serde_json::from_str(text).expect("peer://inbox is a JSON array")
            }
            other => panic!("peer://inbox is not text: {other:?}"),
        }
    }

    /// Polls until the sidecar's log contains `needle`. (rmcp logs every request
    /// it reads at debug level, which the harness turns on.)
    pub async fn wait_logged(&self, needle: &str) {
        let what = format!("the sidecar to log {needle:?}");
        eventually_async(&what, CALL_TIMEOUT, || async {
            self.log().contains(needle)
        })
        .await
    }

    /// Polls until the sidecar is connected to a daemon.
    pub async fn wait_connected(&self) {
        eventually_async("the sidecar to connect", CONNECT_TIMEOUT, || async {
            self.whoami().await["connected"] == true
        })
        .await
    }

    /// Polls until the sidecar notices it lost the daemon.
    pub async fn wait_disconnected(&self) {
        eventually_async("the sidecar to disconnect", CONNECT_TIMEOUT, || async {
            self.whoami().await["connected"] == false
        })
        .await
    }
}

/// The first text content of a tool result.
pub fn text_of(r: &CallToolResult) -> String {
    r.content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// The params of the `peer.message` entries of an inbox result.
pub fn message_params(result: &Value) -> Vec<Value> {
    result["messages"]
        .as_array()
        .expect("messages array")
        .iter()
        .filter(|m| m["method"] == "peer.message")
        .map(|m| m["params"].clone())
        .collect()
}

/// The session with `sid` in a `peer_list_peers` result.
pub fn session_in(peers: &Value, sid: &str) -> Option<Value> {
    peers["peers"]
        .as_array()?
        .iter()
        .flat_map(|p| p["sessions"].as_array().cloned().unwrap_or_default())
        .find(|s| s["sid"] == sid)
}

/// The DM scenario every daemon must pass: `a` (holding the alias `architect`)
/// and `b` exchange DMs by sid, by alias (as a reply) and by home.
pub async fn exchange_dms(a: &Sidecar, b: &Sidecar) {
    let (me_a, me_b) = (a.whoami().await, b.whoami().await);
    assert_eq!(me_a["alias"], "architect");
    let sent = a
        .tool(
            "peer_send",
            json!({"to": me_b["address"], "body": {"text": "hi"}}),
        )
        .await;
    assert_eq!(sent["delivered"], 1);
    let got = b.expect_messages(1).await;
    assert_eq!(got[0]["message_id"], sent["message_id"]);
    assert_eq!(got[0]["body"], json!({"text": "hi"}));
    assert_eq!(got[0]["from"], me_a["address"]);
    assert_eq!(got[0]["from_alias"], "architect");

    let to_alias = format!("{}#architect", me_a["peer_id"].as_str().unwrap());
    let reply = b
        .tool(
            "peer_send",
            json!({"to": to_alias, "body": "ack", "reply_to": sent["message_id"]}),
        )
        .await;
    assert_eq!(reply["delivered"], 1);
    let back = a.expect_messages(1).await;
    assert_eq!(back[0]["body"], "ack");
    assert_eq!(back[0]["reply_to"], sent["message_id"]);

    let all = a
        .tool("peer_send", json!({"to": me_b["peer_id"], "body": 3}))
        .await;
    assert_eq!(all["delivered"], 1);
    assert_eq!(b.expect_messages(1).await[0]["body"], 3);
}

/// The topic scenario every daemon must pass: `b` subscribes to what `a`
/// published with a replay of 2 of 3 stored messages, then gets a live one.
pub async fn topic_replay_and_live(a: &Sidecar, b: &Sidecar) {
    for n in 1..=3 {
        a.tool("peer_publish", json!({"topic": "builds", "body": n}))
            .await;
    }
    b.tool("peer_subscribe", json!({"topic": "builds", "replay": 2}))
        .await;
    let replayed = b.tool("peer_inbox", json!({})).await;
    let bodies: Vec<_> = message_params(&replayed)
        .iter()
        .map(|m| m["body"].clone())
        .collect();
    assert_eq!(bodies, [json!(2), json!(3)]);
    assert_eq!(replayed["dropped"], 0);
    let live = a
        .tool("peer_publish", json!({"topic": "builds", "body": 4}))
        .await;
    assert_eq!(live["subscribers"], 1);
    let got = b.expect_messages(1).await;
    assert_eq!(got[0]["to"], "topic:builds");
    assert_eq!(got[0]["body"], 4);
    let topics = a.tool("peer_list_topics", json!({})).await;
    assert_eq!(topics["topics"][0]["name"], "builds");
    assert_eq!(topics["topics"][0]["subscribers"], 1);
}

/// Two connected sidecars in homes `dir/a` and `dir/b`; the first holds the
/// alias `architect`.
pub async fn pair(socket: &Path, dir: &Path) -> (Sidecar, Sidecar) {
    let home = |name: &str| home_in(dir, name);
    let a = Sidecar::builder(socket)
        .identity(&home("a"), &crate::support::sid())
        .arg("--alias")
        .arg("architect")
        .start()
        .await;
    let b = Sidecar::start(socket, &home("b"), &crate::support::sid()).await;
    a.wait_connected().await;
    b.wait_connected().await;
    (a, b)
}
