//! The floor under any daemon's round trip: a relay that forwards bytes between
//! two clients and does nothing else (no parsing, no routing, no storage, no
//! answers to the sender). Measured with the same client and loop as the DM
//! round trip, it shows what the machine's process wake-ups alone cost, so a
//! latency target can be checked against what is physically possible here.

use anyhow::Context;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long the relay may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// What the relay prints once it listens.
const READY: &str = "relay ready";
/// Bytes moved per read.
const CHUNK: usize = 64 * 1024;

/// Serves as the relay (in a child process): accepts two clients on `socket` and
/// copies each one's bytes to the other until either closes.
pub(crate) fn serve(socket: &Path) -> anyhow::Result<()> {
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("binding the relay socket {}", socket.display()))?;
    println!("{READY}");
    let (a, _) = listener.accept()?;
    let (b, _) = listener.accept()?;
    let (a2, b2) = (a.try_clone()?, b.try_clone()?);
    let forward = std::thread::spawn(move || copy(a2, b2));
    copy(b, a);
    let _ = forward.join();
    Ok(())
}

fn copy(mut from: UnixStream, mut to: UnixStream) {
    let mut buf = vec![0u8; CHUNK];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

/// A relay process on a fresh socket; killed when dropped.
pub(crate) struct Relay {
    child: Child,
    pub(crate) socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Relay {
    /// Starts this program as a relay and waits until it listens.
    pub(crate) async fn start() -> anyhow::Result<Relay> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("relay.sock");
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--relay")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting the relay")?;
        let stdout = child.stdout.take().context("the relay has no stdout")?;
        let mut first = String::new();
        tokio::time::timeout(START_TIMEOUT, BufReader::new(stdout).read_line(&mut first))
            .await
            .context("the relay did not start in time")??;
        anyhow::ensure!(first.trim() == READY, "the relay failed to start");
        Ok(Relay {
            child,
            socket,
            _dir: dir,
        })
    }

    /// CPU time the relay has used so far.
    pub(crate) fn cpu(&self) -> Duration {
        self.child.id().map(crate::daemon::cpu).unwrap_or_default()
    }
}
