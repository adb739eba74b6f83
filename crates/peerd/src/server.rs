//! The listener: claims the socket path safely, accepts same-user connections,
//! and shuts everything down in order on SIGTERM/SIGINT.

use crate::budget::MemoryBudget;
use crate::clock::Now;
use crate::config::{
    Config, INFLIGHT_BYTES, LEASE_TICK, PURGE_INTERVAL, ROUTER_QUEUE, SHUTDOWN_FLUSH,
};
use crate::connection;
use crate::event_loop::{self, Inbound};
use crate::listen;
use crate::router::Router;
use crate::store::reader::Reader;
use crate::store::Store;
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Runs the daemon until SIGTERM or SIGINT.
pub(crate) async fn run(config: Config) -> anyhow::Result<()> {
    raise_fd_limit();
    // Claim the path first, so a second daemon never touches a live one's
    // database; bind only once the store is ready (a 0.1 import may take a
    // while), so a socket that accepts means a daemon that serves.
    let activated = listen::activated()?;
    if activated.is_none() {
        listen::claim_path(&config.socket)?;
    }
    let (mut store, next_seq) = Store::open(&config)?;
    let (listener, own_socket) = match activated {
        Some(listener) => {
            tracing::info!("using the socket passed by systemd");
            (listener, None)
        }
        None => (listen::bind(&config.socket)?, Some(&config.socket)),
    };
    tracing::info!(socket = %config.socket.display(), state_dir = %config.state_dir.display(), "listening");

    let (router_tx, router_rx) = mpsc::channel(ROUTER_QUEUE);
    let now = Now::read();
    let mut router = Router::new(next_seq, now.mono);
    router.set_lease_grace(f64::from(config.lease_grace_secs));
    router.restore_leases(store.load_leases()?, now);
    let reads_done = router_tx.clone();
    let reader = Reader::start(&config.db_path(), move |done| {
        // Fails only when the event loop has stopped: the read is moot.
        let _ = reads_done.blocking_send(Inbound::ReadDone(done));
    })?;
    if let Some(fed) = &config.federation {
        let federation =
            crate::federation::start(fed.clone(), &config.db_path(), router_tx.clone())?;
        router.federate(fed.subjects());
        store.federate(federation);
        tracing::info!(node = %fed.node, nats = %fed.urls.join(","), "federating");
    }
    let router_task = tokio::spawn(event_loop::run(router, router_rx, store, reader));
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

    let tick_tx = router_tx.clone();
    let lease_task = tokio::spawn(async move {
        let mut every = tokio::time::interval(LEASE_TICK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if tick_tx.send(Inbound::LeaseTick).await.is_err() {
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
        input: Arc::new(MemoryBudget::new(config.max_buffered_input_bytes)),
        output: Arc::new(MemoryBudget::new(config.max_queued_output_bytes)),
        first_line_timeout: std::time::Duration::from_millis(config.first_line_timeout_ms.into()),
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
    lease_task.abort();
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
    if let Some(path) = own_socket {
        listen::remove(path);
    }
    tracing::info!("stopped");
    Ok(())
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
