//! The sidecar's read-only *peek* endpoint (SPEC §12.1): what this session has
//! not read yet, for the host hooks (`blemees-peer-mcp hook …`) to look at
//! without taking anything.
//!
//! Each sidecar listens on a private Unix socket in the *sessions directory*
//! beside the daemon socket (`<daemon socket>.sessions/`, mode `0700`, owned
//! by the user), named `<sid>.<host pid>.sock` (mode `0600`): the sid lets a
//! hook that can derive it (Claude Code's session id, `BLEMEES_AGENT_SID`) go
//! straight to it, the host pid lets a hook that cannot (Codex) find the
//! sidecar its own host started. A client connects and reads one JSON line,
//! [`Snapshot`], then the sidecar closes; the client sends nothing. Reading it
//! changes nothing: entries stay in the inbox, DMs stay unacknowledged.

use crate::join::Join;
use crate::mailbox::Mailbox;
use peer_client::Link;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Version of the snapshot line.
pub(crate) const VERSION: u32 = 1;
/// Longest preview of a body, in characters.
pub(crate) const PREVIEW_CHARS: usize = 80;

/// One message the agent has not read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Unread {
    pub(crate) message_id: String,
    pub(crate) from: String,
    #[serde(default)]
    pub(crate) from_alias: Option<String>,
    pub(crate) to: String,
    /// The body, a string as is and anything else as compact JSON, cut to
    /// [`PREVIEW_CHARS`] characters (with `…`).
    pub(crate) preview: String,
}

/// What the peek endpoint answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) v: u32,
    pub(crate) sid: String,
    pub(crate) home: String,
    #[serde(default)]
    pub(crate) alias: Option<String>,
    /// Oldest first: DMs held unacknowledged and topic messages not yet taken.
    pub(crate) unread: Vec<Unread>,
}

/// `<daemon socket>.sessions`: where the peek sockets and the hook state live.
pub(crate) fn sessions_dir(daemon_socket: &Path) -> PathBuf {
    let mut s = daemon_socket.as_os_str().to_owned();
    s.push(".sessions");
    PathBuf::from(s)
}

/// The socket file name for `sid` under host process `host_pid`.
pub(crate) fn socket_name(sid: &str, host_pid: u32) -> String {
    format!("{sid}.{host_pid}.sock")
}

/// Parses a socket file name back into `(sid, host pid)`.
pub(crate) fn parse_socket_name(name: &str) -> Option<(&str, u32)> {
    let rest = name.strip_suffix(".sock")?;
    let (sid, pid) = rest.rsplit_once('.')?;
    Some((sid, pid.parse().ok()?))
}

/// Makes (or checks) the sessions directory: a directory owned by this user
/// that nobody else may enter. Anything else is refused, so another local
/// user cannot plant sockets for a hook to trust.
pub(crate) fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    check_private_dir(dir)
}

/// The directory is ours and closed to others.
pub(crate) fn check_private_dir(dir: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    let uid = peer_proto::paths::Env::from_process().uid;
    let refuse = |why: &str| {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{}: {why}", dir.display()),
        ))
    };
    if !meta.is_dir() {
        return refuse("not a directory");
    }
    if meta.uid() != uid {
        return refuse("owned by another user");
    }
    if meta.mode() & 0o077 != 0 {
        return refuse("open to group or others (want mode 0700)");
    }
    Ok(())
}

/// The preview of a message body.
pub(crate) fn preview(body: &serde_json::Value) -> String {
    peer_proto::text::preview(body, PREVIEW_CHARS)
}

/// The peek socket of a running sidecar; removed on drop.
pub(crate) struct Endpoint {
    path: PathBuf,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// How long a peek waits for a join it started to reach the daemon.
const FIRST_CONTACT: Duration = Duration::from_millis(500);

/// Joins the daemon if the sidecar has not yet (a hook runs only in a real
/// session, so the host is in earnest: see [`crate::join`]), so that DMs
/// queued for this session are in the inbox to be seen. They are held for
/// the sidecar's ack like any other; nothing is taken.
async fn joined(join: &Join) {
    if join.started().is_some() {
        return;
    }
    let mut link = join.now().watch_link();
    let up = tokio::time::timeout(FIRST_CONTACT, async {
        while !matches!(*link.borrow_and_update(), Link::Up { .. }) {
            if link.changed().await.is_err() {
                return;
            }
        }
    })
    .await;
    if up.is_ok() {
        // The hello's queue drain precedes its answer; let the pump file it.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts serving snapshots of `mailbox` (needs a tokio runtime). A failure
/// is logged and the sidecar carries on without hooks.
pub(crate) fn serve(
    daemon_socket: &Path,
    join: Arc<Join>,
    mailbox: Arc<Mailbox>,
) -> Option<Endpoint> {
    let dir = sessions_dir(daemon_socket);
    if let Err(e) = ensure_private_dir(&dir) {
        tracing::warn!("no peek endpoint for hooks: {e}");
        return None;
    }
    let path = dir.join(socket_name(join.sid(), std::os::unix::process::parent_id()));
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(
                "no peek endpoint for hooks: binding {}: {e}",
                path.display()
            );
            return None;
        }
    };
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    tracing::debug!(path = %path.display(), "peek endpoint for hooks");
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (join, mailbox) = (join.clone(), mailbox.clone());
            tokio::spawn(async move {
                joined(&join).await;
                let snapshot = Snapshot {
                    v: VERSION,
                    sid: join.sid().to_owned(),
                    home: join.home().to_owned(),
                    alias: join.alias(),
                    unread: mailbox.unread(),
                };
                let mut line = serde_json::to_vec(&snapshot).unwrap_or_default();
                line.push(b'\n');
                let write = async {
                    stream.write_all(&line).await?;
                    stream.shutdown().await
                };
                let _ = tokio::time::timeout(Duration::from_secs(2), write).await;
            });
        }
    });
    Some(Endpoint { path })
}

/// Reads one snapshot from a peek socket (blocking, bounded by `timeout`).
pub(crate) fn query(path: &Path, timeout: Duration) -> std::io::Result<Snapshot> {
    let stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut buf = Vec::new();
    stream.take(4 << 20).read_to_end(&mut buf)?;
    serde_json::from_slice(&buf)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_round_trip() {
        let name = socket_name("sess_abcdefghijklmnop", 4242);
        assert_eq!(name, "sess_abcdefghijklmnop.4242.sock");
        assert_eq!(
            parse_socket_name(&name),
            Some(("sess_abcdefghijklmnop", 4242))
        );
        assert_eq!(parse_socket_name("x.hook.json"), None);
        assert_eq!(parse_socket_name("sess_x.y.sock"), None);
        assert_eq!(
            sessions_dir(Path::new("/run/user/1/blemees/peerd.sock")),
            Path::new("/run/user/1/blemees/peerd.sock.sessions")
        );
    }

    #[test]
    fn previews_are_short_and_flat() {
        assert_eq!(preview(&json!("hi\nthere")), "hi there");
        assert_eq!(preview(&json!({"task": "x"})), r#"{"task":"x"}"#);
        let long = "é".repeat(200);
        let p = preview(&json!(long));
        assert_eq!(p.chars().count(), PREVIEW_CHARS);
        assert!(p.ends_with('…'));
    }

    #[test]
    fn the_sessions_dir_must_be_private() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("s");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(ensure_private_dir(&dir).is_err());
        let file = t.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert!(ensure_private_dir(&file).is_err());
    }
}
