//! `blemees-peerd`: the per-user daemon that routes messages between agent sessions
//! over a Unix socket and keeps their history in SQLite.
//!
//! Data flow, all on one event thread: `connection` tasks read and validate
//! lines (`call`) and hand them to the event loop (`event_loop`), which has the
//! sans-IO `router` (the one owner of live state) turn each event into
//! operations (`op`), and the `store` commit each batch of them in one
//! transaction before their frames go to each connection's bounded `outbox`,
//! from which its writer task writes the socket. See docs/architecture.md.
//!
//! The binary needs only [`main`]; everything else is private, so the
//! modules can change shape freely. The fuzz targets reach request validation
//! through the `fuzzing` feature.

mod backup;
mod budget;
mod call;
mod cli;
mod client;
mod clock;
mod config;
mod connection;
mod event_loop;
mod federation;
mod guard;
mod listen;
mod op;
mod outbox;
mod outboxes;
mod private_dir;
mod router;
mod server;
mod store;
mod trim;
mod trust;

pub use cli::main;

/// Entry points for the fuzz targets (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    pub use crate::call::check_parse;
}
