//! What only the real-host tests need: the agent hosts from npm (tests/hosts,
//! installed by .ci/hosts.sh), run in an isolated HOME with a timeout, the
//! scripted model endpoint (tests/hosts/scripted-model.mjs) they talk to on
//! 127.0.0.1, and a second agent that answers DMs. The daemon, raw clients,
//! sids and the rmcp-driven sidecar come from [`crate::support`].

use crate::support::{poll_until, Client, Daemon, Next};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How long one host run (its whole agent loop) may take.
pub const HOST_TIMEOUT: Duration = Duration::from_secs(120);

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
    pub fn start(d: &Daemon, home: &str, alias: &str) -> Tester {
        let mut client: Client = d.peer(home);
        client.set_alias(alias);
        client.subscribe("builds");
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (stop2, received2) = (stop.clone(), received.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let frame = match client.next(Duration::from_millis(100)) {
                    Next::Frame(frame) => frame,
                    Next::Timeout => continue,
                    Next::Closed => return,
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
                client.send_json(&answer);
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

/// Claude Code from `bin` with `args`, in `cwd` with the private `home`,
/// talking to the scripted `model` only.
pub fn claude_command(
    bin: &Path,
    home: &Path,
    cwd: &Path,
    model: &Model,
    args: &[&str],
) -> Command {
    let mut cmd = host_command(&bin.join("claude"), home, cwd);
    cmd.args(args)
        .env("ANTHROPIC_BASE_URL", model.url())
        .env("ANTHROPIC_API_KEY", "sk-scripted")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1");
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

/// Runs `cmd` to its end, killing it after `timeout` (then `status` is None).
pub fn run(mut cmd: Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        })
    };
    let out_t = read_all(Box::new(child.stdout.take().unwrap()));
    let err_t = read_all(Box::new(child.stderr.take().unwrap()));
    let status = poll_until(timeout, || child.try_wait().unwrap());
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
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

/// A Codex home under `dir` whose config points Codex at the scripted `model`
/// (Responses API, approval policy never) and at our sidecar, run as
/// `command args…`.
pub fn codex_home(dir: &Path, model: &Model, command: &str, args: &[String]) -> PathBuf {
    let home = dir.join(".codex");
    std::fs::create_dir_all(&home).unwrap();
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    let config = format!(
        r#"model = "scripted"
model_provider = "scripted"
approval_policy = "never"
sandbox_mode = "read-only"
check_for_update_on_startup = false

[model_providers.scripted]
name = "scripted"
base_url = "{url}/v1"
wire_api = "responses"

[mcp_servers.peer]
command = {command:?}
args = [{args}]
"#,
        url = model.url(),
        args = args.join(", "),
    );
    std::fs::write(home.join("config.toml"), config).unwrap();
    home
}
