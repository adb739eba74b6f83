//! 5. The MCP sidecar: spawn → `initialize` answered → `tools/list` answered,
//!    and its memory then.

use crate::daemon::{rss, Daemon, Implementation};
use crate::workloads::Sized;
use anyhow::{bail, Context};
use peer_proto::identity::mint_sid;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// How long a sidecar may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Median time to ready and median memory over `runs` sidecar starts.
pub(crate) async fn ready(imp: &Implementation, runs: usize) -> anyhow::Result<Sized> {
    let d = Daemon::start(imp).await?;
    let mut times = Vec::new();
    let mut sizes = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let mut child = Command::new(imp.sidecar())
            .arg("--socket")
            .arg(&d.socket)
            .args([
                "--home",
                "/bench/sidecar",
                "--sid",
                &mint_sid(),
                "--log-level",
                "error",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", imp.sidecar().display()))?;
        let mut stdin = child.stdin.take().context("stdin")?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let request = |id: u64, method: &str, params: Value| {
            let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
            format!("{line}\n")
        };
        let init = request(
            1,
            "initialize",
            json!({
            "protocolVersion": "2024-11-05", "capabilities": {},
            "clientInfo": {"name": "peer-bench", "version": "0"}}),
        );
        stdin.write_all(init.as_bytes()).await?;
        wait_for(&mut lines, 1).await?;
        let initialized = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";
        stdin.write_all(initialized.as_bytes()).await?;
        stdin
            .write_all(request(2, "tools/list", json!({})).as_bytes())
            .await?;
        let tools = wait_for(&mut lines, 2).await?;
        times.push(start.elapsed());
        if tools["result"]["tools"].as_array().map_or(0, Vec::len) < 11 {
            bail!("{} sidecar listed too few tools: {tools}", imp.name);
        }
        sizes.push(rss(child.id().context("sidecar pid")?));
        child.kill().await?;
    }
    times.sort();
    sizes.sort();
    Ok(Sized {
        elapsed: times[runs / 2],
        rss: sizes[runs / 2],
    })
}

async fn wait_for(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    id: u64,
) -> anyhow::Result<Value> {
    tokio::time::timeout(ANSWER_TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if v["id"] == id {
                return Ok(v);
            }
        }
        bail!("the sidecar closed stdout")
    })
    .await
    .context("the sidecar did not answer")?
}
