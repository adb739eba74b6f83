//! What can go wrong talking to the daemon.

use peer_proto::RpcError;
use std::path::PathBuf;

/// Why a request or a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be connected (daemon not running, wrong path…).
    #[error("cannot connect to blemees-peerd at {}: {source}", path.display())]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// Why connecting failed.
        source: std::io::Error,
    },
    /// A [`crate::Session`] is between connections.
    #[error("blemees-peerd is not reachable at {}: {reason}", path.display())]
    NotConnected {
        /// The socket path.
        path: PathBuf,
        /// Why the link is down.
        reason: String,
    },
    /// The connection closed before the response arrived.
    #[error("the connection to blemees-peerd closed")]
    Closed,
    /// The daemon answered with a JSON-RPC error.
    #[error("blemees-peerd error {}: {}", .0.code, .0.message)]
    Rpc(RpcError),
    /// Reading or writing the socket failed.
    #[error("talking to blemees-peerd: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon sent something this client cannot read.
    #[error("unexpected reply from blemees-peerd: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The daemon's error, when it answered with one.
    pub fn rpc(&self) -> Option<&RpcError> {
        match self {
            ClientError::Rpc(e) => Some(e),
            _ => None,
        }
    }
}
