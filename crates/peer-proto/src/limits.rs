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
/// [ext] `ttl_s` of `peer.lease` when absent: 30 minutes.
pub const LEASE_DEFAULT_TTL_S: u64 = 1800;
/// [ext] Longest `ttl_s` of `peer.lease` and `peer.lease_renew`: 7 days.
pub const LEASE_MAX_TTL_S: u64 = 7 * 86_400;
/// [ext] Most leases one session holds at a time.
pub const LEASES_PER_SESSION: usize = 64;
/// [ext] Longest lease `reason`, in bytes.
pub const LEASE_REASON_MAX_BYTES: usize = 1024;
/// [ext] The topic (without `topic:`) on which the daemon announces every
/// lease granted, renewed, released or expired.
pub const LEASE_TOPIC: &str = "leases";
/// [ext] `limit` of `peer.search` when absent: a search answers a question,
/// so its best few matches, not a page of history.
pub const SEARCH_DEFAULT_LIMIT: u32 = 20;
/// [ext] Longest `query` of `peer.search`, in bytes.
pub const SEARCH_MAX_QUERY_BYTES: usize = 1024;
/// [ext] Most words and phrases in one `peer.search` query: each is one more
/// index lookup to intersect.
pub const SEARCH_MAX_TERMS: usize = 32;
