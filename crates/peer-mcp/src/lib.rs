//! `blemees-peer-mcp`, the MCP sidecar an agent host spawns: an rmcp server on
//! stdio whose tools speak `blemees-peer/1` to the daemon through a reconnecting
//! [`peer_client::Session`] (SPEC §9).
//!
//! Data flow: daemon notifications → [`pump`] → [`mailbox::Mailbox`] (bounded,
//! de-duplicated inbox) → `peer_inbox`/`peer_await` results → stdout, where
//! [`delivery`] sees them written and only then are their DMs acknowledged.
//! With `--claude-channel`, [`channel`] also pushes a copy of each arriving
//! message to the host as it comes.

mod channel;
mod cli;
mod delivery;
mod hook;
mod identity;
mod inbox;
mod install;
mod instructions;
mod join;
mod mailbox;
mod peek;
mod pump;
mod recent;
mod reply;
mod resources;
mod schema;
mod server;
mod tools;
mod wait;

pub use cli::main;
