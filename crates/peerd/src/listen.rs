//! The listening socket: handed over by systemd socket activation, or claimed and
//! bound by the daemon itself.

use anyhow::{bail, Context};
use std::io::ErrorKind;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use tokio::net::UnixListener;

use crate::{private_dir, trust};

/// Pending connections the kernel may hold before the daemon accepts them (it
/// caps this at `net.core.somaxconn`). A burst of agents starting together must
/// not see EAGAIN from `connect`.
pub(crate) const LISTEN_BACKLOG: i32 = 4096;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const SYSTEMD_FIRST_FD: i32 = 3;

/// The socket systemd passed to this process (`LISTEN_PID`/`LISTEN_FDS`), if any.
/// systemd then owns the path: the daemon neither claims nor removes it.
pub(crate) fn activated() -> anyhow::Result<Option<UnixListener>> {
    let var = |k| std::env::var(k).ok().and_then(|v| v.parse::<u32>().ok());
    if var("LISTEN_PID") != Some(std::process::id()) || var("LISTEN_FDS").unwrap_or(0) < 1 {
        return Ok(None);
    }
    // SAFETY: under socket activation systemd passes its listening sockets as
    // descriptors 3.. to exactly this pid (sd_listen_fds(3)); nothing else in this
    // process has opened, owns or closes descriptor 3.
    let fd = unsafe { OwnedFd::from_raw_fd(SYSTEMD_FIRST_FD) };
    if rustix::net::sockopt::socket_type(&fd)? != rustix::net::SocketType::STREAM {
        bail!("the socket passed by systemd is not a stream socket");
    }
    let listener = std::os::unix::net::UnixListener::from(fd);
    listener.set_nonblocking(true)?;
    Ok(Some(UnixListener::from_std(listener)?))
}

/// Makes `path` free for binding: creates its directory `0700` if missing,
/// refuses a directory another user could write to (see [`trust`]), a path that
/// is not a socket, another user's socket and a socket a live daemon answers
/// on, and removes a stale socket.
pub(crate) fn claim_path(path: &Path) -> anyhow::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    private_dir::create(parent, "socket directory")?;
    trust::check_dir(parent, "socket directory")?;
    trust::check_owner(path, "socket")?;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            bail!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            )
        }
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => bail!(
                "another blemees-peerd is already listening on {}",
                path.display()
            ),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                tracing::info!(socket = %path.display(), "removing stale socket");
                std::fs::remove_file(path)
                    .with_context(|| format!("removing stale socket {}", path.display()))?;
            }
            Err(e) => bail!("cannot tell whether {} is in use: {e}", path.display()),
        },
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => bail!("cannot inspect {}: {e}", path.display()),
    }
    Ok(())
}

/// Binds `path` with mode `0600` and a [`LISTEN_BACKLOG`] queue.
pub(crate) fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    use rustix::net::{socket_with, AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let fd = socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    let addr =
        SocketAddrUnix::new(path).with_context(|| format!("socket path {}", path.display()))?;
    // Create the socket 0600 from the start rather than chmod-ing it after bind.
    let old_umask = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let bound = rustix::net::bind(&fd, &addr);
    rustix::process::umask(old_umask);
    bound.with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    rustix::net::listen(&fd, LISTEN_BACKLOG)?;
    Ok(UnixListener::from_std(
        std::os::unix::net::UnixListener::from(fd),
    )?)
}

/// Removes the socket file at shutdown.
pub(crate) fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != ErrorKind::NotFound {
            tracing::warn!("removing socket {}: {e}", path.display());
        }
    }
}
