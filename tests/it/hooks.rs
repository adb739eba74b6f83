//! Waking the agent (issue 11): `blemees-peer-mcp hook …` looks at what a
//! session has not read through its sidecar's peek endpoint, and never takes
//! it; `install-hooks` writes the hook entries into the hosts' settings.
//!
//! The first tests run the hook binary the way a host does (JSON on stdin)
//! against a real daemon and sidecar; the last ones run the real Claude Code
//! and Codex (tests/hosts, through the real-host harness) against the
//! scripted model, with the hooks installed by `install-hooks`.

use crate::real_hosts::harness::{self as hosts, host_command, hosts_bin, Model, HOST_TIMEOUT};
use crate::support::sidecar::{message_params, Sidecar};
use crate::support::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_blemees-peer-mcp");

/// What a hook run left.
struct HookRun {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `blemees-peer-mcp <args>` with `input` on stdin, in `cwd`, with only
/// the environment given (as a host would, minus the host).
fn run_hook(args: &[&str], input: &str, envs: &[(&str, &str)], cwd: &Path) -> HookRun {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // Not above any test directory, so homes stay absolute paths.
        .env("HOME", "/nonexistent-home")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn the hook");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    HookRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: start.elapsed(),
    }
}

fn claude_input(event: &str, session_id: &str, cwd: &Path, extra: Value) -> String {
    let mut v = json!({
        "session_id": session_id,
        "transcript_path": "/nonexistent/transcript.jsonl",
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": event,
    });
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    v.to_string()
}

fn sessions_dir(socket: &Path) -> PathBuf {
    PathBuf::from(format!("{}.sessions", socket.display()))
}

fn hook_log(socket: &Path) -> String {
    std::fs::read_to_string(sessions_dir(socket).join("hooks.log")).unwrap_or_default()
}

/// The `state` column of a message in the daemon's database (2: held for an
/// acknowledgement).
fn dm_state(d: &Daemon, message_id: &str) -> i64 {
    query_db(
        &d.state_dir().join("peerd.db"),
        &format!("SELECT state FROM messages WHERE message_id = '{message_id}'"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_claude_hooks_see_a_held_dm_and_leave_it_unread() {
    let d = Daemon::start();
    let home = home_in(d.dir(), "a");
    std::fs::create_dir_all(&home).unwrap();
    let session = "5b7c1f0e-claude-session";
    let a = Sidecar::builder(d.socket())
        .arg("--home")
        .arg(&home)
        .env("CLAUDE_CODE_SESSION_ID", session)
        .start()
        .await;
    let me = a.whoami().await;
    let mut b = Client::connect(d.socket());
    b.hello(&sid(), &home_in(d.dir(), "b"));
    b.set_alias("tester");
    let sent = b.send_dm(
        me["address"].as_str().unwrap(),
        json!("please run the e2e suite"),
    );
    let id = sent["message_id"].as_str().unwrap().to_owned();
    let socket = d.socket().to_str().unwrap();
    let cwd = PathBuf::from(&home);

    // A tool call: the agent is told what waits.
    let tool = claude_input(
        "PostToolUse",
        session,
        &cwd,
        json!({"tool_name": "Bash", "tool_input": {"command": "ls"}, "tool_response": {}, "tool_use_id": "toolu_1"}),
    );
    let told = eventually("the hook to see the DM", Duration::from_secs(5), || {
        let r = run_hook(&["hook", "tool", "--socket", socket], &tool, &[], &cwd);
        assert_eq!(r.code, 0, "{}", r.stderr);
        (!r.stdout.is_empty()).then_some(r)
    });
    let out: Value = serde_json::from_str(&told.stdout).unwrap();
    let context = out["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap();
    assert_eq!(out["hookSpecificOutput"]["hookEventName"], "PostToolUse");
    assert!(
        context.starts_with("blemees-peer: 1 unread peer message waiting, from tester ("),
        "{context}"
    );
    assert!(told.stderr.is_empty(), "{}", told.stderr);
    let again = run_hook(&["hook", "tool", "--socket", socket], &tool, &[], &cwd);
    assert_eq!((again.code, again.stdout.as_str()), (0, ""), "rate-limited");

    // The stop: blocked once, with the sender and a preview.
    let stop = claude_input("Stop", session, &cwd, json!({"stop_hook_active": false}));
    let r = run_hook(&["hook", "stop", "--socket", socket], &stop, &[], &cwd);
    let out: Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}", r = r.stdout));
    assert_eq!(out["decision"], "block");
    let reason = out["reason"].as_str().unwrap();
    assert!(reason.contains("tester (home:"), "{reason}");
    assert!(reason.contains("\"please run the e2e suite\""), "{reason}");
    assert!(reason.contains("Call peer_inbox"), "{reason}");
    let r = run_hook(&["hook", "stop", "--socket", socket], &stop, &[], &cwd);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "no second wake-up");
    let active = claude_input(
        "Stop",
        "other-session",
        &cwd,
        json!({"stop_hook_active": true}),
    );
    let r = run_hook(&["hook", "stop", "--socket", socket], &active, &[], &cwd);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));

    // The hooks took nothing: the DM is still held for the sidecar's ack,
    // and peer_inbox gets it.
    assert_eq!(dm_state(&d, &id), 2, "the DM is still awaiting its ack");
    let got = message_params(&a.tool("peer_inbox", json!({})).await);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["message_id"], id.as_str());
    eventually("the ack", Duration::from_secs(5), || dm_state(&d, &id) == 0);
    let prompt = claude_input(
        "UserPromptSubmit",
        session,
        &cwd,
        json!({"prompt": "go on"}),
    );
    let r = run_hook(&["hook", "prompt", "--socket", socket], &prompt, &[], &cwd);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "quiet once read");
}

/// Codex gives its hooks no id the sidecar knows: the hook finds the sidecar
/// its own host (here: this test process) started.
#[tokio::test(flavor = "multi_thread")]
async fn a_codex_hook_finds_its_hosts_sidecar() {
    let d = Daemon::start();
    let home = home_in(d.dir(), "a");
    std::fs::create_dir_all(&home).unwrap();
    let a = Sidecar::builder(d.socket())
        .arg("--home")
        .arg(&home)
        .start()
        .await;
    let me = a.whoami().await;
    let mut b = Client::connect(d.socket());
    b.hello(&sid(), &home_in(d.dir(), "b"));
    b.send_dm(me["address"].as_str().unwrap(), json!({"task": "review"}));
    let cwd = PathBuf::from(&home);
    let stop =
        json!({"session_id": "0199a213-81c0-7800-8aa1-bbab2a035a53", "transcript_path": null,
        "cwd": cwd, "hook_event_name": "Stop", "model": "gpt-5-codex", "permission_mode": "default",
        "stop_hook_active": false, "last_assistant_message": "done", "turn_id": "1"})
        .to_string();
    let socket = d.socket().to_str().unwrap();
    let r = eventually("the Codex hook to block", Duration::from_secs(5), || {
        let r = run_hook(
            &["hook", "stop", "--host", "codex", "--socket", socket],
            &stop,
            &[],
            &cwd,
        );
        (!r.stdout.is_empty()).then_some(r)
    });
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        out.as_object().unwrap().len(),
        2,
        "only what Codex's schema allows: {out}"
    );
    assert!(
        out["reason"]
            .as_str()
            .unwrap()
            .contains(r#""{\"task\":\"review\"}""#),
        "{out}"
    );
}

/// With no sidecar (not started yet, or gone), the hook asks the daemon
/// (`peer.peek`) for DMs still waiting at the session's addresses, and takes
/// none of them.
#[test]
fn without_a_sidecar_the_hook_asks_the_daemon() {
    let d = Daemon::start();
    let home = home_in(d.dir(), "a");
    std::fs::create_dir_all(&home).unwrap();
    let mut b = Client::connect(d.socket());
    b.hello(&sid(), &home_in(d.dir(), "b"));
    b.set_alias("tester");
    let to_home = b.send_dm(&format!("home:{home}"), json!("for whoever comes"));
    let agent_sid = sid();
    let to_me = b.send_dm(&format!("home:{home}#{agent_sid}"), json!({"for": "me"}));
    let other = b.send_dm(&format!("home:{home}#{}", sid()), json!("not mine"));
    let cwd = PathBuf::from(&home);
    let socket = d.socket().to_str().unwrap();
    let stop = claude_input("Stop", "", &cwd, json!({"stop_hook_active": false}));
    let r = run_hook(
        &["hook", "stop", "--socket", socket],
        &stop,
        &[("BLEMEES_AGENT_SID", &agent_sid)],
        &cwd,
    );
    let out: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", r.stdout, hook_log(d.socket())));
    let reason = out["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("blemees-peer: 2 unread peer messages are waiting"),
        "{reason}"
    );
    assert!(
        reason.contains("\"for whoever comes\"") && reason.contains(r#"{\"for\":\"me\"}"#),
        "{reason}"
    );
    assert!(!reason.contains("not mine"), "{reason}");
    for m in [&to_home, &to_me, &other] {
        let id = m["message_id"].as_str().unwrap();
        assert_eq!(dm_state(&d, id), 1, "still queued");
    }
    assert!(hook_log(d.socket()).contains("asked the daemon"));
    // Once per message, as with a sidecar.
    let r = run_hook(
        &["hook", "stop", "--socket", socket],
        &stop,
        &[("BLEMEES_AGENT_SID", &agent_sid)],
        &cwd,
    );
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
}

/// A 0.1 daemon has no `peer.peek`: the hook says nothing.
#[test]
fn against_a_0_1_daemon_the_hook_is_quiet() {
    if !crate::support::py01::py01_bin("blemees-peerd").exists() {
        eprintln!("SKIPPED: the Python 0.1 daemon is not installed (.ci/python-0.1.sh)");
        return;
    }
    let d = crate::support::py01::PyDaemon::start();
    let home = d.dir().join("a");
    std::fs::create_dir_all(&home).unwrap();
    let mut b = Client::connect(&d.socket());
    b.hello(&sid(), "/elsewhere");
    b.send_dm(&format!("home:{}", home.display()), json!("queued in 0.1"));
    let socket = d.socket();
    let stop = claude_input("Stop", "", &home, json!({"stop_hook_active": false}));
    let r = run_hook(
        &["hook", "stop", "--socket", socket.to_str().unwrap()],
        &stop,
        &[],
        &home,
    );
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
    assert!(
        hook_log(&socket).contains("no peer.peek"),
        "{}",
        hook_log(&socket)
    );
}

/// Claude Code's asyncRewake hook: waits in the background, exits 2 with the
/// reason when a new message arrives, once per message; `claude -p` has no
/// idle session, so there it returns at once.
#[tokio::test(flavor = "multi_thread")]
async fn the_wake_hook_wakes_once_per_new_message() {
    let d = Daemon::start();
    let home = home_in(d.dir(), "a");
    std::fs::create_dir_all(&home).unwrap();
    let session = "wake-session";
    let a = Sidecar::builder(d.socket())
        .arg("--home")
        .arg(&home)
        .env("CLAUDE_CODE_SESSION_ID", session)
        .start()
        .await;
    let me = a.whoami().await;
    let cwd = PathBuf::from(&home);
    let socket = d.socket().to_str().unwrap().to_owned();
    let stop = claude_input("Stop", session, &cwd, json!({"stop_hook_active": false}));
    let wake = |wait: &str, envs: Vec<(&'static str, &'static str)>| {
        let (socket, stop, cwd) = (socket.clone(), stop.clone(), cwd.clone());
        let wait = wait.to_owned();
        std::thread::spawn(move || {
            run_hook(
                &["hook", "wake", "--socket", &socket, "--wait", &wait],
                &stop,
                &envs,
                &cwd,
            )
        })
    };
    let r = wake("30", vec![("CLAUDE_CODE_ENTRYPOINT", "sdk-cli")])
        .join()
        .unwrap();
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert!(
        r.took < Duration::from_secs(2),
        "claude -p: no wait ({:?})",
        r.took
    );

    let waiting = wake("30", vec![("CLAUDE_CODE_ENTRYPOINT", "cli")]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut b = Client::connect(d.socket());
    b.hello(&sid(), &home_in(d.dir(), "b"));
    b.set_alias("tester");
    b.send_dm(me["address"].as_str().unwrap(), json!("are you there?"));
    let r = waiting.join().unwrap();
    assert_eq!(r.code, 2, "exit 2 wakes the session: {}", r.stderr);
    assert!(r.stderr.contains("from tester (home:"), "{}", r.stderr);
    assert!(r.stderr.contains("\"are you there?\""), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(10), "{:?}", r.took);

    // The same message does not wake it again, nor does the Stop hook block for it.
    let r = wake("1", vec![]).join().unwrap();
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let r = run_hook(&["hook", "stop", "--socket", &socket], &stop, &[], &cwd);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    // A DM that arrived during a turn the Stop hook already extended
    // (stop_hook_active: it may not block again) wakes the session at once.
    b.send_dm(me["address"].as_str().unwrap(), json!("one more"));
    let active = claude_input("Stop", session, &cwd, json!({"stop_hook_active": true}));
    let r = eventually(
        "the wake for a DM the Stop hook may not name",
        Duration::from_secs(10),
        || {
            let r = run_hook(
                &["hook", "wake", "--socket", &socket, "--wait", "1"],
                &active,
                &[],
                &cwd,
            );
            (r.code == 2).then_some(r)
        },
    );
    assert!(r.stderr.contains("\"one more\""), "{}", r.stderr);
    let r = run_hook(
        &["hook", "wake", "--socket", &socket, "--wait", "1"],
        &active,
        &[],
        &cwd,
    );
    assert_eq!(r.code, 0, "once: {}", r.stderr);
    // And both are still there to read.
    assert_eq!(
        message_params(&a.tool("peer_inbox", json!({})).await).len(),
        2
    );
}

#[test]
fn without_a_daemon_or_with_bad_input_the_hook_is_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("peerd.sock");
    let s = socket.to_str().unwrap();
    let input = claude_input("Stop", "x", dir.path(), json!({"stop_hook_active": false}));
    for (args, input) in [
        (vec!["hook", "stop", "--socket", s], input.as_str()),
        (vec!["hook", "prompt", "--socket", s], "{not json"),
        (vec!["hook", "tool", "--socket", s], ""),
        (vec!["hook", "stop", "--host", "codex", "--socket", s], "[]"),
    ] {
        let r = run_hook(&args, input, &[], dir.path());
        assert!(
            r.took < Duration::from_secs(2),
            "{args:?} took {:?}",
            r.took
        );
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (0, "", ""),
            "{args:?} {input:?}"
        );
    }
    let log = hook_log(&socket);
    assert!(log.contains("no sidecar serves this session"), "{log}");
    assert!(log.contains("bad hook input"), "{log}");
    assert_eq!(log.lines().count(), 4, "{log}");
}

#[test]
fn install_hooks_is_one_idempotent_reversible_step() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let claude_dir = home.join(".claude");
    std::fs::create_dir_all(&claude_dir).unwrap();
    let theirs = json!({"permissions": {"allow": ["mcp__peer"]},
        "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]}});
    let settings = claude_dir.join("settings.json");
    std::fs::write(&settings, serde_json::to_string_pretty(&theirs).unwrap()).unwrap();
    let cli = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(home)
            .env_clear()
            .env("HOME", home)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let printed = cli(&["install-hooks", "--claude", "--print"]);
    let read =
        || -> Value { serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap() };
    assert_eq!(read(), theirs, "--print writes nothing");
    let would: Value = serde_json::from_str(&printed).unwrap();
    cli(&["install-hooks", "--claude", "--user"]);
    let once = std::fs::read_to_string(&settings).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&once).unwrap(), would);
    assert_eq!(read()["hooks"]["Stop"].as_array().unwrap().len(), 3);
    assert_eq!(read()["permissions"], theirs["permissions"]);
    cli(&["install-hooks", "--claude"]);
    assert_eq!(
        std::fs::read_to_string(&settings).unwrap(),
        once,
        "twice changes nothing"
    );
    cli(&["uninstall-hooks", "--claude"]);
    assert_eq!(read(), theirs, "uninstall removes exactly what was added");

    // Codex: hooks.json in CODEX_HOME, created if missing.
    let codex_home = home.join("codex-home");
    let out = Command::new(BIN)
        .args(["install-hooks", "--codex"])
        .env_clear()
        .env("HOME", home)
        .env("CODEX_HOME", &codex_home)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/hooks"),
        "{out:?}"
    );
    let hooks: Value =
        serde_json::from_str(&std::fs::read_to_string(codex_home.join("hooks.json")).unwrap())
            .unwrap();
    let stop = hooks["hooks"]["Stop"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap();
    assert_eq!(stop, format!("{BIN} hook stop --host codex"));
}

// ---------------------------------------------------------------------------
// The real hosts
// ---------------------------------------------------------------------------

/// A daemon, a project directory, a private HOME for the host, and B, a raw
/// agent with the alias `tester` elsewhere.
struct World {
    d: Daemon,
    project: PathBuf,
    home: PathBuf,
}

impl World {
    fn new() -> World {
        let d = Daemon::start();
        let project = d.dir().join("project");
        let home = d.dir().join("home");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let project = std::fs::canonicalize(project).unwrap();
        World { d, project, home }
    }

    /// B says hello as `tester` and sends A's home a DM, queued until A joins.
    fn dm_from_b(&self, body: &str) -> String {
        let mut b = self.d.connect();
        b.hello(&sid(), &home_in(self.d.dir(), "b"));
        b.call("peer.set_alias", json!({"alias": "tester"}));
        let to = format!("home:{}", self.project.display());
        let r = b.call("peer.send", json!({"to": to, "body": body}));
        assert_eq!(r["queued"], true, "{r}");
        r["message_id"].as_str().unwrap().to_owned()
    }

    /// `blemees-peer-mcp install-hooks …` as README gives it, for this world.
    fn install_hooks(&self, args: &[&str], envs: &[(&str, &Path)]) {
        let mut cmd = Command::new(BIN);
        cmd.args(["install-hooks"])
            .args(args)
            .arg("--socket")
            .arg(self.d.socket())
            .current_dir(&self.project)
            .env_clear()
            .env("HOME", &self.home);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "install-hooks: {out:?}");
    }

    fn hook_log(&self) -> String {
        hook_log(self.d.socket())
    }
}

/// The Stop scenario: A's first turn ends while B's DM waits; the Stop hook
/// keeps A working; the next request carries the reason; A reads the DM with
/// peer_inbox; no second wake-up follows.
fn stop_script(gate: &str) -> Value {
    json!({
        "steps": [
            {"tool": "peer_whoami", "args": {}, "expect": {"error": false, "contains": ["\"connected\":true"]}},
            {"tool": "peer_inbox", "args": {"limit": 10}, "gate": gate, "idle": "TURN ONE DONE",
             "expect": {"error": false, "contains": ["wake up, A"]}},
        ],
        "final": "ALL DONE",
    })
}

fn check_stop_transcript(host: &str, t: &Value, out: &hosts::Output) {
    assert_eq!(
        t["idled"], 1,
        "{host}: A ended its first turn once\n{t}\n{out}"
    );
    let seen = t["gates"]["1"].as_str().unwrap_or_default();
    assert!(
        seen.contains("tester (home:") && seen.contains("wake up, A"),
        "{host}: the request after the block names the sender and a preview: {seen}"
    );
    assert_eq!(
        t["turns"], 4,
        "{host}: whoami, the idle answer, peer_inbox, the final answer, and no second wake-up\n{t}\n{out}"
    );
}

fn claude(bin: &Path, w: &World, model: &Model, args: &[&str]) -> Command {
    hosts::claude_command(bin, &w.home, &w.project, model, args)
}

/// A DM to the tester, whose answer arrives while the agent works: the
/// inbox call waits until the agent's requests say an unread message from
/// the tester is waiting (told on a tool call, not by the Stop hook).
fn told_meanwhile_script(tester: &str) -> Value {
    json!({
        "steps": [
            {"tool": "peer_send", "args": {"to": tester, "body": "ping"},
             "expect": {"error": false, "contains": ["\"delivered\":1"]}},
            {"tool": "peer_whoami", "args": {}, "expect": {"error": false, "contains": ["\"connected\":true"]}},
            {"tool": "peer_inbox", "args": {"limit": 10}, "gate": "unread peer message waiting, from tester",
             "idle": "NOT TOLD", "expect": {"error": false, "contains": ["\"answer\":\"pong\""]}},
        ],
        "final": "TOLD AND READ",
    })
}

/// `claude -p` as the hook scenarios run it: one prompt, our tools allowed,
/// the result as JSON.
fn claude_p(bin: &Path, w: &World, model: &Model) -> Command {
    let args = [
        "-p",
        "Work with your peers.",
        "--allowedTools",
        "mcp__peer",
        "--output-format",
        "json",
    ];
    claude(bin, w, model, &args)
}

fn claude_setup(bin: &Path, w: &World, model: &Model) {
    let socket = w.d.socket().to_string_lossy().into_owned();
    let add = [
        "mcp", "add", "--scope", "user", "peer", "--", BIN, "--socket", &socket,
    ];
    let out = hosts::run(claude(bin, w, model, &add), Duration::from_secs(60));
    assert!(
        out.status.is_some_and(|s| s.success()),
        "claude mcp add:\n{out}"
    );
    w.install_hooks(&["--claude", "--user"], &[]);
}

#[test]
fn claude_code_stop_hook_wakes_the_agent_for_a_waiting_dm() {
    let Some(bin) = hosts_bin() else { return };
    let w = World::new();
    let id = w.dm_from_b("wake up, A: the build is red");
    let model = Model::start(&stop_script("before you stop"));
    claude_setup(&bin, &w, &model);
    let out = hosts::run(claude_p(&bin, &w, &model), HOST_TIMEOUT);
    let t = model.assert_played("claude -p", &out);
    check_stop_transcript("Claude Code", &t, &out);
    let result: Value =
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(result["result"], "ALL DONE", "{out}");
    let log = w.hook_log();
    assert_eq!(log.matches("blocked the stop").count(), 1, "{log}");
    assert!(!id.is_empty());
}

#[test]
fn claude_code_is_told_on_its_next_tool_call_about_a_dm_that_arrived_meanwhile() {
    let Some(bin) = hosts_bin() else { return };
    let w = World::new();
    let tester = hosts::Tester::start(&w.d, &home_in(w.d.dir(), "other"), "tester");
    let model = Model::start(&told_meanwhile_script(&tester.address));
    claude_setup(&bin, &w, &model);
    let out = hosts::run(claude_p(&bin, &w, &model), HOST_TIMEOUT);
    let t = model.assert_played("claude -p", &out);
    assert_eq!(
        t["idled"], 0,
        "told on a tool call, not by the Stop hook\n{t}\n{out}"
    );
    let seen = t["gates"]["2"].as_str().unwrap_or_default();
    assert!(seen.contains("Call peer_inbox to read it"), "{seen}");
}

/// A DM waiting when the user submits a prompt is named in that turn's first
/// request, before any tool call.
fn prompt_script() -> Value {
    json!({
        "steps": [
            {"tool": "peer_inbox", "args": {"limit": 10}, "gate": "unread peer message waiting, from tester",
             "idle": "NOT TOLD", "expect": {"error": false, "contains": ["wake up, A"]}},
        ],
        "final": "TOLD AT THE PROMPT",
    })
}

#[test]
fn claude_code_is_told_at_the_prompt() {
    let Some(bin) = hosts_bin() else { return };
    let w = World::new();
    w.dm_from_b("wake up, A: the build is red");
    let model = Model::start(&prompt_script());
    claude_setup(&bin, &w, &model);
    let out = hosts::run(claude_p(&bin, &w, &model), HOST_TIMEOUT);
    let t = model.assert_played("claude -p", &out);
    assert_eq!(t["idled"], 0, "told in the first request\n{t}\n{out}");
    assert_eq!(t["turns"], 2, "{t}");
}

/// Codex's config with the scripted model as provider and our sidecar.
fn codex_home(w: &World, model: &Model) -> PathBuf {
    let socket = w.d.socket().to_string_lossy().into_owned();
    hosts::codex_home(&w.home, model, BIN, &["--socket".to_owned(), socket])
}

#[test]
fn codex_stop_hook_wakes_the_agent_for_a_waiting_dm() {
    let Some(bin) = hosts_bin() else { return };
    let w = World::new();
    w.dm_from_b("wake up, A: the build is red");
    let model = Model::start(&stop_script("before you stop"));
    let codex_home = codex_home(&w, &model);
    w.install_hooks(&["--codex", "--user"], &[("CODEX_HOME", &codex_home)]);
    // The hooks are new to Codex: an interactive user trusts them once in
    // /hooks; a one-off automation says it vetted them.
    let out = hosts::run(codex_exec(&bin, &w, &codex_home), HOST_TIMEOUT);
    let t = model.assert_played("codex exec", &out);
    check_stop_transcript("Codex", &t, &out);
    assert!(out.stdout.contains("ALL DONE"), "{out}");
    let log = w.hook_log();
    assert_eq!(log.matches("blocked the stop").count(), 1, "{log}");
}

fn codex_exec(bin: &Path, w: &World, codex_home: &Path) -> Command {
    let mut cmd = host_command(&bin.join("codex"), &w.home, &w.project);
    cmd.env("CODEX_HOME", codex_home).args([
        "exec",
        "--skip-git-repo-check",
        "--dangerously-bypass-hook-trust",
        "Work with your peers.",
    ]);
    cmd
}

#[test]
fn codex_is_told_at_the_prompt() {
    let Some(bin) = hosts_bin() else { return };
    let w = World::new();
    w.dm_from_b("wake up, A: the build is red");
    let model = Model::start(&prompt_script());
    let codex_home = codex_home(&w, &model);
    w.install_hooks(&["--codex"], &[("CODEX_HOME", &codex_home)]);
    let out = hosts::run(codex_exec(&bin, &w, &codex_home), HOST_TIMEOUT);
    let t = model.assert_played("codex exec", &out);
    assert_eq!(t["idled"], 0, "told in the first request\n{t}\n{out}");
}

#[test]
fn codex_is_told_on_its_next_tool_call_about_a_dm_that_arrived_meanwhile() {
    let Some(bin) = hosts_bin() else { return };
    let w = World::new();
    let tester = hosts::Tester::start(&w.d, &home_in(w.d.dir(), "other"), "tester");
    let model = Model::start(&told_meanwhile_script(&tester.address));
    let codex_home = codex_home(&w, &model);
    w.install_hooks(&["--codex"], &[("CODEX_HOME", &codex_home)]);
    let out = hosts::run(codex_exec(&bin, &w, &codex_home), HOST_TIMEOUT);
    let t = model.assert_played("codex exec", &out);
    assert_eq!(
        t["idled"], 0,
        "told on a tool call, not by the Stop hook\n{t}\n{out}"
    );
}
