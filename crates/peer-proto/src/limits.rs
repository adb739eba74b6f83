//! Bounds and defaults that clients and the daemon must agree on, each defined
//! once: a client that asks for more than the daemon serves is refused, so the
//! sidecar's schemas and catch-up reads are built from these same numbers.

/// Largest `limit` of `peer.history`; also the most a reconnecting client
/// catches up on in one read.
pub const HISTORY_MAX_LIMIT: u32 = 1000;
/// `limit` of `peer.history` when absent.
pub const HISTORY_DEFAULT_LIMIT: u32 = 100;
/// Most addresses one `peer.peek` reads.
pub const PEEK_MAX_ADDRESSES: usize = 8;
/// Most patterns in one DM filter or watch filter.
pub const MAX_GLOBS: usize = 32;
/// Longest pattern in a DM filter or watch filter, in bytes. Matching costs up
/// to pattern length × address length per message, so both are bounded.
pub const MAX_GLOB_BYTES: usize = 256;
