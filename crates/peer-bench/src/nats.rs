//! 10. Bare NATS round trips (`--only nats-rtt`, run only when named): the
//!     yardstick federation is held to (issue 12: a cross-node DM round trip
//!     within the local one plus twice a bare NATS request/reply). A real
//!     `nats-server` with JetStream on a free loopback port, two `async-nats`
//!     connections to it (as two nodes would have), timed like the DM round
//!     trip: a core NATS request answered by a responder task, and a JetStream
//!     publish until its acknowledgement (the message stored in a file-backed
//!     stream, as federation's forwarded DMs will be).

use crate::daemon::{ci_install, repo};
use crate::workloads::{timed, Latency};
use anyhow::{bail, Context};
use async_nats::jetstream;
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// How long nats-server may take to accept clients.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a starting nats-server is tried.
const POLL_EVERY: Duration = Duration::from_millis(1);
/// The subject the responder answers on.
const REQUESTS: &str = "bench.rtt";
/// The stream the JetStream publishes are stored in.
const STREAM: &str = "BENCH";
/// The one subject of [`STREAM`].
const STREAM_SUBJECT: &str = "bench.stored";
/// Every request and publish carries this, like the DM round trip's `ping`.
const BODY: &str = "ping";

/// Bare NATS round trips.
pub(crate) struct NatsLatency {
    /// Core NATS request until its reply.
    pub(crate) request: Latency,
    /// JetStream publish until its acknowledgement.
    pub(crate) publish: Latency,
}

/// The nats-server program: `given` (`--nats-server`, or
/// `$BLEMEES_NATS_SERVER`), else `.ci/nats/bin/nats-server`, installed by
/// `.ci/nats.sh` if missing.
pub(crate) fn server_program(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let program = match given {
        Some(program) => program,
        None => {
            let program = repo().join(".ci/nats/bin/nats-server");
            if !program.exists() {
                ci_install("nats.sh", "nats-server")?;
            }
            program
        }
    };
    anyhow::ensure!(program.exists(), "no nats-server at {}", program.display());
    Ok(program)
}

/// A nats-server with JetStream on a free loopback port, its store in a private
/// directory; killed when dropped.
struct NatsServer {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl NatsServer {
    async fn start(program: &Path) -> anyhow::Result<NatsServer> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
            .local_addr()?
            .port();
        let log = std::fs::File::create(dir.path().join("nats.log"))?;
        let child = Command::new(program)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path().join("store"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let mut server = NatsServer {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            dir,
        };
        // A lone server starts JetStream before it listens for clients: once
        // it accepts a connection, it takes JetStream requests.
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if let Some(status) = server.child.try_wait()? {
                bail!("nats-server exited ({status}):\n{}", server.log());
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("nats-server did not listen:\n{}", server.log());
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        Ok(server)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default()
    }

    /// CPU time the server has used so far.
    fn cpu(&self) -> Duration {
        self.child.id().map(crate::daemon::cpu).unwrap_or_default()
    }
}

/// `iterations` request/reply round trips, then `iterations` acknowledged
/// JetStream publishes, on a fresh server.
pub(crate) async fn round_trips(program: &Path, iterations: usize) -> anyhow::Result<NatsLatency> {
    let server = NatsServer::start(program).await?;
    let requester = async_nats::connect(&server.url).await?;
    let responder = async_nats::connect(&server.url).await?;
    let mut requests = responder.subscribe(REQUESTS).await?;
    let echo = tokio::spawn({
        let responder = responder.clone();
        async move {
            while let Some(request) = requests.next().await {
                if let Some(reply) = request.reply {
                    responder.publish(reply, request.payload).await?;
                }
            }
            anyhow::Ok(())
        }
    });
    // Subscribing only writes the subscription out; the server reads each
    // connection in order, so once the responder's own request is answered
    // the subscription is in place for the requester's.
    responder
        .request(REQUESTS, BODY.into())
        .await
        .context("the responder's own request")?;
    let request = timed(
        iterations,
        || server.cpu(),
        async || {
            requester
                .request(REQUESTS, BODY.into())
                .await
                .context("NATS request")?;
            Ok(())
        },
    )
    .await;
    echo.abort();
    let request = request?;

    let js = jetstream::new(requester);
    js.create_stream(jetstream::stream::Config {
        name: STREAM.to_string(),
        subjects: vec![STREAM_SUBJECT.to_string()],
        ..Default::default()
    })
    .await
    .context("creating the JetStream stream")?;
    let publish = timed(
        iterations,
        || server.cpu(),
        async || {
            js.publish(STREAM_SUBJECT, BODY.into())
                .await?
                .await
                .context("JetStream publish")?;
            Ok(())
        },
    )
    .await?;
    Ok(NatsLatency { request, publish })
}
