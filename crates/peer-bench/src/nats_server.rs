//! A real `nats-server` with JetStream (file storage) on a free loopback port,
//! started by the bench for the NATS and federation workloads, and where its
//! program comes from. A plain child process, like [`Daemon`](crate::daemon::Daemon)'s,
//! so that one server can serve workloads run on different runtimes.

use crate::daemon::{ci_install, repo};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long nats-server may take to accept clients.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a starting nats-server is tried.
const POLL_EVERY: Duration = Duration::from_millis(1);

/// The nats-server program: `given` (`--nats-server`, or
/// `$BLEMEES_NATS_SERVER`), else `.ci/nats/bin/nats-server`, installed by
/// `.ci/nats.sh` if missing.
pub(crate) fn program(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
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

/// A nats-server with JetStream on a free loopback port, its store (file
/// storage, as the daemons ask for) in a private directory; killed when dropped.
pub(crate) struct NatsServer {
    child: Child,
    pub(crate) url: String,
    dir: tempfile::TempDir,
}

impl NatsServer {
    pub(crate) async fn start(program: &Path) -> anyhow::Result<NatsServer> {
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
    pub(crate) fn cpu(&self) -> Duration {
        crate::daemon::cpu(self.child.id())
    }

    /// The server's resident memory, in bytes.
    pub(crate) fn rss(&self) -> u64 {
        crate::daemon::rss(self.child.id())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
