//! The `blemees-peer/1` language, shared by the daemon, the client library and the
//! MCP sidecar: identity and address grammar, the fnmatch-style globs used by DM
//! filters and watchers, JSON-RPC envelopes and error codes, and where the socket
//! and the state directory live, and who an agent session is by its environment.
//! Nothing here does network or database I/O (only `home` reads the file system,
//! to resolve symlinks), so every rule can be
//! unit-tested and fuzzed in isolation.

#![warn(missing_docs)]

pub mod address;
pub mod agent_env;
pub mod api;
pub mod error;
pub mod glob;
pub mod home;
pub mod identity;
pub mod limits;
pub mod message;
pub mod method;
pub mod paths;
pub mod rpc;
pub mod text;

pub use address::{Address, HomeAddress};
pub use error::{ErrorCode, RpcError};
pub use message::Message;

/// Protocol name reported in the `peer.hello` result.
pub const PROTOCOL: &str = "blemees-peer/1";

/// Version of this implementation, shared by both binaries.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
