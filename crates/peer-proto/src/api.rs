//! The params and result of every request, and the params of every
//! notification, as serde types shared by the daemon (which validates into the
//! params and answers with the results) and every client (which sends the params
//! and reads the results).
//!
//! Result fields are declared in alphabetical order: that is the order in which
//! 0.1 and earlier versions of this daemon printed them (as JSON maps), so the
//! bytes on the wire stay the same. Members that a 0.1 daemon leaves out are
//! `Option`s or defaulted, so results from either daemon read back.
//!
//! Adding a method: a name in [`crate::method`], a marker type here with its
//! [`Request`] impl, and its params and result types.

use crate::limits::HISTORY_DEFAULT_LIMIT;
use crate::message::Message;
use crate::method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// One request method: its name and the types of its params and result.
pub trait Request {
    /// The JSON-RPC method name.
    const METHOD: &'static str;
    /// What the client sends.
    type Params: Serialize;
    /// What the daemon answers.
    type Result: Serialize + DeserializeOwned;
}

macro_rules! requests {
    ($($(#[$doc:meta])* $name:ident = $method:path, $params:ty => $result:ty;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl Request for $name {
            const METHOD: &'static str = $method;
            type Params = $params;
            type Result = $result;
        }
    )*};
}

requests! {
    /// `peer.hello`.
    Hello = method::HELLO, HelloParams => HelloResult;
    /// `peer.set_alias`.
    SetAlias = method::SET_ALIAS, SetAliasParams => SetAliasResult;
    /// `peer.set_dm_filter`.
    SetDmFilter = method::SET_DM_FILTER, DmFilterParams => DmFilterResult;
    /// `peer.send`.
    Send = method::SEND, SendParams => SendResult;
    /// `peer.publish`.
    Publish = method::PUBLISH, PublishParams => PublishResult;
    /// `peer.subscribe`.
    Subscribe = method::SUBSCRIBE, SubscribeParams => SubscribeResult;
    /// `peer.unsubscribe`.
    Unsubscribe = method::UNSUBSCRIBE, TopicParams => OkResult;
    /// `peer.list_peers`.
    ListPeers = method::LIST_PEERS, NoParams => ListPeersResult;
    /// `peer.list_topics`.
    ListTopics = method::LIST_TOPICS, NoParams => ListTopicsResult;
    /// `peer.history`.
    History = method::HISTORY, HistoryParams => HistoryResult;
    /// `peer.watch`.
    Watch = method::WATCH, WatchParams => WatchResult;
    /// `peer.unwatch`.
    Unwatch = method::UNWATCH, NoParams => WatchResult;
    /// `peer.status`.
    Status = method::STATUS, NoParams => StatusResult;
    /// `peer.ack`.
    Ack = method::ACK, AckParams => AckResult;
    /// `peer.peek`.
    Peek = method::PEEK, PeekParams => PeekResult;
    /// `peer.lease`.
    Lease = method::LEASE, LeaseParams => LeaseResult;
    /// `peer.lease_renew`.
    LeaseRenew = method::LEASE_RENEW, LeaseRenewParams => LeaseRenewResult;
    /// `peer.lease_release`.
    LeaseRelease = method::LEASE_RELEASE, LeaseReleaseParams => LeaseReleaseResult;
    /// `peer.leases`.
    Leases = method::LEASES, LeasesParams => LeasesResult;
    /// `peer.thread`.
    Thread = method::THREAD, ThreadParams => HistoryResult;
    /// `peer.search`.
    Search = method::SEARCH, SearchParams => HistoryResult;
}

/// Optional protocol features, as listed in the hello result.
pub mod feature {
    /// Messages carry `seq`.
    pub const SEQ: &str = "seq";
    /// Wire copies say whether a DM was queued.
    pub const QUEUED: &str = "queued";
    /// `presence: false` in hello.
    pub const PRESENCE: &str = "presence";
    /// `peer.status`.
    pub const STATUS: &str = "status";
    /// `peer.subscribe {since}`: catch up after a message id.
    pub const SINCE: &str = "since";
    /// Acknowledged delivery: `ack: true` in hello and `peer.ack`.
    pub const ACK: &str = "ack";
    /// `peer.peek`.
    pub const PEEK: &str = "peek";
    /// Path leases: `peer.lease`, `peer.lease_renew`, `peer.lease_release`,
    /// `peer.leases` and announcements on `topic:leases`.
    pub const LEASES: &str = "leases";
    /// `peer.thread`.
    pub const THREAD: &str = "thread";
    /// `peer.search`.
    pub const SEARCH: &str = "search";
    /// Every feature this implementation's daemon has.
    pub const ALL: &[&str] = &[
        SEQ, QUEUED, PRESENCE, STATUS, SINCE, ACK, PEEK, LEASES, THREAD, SEARCH,
    ];
}

/// Params of a method that takes none: serialises as `{}`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct NoParams {}

/// `client: {name, version}`, shown in the daemon's logs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientInfo {
    /// Program name.
    pub name: String,
    /// Program version.
    pub version: String,
}

/// `peer.hello` params. Optional [ext] members are left out when unset, so a 0.1
/// daemon sees exactly what a 0.1 client sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HelloParams {
    /// `sess_` + 16 characters.
    pub sid: String,
    /// `~`, `~/path` or `/path`.
    pub home: String,
    /// [ext] False for operator and CLI connections: not listed, no joined/left,
    /// no share of home broadcasts or queues. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<bool>,
    /// [ext] DMs stay held until acknowledged with `peer.ack`. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<bool>,
    /// [ext] Who is connecting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientInfo>,
}

impl HelloParams {
    /// An agent session: visible to others, joined/left announced.
    pub fn new(sid: impl Into<String>, home: impl Into<String>) -> Self {
        HelloParams {
            sid: sid.into(),
            home: home.into(),
            presence: None,
            ack: None,
            client: None,
        }
    }

    /// An operator or script connection (`presence: false`) with a fresh sid:
    /// hidden from `list_peers`, announces nothing.
    pub fn operator(home: impl Into<String>) -> Self {
        HelloParams {
            presence: Some(false),
            ..HelloParams::new(crate::identity::mint_sid(), home)
        }
    }

    /// Names the connecting program (for the daemon's logs).
    pub fn client(mut self, name: &str, version: &str) -> Self {
        self.client = Some(ClientInfo {
            name: name.to_owned(),
            version: version.to_owned(),
        });
        self
    }

    /// Asks for acknowledged delivery; a daemon without the `ack` feature
    /// ignores it.
    pub fn ack(mut self, ack: bool) -> Self {
        self.ack = Some(ack);
        self
    }

    /// Whether the session is listed and announced (default true).
    pub fn has_presence(&self) -> bool {
        self.presence.unwrap_or(true)
    }

    /// Whether DMs are held until acknowledged (default false).
    pub fn wants_ack(&self) -> bool {
        self.ack.unwrap_or(false)
    }
}

/// `peer.hello` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HelloResult {
    /// [ext] Absent from 0.1, which then has none of the optional features.
    #[serde(default)]
    pub features: Vec<String>,
    /// `home:<home>`.
    pub peer_id: String,
    /// [ext] `blemees-peer/1`; absent from 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The daemon's version.
    pub server_version: String,
    /// The sid the session said hello with.
    pub sid: String,
}

impl HelloResult {
    /// Whether the daemon has optional `feature` (see [`feature`]).
    pub fn has(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

/// `peer.set_alias` params; `""` clears the alias.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetAliasParams {
    /// The alias, or `""`.
    pub alias: String,
}

/// `peer.set_alias` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetAliasResult {
    /// The alias now held, if any.
    pub alias: Option<String>,
    /// Always true.
    pub ok: bool,
}

/// `peer.set_dm_filter` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DmFilterParams {
    /// Globs over the sender's address; `[]` accepts none.
    pub patterns: Vec<String>,
}

/// `peer.set_dm_filter` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DmFilterResult {
    /// Always true.
    pub ok: bool,
    /// The filter now in force.
    pub patterns: Vec<String>,
}

/// `peer.send` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendParams {
    /// A `home:` address.
    pub to: String,
    /// Any JSON value, kept as the sender's exact text.
    pub body: Box<RawValue>,
    /// The message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

/// `peer.send` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendResult {
    /// Live sessions that got the message now.
    pub delivered: usize,
    /// The new message's id.
    pub message_id: String,
    /// [ext] Nobody got it: it waits in the address's queue. Absent from 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued: Option<bool>,
}

/// `peer.publish` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishParams {
    /// The topic's name (no `topic:` prefix).
    pub topic: String,
    /// Any JSON value.
    pub body: Box<RawValue>,
}

/// `peer.publish` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishResult {
    /// The new message's id.
    pub message_id: String,
    /// Subscribers that got it (the sender excluded).
    pub subscribers: usize,
}

/// `peer.subscribe` params. `since` (catch up after that message) wins over
/// `replay` (the last N).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscribeParams {
    /// The topic's name.
    pub topic: String,
    /// Re-deliver the newest N stored messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<u64>,
    /// [ext] Re-deliver what was stored after this message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// `peer.subscribe` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscribeResult {
    /// Always true.
    pub ok: bool,
    /// The topic subscribed to.
    pub topic: String,
}

/// Params naming one topic (`peer.unsubscribe`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicParams {
    /// The topic's name.
    pub topic: String,
}

/// `{"ok": true}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OkResult {
    /// Always true.
    pub ok: bool,
}

/// `peer.history` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryParams {
    /// A `topic:` or `home:` address.
    pub address: String,
    /// Only messages after this message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// 1 to [`crate::limits::HISTORY_MAX_LIMIT`]; default
    /// [`HISTORY_DEFAULT_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl HistoryParams {
    /// The limit asked for, or the default.
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(HISTORY_DEFAULT_LIMIT)
    }
}

/// `peer.history` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryResult {
    /// Oldest first.
    pub messages: Vec<Message>,
}

/// `peer.list_peers` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListPeersResult {
    /// Homes with live sessions.
    pub peers: Vec<PeerEntry>,
}

/// One home in `peer.list_peers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerEntry {
    /// `home:<home>`; for a home of another node, `home@<node>:<home>`.
    pub peer_id: String,
    /// [ext] The node, for a home of another node (federation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Its sessions, in join order.
    pub sessions: Vec<SessionEntry>,
}

/// One session in `peer.list_peers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEntry {
    /// Its alias, if any.
    pub alias: Option<String>,
    /// Its sid.
    pub sid: String,
    /// Topics it follows, by name.
    pub subscriptions: Vec<String>,
}

/// `peer.list_topics` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListTopicsResult {
    /// By name.
    pub topics: Vec<TopicEntry>,
}

/// One topic in `peer.list_topics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicEntry {
    /// `ts` of its newest stored message.
    pub last_message_at: Option<f64>,
    /// The topic's name.
    pub name: String,
    /// Live subscribers.
    pub subscribers: usize,
}

/// `peer.watch` params: which traffic to copy.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WatchParams {
    /// Only `["messages"]` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// Globs over `from`; default everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_filter: Option<Vec<String>>,
    /// Globs over `to`; default everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_filter: Option<Vec<String>>,
}

/// The kind of traffic `peer.watch` copies.
pub const WATCH_MESSAGES: &str = "messages";

/// `peer.watch` and `peer.unwatch` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WatchResult {
    /// Always true.
    pub ok: bool,
    /// Whether the connection now watches.
    pub watching: bool,
}

/// `peer.status` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusResult {
    /// Open connections, with or without hello.
    pub connections: usize,
    /// Size of the database and its WAL.
    pub db_bytes: u64,
    /// [ext] The link to other nodes, when federation is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation: Option<FederationStatus>,
    /// The daemon's process id.
    pub pid: u32,
    /// DMs waiting in queues.
    pub queued_dms: u64,
    /// The daemon's version.
    pub server_version: String,
    /// Connections that said hello.
    pub sessions: usize,
    /// Topics with subscribers or stored messages.
    pub topics: usize,
    /// Messages stored before the search index existed and not yet indexed
    /// (counts down to 0 after an upgrade).
    #[serde(default)]
    pub unindexed: u64,
    /// Seconds since the daemon started.
    pub uptime_s: f64,
}

/// [ext] The federation part of `peer.status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FederationStatus {
    /// Messages stored here and not yet acknowledged by JetStream.
    pub backlog: u64,
    /// `connecting`, `up` or `down`.
    pub link: String,
    /// The NATS servers given (`--nats`), without credentials.
    pub nats: String,
    /// This node's name.
    pub node: String,
}

/// `peer.ack` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AckParams {
    /// Ids of DMs this connection has and needs no more.
    pub message_ids: Vec<String>,
}

/// `peer.ack` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AckResult {
    /// How many of them the connection was holding.
    pub acked: usize,
    /// Always true.
    pub ok: bool,
}

/// `peer.peek` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeekParams {
    /// `home:` addresses, 1 to [`crate::limits::PEEK_MAX_ADDRESSES`].
    pub addresses: Vec<String>,
    /// 1 to [`crate::limits::HISTORY_MAX_LIMIT`]; default
    /// [`HISTORY_DEFAULT_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl PeekParams {
    /// The limit asked for, or the default.
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(HISTORY_DEFAULT_LIMIT)
    }
}

/// `peer.peek` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeekResult {
    /// DMs to those addresses still queued or held for an ack, oldest first.
    pub messages: Vec<Message>,
}

/// [ext] `peer.thread` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreadParams {
    /// Any message of the conversation.
    pub message_id: String,
    /// 1 to [`crate::limits::HISTORY_MAX_LIMIT`]; default
    /// [`HISTORY_DEFAULT_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl ThreadParams {
    /// The limit asked for, or the default.
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(HISTORY_DEFAULT_LIMIT)
    }
}

/// [ext] `peer.search` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchParams {
    /// Words, `"quoted phrases"` and `prefix*` words, all of which a body must
    /// hold; at most [`crate::limits::SEARCH_MAX_QUERY_BYTES`].
    pub query: String,
    /// Only messages sent to this address or from it (for a `home:` address
    /// without a session, from any session of that home).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Only messages stored after this message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// 1 to [`crate::limits::HISTORY_MAX_LIMIT`]; default
    /// [`crate::limits::SEARCH_DEFAULT_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// [ext] `peer.lease` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseParams {
    /// Globs over paths (the DM filter's matcher), 1 to
    /// [`crate::limits::MAX_GLOBS`].
    pub paths: Vec<String>,
    /// Seconds until it ends, 1 to [`crate::limits::LEASE_MAX_TTL_S`];
    /// default [`crate::limits::LEASE_DEFAULT_TTL_S`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_s: Option<u64>,
    /// Refused if it overlaps anybody else's lease; default true. A shared
    /// lease conflicts only with exclusive ones and is granted anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive: Option<bool>,
    /// Why, shown to whoever it is in the way of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// [ext] A live lease, as listed, reported in conflicts and announced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseInfo {
    /// The holder's alias, if it had one.
    pub alias: Option<String>,
    /// Whether it keeps others' leases off its paths.
    pub exclusive: bool,
    /// When it ends, in seconds since the Unix epoch, unless renewed.
    pub expires: f64,
    /// The holder's session address, `home:<home>#<sid>`.
    pub holder: String,
    /// `lease_` + 16 characters.
    pub lease_id: String,
    /// Its globs.
    pub paths: Vec<String>,
    /// Why it was taken (`""` if not said).
    pub reason: String,
    /// When it was granted.
    pub since: f64,
}

/// [ext] `peer.lease` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseResult {
    /// Others' live leases whose paths overlap and that are, or would be,
    /// in the way (an exclusive lease on either side).
    pub conflicts: Vec<LeaseInfo>,
    /// False when an exclusive lease was refused for its conflicts.
    pub granted: bool,
    /// The lease, when granted.
    pub lease: Option<LeaseInfo>,
}

/// [ext] `peer.lease_renew` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseRenewParams {
    /// A lease this session holds.
    pub lease_id: String,
    /// Seconds from now; default [`crate::limits::LEASE_DEFAULT_TTL_S`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_s: Option<u64>,
}

/// [ext] `peer.lease_renew` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseRenewResult {
    /// The lease with its new `expires`.
    pub lease: LeaseInfo,
}

/// [ext] `peer.lease_release` params: `lease_ids`, or `all: true` for every
/// lease the session holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LeaseReleaseParams {
    /// Leases to end; ids the session does not hold are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ids: Option<Vec<String>>,
    /// Ends every lease the session holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
}

/// [ext] `peer.lease_release` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseReleaseResult {
    /// The ids of the leases ended.
    pub released: Vec<String>,
}

/// [ext] `peer.leases` params.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LeasesParams {
    /// Only leases whose globs overlap this one (a plain path is a glob).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// [ext] `peer.leases` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeasesResult {
    /// Live leases, oldest first.
    pub leases: Vec<LeaseInfo>,
}

/// [ext] The body of a message on `topic:leases`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseEvent {
    /// `granted`, `renewed`, `released` or `expired`.
    pub event: String,
    /// The lease, as it is (or was, when it ended).
    pub lease: LeaseInfo,
}

/// `peer.peer_joined`, `peer.peer_left` and `peer.alias_changed` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Presence {
    /// The session's alias (for `alias_changed`, the new one).
    pub alias: Option<String>,
    /// `home:<home>`.
    pub peer_id: String,
    /// `alias_changed` only: the alias before, `Some(None)` (sent as `null`)
    /// when there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Option<String>>,
    /// The session's sid.
    pub sid: String,
    /// When, in seconds since the Unix epoch.
    pub ts: f64,
}

/// `peer.subscription_lost` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriptionLost {
    /// Why.
    pub reason: String,
    /// The topic's name.
    pub topic: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn results_print_as_the_maps_they_replace() {
        let hello = HelloResult {
            features: vec!["seq".into()],
            peer_id: "home:~".into(),
            protocol: Some("blemees-peer/1".into()),
            server_version: "0".into(),
            sid: "sess_x".into(),
        };
        let map = json!({"peer_id": "home:~", "sid": "sess_x", "server_version": "0",
                         "protocol": "blemees-peer/1", "features": ["seq"]});
        assert_eq!(serde_json::to_string(&hello).unwrap(), map.to_string());
        let joined = Presence {
            alias: None,
            peer_id: "home:~".into(),
            previous: None,
            sid: "s".into(),
            ts: 1.5,
        };
        let map = json!({"peer_id": "home:~", "sid": "s", "alias": null, "ts": 1.5});
        assert_eq!(serde_json::to_string(&joined).unwrap(), map.to_string());
        let changed = Presence {
            previous: Some(None),
            ..joined
        };
        let v: Value = serde_json::to_value(&changed).unwrap();
        assert_eq!(v["previous"], Value::Null);
        assert!(v.as_object().unwrap().contains_key("previous"));
    }

    #[test]
    fn a_0_1_hello_and_send_result_read_back() {
        let hello: HelloResult = serde_json::from_value(
            json!({"peer_id": "home:~", "sid": "sess_x", "server_version": "0.1.0"}),
        )
        .unwrap();
        assert!(!hello.has(feature::SEQ));
        let sent: SendResult =
            serde_json::from_value(json!({"message_id": "m", "delivered": 0})).unwrap();
        assert_eq!(sent.queued, None);
    }

    #[test]
    fn unset_hello_extensions_stay_off_the_wire() {
        let v = serde_json::to_value(HelloParams::new("sess_x", "~")).unwrap();
        assert_eq!(v, json!({"sid": "sess_x", "home": "~"}));
        let hello = HelloParams::operator("/t").client("cli", "1").ack(true);
        let v = serde_json::to_value(hello).unwrap();
        assert_eq!(v["presence"], false);
        assert_eq!(v["ack"], true);
        assert_eq!(v["client"], json!({"name": "cli", "version": "1"}));
        assert!(crate::identity::is_valid_sid(v["sid"].as_str().unwrap()));
    }

    #[test]
    fn unset_options_are_left_out() {
        let p = HistoryParams {
            address: "topic:t".into(),
            since: None,
            limit: None,
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"address": "topic:t"})
        );
        assert_eq!(p.limit(), HISTORY_DEFAULT_LIMIT);
        assert_eq!(serde_json::to_string(&NoParams {}).unwrap(), "{}");
    }
}
