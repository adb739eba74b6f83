//! The listener: claims the socket path safely, accepts same-user connections,
//! and shuts everything down in order on SIGTERM/SIGINT.

use crate::config::{Config, INFLIGHT_BYTES, PURGE_INTERVAL, ROUTER_QUEUE, SHUTDOWN_FLUSH};
use crate::connection;
use crate::router::{self, Inbound, Router};
use crate::store::Store;
use anyhow::{bail, Context};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(config: Config) -> anyhow::Result<()> {
    raise_fd_limit();
    // Claim the path first, so a second daemon never touches a live one's
    // database; bind only once the store is ready (a 0.1 import may take a
    // while), so a socket that accepts means a daemon that serves.
    claim_path(&config.socket)?;
    let (store, next_seq) = Store::open(&config)?;
    let listener = bind(&config.socket)?;
    tracing::info!(socket = %config.socket.display(), state_dir = %config.state_dir.display(), "listening");

    let (router_tx, router_rx) = mpsc::channel(ROUTER_QUEUE);
    let router_task = tokio::spawn(router::run(Router::new(next_seq), router_rx, store));
    let purge_tx = router_tx.clone();
    let purge_task = tokio::spawn(async move {
        let mut every = tokio::time::interval(PURGE_INTERVAL);
        loop {
            every.tick().await;
            if purge_tx.send(Inbound::Purge).await.is_err() {
                return;
            }
        }
    });

    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let stop = CancellationToken::new();
    let shared = Arc::new(connection::Shared {
        router: router_tx.clone(),
        max_line_bytes: config.max_line_bytes,
        max_outbox_bytes: config.max_outbox_bytes,
        budget: Arc::new(Semaphore::new(INFLIGHT_BYTES)),
        stop: stop.clone(),
    });
    let tracker = TaskTracker::new();
    let own_uid = rustix::process::geteuid().as_raw();
    let mut next_conn = 0u64;
    loop {
        let stream = tokio::select! {
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: keep serving the connections we have.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == own_uid => {}
            Ok(cred) => {
                tracing::warn!(uid = cred.uid(), "refused a connection from another user");
                continue;
            }
            Err(e) => {
                tracing::warn!("refused a connection whose credentials are unreadable: {e}");
                continue;
            }
        }
        next_conn += 1;
        tracker.spawn(connection::serve(stream, next_conn, shared.clone()));
    }

    tracing::info!("shutting down");
    drop(listener);
    purge_task.abort();
    stop.cancel();
    let (done_tx, done_rx) = oneshot::channel();
    if router_tx.send(Inbound::Shutdown(done_tx)).await.is_ok() {
        let _ = done_rx.await;
    }
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_FLUSH, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not take their last frames in time");
    }
    drop(router_tx);
    router_task.abort();
    remove_socket(&config.socket);
    tracing::info!("stopped");
    Ok(())
}

/// Makes `path` free for binding: creates its directory `0700` if missing, refuses
/// a path that is not a socket and a socket a live daemon answers on, and removes
/// a stale socket.
fn claim_path(path: &Path) -> anyhow::Result<()> {
    if let Some(parent) = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && !p.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .with_context(|| format!("creating socket directory {}", parent.display()))?;
    }
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

/// Binds the socket with mode `0600`.
fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    // Create the socket 0600 from the start rather than chmod-ing it after bind.
    let old_umask = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let bound = UnixListener::bind(path);
    rustix::process::umask(old_umask);
    let listener = bound.with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

fn remove_socket(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != ErrorKind::NotFound {
            tracing::warn!("removing socket {}: {e}", path.display());
        }
    }
}

/// Lifts the soft open-file limit to the hard one: every client is a descriptor.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!("could not raise the open-file limit: {e}");
        }
    }
}
