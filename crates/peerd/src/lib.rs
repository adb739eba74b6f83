//! `blemees-peerd`: the per-user daemon that routes messages between agent sessions
//! over a Unix socket and keeps their history in SQLite.
//!
//! Data flow, all on one event thread: [`connection`] tasks read and validate
//! lines ([`call`]) and hand them to the [`router`] loop, which owns all live
//! state, decides recipients, and has the [`store`] commit each batch of events'
//! writes in one transaction before it pushes their frames to each connection's
//! bounded [`outbox`], from which its writer task writes the socket. See
//! docs/architecture.md.

pub mod backup;
pub mod call;
pub mod cli;
pub mod client;
pub mod config;
pub mod connection;
pub mod listen;
pub mod outbox;
mod private_dir;
pub mod router;
pub mod server;
pub mod store;
pub mod trim;
