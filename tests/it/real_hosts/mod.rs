//! Every agent host can use every tool.
//!
//! * The tool schemas follow rules every host takes unchanged (OpenAI function
//!   calling, Gemini function declarations, Ajv strict, the MCP Inspector), and
//!   their numeric bounds are what the daemon really accepts.
//! * The annotations let Codex run every tool under approval policy `never`.
//! * The real hosts from npm (pinned in tests/hosts/package-lock.json, installed
//!   by .ci/hosts.sh) run their whole agent loop against a scripted model on
//!   127.0.0.1 and call every tool through our sidecar: Claude Code, Codex and
//!   Gemini CLI. Their health commands see the server too.
//!
//! The host tests skip, saying so, only when node or npm is missing.

mod guard;
// pub(crate) for tests/it/hooks.rs (issue 11), which drives the same hosts.
pub(crate) mod harness;

use crate::support::py01::py01_bin;
use crate::support::sidecar::{
    Sidecar, LEASE_TOOLS, SEARCH_TOOLS, SIDECAR_BIN, THREAD_TOOLS, TOOLS,
};
use crate::support::{eventually, home_in, sid, Daemon};
use harness::*;
use rmcp::model::Tool;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The tools that only read (the inbox tools take from the sidecar's own
/// inbox, which changes nothing outside the session).
const READ_ONLY: [&str; 9] = [
    "peer_search",
    "peer_thread",
    "peer_leases",
    "peer_inbox",
    "peer_await",
    "peer_list_peers",
    "peer_list_topics",
    "peer_history",
    "peer_whoami",
];

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------

/// Keywords a property may use: what OpenAI (strict and not), Gemini, Ajv
/// strict and the Inspector all understand.
const PROPERTY_KEYS: [&str; 8] = [
    "type",
    "description",
    "minimum",
    "maximum",
    "items",
    "maxItems",
    "minItems",
    "format",
];
const SCALAR_TYPES: [&str; 4] = ["string", "integer", "number", "boolean"];
const STANDARD_FORMATS: [&str; 6] = ["date-time", "date", "time", "email", "uri", "uuid"];

/// Every way `schema` breaks the portability rules.
fn rule_breaks(tool: &str, schema: &Map<String, Value>) -> Vec<String> {
    let mut breaks = Vec::new();
    let mut bad = |why: String| breaks.push(format!("{tool}: {why}"));
    for key in schema.keys() {
        if !["type", "properties", "required"].contains(&key.as_str()) {
            bad(format!("keyword {key:?} at the root"));
        }
    }
    if schema.get("type") != Some(&json!("object")) {
        bad("root type is not \"object\"".into());
    }
    let Some(Value::Object(props)) = schema.get("properties") else {
        bad("no \"properties\" object (a no-argument tool keeps {})".into());
        return breaks;
    };
    if let Some(required) = schema.get("required") {
        for r in required.as_array().into_iter().flatten() {
            if !r.as_str().is_some_and(|r| props.contains_key(r)) {
                bad(format!("required {r} is not a property"));
            }
        }
    }
    for (name, prop) in props {
        let Value::Object(prop) = prop else {
            bad(format!("{name} is not a schema object"));
            continue;
        };
        for key in prop.keys() {
            if !PROPERTY_KEYS.contains(&key.as_str()) {
                bad(format!("{name} uses {key:?}"));
            }
        }
        let ty = prop.get("type").and_then(Value::as_str);
        match ty {
            Some(t) if SCALAR_TYPES.contains(&t) => {}
            Some("array") => match prop.get("items") {
                Some(Value::Object(items))
                    if items.keys().all(|k| k == "type" || k == "description")
                        && items
                            .get("type")
                            .and_then(Value::as_str)
                            .is_some_and(|t| SCALAR_TYPES.contains(&t)) => {}
                other => bad(format!(
                    "{name}: array items {other:?} are not one scalar type"
                )),
            },
            _ => bad(format!(
                "{name} has type {:?}, not one of string, integer, number, boolean, array",
                prop.get("type")
            )),
        }
        if !prop
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.is_empty() && d.len() <= 80)
        {
            bad(format!("{name} has no short description"));
        }
        if let Some(f) = prop.get("format") {
            if !f.as_str().is_some_and(|f| STANDARD_FORMATS.contains(&f)) {
                bad(format!("{name} has the non-standard format {f}"));
            }
        }
        for bound in ["minimum", "maximum"] {
            if let Some(b) = prop.get(bound) {
                if !matches!(ty, Some("integer" | "number")) || !b.is_number() {
                    bad(format!("{name}: {bound} {b} on a non-number"));
                }
            }
        }
        if prop.contains_key("maxItems") && ty != Some("array") {
            bad(format!("{name}: maxItems on a non-array"));
        }
        if prop.values().any(Value::is_null) {
            bad(format!("{name} holds a null"));
        }
    }
    breaks
}

/// Codex's rule (codex-rs/core/src/mcp_tool_call.rs,
/// `requires_mcp_tool_approval`, automatic mode): a destructive tool always asks;
/// a read-only one never; any other asks unless it is marked neither
/// destructive nor open-world. Under approval policy `never`, asking is failing.
fn codex_asks(tool: &Tool) -> bool {
    let a = tool.annotations.as_ref();
    let destructive = a.and_then(|a| a.destructive_hint);
    if destructive == Some(true) {
        return true;
    }
    if a.and_then(|a| a.read_only_hint).unwrap_or(false) {
        return false;
    }
    destructive.unwrap_or(true) || a.and_then(|a| a.open_world_hint).unwrap_or(true)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_schema_is_portable_and_every_tool_annotated() {
    let d = Daemon::start();
    let s = Sidecar::start(d.socket(), &home_in(d.dir(), "a"), &sid()).await;
    check_tools(&s.tools().await, TOOLS.iter());
}

/// The same rules for the opt-in groups (`--tools core,leases`).
#[tokio::test(flavor = "multi_thread")]
async fn opt_in_tool_groups_follow_the_same_rules() {
    let d = Daemon::start();
    let s = Sidecar::builder(d.socket())
        .identity(&home_in(d.dir(), "a"), &sid())
        .arg("--tools")
        .arg("core,leases,threads,search")
        .start()
        .await;
    let expected = TOOLS
        .iter()
        .chain(&LEASE_TOOLS)
        .chain(&THREAD_TOOLS)
        .chain(&SEARCH_TOOLS);
    check_tools(&s.tools().await, expected);
}

/// `tools` are exactly `expected`, each schema portable and each tool
/// annotated so that Codex runs it without asking.
fn check_tools<'a>(tools: &[Tool], expected: impl Iterator<Item = &'a &'a str>) {
    let names: BTreeSet<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, expected.map(|t| t.to_string()).collect());
    let mut breaks = Vec::new();
    for t in tools {
        breaks.extend(rule_breaks(&t.name, &t.input_schema));
        let a = t
            .annotations
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no annotations", t.name));
        assert!(
            a.title.as_ref().is_some_and(|s| !s.is_empty()),
            "{} has no title",
            t.name
        );
        assert!(!codex_asks(t), "Codex would ask before {}: {a:?}", t.name);
        // Hints are spelled out only where they differ from MCP's defaults
        // and matter: destructive and idempotent mean nothing for a
        // read-only tool, and each hint is context every agent pays for.
        let read_only = READ_ONLY.contains(&t.name.as_ref());
        assert_eq!(a.read_only_hint.unwrap_or(false), read_only, "{}", t.name);
        if !read_only {
            assert_eq!(a.destructive_hint, Some(false), "{}", t.name);
        }
        assert_eq!(a.open_world_hint, Some(false), "{}", t.name);
        assert!(
            t.description.as_ref().is_some_and(|d| d.len() < 200),
            "{}",
            t.name
        );
    }
    assert!(breaks.is_empty(), "{}", breaks.join("\n"));
}

/// The rules catch what hosts choke on (so the walk above can fail).
#[test]
fn the_rules_catch_what_hosts_choke_on() {
    let broken = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "a": {"type": ["integer", "null"], "format": "uint32", "description": "x"},
            "body": {"default": null, "description": "Any JSON value"},
            "c": {"anyOf": [{"type": "string"}], "description": "x"}
        }
    });
    let breaks = rule_breaks("t", broken.as_object().unwrap());
    for needle in [
        "$schema",
        "\"a\" has type",
        "uint32",
        "body has type",
        "anyOf",
    ] {
        let needle = needle.replace("\"a\"", "a");
        assert!(
            breaks.iter().any(|b| b.contains(&needle)),
            "{needle}: {breaks:?}"
        );
    }
    let no_props = json!({"type": "object"});
    assert_eq!(rule_breaks("t", no_props.as_object().unwrap()).len(), 1);
}

/// Arguments that make each tool with a numeric or size bound succeed, given
/// the sidecar's own address.
fn base_args(tool: &str, me: &str) -> Value {
    match tool {
        "peer_history" => json!({ "address": me }),
        "peer_subscribe" => json!({ "topic": "bounds" }),
        "peer_await" => json!({ "timeout": 0 }),
        "peer_set_dm_filter" => json!({ "patterns": [] }),
        _ => json!({}),
    }
}

/// Every bound a schema states is accepted, and the daemon refuses one step
/// beyond the bounds it checks; so no schema promises a value that fails.
#[tokio::test(flavor = "multi_thread")]
async fn every_bound_in_a_schema_is_what_the_daemon_accepts() {
    let d = Daemon::start();
    let s = Sidecar::start(d.socket(), &home_in(d.dir(), "a"), &sid()).await;
    s.wait_connected().await;
    let me = s.whoami().await["address"].as_str().unwrap().to_string();
    let mut sender = d.peer(&home_in(d.dir(), "sender"));
    // Bounds the daemon checks: one step beyond them is refused.
    let refused_beyond = [
        ("peer_history", "limit"),
        ("peer_set_dm_filter", "patterns"),
    ];
    let mut checked = 0;
    for tool in s.tools().await {
        let props = tool.input_schema["properties"].as_object().unwrap().clone();
        for (prop, schema) in props {
            for (bound, step) in [("minimum", -1.0), ("maximum", 1.0), ("maxItems", 1.0)] {
                let Some(b) = schema.get(bound).and_then(Value::as_f64) else {
                    continue;
                };
                let value = |n: f64| {
                    if bound == "maxItems" {
                        json!((0..n as usize)
                            .map(|i| format!("home:/x{i}*"))
                            .collect::<Vec<_>>())
                    } else if schema["type"] == "integer" {
                        json!(n as i64)
                    } else {
                        json!(n)
                    }
                };
                let mut args = base_args(&tool.name, &me);
                args[prop.as_str()] = value(b);
                if tool.name == "peer_await" {
                    // Something to take, so a long timeout returns at once.
                    sender.send_dm(&me, json!("wake"));
                }
                let at = s.try_call(&tool.name, args.clone()).await;
                assert!(
                    at.as_ref().is_ok_and(|r| r.is_error != Some(true)),
                    "{} {args}: the schema's {bound} is refused: {at:?}",
                    tool.name
                );
                checked += 1;
                if refused_beyond.contains(&(tool.name.as_ref(), prop.as_str())) {
                    args[prop.as_str()] = value(b + step);
                    let beyond = s.try_call(&tool.name, args.clone()).await;
                    assert!(
                        beyond.as_ref().map_or(true, |r| r.is_error == Some(true)),
                        "{} {args}: beyond the {bound} is accepted: {beyond:?}",
                        tool.name
                    );
                }
            }
        }
    }
    // inbox and await: limit min/max; await: timeout min/max; history: limit
    // min/max; subscribe: replay min; dm filter: maxItems.
    assert_eq!(checked, 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn ajv_strict_compiles_every_schema() {
    let Some(_) = hosts_bin() else { return };
    let d = Daemon::start();
    let s = Sidecar::start(d.socket(), &home_in(d.dir(), "a"), &sid()).await;
    let tools = serde_json::to_string(&s.tools().await).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tools.json");
    std::fs::write(&input, tools).unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "node {} < {}",
        repo().join("tests/hosts/ajv-check.mjs").display(),
        input.display()
    ));
    let out = run(cmd, Duration::from_secs(30));
    assert!(
        out.status.is_some_and(|s| s.success()),
        "Ajv strict refused a schema:\n{out}"
    );
    assert_eq!(
        out.stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        12
    );
}

/// The MCP Inspector CLI (0.15.0: the newest that runs on Node 20) passes
/// `--tool-arg key=value` as a string unless the schema gives the property one
/// plain type; with `["integer", "null"]` a number reached the sidecar as
/// `"1"` and was refused. Every number and boolean argument goes through it.
#[test]
fn the_inspector_cli_passes_numbers_and_booleans() {
    let Some(bin) = hosts_bin() else { return };
    let d = Daemon::start();
    let mut publisher = d.peer("~/p");
    publisher.publish("t", json!("one"));
    let socket = d.socket().to_string_lossy().into_owned();
    let calls: [(&str, &[&str]); 5] = [
        ("peer_history", &["address=topic:t", "limit=1"]),
        ("peer_inbox", &["limit=5", "include_presence=true"]),
        (
            "peer_await",
            &["timeout=0.2", "limit=2", "include_presence=false"],
        ),
        ("peer_subscribe", &["topic=t", "replay=1"]),
        ("peer_send", &["to=home:~/p", "body=42", "reply_to=msg_x"]),
    ];
    for (tool, args) in calls {
        let mut cmd = Command::new(bin.join("mcp-inspector"));
        cmd.args(["--cli", SIDECAR_BIN, "--socket", &socket]).args([
            "--method",
            "tools/call",
            "--tool-name",
            tool,
        ]);
        for arg in args {
            cmd.args(["--tool-arg", arg]);
        }
        let out = run(cmd, Duration::from_secs(60));
        let result: Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{tool}: {e}\n{out}"));
        assert_eq!(result["isError"], false, "{tool}: {out}");
        if tool == "peer_history" {
            let messages = &result["structuredContent"]["messages"];
            assert_eq!(
                messages[0]["body"], "one",
                "limit=1 reached the daemon: {out}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The hosts
// ---------------------------------------------------------------------------

/// The scenario every host plays: all twelve tools, a DM by alias to a second
/// agent and its answer, history, and a readable error from a bad argument.
/// Numbers and booleans are passed as such (peer_await, peer_inbox).
fn scenario(tester: &str) -> Value {
    let ok = |contains: &[&str]| json!({ "error": false, "contains": contains });
    let step = |tool: &str, args: Value, expect: Value| json!({"tool": tool, "args": args, "expect": expect});
    json!({
        "steps": [
            step("peer_whoami", json!({}), ok(&["\"connected\":true"])),
            step("peer_set_alias", json!({"alias": "host"}), ok(&["\"ok\":true"])),
            step("peer_list_peers", json!({}), ok(&["\"alias\":\"tester\""])),
            step("peer_set_dm_filter", json!({"patterns": ["*"]}), ok(&["\"ok\":true"])),
            step("peer_send", json!({"to": tester, "body": "{\"task\": \"ping\"}"}), ok(&["\"delivered\":1"])),
            step("peer_await", json!({"timeout": 30, "limit": 10, "include_presence": false}), ok(&["\"answer\":\"pong\""])),
            step("peer_history", json!({"address": tester, "limit": 5}), ok(&["\"task\":\"ping\""])),
            step("peer_subscribe", json!({"topic": "builds", "replay": 0}), ok(&["\"ok\":true"])),
            step("peer_publish", json!({"topic": "builds", "body": "green"}), ok(&["\"subscribers\":1"])),
            step("peer_inbox", json!({"limit": 10, "include_presence": true}), ok(&["\"messages\""])),
            step("peer_list_topics", json!({}), ok(&["\"name\":\"builds\""])),
            step("peer_unsubscribe", json!({"topic": "builds"}), ok(&["\"ok\":true"])),
            step("peer_set_alias", json!({"alias": "Not Valid!"}), json!({"error": true, "contains": ["alias must match"]})),
        ],
        "final": "SCENARIO DONE",
    })
}

/// One host's world: the daemon, the tester (alias `tester` in its own home),
/// a project directory and a private HOME.
struct World {
    d: Daemon,
    tester: Tester,
    project: PathBuf,
    home: PathBuf,
}

impl World {
    fn new() -> World {
        let d = Daemon::start();
        let tester = Tester::start(&d, &home_in(d.dir(), "other"), "tester");
        let project = d.dir().join("project");
        let home = d.dir().join("home");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        World {
            d,
            tester,
            project,
            home,
        }
    }

    /// `program` of the installed hosts in `bin`, in this world's HOME and
    /// project.
    fn host(&self, bin: &Path, program: &str) -> Command {
        host_command(&bin.join(program), &self.home, &self.project)
    }

    /// Claude Code with `args`, talking to `model`.
    fn claude(&self, bin: &Path, model: &Model, args: &[&str]) -> Command {
        claude_command(bin, &self.home, &self.project, model, args)
    }

    /// The sidecar's command line as a host is told it.
    fn sidecar_args(&self) -> Vec<String> {
        vec![
            "--socket".into(),
            self.d.socket().to_string_lossy().into_owned(),
        ]
    }

    fn check_tester_got_the_ping(&self) {
        let got = self.tester.received.lock().unwrap().clone();
        assert_eq!(got.len(), 2, "the tester got {got:?}");
        assert_eq!(got[0]["body"], json!({"task": "ping"}));
        assert_eq!(got[0]["from_alias"], "host");
        assert_eq!(got[1]["to"], "topic:builds");
        assert_eq!(got[1]["body"], "green");
    }
}

/// The 12 peer_* tools reached the model with their descriptions, and `body`
/// as a described string.
fn check_offered(host: &str, transcript: &Value) {
    let offered = transcript["offered"].as_array().expect("tools offered");
    let names: BTreeSet<String> = offered
        .iter()
        .filter_map(|t| t["name"].as_str())
        .filter_map(|n| TOOLS.iter().find(|t| n.ends_with(*t)))
        .map(|t| t.to_string())
        .collect();
    assert_eq!(names.len(), 12, "{host} offered {offered:?}");
    let send = offered
        .iter()
        .find(|t| t["name"].as_str().unwrap().ends_with("peer_send"))
        .unwrap();
    let body = &send["schema"]["properties"]["body"];
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("string"))
            && body["description"]
                .as_str()
                .is_some_and(|d| d.contains("JSON")),
        "{host} changed body: {send}"
    );
}

/// Runs `claude mcp list`, which must show the server `peer` as `status`.
fn assert_listed(mcp_list: Command, status: &str) {
    let list = run(mcp_list, Duration::from_secs(60));
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with("peer:") && l.contains(status)),
        "claude mcp list:\n{list}"
    );
}

/// What `claude -p --output-format json` printed.
fn json_result(out: &Output) -> Value {
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}\n{out}"))
}

#[test]
fn claude_code_runs_every_tool() {
    let Some(bin) = hosts_bin() else { return };
    let w = World::new();
    let model = Model::start(&scenario(&w.tester.address));
    let claude = |args: &[&str]| w.claude(&bin, &model, args);
    // As README gives it.
    let mut add = vec!["mcp", "add", "--scope", "user", "peer", "--", SIDECAR_BIN];
    let sidecar_args = w.sidecar_args();
    add.extend(sidecar_args.iter().map(String::as_str));
    let out = run(claude(&add), Duration::from_secs(60));
    assert!(
        out.status.is_some_and(|s| s.success()),
        "claude mcp add:\n{out}"
    );
    assert_listed(claude(&["mcp", "list"]), "Connected");

    let out = run(
        claude(&[
            "-p",
            "Talk to the tester agent with the peer tools.",
            "--allowedTools",
            "mcp__peer",
            "--output-format",
            "json",
        ]),
        HOST_TIMEOUT,
    );
    let t = model.assert_played("claude -p", &out);
    check_offered("Claude Code", &t);
    let result = json_result(&out);
    assert_eq!(result["result"], "SCENARIO DONE", "{out}");
    assert_eq!(result["permission_denials"], json!([]), "{out}");
    w.check_tester_got_the_ping();
}

/// What README says Claude Code asks: a project's .mcp.json waits for a
/// one-time approval, and each peer tool needs permission (read-only or not)
/// unless allowed, e.g. with `--allowedTools mcp__peer`.
#[test]
fn claude_code_asks_for_project_servers_and_tool_permission() {
    let Some(bin) = hosts_bin() else { return };
    let w = World::new();
    let script = json!({"steps": [{"tool": "peer_whoami", "args": {},
        "expect": {"error": true, "contains": ["permission"]}}], "final": "ASKED"});
    let model = Model::start(&script);
    let mcp_json =
        json!({"mcpServers": {"peer": {"command": SIDECAR_BIN, "args": w.sidecar_args()}}});
    std::fs::write(w.project.join(".mcp.json"), mcp_json.to_string()).unwrap();
    let claude = |args: &[&str]| w.claude(&bin, &model, args);
    assert_listed(claude(&["mcp", "list"]), "Pending approval");
    let out = run(
        claude(&["-p", "Who am I?", "--output-format", "json"]),
        HOST_TIMEOUT,
    );
    model.assert_played("claude -p without permission", &out);
    let result = json_result(&out);
    assert_eq!(
        result["permission_denials"][0]["tool_name"], "mcp__peer__peer_whoami",
        "{out}"
    );
}

/// Codex's config as README gives it, plus the scripted model as provider.
fn codex_home(w: &World, model: &Model) -> PathBuf {
    harness::codex_home(&w.home, model, SIDECAR_BIN, &w.sidecar_args())
}

#[test]
fn codex_exec_runs_every_tool_under_approval_never() {
    let Some(bin) = hosts_bin() else { return };
    let w = World::new();
    let model = Model::start(&scenario(&w.tester.address));
    let mut cmd = w.host(&bin, "codex");
    cmd.env("CODEX_HOME", codex_home(&w, &model)).args([
        "exec",
        "--skip-git-repo-check",
        "Talk to the tester agent with the peer tools.",
    ]);
    let out = run(cmd, HOST_TIMEOUT);
    let t = model.assert_played("codex exec", &out);
    check_offered("Codex", &t);
    assert!(
        !out.stderr.contains("requires approval") && !out.stdout.contains("requires approval"),
        "{out}"
    );
    assert!(out.stdout.contains("SCENARIO DONE"), "{out}");
    w.check_tester_got_the_ping();
}

/// The same Codex run against a sidecar without annotations (the Python 0.1
/// one, which .ci/python-0.1.sh installs) is refused: this is what the
/// annotations fix, and it shows the scripted model catches a refused call.
#[test]
fn codex_exec_refuses_tools_without_annotations() {
    let Some(bin) = hosts_bin() else { return };
    let py01 = py01_bin("blemees-peer-mcp");
    let w = World::new();
    let script = json!({"steps": [{"tool": "peer_list_peers", "args": {},
        "expect": {"error": true, "contains": ["requires approval, but approval policy is never"]}}],
        "final": "REFUSED"});
    let model = Model::start(&script);
    let home = codex_home(&w, &model);
    let config = std::fs::read_to_string(home.join("config.toml")).unwrap();
    let config = config.replace(
        &format!("{:?}", SIDECAR_BIN),
        &format!("{:?}", py01.display().to_string()),
    );
    std::fs::write(home.join("config.toml"), config).unwrap();
    let mut cmd = w.host(&bin, "codex");
    cmd.env("CODEX_HOME", home)
        .args(["exec", "--skip-git-repo-check", "List the peers."]);
    let out = run(cmd, HOST_TIMEOUT);
    model.assert_played("codex exec with the 0.1 sidecar", &out);
}

#[test]
fn codex_app_server_reports_the_server_and_its_tools() {
    let Some(bin) = hosts_bin() else { return };
    let w = World::new();
    let model = Model::start(&json!({"steps": [], "final": "unused"}));
    let mut cmd = w.host(&bin, "codex");
    cmd.env("CODEX_HOME", codex_home(&w, &model))
        .arg("app-server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn codex app-server");
    let mut stdin = child.stdin.take().unwrap();
    for line in [
        json!({"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "real-hosts", "version": "0"}}}),
        json!({"method": "initialized", "params": {}}),
        json!({"id": 2, "method": "mcpServerStatus/list", "params": {}}),
    ] {
        writeln!(stdin, "{line}").unwrap();
    }
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let answer = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no mcpServerStatus/list answer: {seen:?}"));
        match serde_json::from_str::<Value>(&line) {
            Ok(v) if v["id"] == 2 => break v,
            _ => seen.push(line),
        }
    };
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    let peer = answer["result"]["data"]
        .as_array()
        .and_then(|d| d.iter().find(|s| s["name"] == "peer"))
        .unwrap_or_else(|| panic!("peer not listed: {answer}"));
    assert_eq!(peer["serverInfo"]["name"], "blemees-peer-mcp", "{peer}");
    let tools = peer["tools"].as_object().unwrap();
    assert_eq!(tools.len(), 12, "{peer}");
    assert_eq!(
        tools["peer_await"]["annotations"]["readOnlyHint"], true,
        "{peer}"
    );
}

#[test]
fn gemini_cli_runs_every_tool() {
    let Some(bin) = hosts_bin() else { return };
    let w = World::new();
    let model = Model::start(&scenario(&w.tester.address));
    let settings = json!({
        // As README gives it: trusted, so headless runs may call the tools.
        "mcpServers": {"peer": {"command": SIDECAR_BIN, "args": w.sidecar_args(), "trust": true}},
        "privacy": {"usageStatisticsEnabled": false},
        "telemetry": {"enabled": false},
        "general": {"disableAutoUpdate": true, "disableUpdateNag": true},
        "security": {"auth": {"selectedType": "gemini-api-key"}},
    });
    let gemini_dir = w.home.join(".gemini");
    std::fs::create_dir_all(&gemini_dir).unwrap();
    std::fs::write(gemini_dir.join("settings.json"), settings.to_string()).unwrap();
    let mut cmd = w.host(&bin, "gemini");
    cmd.env("GOOGLE_GEMINI_BASE_URL", model.url())
        .env("GEMINI_API_KEY", "scripted")
        .env("GEMINI_CLI_TRUST_WORKSPACE", "true")
        .args([
            // A fixed model: "auto" first asks a classifier model for a route.
            "--model",
            "gemini-2.5-flash",
            "-p",
            "Talk to the tester agent with the peer tools.",
        ]);
    let out = run(cmd, HOST_TIMEOUT);
    let t = model.assert_played("gemini -p", &out);
    check_offered("Gemini CLI", &t);
    assert!(out.stdout.contains("SCENARIO DONE"), "{out}");
    w.check_tester_got_the_ping();
}

// ---------------------------------------------------------------------------
// Joining lazily
// ---------------------------------------------------------------------------

/// Spawns the sidecar, sends `lines` on its stdin, reads one answer per
/// request, and closes it: what a probing host does.
fn probe(socket: &Path, lines: &[Value]) -> Vec<Value> {
    let mut child = Command::new(SIDECAR_BIN)
        .args([
            "--socket",
            &socket.to_string_lossy(),
            "--home",
            "/probe/home",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut answers = Vec::new();
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
        if line.get("id").is_some() {
            let mut answer = String::new();
            out.read_line(&mut answer).unwrap();
            answers.push(serde_json::from_str(&answer).unwrap());
        }
    }
    drop(stdin);
    eventually("the probed sidecar to exit", Duration::from_secs(5), || {
        child.try_wait().unwrap()
    });
    answers
}

#[tokio::test(flavor = "multi_thread")]
async fn a_probe_that_goes_away_makes_no_presence_event() {
    let d = Daemon::start();
    let mut observer = d.peer("/probe/home");
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "probe", "version": "0"}}});
    let answers = probe(d.socket(), std::slice::from_ref(&initialize));
    assert!(
        answers[0]["result"]["serverInfo"].is_object(),
        "{answers:?}"
    );
    let discover = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}});
    let answers = probe(d.socket(), &[discover]);
    assert!(answers[0].get("result").is_some(), "{answers:?}");
    // A health check: the whole handshake and the tool list, then gone
    // (what `claude mcp list` does).
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let answers = probe(d.socket(), &[initialize, initialized, list]);
    assert_eq!(
        answers[1]["result"]["tools"].as_array().map(Vec::len),
        Some(12)
    );
    // Longer than the sidecar's grace (2 s) after the handshake.
    let noise = observer.drain(Duration::from_millis(2500));
    assert_eq!(noise, Vec::<Value>::new(), "a probe made presence noise");

    // A host that stays joins after the grace; a tool call joins at once.
    let stays = Sidecar::start(d.socket(), "/probe/home", &sid()).await;
    let seen = observer.drain(Duration::from_millis(3000));
    assert!(
        seen.iter().any(|f| f["method"] == "peer.peer_joined"),
        "a host that stayed did not join: {seen:?}"
    );
    drop(stays);
    let calls = Sidecar::start(d.socket(), "/probe/home", &sid()).await;
    let who = calls.whoami().await;
    assert_eq!(who["connected"], true, "{who}");
}
