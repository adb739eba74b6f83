//! Where the Python blemees-peer 0.1 reference lives for compatibility tests:
//! `$BLEMEES_PY01_BIN`, else the virtualenv `.ci/python-0.1.sh` creates (run
//! here on first use).

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
