//! 8. The host hook (`blemees-peer-mcp hook tool`), which Claude Code and
//!    Codex run on every tool call: cold runs (a new process each time, spawn
//!    to exit) with a live sidecar and nothing waiting, with a DM waiting,
//!    with no sidecar (the hook asks the daemon), and with no daemon at all.
//!    Ours only: 0.1 has no hook.

use crate::daemon::{Daemon, Implementation};
use anyhow::{bail, Context};
use peer_proto::identity::mint_sid;
use serde_json::json;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// Median hook run times.
pub(crate) struct HookTimes {
    pub(crate) quiet: Duration,
    pub(crate) waiting: Duration,
    pub(crate) no_sidecar: Duration,
    pub(crate) no_daemon: Duration,
    /// `blemees-peer-mcp --version`: what starting the process costs.
    pub(crate) floor: Duration,
}

const HOME: &str = "/bench/hook";

/// One cold run of the hook at `point` (`tool`, measured; `prompt`, which
/// always tells, to check what it sees).
async fn run_at(
    imp: &Implementation,
    socket: &Path,
    sid: &str,
    point: &str,
) -> anyhow::Result<(Duration, String)> {
    let event = if point == "prompt" {
        "UserPromptSubmit"
    } else {
        "PostToolUse"
    };
    let input = json!({"session_id": "bench", "transcript_path": "/dev/null", "cwd": HOME,
        "permission_mode": "default", "hook_event_name": event, "tool_name": "Bash",
        "tool_input": {"command": "true"}, "tool_response": {}, "tool_use_id": "toolu_bench",
        "prompt": "go on"})
    .to_string();
    let start = Instant::now();
    let mut child = Command::new(imp.sidecar())
        .args(["hook", point, "--socket"])
        .arg(socket)
        .env("BLEMEES_AGENT_SID", sid)
        .env_remove("CLAUDE_CODE_SESSION_ID")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the hook")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    stdin.write_all(input.as_bytes()).await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!("the hook exited with {}", out.status);
    }
    Ok((took, String::from_utf8_lossy(&out.stdout).into_owned()))
}

async fn run_once(
    imp: &Implementation,
    socket: &Path,
    sid: &str,
) -> anyhow::Result<(Duration, String)> {
    run_at(imp, socket, sid, "tool").await
}

async fn median(
    imp: &Implementation,
    socket: &Path,
    sid: &str,
    runs: usize,
) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        times.push(run_once(imp, socket, sid).await?.0);
    }
    times.sort();
    Ok(times[runs / 2])
}

pub(crate) async fn cold_runs(imp: &Implementation, runs: usize) -> anyhow::Result<HookTimes> {
    let d = Daemon::start(imp).await?;
    let sid = mint_sid();
    let mut sidecar = Command::new(imp.sidecar())
        .arg("--socket")
        .arg(&d.socket)
        .args(["--home", HOME, "--sid", &sid, "--log-level", "error"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting the sidecar")?;
    let mut stdin = sidecar.stdin.take().context("stdin")?;
    let mut lines = BufReader::new(sidecar.stdout.take().context("stdout")?).lines();
    for line in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2024-11-05", "capabilities": {},
            "clientInfo": {"name": "peer-bench", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "peer_whoami", "arguments": {}}}),
    ] {
        stdin.write_all(format!("{line}\n").as_bytes()).await?;
    }
    // The whoami answer: the sidecar has joined.
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if line.contains("\"id\":2") {
                return Ok(());
            }
        }
        bail!("the sidecar closed stdout")
    })
    .await
    .context("the sidecar did not answer")??;

    let quiet = median(imp, &d.socket, &sid, runs).await?;
    let sent = std::process::Command::new(imp.daemon())
        .args(["send", "--socket"])
        .arg(&d.socket)
        .args([
            &format!("home:{HOME}#{sid}"),
            "\"a DM for the hook to see\"",
        ])
        .output()?;
    if !sent.status.success() {
        bail!("blemees-peerd send failed: {sent:?}");
    }
    // The first run tells the agent (later ones are rate-limited: same work,
    // no output).
    let (_, told) = run_once(imp, &d.socket, &sid).await?;
    if !told.contains("additionalContext") {
        bail!("the hook did not see the waiting DM: {told:?}");
    }
    let waiting = median(imp, &d.socket, &sid, runs).await?;
    drop(stdin);
    sidecar.kill().await?;
    sidecar.wait().await?;
    // The sidecar is gone (its DM is queued again): the hook asks the daemon.
    let (_, told) = run_at(imp, &d.socket, &sid, "prompt").await?;
    if !told.contains("additionalContext") {
        bail!("the hook did not get the DM from the daemon: {told:?}");
    }
    let no_sidecar = median(imp, &d.socket, &sid, runs).await?;
    let elsewhere = tempfile::tempdir()?;
    let no_daemon = median(imp, &elsewhere.path().join("none.sock"), &sid, runs).await?;
    let mut floor = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        Command::new(imp.sidecar())
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .await?;
        floor.push(start.elapsed());
    }
    floor.sort();
    Ok(HookTimes {
        floor: floor[runs / 2],
        quiet,
        waiting,
        no_sidecar,
        no_daemon,
    })
}
