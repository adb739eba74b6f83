//! Every limit of the daemon, as a named default and a field the flags can set.

use std::path::PathBuf;

/// Queued DMs kept per exact address; the oldest is dropped first (as 0.1).
pub(crate) const DEFAULT_DM_MAXLEN: usize = 100;
/// Messages kept per topic ring buffer (as 0.1).
pub(crate) const DEFAULT_TOPIC_MAXLEN: usize = 1000;
/// Age after which history rows are purged.
pub(crate) const DEFAULT_RETENTION_DAYS: u32 = 28;
/// Longest accepted inbound line, newline excluded.
pub(crate) const DEFAULT_MAX_LINE_BYTES: usize = 4 * 1024 * 1024;
/// Bytes a connection may have waiting to be written before it is cut off.
pub(crate) const DEFAULT_MAX_OUTBOX_BYTES: usize = 16 * 1024 * 1024;
/// How long a database write waits for a lock held by another process (a
/// `sqlite3` shell, a stuck backup) before its batch fails and is answered
/// with errors. The event thread waits that long, so every client does.
pub(crate) const DEFAULT_DB_BUSY_TIMEOUT_MS: u32 = 5000;
/// Bytes of unfinished request lines the daemon holds for all connections
/// together before it cuts off one holding a large one.
pub(crate) const DEFAULT_MAX_BUFFERED_INPUT_BYTES: usize = 256 * 1024 * 1024;
/// Bytes of unwritten output the daemon holds for all connections together
/// (live frames and requested replays alike) before it cuts off one with a
/// large backlog.
pub(crate) const DEFAULT_MAX_QUEUED_OUTPUT_BYTES: usize = 512 * 1024 * 1024;
/// How long a new connection may take to send its first complete line before
/// it is closed: a client that connects and says nothing holds a descriptor
/// and a task for nothing.
pub(crate) const DEFAULT_FIRST_LINE_TIMEOUT_MS: u32 = 60_000;
/// How long shutdown waits for outboxes to drain.
pub(crate) const SHUTDOWN_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);
/// How long a closing connection may take to accept its last frames.
pub(crate) const CLOSE_LINGER: std::time::Duration = std::time::Duration::from_secs(10);
/// Bytes of request lines read but not yet applied by the store, across all
/// connections. Readers wait when it is spent, so a flood of large messages is
/// held back at the socket instead of growing the daemon's queues.
pub(crate) const INFLIGHT_BYTES: usize = 64 * 1024 * 1024;
/// Requests waiting for the router, across all connections; readers wait when full,
/// which is the back-pressure that keeps a flood from growing memory.
pub(crate) const ROUTER_QUEUE: usize = 8192;
/// Most router events whose operations are committed in one transaction.
pub(crate) const STORE_BATCH: usize = 256;
/// Batches of traffic after which a chunk of background work (a purge,
/// indexing for search) runs even though more traffic waits: a load that
/// never lets the queue run empty must not stop it.
pub(crate) const BACKGROUND_EVERY: u32 = 16;
/// How often expired history is purged.
pub(crate) const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);
/// How often leases past their TTL (or their holder's grace) are ended and
/// announced: a lease ends at most this long after its time is up (it stops
/// counting in conflicts and listings at once).
pub(crate) const LEASE_TICK: std::time::Duration = std::time::Duration::from_secs(1);
/// Seconds a lease outlives its holder's session when the holder does not come
/// back with the same sid, by default.
pub(crate) const DEFAULT_LEASE_GRACE_SECS: u32 = 120;
/// Rows deleted per purge transaction, so a large purge never stalls traffic long.
pub(crate) const PURGE_CHUNK: usize = 5000;
/// Messages indexed for search per transaction between batches of traffic
/// (a millisecond or two of work), so traffic waits at most that long for it.
/// New messages wait until there are this many, or a quiet moment: an FTS5
/// transaction costs about a segment flush (~100 µs) however few it indexes.
pub(crate) const INDEX_CHUNK: usize = 256;
/// Silence after which fewer than [`INDEX_CHUNK`] new messages are indexed.
pub(crate) const QUIET_BEFORE_INDEX: std::time::Duration = std::time::Duration::from_millis(10);
/// Most new messages a search indexes before it reads, so that it sees every
/// message answered before it; past that (a burst no idle moment followed), it
/// may miss the newest until the index catches up.
pub(crate) const SEARCH_CATCH_UP: usize = 20_000;

/// The daemon's settings, from flags and defaults.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) socket: PathBuf,
    pub(crate) state_dir: PathBuf,
    pub(crate) dm_maxlen: usize,
    pub(crate) topic_maxlen: usize,
    pub(crate) retention_days: u32,
    pub(crate) max_line_bytes: usize,
    pub(crate) max_outbox_bytes: usize,
    pub(crate) db_busy_timeout_ms: u32,
    pub(crate) max_buffered_input_bytes: usize,
    pub(crate) max_queued_output_bytes: usize,
    pub(crate) first_line_timeout_ms: u32,
    pub(crate) lease_grace_secs: u32,
    /// [ext] Federation through NATS, when `--nats` is given.
    pub(crate) federation: Option<crate::federation::FederationConfig>,
}

impl Config {
    /// Defaults for everything but the two paths.
    pub(crate) fn new(socket: PathBuf, state_dir: PathBuf) -> Self {
        Config {
            socket,
            state_dir,
            dm_maxlen: DEFAULT_DM_MAXLEN,
            topic_maxlen: DEFAULT_TOPIC_MAXLEN,
            retention_days: DEFAULT_RETENTION_DAYS,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_outbox_bytes: DEFAULT_MAX_OUTBOX_BYTES,
            db_busy_timeout_ms: DEFAULT_DB_BUSY_TIMEOUT_MS,
            max_buffered_input_bytes: DEFAULT_MAX_BUFFERED_INPUT_BYTES,
            max_queued_output_bytes: DEFAULT_MAX_QUEUED_OUTPUT_BYTES,
            first_line_timeout_ms: DEFAULT_FIRST_LINE_TIMEOUT_MS,
            lease_grace_secs: DEFAULT_LEASE_GRACE_SECS,
            federation: None,
        }
    }

    /// The SQLite file inside the state directory.
    pub(crate) fn db_path(&self) -> PathBuf {
        self.state_dir.join("peerd.db")
    }
}
