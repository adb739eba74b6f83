//! One client connection: a reader that frames and validates lines and feeds the
//! router, and a writer that drains the connection's outbox to the socket.
//!
//! The reader does the per-line work (JSON decoding, parameter validation) on its
//! own task, so many clients are parsed in parallel and the router only routes.

use crate::budget::{Lines, LinesError, MemoryBudget};
use crate::call;
use crate::config::{CLOSE_LINGER, INFLIGHT_BYTES};
use crate::event_loop::Inbound;
use crate::outbox::{outbox, ConnId, Out, OutboxReceiver};
use crate::router::Event;
use bytes::BytesMut;
use futures::StreamExt;
use peer_proto::rpc::decode;
use peer_proto::{ErrorCode, RpcError};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

/// Bytes the writer gathers before a write system call.
const WRITE_BUFFER: usize = 64 * 1024;
/// Gathering buffer a connection keeps between bursts; a larger one is freed.
const IDLE_BUFFER: usize = 4 * 1024;
/// Initial read buffer per connection: most requests are far smaller, and it
/// grows for the rare large one. With thousands of mostly idle agent
/// connections, per-connection buffers are most of the daemon's memory.
const READ_BUFFER: usize = 512;
/// Read buffer a connection grows to while its client sends more than fits in
/// [`READ_BUFFER`]: one system call then takes a whole burst of requests
/// instead of one or two lines.
const BURST_READ_BUFFER: usize = 64 * 1024;

/// What every connection shares.
pub(crate) struct Shared {
    pub(crate) router: mpsc::Sender<Inbound>,
    pub(crate) max_line_bytes: usize,
    pub(crate) max_outbox_bytes: usize,
    /// Bytes of lines in flight between readers and the store ([`INFLIGHT_BYTES`]).
    pub(crate) budget: Arc<Semaphore>,
    /// Unfinished lines across all connections (`--max-buffered-input-bytes`).
    pub(crate) input: Arc<MemoryBudget>,
    /// Unwritten output across all connections (`--max-queued-output-bytes`).
    pub(crate) output: Arc<MemoryBudget>,
    /// How long a new connection may take to send its first line.
    pub(crate) first_line_timeout: std::time::Duration,
    /// Cancelled at daemon shutdown: stop reading; the router then closes each
    /// outbox after its last notifications.
    pub(crate) stop: CancellationToken,
}

/// Serves one accepted connection until it closes.
pub(crate) async fn serve(stream: UnixStream, conn: ConnId, shared: Arc<Shared>) {
    let Shared {
        router,
        max_line_bytes,
        max_outbox_bytes,
        budget,
        input,
        output,
        first_line_timeout,
        stop,
    } = &*shared;
    let (max_line_bytes, max_outbox_bytes) = (*max_line_bytes, *max_outbox_bytes);
    let cancel = CancellationToken::new();
    let (tx, rx) = outbox(conn, max_outbox_bytes, output.clone(), cancel.clone());
    if router
        .send(Inbound::Open { conn, outbox: tx })
        .await
        .is_err()
    {
        return;
    }
    let (read, write) = stream.into_split();
    let writer = tokio::spawn(write_loop(rx, write, cancel.clone()));

    let codec = Lines::new(max_line_bytes, input.clone());
    let mut lines = FramedRead::with_capacity(read, codec, READ_BUFFER);
    let mut grown = false;
    // Until the first line is in, the connection has a deadline.
    let mut first_line_by = Some(tokio::time::Instant::now() + *first_line_timeout);
    loop {
        let deadline = async {
            match first_line_by {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let next = tokio::select! {
            _ = cancel.cancelled() => break,
            _ = stop.cancelled() => break,
            () = deadline => {
                tracing::debug!(conn, "closing a connection that sent no line in time");
                break;
            }
            next = lines.next() => next,
        };
        let event = match next {
            None | Some(Err(LinesError::Io)) => break,
            Some(Err(cut @ (LinesError::TooLong | LinesError::OverBudget))) => {
                let error = match cut {
                    LinesError::OverBudget => {
                        tracing::warn!(conn, "input budget spent: cutting off the connection holding a large unfinished line");
                        RpcError::new(
                            ErrorCode::ParseError,
                            "the daemon is holding too many unfinished lines; this one was refused",
                        )
                    }
                    _ => RpcError::new(
                        ErrorCode::ParseError,
                        format!("line exceeds {max_line_bytes} bytes"),
                    ),
                };
                let reject = Event::Reject {
                    conn,
                    id: None,
                    error,
                    close: true,
                };
                let _ = router
                    .send(Inbound::Event {
                        event: reject,
                        permit: None,
                    })
                    .await;
                break;
            }
            Some(Ok(line)) => {
                first_line_by = None;
                fit_read_buffer(lines.read_buffer_mut(), &mut grown, line.len());
                let cost = line.len().clamp(1, INFLIGHT_BYTES) as u32;
                let permit = tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = stop.cancelled() => break,
                    permit = budget.clone().acquire_many_owned(cost) => permit.ok(),
                };
                match line_event(conn, &line, permit) {
                    Some(event) => event,
                    None => continue,
                }
            }
        };
        if router.send(event).await.is_err() {
            break;
        }
    }
    drop(lines);
    // At shutdown the router itself tells each session its subscriptions are lost
    // and closes it; a Closed from here could overtake that and drop them first.
    if !stop.is_cancelled() {
        let closed = Inbound::Event {
            event: Event::Closed(conn),
            permit: None,
        };
        let _ = router.send(closed).await;
    }
    // The router now sends the last frames and a close; give a peer that stopped
    // reading a bounded time to take them.
    let unwritten = match tokio::time::timeout(CLOSE_LINGER, writer).await {
        Ok(Ok(unwritten)) => unwritten,
        _ => {
            cancel.cancel();
            Vec::new()
        }
    };
    if !unwritten.is_empty() {
        let _ = router.send(Inbound::Requeue(unwritten)).await;
    }
}

/// Sizes a connection's read buffer to its traffic, after each line taken
/// from it. A buffer left full by the last read means more is waiting: it grows
/// so the next read takes a whole burst. Once everything read has been taken, a
/// buffer that grew (for a burst or for one long line) is swapped for a small
/// one, since most connections are idle most of the time.
fn fit_read_buffer(buffer: &mut BytesMut, grown: &mut bool, line_len: usize) {
    if line_len >= READ_BUFFER {
        *grown = true;
    }
    if buffer.is_empty() {
        if *grown {
            *buffer = BytesMut::with_capacity(READ_BUFFER);
            *grown = false;
        }
    } else if buffer.len() == buffer.capacity() && !*grown {
        buffer.reserve(BURST_READ_BUFFER);
        *grown = true;
    }
}

/// The router event for one line, or None for a blank line or an answerless
/// notification error.
fn line_event(conn: ConnId, line: &[u8], permit: Option<OwnedSemaphorePermit>) -> Option<Inbound> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let event = match decode(line) {
        Ok(env) => Event::Request {
            conn,
            id: env.id.map(ToOwned::to_owned),
            parsed: call::parse(env.method, &env.params),
        },
        Err(rejected) if rejected.is_notification => return None,
        Err(rejected) => Event::Reject {
            conn,
            id: rejected.id.map(ToOwned::to_owned),
            error: rejected.error,
            close: false,
        },
    };
    Some(Inbound::Event { event, permit })
}

/// Writes outbox frames until a close marker, a write error or cancellation.
/// Returns the store rows of DMs that were not written, to be queued again.
///
/// Frames that are ready together go out in one write. The gathering buffer grows
/// only as needed and is dropped after a large burst, so the many connections
/// that are idle most of the time hold no buffer at all.
async fn write_loop(
    mut rx: OutboxReceiver,
    mut socket: OwnedWriteHalf,
    cancel: CancellationToken,
) -> Vec<i64> {
    let mut buf: Vec<u8> = Vec::new();
    let mut unwritten: Vec<i64> = Vec::new();
    loop {
        let mut next = tokio::select! {
            _ = cancel.cancelled() => break,
            // Every sender gone: the daemon is stopping without a close.
            next = rx.recv() => match next {
                Some(out) => Some(out),
                None => break,
            },
        };
        let (mut close, mut ok) = (false, true);
        while let Some(out) = next {
            let Some(frame) = out.frame() else {
                close = true;
                break;
            };
            unwritten.extend(out.dm_seq());
            if !buf.is_empty() && buf.len() + frame.len() > WRITE_BUFFER {
                ok = write(&mut socket, &buf, &cancel).await;
                buf.clear();
            }
            if ok && frame.len() >= WRITE_BUFFER {
                ok = write(&mut socket, frame, &cancel).await;
            } else {
                buf.extend_from_slice(frame);
            }
            if !ok {
                break;
            }
            next = rx.try_recv();
        }
        if ok && !buf.is_empty() {
            ok = write(&mut socket, &buf, &cancel).await;
        }
        buf.clear();
        if buf.capacity() > IDLE_BUFFER {
            buf = Vec::new();
        }
        if !ok {
            break;
        }
        // Everything taken so far has reached the socket.
        unwritten.clear();
        if close {
            break;
        }
    }
    cancel.cancel();
    unwritten.extend(rx.close().iter().filter_map(Out::dm_seq));
    let _ = socket.shutdown().await;
    unwritten
}

/// Writes all of `bytes` unless cancelled first; false if it did not.
async fn write(socket: &mut OwnedWriteHalf, bytes: &[u8], cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        r = socket.write_all(bytes) => r.is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_buffer_grows_for_a_burst_and_shrinks_when_drained() {
        let mut grown = false;
        // A read filled the small buffer; one line was taken, more is waiting.
        let mut buffer = BytesMut::with_capacity(READ_BUFFER);
        buffer.resize(READ_BUFFER, b'x');
        let line = buffer.split_to(100);
        fit_read_buffer(&mut buffer, &mut grown, line.len());
        assert!(grown);
        assert!(buffer.capacity() - buffer.len() >= BURST_READ_BUFFER);
        // The rest of the burst is taken: back to a small buffer.
        let rest = buffer.split();
        fit_read_buffer(&mut buffer, &mut grown, rest.len());
        assert!(!grown);
        assert_eq!(buffer.capacity(), READ_BUFFER);
        // A partial line in a buffer with room left changes nothing.
        buffer.extend_from_slice(b"{\"partial\":");
        fit_read_buffer(&mut buffer, &mut grown, 10);
        assert!(!grown);
        assert_eq!(buffer.capacity(), READ_BUFFER);
    }

    #[test]
    fn a_buffer_grown_for_one_long_line_is_released_after_it() {
        let mut grown = false;
        let mut buffer = BytesMut::with_capacity(4 << 20);
        buffer.resize(3 << 20, b'x');
        let line = buffer.split();
        fit_read_buffer(&mut buffer, &mut grown, line.len());
        assert!(!grown);
        assert_eq!(buffer.capacity(), READ_BUFFER);
    }
}
