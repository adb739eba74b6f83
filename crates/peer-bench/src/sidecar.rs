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
use tokio::process::{Child, Command};

/// How long a sidecar may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Median time to ready and median memory over `runs` sidecar starts.
pub(crate) async fn ready(imp: &Implementation, runs: usize) -> anyhow::Result<Sized> {
    let d = Daemon::start(imp).await?;
    let mut times = Vec::new();
    let mut sizes = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let (tools, mut child) = list_tools(imp, &d, &[]).await?;
        times.push(start.elapsed());
        if tools.len() < 11 {
            bail!("{} sidecar listed too few tools: {tools:?}", imp.name);
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

/// What a host puts in every agent's context for the sidecar's tools.
pub(crate) struct ToolsCost {
    /// How many tools.
    pub(crate) tools: usize,
    /// The `tools` array of the `tools/list` result, as compact JSON.
    pub(crate) bytes: u64,
    /// An estimate of its tokens: [`BYTES_PER_TOKEN`] bytes each.
    pub(crate) tokens: u64,
}

/// The usual rule of thumb for English and JSON with BPE tokenizers; hosts'
/// tokenizers differ (and Claude's is not public), so this is an estimate
/// that is the same for both sides of a comparison.
const BYTES_PER_TOKEN: u64 = 4;

/// The size of `imp`'s `tools/list`, with `args` (e.g. `--tools core,leases`).
pub(crate) async fn tools_cost(imp: &Implementation, args: &[&str]) -> anyhow::Result<ToolsCost> {
    let d = Daemon::start(imp).await?;
    let (tools, mut child) = list_tools(imp, &d, args).await?;
    child.kill().await?;
    let bytes = serde_json::to_string(&tools)?.len() as u64;
    Ok(ToolsCost {
        bytes,
        tools: tools.len(),
        tokens: bytes.div_ceil(BYTES_PER_TOKEN),
    })
}

/// Starts `imp`'s sidecar on `d` with `args`, and returns its tools (from
/// `initialize` then `tools/list`) and the running process.
async fn list_tools(
    imp: &Implementation,
    d: &Daemon,
    args: &[&str],
) -> anyhow::Result<(Vec<Value>, Child)> {
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
        .args(args)
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
    let mut answer = wait_for(&mut lines, 2).await?;
    // Handed back with the process: a sidecar exits when its host closes it.
    child.stdin = Some(stdin);
    match answer["result"]["tools"].take() {
        Value::Array(tools) => Ok((tools, child)),
        _ => bail!("{} sidecar: no tools in {answer}", imp.name),
    }
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
