//! `blemees-peerd`: the per-user daemon that routes messages between agent sessions
//! over a Unix socket and keeps their history in SQLite.
//!
//! Data flow: [`connection`] tasks read and validate lines ([`call`]) and hand them
//! to the single [`router`] task, which owns all live state and decides recipients;
//! the router sends durable writes and outbound frames, in order, to the [`store`]
//! thread, which commits them in batches and only then pushes frames to each
//! connection's bounded [`outbox`], from which its writer task writes the socket.

pub mod call;
pub mod cli;
pub mod client;
pub mod config;
pub mod connection;
pub mod listen;
pub mod outbox;
pub mod router;
pub mod server;
pub mod store;
pub mod trim;
