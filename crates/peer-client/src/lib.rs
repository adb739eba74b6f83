//! An async client of the `blemees-peerd` socket, shared by the MCP sidecar, the
//! daemon's client sub-commands, the benchmarks and tests.
//!
//! Two layers:
//! * [`Connection`] — one socket: numbered requests, their responses, and the
//!   stream of notifications the daemon pushes. Notifications a request causes are
//!   queued on the stream before that request's call returns, matching the
//!   daemon's ordering guarantee (SPEC §2).
//! * [`Session`] — an agent's identity kept alive across daemon restarts: it
//!   reconnects with backoff and restores sid, alias, DM filter and topic
//!   subscriptions, catching up on topic messages it missed.
//!
//! Requests are typed by `peer_proto::api`: `conn.request::<api::Send>(&params)`.
//! A one-shot caller (a CLI command) needs only [`connect_hello`] with
//! `HelloParams::operator`.

#![warn(missing_docs)]

mod backoff;
mod connection;
mod error;
mod hello;
mod log_level;
mod quiet;
mod session;

pub use backoff::Backoff;
pub use connection::{Connection, Notification, Notifications};
pub use error::ClientError;
pub use hello::connect_hello;
pub use log_level::LogLevel;
pub use quiet::{QuietRead, QuietStream, QuietWrite};
pub use session::{Link, Session, SessionConfig};
