//! Starting a daemon of either implementation on a private socket and state
//! directory, knowing when it serves, and reading its memory.

use anyhow::{bail, Context};
use peer_client::connect_hello;
use peer_proto::api::HelloParams;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a daemon may take to start serving.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Where one implementation's two binaries are.
pub(crate) struct Implementation {
    pub(crate) name: &'static str,
    pub(crate) dir: PathBuf,
}

impl Implementation {
    /// Ours: next to this program unless told otherwise.
    pub(crate) fn ours(dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let dir = match dir {
            Some(d) => d,
            None => std::env::current_exe()?
                .parent()
                .context("peer-bench has no directory")?
                .to_path_buf(),
        };
        Self::checked("ours", dir)
    }

    /// Python 0.1: `.ci/py01/bin`, installed by `.ci/python-0.1.sh` if missing.
    pub(crate) fn python(dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let dir = dir.unwrap_or_else(|| repo().join(".ci/py01/bin"));
        if !dir.join("blemees-peerd").exists() {
            ci_install("python-0.1.sh", "blemees-peer 0.1.0")?;
        }
        Self::checked("python", dir)
    }

    fn checked(name: &'static str, dir: PathBuf) -> anyhow::Result<Self> {
        for bin in ["blemees-peerd", "blemees-peer-mcp"] {
            if !dir.join(bin).exists() {
                bail!(
                    "{} has no {bin} (build with `cargo build --release --workspace`)",
                    dir.display()
                );
            }
        }
        Ok(Implementation { name, dir })
    }

    pub(crate) fn daemon(&self) -> PathBuf {
        self.dir.join("blemees-peerd")
    }

    pub(crate) fn sidecar(&self) -> PathBuf {
        self.dir.join("blemees-peer-mcp")
    }
}

/// The repository this program was built from, whose `.ci/` installs what the
/// benchmarks compare against.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the repository's install script `.ci/<script>`, which installs `what`.
pub(crate) fn ci_install(script: &str, what: &str) -> anyhow::Result<()> {
    let status = Command::new("bash")
        .arg(repo().join(".ci").join(script))
        .status()?;
    if !status.success() {
        bail!("installing {what} failed");
    }
    Ok(())
}

/// A running daemon; killed when dropped.
pub(crate) struct Daemon {
    child: Child,
    pub(crate) socket: PathBuf,
    pub(crate) state: PathBuf,
    /// Spawn until a hello was answered.
    pub(crate) startup: Duration,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `imp`'s daemon on a fresh directory.
    pub(crate) async fn start(imp: &Implementation) -> anyhow::Result<Daemon> {
        Self::start_with(imp, &[]).await
    }

    /// Starts `imp`'s daemon on a fresh directory, with `args` added to its
    /// command line (e.g. `--nats URL --node NAME`).
    pub(crate) async fn start_with(imp: &Implementation, args: &[&str]) -> anyhow::Result<Daemon> {
        let dir = tempfile::tempdir()?;
        let state = dir.path().join("state");
        Self::start_in(imp, dir, state, args).await
    }

    /// Starts `imp`'s daemon on `state`, inside `dir` (which the daemon keeps),
    /// with `args` added to its command line.
    pub(crate) async fn start_in(
        imp: &Implementation,
        dir: tempfile::TempDir,
        state: PathBuf,
        args: &[&str],
    ) -> anyhow::Result<Daemon> {
        let socket = dir.path().join("peerd.sock");
        let started = Instant::now();
        let child = Command::new(imp.daemon())
            .arg("--socket")
            .arg(&socket)
            .arg("--state-dir")
            .arg(&state)
            .args(["--log-level", "error"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", imp.daemon().display()))?;
        let mut d = Daemon {
            child,
            socket,
            state,
            startup: Duration::ZERO,
            _dir: dir,
        };
        loop {
            if connect_hello(&d.socket, &HelloParams::operator("/bench"))
                .await
                .is_ok()
            {
                break;
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("{} daemon did not start", imp.name);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        d.startup = started.elapsed();
        Ok(d)
    }

    pub(crate) fn rss(&self) -> u64 {
        rss(self.child.id())
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time the daemon has used so far, all threads.
    pub(crate) fn cpu(&self) -> Duration {
        cpu(self.child.id())
    }

    /// SIGTERM, then wait; the state directory survives for a restart.
    pub(crate) fn stop(mut self) -> (tempfile::TempDir, PathBuf) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().expect("tempdir"));
        (dir, self.state.clone())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of `pid`, in bytes (Linux `/proc`).
pub(crate) fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// CPU time the live threads of `pid` have used (Linux `/proc`, nanoseconds
/// from each thread's schedstat, where `stat`'s clock ticks would be too coarse
/// for a run of a fraction of a second).
pub(crate) fn cpu(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let nanos = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}
