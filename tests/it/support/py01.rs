//! Where the Python blemees-peer 0.1 reference lives for compatibility tests:
//! `$BLEMEES_PY01_BIN`, else the virtualenv `.ci/python-0.1.sh` creates (run
//! here on first use).

use super::eventually;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The path of the 0.1 program `name` (`blemees-peerd`, `blemees-peer-mcp`).
pub fn py01_bin(name: &str) -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let dir = match std::env::var_os("BLEMEES_PY01_BIN") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/py01/bin"),
    };
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !dir.join(name).exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/python-0.1.sh");
        let status = Command::new("bash")
            .arg(script)
            .status()
            .expect("run .ci/python-0.1.sh");
        assert!(status.success(), "installing blemees-peer 0.1.0 failed");
    }
    dir.join(name)
}

/// The 0.1 daemon, running on a private socket and state dir; killed on drop.
pub struct PyDaemon {
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

/// How long the 0.1 daemon may take to start listening.
const PY_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

impl PyDaemon {
    pub fn start() -> PyDaemon {
        let dir = tempfile::Builder::new()
            .prefix("py01-peerd-")
            .tempdir()
            .expect("tempdir");
        let mut d = PyDaemon { dir, child: None };
        d.spawn();
        d
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("peerd.sock")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("peerd.log"))
            .expect("log file");
        let child = Command::new(py01_bin("blemees-peerd"))
            .arg("--socket")
            .arg(self.socket())
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("spawn the 0.1 daemon");
        self.child = Some(child);
        eventually("the 0.1 daemon to listen", PY_START_TIMEOUT, || {
            std::os::unix::net::UnixStream::connect(self.socket()).is_ok()
        });
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same socket and state dir (after [`Self::kill9`]).
    /// The 0.1 daemon refuses a socket file left behind, unless nothing answers
    /// on it; a killed daemon's socket answers nothing, so it is reused.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "kill9() first");
        self.spawn();
    }
}

impl Drop for PyDaemon {
    fn drop(&mut self) {
        self.kill9();
    }
}
