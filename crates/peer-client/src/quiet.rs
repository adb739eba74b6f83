//! A Unix stream that the event loop watches for reading only.
//!
//! Why: tokio registers every socket for read *and* write readiness, edge
//! triggered. A stream socket becomes "writable" again each time its peer takes
//! bytes out of it, so with that registration every request the daemon reads
//! from this client also wakes the client for nothing, and the daemon pays for
//! that wake-up (an inter-processor interrupt) inside its `recv`. Profiles of the
//! daemon in the round-trip benchmark put ~10% of its CPU there; with this
//! stream in the client, the daemon's CPU per round trip fell by 10-15%.
//!
//! [`QuietStream`] registers readability only. Writes go straight to the
//! non-blocking socket; only a write that would block (the peer is not reading)
//! registers a duplicate descriptor for writability, and drops that registration
//! as soon as a write gets through again.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream as StdStream;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// A connected Unix stream socket registered for readability only.
#[derive(Debug)]
pub struct QuietStream {
    fd: Arc<AsyncFd<StdStream>>,
}

impl QuietStream {
    /// Connects to the socket at `path`, if a process of this user listens there.
    pub async fn connect(path: &Path) -> io::Result<QuietStream> {
        // tokio's connect copes with a full listen queue (EAGAIN) without blocking
        // the thread; the descriptor then moves to a read-only registration.
        let stream = tokio::net::UnixStream::connect(path).await?;
        check_server_uid(&stream)?;
        QuietStream::from_std(stream.into_std()?)
    }

    /// Takes over `stream` (set non-blocking here); needs a tokio runtime.
    pub fn from_std(stream: StdStream) -> io::Result<QuietStream> {
        stream.set_nonblocking(true)?;
        Ok(QuietStream {
            fd: Arc::new(register(stream, Interest::READABLE)?),
        })
    }

    /// Splits into a reading and a writing half that can move to different tasks.
    pub fn into_split(self) -> (QuietRead, QuietWrite) {
        let write = QuietWrite {
            fd: self.fd.clone(),
            blocked: None,
        };
        (QuietRead { fd: self.fd }, write)
    }
}

/// Refuses a server of another user (SO_PEERCRED, LOCAL_PEERCRED on macOS):
/// whoever binds a socket path first gets the connection, and with the
/// `/tmp` fallback path that may be another local user waiting for message
/// bodies. The daemon checks its clients the same way.
fn check_server_uid(stream: &tokio::net::UnixStream) -> io::Result<()> {
    let theirs = stream.peer_cred()?.uid();
    let mine = rustix::process::geteuid().as_raw();
    if theirs != mine {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the socket is served by a process of uid {theirs}, not by this user's \
                 (uid {mine}) daemon; refusing to talk to it"
            ),
        ));
    }
    Ok(())
}

/// Registers `stream` with the runtime's event loop for `interest`.
fn register(stream: StdStream, interest: Interest) -> io::Result<AsyncFd<StdStream>> {
    // SAFETY: the `AsyncFd` owns `stream`, whose descriptor stays open and the
    // same until the `AsyncFd` (which deregisters it first) is dropped.
    unsafe { AsyncFd::register_with_interest(stream, interest) }.map_err(io::Error::from)
}

/// The reading half of a [`QuietStream`].
#[derive(Debug)]
pub struct QuietRead {
    fd: Arc<AsyncFd<StdStream>>,
}

impl AsyncRead for QuietRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let wanted = unfilled.len();
            match guard.try_io(|fd| fd.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    // A short read emptied the socket: the next read would only
                    // say EAGAIN, so wait for the next edge instead (as tokio's
                    // own streams do).
                    if n > 0 && n < wanted {
                        guard.clear_ready();
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

/// The writing half of a [`QuietStream`].
#[derive(Debug)]
pub struct QuietWrite {
    fd: Arc<AsyncFd<StdStream>>,
    /// While a write is blocked: a duplicate descriptor registered for
    /// writability (the read registration cannot change its interest).
    blocked: Option<AsyncFd<StdStream>>,
}

impl AsyncWrite for QuietWrite {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.fd.get_ref().write(buf) {
                Ok(n) => {
                    self.blocked = None;
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
            if self.blocked.is_none() {
                let dup = self.fd.get_ref().try_clone()?;
                self.blocked = Some(register(dup, Interest::WRITABLE)?);
            }
            let waiter = self.blocked.as_ref().expect("registered above");
            // A fresh registration reports the current state, so a socket that
            // drained in between is seen as writable at once.
            ready!(waiter.poll_write_ready(cx))?.clear_ready();
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(match self.fd.get_ref().shutdown(Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e),
            _ => Ok(()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A write far larger than the socket buffer blocks, waits on the temporary
    /// registration while the reader lags, resumes, and delivers every byte in
    /// order; the registration is gone once the write is through.
    #[tokio::test(flavor = "current_thread")]
    async fn a_blocked_write_resumes_when_the_reader_catches_up() {
        let (a, b) = StdStream::pair().unwrap();
        let buffer = rustix::net::sockopt::socket_send_buffer_size(&a).unwrap();
        let (_, mut write) = QuietStream::from_std(a).unwrap().into_split();
        let (mut read, _keep) = QuietStream::from_std(b).unwrap().into_split();
        let sent: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
        assert!(buffer < sent.len() / 4, "the socket buffer holds it all");
        let expected = sent.clone();
        let writer = tokio::spawn(async move {
            write.write_all(&sent).await.unwrap();
            write.write_all(b"!").await.unwrap();
            write.blocked.is_none()
        });
        let mut got = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let reading = async {
            while got.len() < expected.len() + 1 {
                // Read slowly enough that the writer fills the socket and waits.
                tokio::time::sleep(std::time::Duration::from_micros(200)).await;
                let n = read.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the stream ended early");
                got.extend_from_slice(&chunk[..n]);
            }
            writer.await.unwrap()
        };
        let released = tokio::time::timeout(std::time::Duration::from_secs(60), reading)
            .await
            .expect("the transfer stalled");
        assert_eq!(&got[..expected.len()], &expected[..]);
        assert_eq!(got[expected.len()..], *b"!");
        assert!(
            released,
            "the writability registration outlived the blocked write"
        );
    }

    /// The reader sees the peer's end of stream, and a shut-down writer's peer
    /// does too.
    #[tokio::test(flavor = "current_thread")]
    async fn end_of_stream_is_seen_both_ways() {
        let (a, b) = StdStream::pair().unwrap();
        let (mut a_read, mut a_write) = QuietStream::from_std(a).unwrap().into_split();
        let (mut b_read, b_write) = QuietStream::from_std(b).unwrap().into_split();
        a_write.write_all(b"last words").await.unwrap();
        a_write.shutdown().await.unwrap();
        let mut got = Vec::new();
        b_read.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"last words");
        drop(b_write);
        drop(b_read);
        let mut rest = Vec::new();
        assert_eq!(a_read.read_to_end(&mut rest).await.unwrap(), 0);
    }
}
