//! Where the socket and the state directory live (SPEC §2, §7). Daemon and clients
//! resolve alike, so a client started with the same environment finds the daemon.

use std::path::{Path, PathBuf};

/// Environment variable that names the socket when `--socket` is absent.
pub const SOCKET_ENV: &str = "BLEMEES_PEER_SOCKET";

/// The environment a path resolution reads, as plain values so the rules can be
/// tested without touching the process environment.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `$BLEMEES_PEER_SOCKET`.
    pub peer_socket: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `$XDG_STATE_HOME`.
    pub xdg_state_home: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// The effective uid.
    pub uid: u32,
}

impl Env {
    /// The current process's environment.
    pub fn from_process() -> Self {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Env {
            peer_socket: var(SOCKET_ENV),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            xdg_state_home: var("XDG_STATE_HOME"),
            home: user_home(),
            uid: rustix::process::getuid().as_raw(),
        }
    }
}

/// The user's home directory: `$HOME`, else the password database's entry (as
/// Python's `Path.home()` in 0.1, so a service started without `HOME` still
/// finds the same state directory and `~` homes).
pub fn user_home() -> Option<PathBuf> {
    dirs::home_dir()
}

/// `--socket`, else `$BLEMEES_PEER_SOCKET`, else `$XDG_RUNTIME_DIR/blemees/peerd.sock`
/// when that is a directory, else `/tmp/blemees-peerd-<uid>.sock`.
pub fn socket_path(flag: Option<&Path>, env: &Env) -> PathBuf {
    if let Some(p) = flag
        .map(Path::to_path_buf)
        .or_else(|| env.peer_socket.clone())
    {
        return p;
    }
    match &env.xdg_runtime_dir {
        Some(dir) if dir.is_dir() => dir.join("blemees").join("peerd.sock"),
        _ => PathBuf::from(format!("/tmp/blemees-peerd-{}.sock", env.uid)),
    }
}

/// `--state-dir`, else `$XDG_STATE_HOME/blemees/peerd`, else
/// `~/.local/state/blemees/peerd`.
pub fn state_dir(flag: Option<&Path>, env: &Env) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    let base = match (&env.xdg_state_home, &env.home) {
        (Some(xdg), _) => xdg.clone(),
        (None, Some(home)) => home.join(".local").join("state"),
        (None, None) => PathBuf::from("/tmp"),
    };
    base.join("blemees").join("peerd")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_precedence() {
        let tmp = std::env::temp_dir();
        let mut env = Env {
            uid: 1000,
            ..Env::default()
        };
        assert_eq!(
            socket_path(None, &env),
            PathBuf::from("/tmp/blemees-peerd-1000.sock")
        );
        env.xdg_runtime_dir = Some("/nonexistent-dir-xyz".into());
        assert_eq!(
            socket_path(None, &env),
            PathBuf::from("/tmp/blemees-peerd-1000.sock")
        );
        env.xdg_runtime_dir = Some(tmp.clone());
        assert_eq!(socket_path(None, &env), tmp.join("blemees/peerd.sock"));
        env.peer_socket = Some("/e.sock".into());
        assert_eq!(socket_path(None, &env), PathBuf::from("/e.sock"));
        assert_eq!(
            socket_path(Some(Path::new("/f.sock")), &env),
            PathBuf::from("/f.sock")
        );
    }

    #[test]
    fn state_precedence() {
        let mut env = Env {
            home: Some("/home/u".into()),
            ..Env::default()
        };
        assert_eq!(
            state_dir(None, &env),
            PathBuf::from("/home/u/.local/state/blemees/peerd")
        );
        env.xdg_state_home = Some("/x".into());
        assert_eq!(state_dir(None, &env), PathBuf::from("/x/blemees/peerd"));
        assert_eq!(state_dir(Some(Path::new("/d")), &env), PathBuf::from("/d"));
    }
}
