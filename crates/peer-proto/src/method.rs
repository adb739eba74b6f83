//! Every method name of `blemees-peer/1` (SPEC §3, §5), written once. Requests
//! are listed in [`ALL`]; their params and results are typed in [`crate::api`].

/// Identifies a connection; must be the first request.
pub const HELLO: &str = "peer.hello";
/// Claims or clears an alias in the session's home.
pub const SET_ALIAS: &str = "peer.set_alias";
/// Accepts DMs only from senders matching the globs.
pub const SET_DM_FILTER: &str = "peer.set_dm_filter";
/// A direct message to a `home:` address.
pub const SEND: &str = "peer.send";
/// A message to a topic's subscribers.
pub const PUBLISH: &str = "peer.publish";
/// Follows a topic, optionally replaying stored messages.
pub const SUBSCRIBE: &str = "peer.subscribe";
/// Stops following a topic.
pub const UNSUBSCRIBE: &str = "peer.unsubscribe";
/// Live sessions by home.
pub const LIST_PEERS: &str = "peer.list_peers";
/// Topics with subscribers or stored messages.
pub const LIST_TOPICS: &str = "peer.list_topics";
/// Stored messages of one address.
pub const HISTORY: &str = "peer.history";
/// [ext] Copies of agent-to-agent traffic for the operator.
pub const WATCH: &str = "peer.watch";
/// [ext] Stops [`WATCH`].
pub const UNWATCH: &str = "peer.unwatch";
/// [ext] Daemon health and counters.
pub const STATUS: &str = "peer.status";
/// [ext] Settles DMs held for an ack-mode connection.
pub const ACK: &str = "peer.ack";
/// [ext] DMs not yet read at some addresses, without taking them.
pub const PEEK: &str = "peer.peek";
/// [ext] Takes a lease on paths (globs).
pub const LEASE: &str = "peer.lease";
/// [ext] Extends a lease the session holds.
pub const LEASE_RENEW: &str = "peer.lease_renew";
/// [ext] Ends leases the session holds.
pub const LEASE_RELEASE: &str = "peer.lease_release";
/// [ext] Lists live leases.
pub const LEASES: &str = "peer.leases";
/// [ext] The reply chain around a message.
pub const THREAD: &str = "peer.thread";
/// [ext] Full-text search over stored message bodies.
pub const SEARCH: &str = "peer.search";

/// Every request method the daemon serves, in SPEC order.
pub const ALL: &[&str] = &[
    HELLO,
    SET_ALIAS,
    SET_DM_FILTER,
    SEND,
    PUBLISH,
    SUBSCRIBE,
    UNSUBSCRIBE,
    LIST_PEERS,
    LIST_TOPICS,
    HISTORY,
    WATCH,
    UNWATCH,
    STATUS,
    ACK,
    PEEK,
    LEASE,
    LEASE_RENEW,
    LEASE_RELEASE,
    LEASES,
    THREAD,
    SEARCH,
];

/// A DM or topic message (notification).
pub const MESSAGE: &str = "peer.message";
/// A session with presence joined (notification).
pub const PEER_JOINED: &str = "peer.peer_joined";
/// A session with presence left (notification).
pub const PEER_LEFT: &str = "peer.peer_left";
/// A session's alias changed (notification).
pub const ALIAS_CHANGED: &str = "peer.alias_changed";
/// [ext] A watched message with its fate (notification).
pub const WIRE_MESSAGE: &str = "peer.wire_message";
/// The daemon dropped a subscription, e.g. at shutdown (notification).
pub const SUBSCRIPTION_LOST: &str = "peer.subscription_lost";

/// Whether `method` is one of the presence notifications (joined, left, alias).
pub fn is_presence(method: &str) -> bool {
    matches!(method, PEER_JOINED | PEER_LEFT | ALIAS_CHANGED)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_request_is_listed_once() {
        let mut names = super::ALL.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), super::ALL.len());
        assert!(names.iter().all(|n| n.starts_with("peer.")));
    }
}
