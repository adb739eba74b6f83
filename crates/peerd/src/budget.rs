//! Daemon-wide memory budgets, so that many connections together cannot take
//! the daemon's memory where each alone stays within its own limits: 200
//! clients each holding back a 4 MiB unterminated line, or a few clients
//! asking for large replays and not reading them.
//!
//! Each budget counts bytes across all connections. When it is exceeded, the
//! connection that is adding to it is cut off with a clear error, unless it
//! holds less than [`FAIR_SHARE_FLOOR`]: a client with ordinary traffic is
//! never the one to go, and the budget can be exceeded by at most that much
//! per connection.

use bytes::{Bytes, BytesMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_util::codec::{AnyDelimiterCodec, AnyDelimiterCodecError, Decoder};

/// Bytes a connection may hold of a budget without ever being cut off for it.
pub(crate) const FAIR_SHARE_FLOOR: usize = 64 * 1024;

/// Bytes counted against one limit by every connection together.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    used: AtomicUsize,
    limit: usize,
}

impl MemoryBudget {
    pub(crate) fn new(limit: usize) -> Self {
        MemoryBudget {
            used: AtomicUsize::new(0),
            limit,
        }
    }

    pub(crate) fn add(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn sub(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Whether a connection holding `own` bytes of this budget must go.
    pub(crate) fn must_cut(&self, own: usize) -> bool {
        own >= FAIR_SHARE_FLOOR && self.used.load(Ordering::Relaxed) > self.limit
    }

    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// Why reading lines stopped.
#[derive(Debug)]
pub(crate) enum LinesError {
    Io,
    /// A line longer than `--max-line-bytes`.
    TooLong,
    /// The daemon-wide input budget is spent and this connection holds a
    /// large part of it.
    OverBudget,
}

impl From<std::io::Error> for LinesError {
    fn from(_: std::io::Error) -> Self {
        LinesError::Io
    }
}

/// Newline-framed lines whose unfinished part counts against the daemon-wide
/// input budget while it waits for its newline.
pub(crate) struct Lines {
    inner: AnyDelimiterCodec,
    budget: Arc<MemoryBudget>,
    /// Bytes of this connection's read buffer now counted in `budget`.
    charged: usize,
}

impl Lines {
    pub(crate) fn new(max_line_bytes: usize, budget: Arc<MemoryBudget>) -> Self {
        Lines {
            inner: AnyDelimiterCodec::new_with_max_length(
                b"\n".to_vec(),
                Vec::new(),
                max_line_bytes,
            ),
            budget,
            charged: 0,
        }
    }

    fn charge(&mut self, buffered: usize) -> Result<(), LinesError> {
        if buffered > self.charged {
            self.budget.add(buffered - self.charged);
        } else {
            self.budget.sub(self.charged - buffered);
        }
        self.charged = buffered;
        match self.budget.must_cut(buffered) {
            true => Err(LinesError::OverBudget),
            false => Ok(()),
        }
    }
}

impl Decoder for Lines {
    type Item = Bytes;
    type Error = LinesError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, LinesError> {
        let line = self.inner.decode(buf).map_err(|e| match e {
            AnyDelimiterCodecError::MaxChunkLengthExceeded => LinesError::TooLong,
            AnyDelimiterCodecError::Io(_) => LinesError::Io,
        })?;
        self.charge(buf.len())?;
        Ok(line)
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        self.budget.sub(self.charged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_line_counts_until_its_newline() {
        let budget = Arc::new(MemoryBudget::new(100 * 1024));
        let mut lines = Lines::new(1 << 20, budget.clone());
        let mut buf = BytesMut::from(&b"{\"a\":"[..]);
        assert!(lines.decode(&mut buf).unwrap().is_none());
        assert_eq!(budget.used(), 5);
        buf.extend_from_slice(b"1}\n{");
        assert_eq!(&lines.decode(&mut buf).unwrap().unwrap()[..], b"{\"a\":1}");
        assert_eq!(budget.used(), 1, "what is left of the next line");
        drop(lines);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn the_connection_holding_much_is_cut_when_all_together_hold_too_much() {
        let budget = Arc::new(MemoryBudget::new(100 * 1024));
        let mut big = Lines::new(1 << 20, budget.clone());
        let mut small = Lines::new(1 << 20, budget.clone());
        let mut b = BytesMut::from(&vec![b'x'; 90 * 1024][..]);
        assert!(big.decode(&mut b).unwrap().is_none(), "within the budget");
        let mut s = BytesMut::from(&vec![b'y'; 20 * 1024][..]);
        assert!(small.decode(&mut s).unwrap().is_none(), "small: never cut");
        b.extend_from_slice(&[b'x'; 1024]);
        assert!(matches!(big.decode(&mut b), Err(LinesError::OverBudget)));
    }
}
