//! One connection to the daemon: requests with ids, their responses, and the
//! notifications the daemon pushes.

use crate::error::ClientError;
use crate::quiet::{QuietRead, QuietStream, QuietWrite};
use futures::StreamExt;
use peer_proto::api::Request;
use peer_proto::rpc::request_frame;
use peer_proto::RpcError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, LinesCodec};
use tokio_util::sync::{CancellationToken, DropGuard};

/// Longest line accepted from the daemon. A `peer.history` result carries up to
/// 1000 messages, so this is far above the daemon's 4 MiB inbound limit; it only
/// stops a broken peer from growing one line without bound.
pub(crate) const MAX_INBOUND_LINE_BYTES: usize = 256 * 1024 * 1024;

/// A notification from the daemon (`peer.message`, `peer.peer_joined`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The notification's method.
    pub method: String,
    /// Its params.
    pub params: Value,
}

/// The notifications of one connection, in the order the daemon sent them. Ends
/// when the connection closes.
///
/// Unbounded on purpose: the reader must never stop reading, or responses
/// behind a notification would stall and a caller waiting on one would deadlock
/// with a consumer waiting on it. The daemon bounds what it sends (its outbox
/// limit), and consumers move entries into their own bounded stores at once.
pub type Notifications = mpsc::UnboundedReceiver<Notification>;

type Reply = Result<Value, RpcError>;

/// Responses still awaited, by request id; `None` once the connection closed,
/// so a late caller fails at once instead of waiting forever.
type InFlight = Mutex<Option<HashMap<u64, oneshot::Sender<Reply>>>>;

struct Inner {
    writer: tokio::sync::Mutex<QuietWrite>,
    in_flight: Arc<InFlight>,
    next_id: AtomicU64,
    closed: CancellationToken,
    /// Stops the reader task (and so closes the socket) when the last handle goes.
    _reader: DropGuard,
}

/// A connected socket. Cheap to clone; the socket closes when the last clone is
/// dropped.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

#[derive(Deserialize)]
struct Incoming {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<Value>,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireError {
    code: i64,
    #[serde(default)]
    message: String,
}

impl Connection {
    /// Connects to the socket at `path`.
    pub async fn connect(path: &Path) -> Result<(Connection, Notifications), ClientError> {
        let stream = QuietStream::connect(path)
            .await
            .map_err(|source| ClientError::Connect {
                path: path.to_path_buf(),
                source,
            })?;
        let (read, write) = stream.into_split();
        let in_flight: Arc<InFlight> = Arc::new(Mutex::new(Some(HashMap::new())));
        let closed = CancellationToken::new();
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = read_loop(
            FramedRead::new(
                read,
                LinesCodec::new_with_max_length(MAX_INBOUND_LINE_BYTES),
            ),
            in_flight.clone(),
            tx,
        );
        let stop = CancellationToken::new();
        let task_stop = stop.clone();
        let task_closed = closed.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = reader => {}
                _ = task_stop.cancelled() => {}
            }
            task_closed.cancel();
        });
        let inner = Inner {
            writer: tokio::sync::Mutex::new(write),
            in_flight,
            next_id: AtomicU64::new(1),
            closed,
            _reader: stop.drop_guard(),
        };
        Ok((
            Connection {
                inner: Arc::new(inner),
            },
            rx,
        ))
    }

    /// Sends request `R` and waits for its result.
    pub async fn request<R: Request>(&self, params: &R::Params) -> Result<R::Result, ClientError> {
        let v = self.call(R::METHOD, params).await?;
        serde_json::from_value(v).map_err(|e| ClientError::Protocol(format!("{}: {e}", R::METHOD)))
    }

    /// Sends `method` with `params` and waits for its result, untyped.
    async fn call(&self, method: &str, params: impl Serialize) -> Result<Value, ClientError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        match self
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            Some(map) => map.insert(id, tx),
            None => return Err(ClientError::Closed),
        };
        let frame = request_frame(id, method, &params);
        let written = {
            let mut w = self.inner.writer.lock().await;
            w.write_all(&frame).await
        };
        if let Err(e) = written {
            self.forget(id);
            return Err(ClientError::Io(e));
        }
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ClientError::Rpc(e)),
            Err(_) => Err(ClientError::Closed),
        }
    }

    /// Resolves once the connection has closed (either side).
    pub async fn closed(&self) {
        self.inner.closed.cancelled().await
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.is_cancelled()
    }

    fn forget(&self, id: u64) {
        if let Some(map) = self
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            map.remove(&id);
        }
    }
}

/// Reads frames until the socket closes: responses complete their caller,
/// notifications go to `tx` in order. On exit every waiting caller fails.
async fn read_loop(
    mut lines: FramedRead<QuietRead, LinesCodec>,
    in_flight: Arc<InFlight>,
    tx: mpsc::UnboundedSender<Notification>,
) {
    while let Some(line) = lines.next().await {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!("reading from blemees-peerd: {e}");
                break;
            }
        };
        let frame: Incoming = match serde_json::from_str(&line) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("ignoring an unreadable line from blemees-peerd: {e}");
                continue;
            }
        };
        if let Some(method) = frame.method {
            // A closed receiver only means nobody listens any more.
            let params = frame.params.unwrap_or(Value::Null);
            let _ = tx.send(Notification { method, params });
            continue;
        }
        let Some(id) = frame.id.as_ref().and_then(Value::as_u64) else {
            if let Some(e) = frame.error {
                tracing::warn!("blemees-peerd error without id: {} {}", e.code, e.message);
            }
            continue;
        };
        let reply = match frame.error {
            Some(e) => Err(RpcError {
                code: e.code,
                message: e.message,
            }),
            None => Ok(frame.result.unwrap_or(Value::Null)),
        };
        let waiter = in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .and_then(|m| m.remove(&id));
        if let Some(waiter) = waiter {
            let _ = waiter.send(reply);
        }
    }
    // Dropping the senders fails every caller still waiting.
    in_flight.lock().unwrap_or_else(|e| e.into_inner()).take();
}
