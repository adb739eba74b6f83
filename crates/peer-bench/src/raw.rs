//! A deliberately thin client for the throughput and latency workloads: it
//! writes request lines in batches and classifies incoming lines by a substring
//! instead of parsing them, so the benchmark's own cost stays small beside the
//! daemon's and the figures measure the daemon. (Both daemons write compact JSON,
//! so `"method":"peer.message"` appears verbatim in every message notification;
//! the benchmark's bodies never contain it.)

use anyhow::{bail, Context};
use peer_client::{QuietRead, QuietStream, QuietWrite};
use peer_proto::identity::mint_sid;
use serde_json::{json, Value};
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const MESSAGE: &str = "\"method\":\"peer.message\"";

/// What one incoming line is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    Message,
    Response,
    Other,
}

pub(crate) struct Raw {
    lines: tokio::io::Lines<BufReader<QuietRead>>,
    writer: QuietWrite,
    /// `home:<home>#<sid>` (empty before a hello)
    pub(crate) address: String,
}

impl Raw {
    /// Connects without saying anything.
    pub(crate) async fn connect(socket: &Path) -> anyhow::Result<Raw> {
        let stream = QuietStream::connect(socket)
            .await
            .with_context(|| format!("connecting to {}", socket.display()))?;
        let (read, writer) = stream.into_split();
        Ok(Raw {
            lines: BufReader::with_capacity(1 << 16, read).lines(),
            writer,
            address: String::new(),
        })
    }

    /// Connects and says hello as a fresh visible session in `home`.
    pub(crate) async fn hello(socket: &Path, home: &str) -> anyhow::Result<Raw> {
        let mut raw = Raw::connect(socket).await?;
        let sid = mint_sid();
        raw.address = format!("home:{home}#{sid}");
        raw.send_batch(
            &request(
                peer_proto::method::HELLO,
                &json!({"sid": sid, "home": home}),
            ),
            1,
        )
        .await?;
        raw.expect(Line::Response, 1).await?;
        Ok(raw)
    }

    /// Writes `line` `n` times in one write.
    pub(crate) async fn send_batch(&mut self, line: &str, n: usize) -> anyhow::Result<()> {
        self.writer.write_all(line.repeat(n).as_bytes()).await?;
        Ok(())
    }

    /// The next line's kind.
    pub(crate) async fn next(&mut self) -> anyhow::Result<Line> {
        Ok(self.read().await?.0)
    }

    /// The next line and its kind.
    async fn read(&mut self) -> anyhow::Result<(Line, String)> {
        let line = self
            .lines
            .next_line()
            .await?
            .context("the daemon closed the connection")?;
        let kind = if line.contains(MESSAGE) {
            Line::Message
        } else if line.contains("\"method\"") {
            Line::Other
        } else if line.contains("\"error\"") {
            bail!("the daemon answered with an error: {line}")
        } else {
            Line::Response
        };
        Ok((kind, line))
    }

    /// The next message, parsed: the notification's `params` (skipping other
    /// lines). For the few places that must read a message, not count it.
    pub(crate) async fn message(&mut self) -> anyhow::Result<Value> {
        loop {
            if let (Line::Message, line) = self.read().await? {
                let mut note: Value = serde_json::from_str(&line)?;
                return Ok(note["params"].take());
            }
        }
    }

    /// Whether bytes already read from the socket wait in the buffer.
    pub(crate) fn has_buffered(&mut self) -> bool {
        !self.lines.get_mut().buffer().is_empty()
    }

    /// Reads until `n` lines of `kind` have come (skipping others).
    pub(crate) async fn expect(&mut self, kind: Line, n: usize) -> anyhow::Result<()> {
        let mut seen = 0;
        while seen < n {
            if self.next().await? == kind {
                seen += 1;
            }
        }
        Ok(())
    }
}

/// One request line (the id is irrelevant: answers are counted, not matched).
pub(crate) fn request(method: &str, params: &Value) -> String {
    format!(
        "{}\n",
        json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    )
}
