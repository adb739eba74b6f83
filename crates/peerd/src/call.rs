//! Turning a decoded envelope into a typed, validated [`Call`]. Runs on the
//! connection's own task, so parsing and validation of many clients proceed in
//! parallel and the router only ever sees well-formed values.
//!
//! Params are read member by member (not with one derived `Deserialize`) so that
//! each bad member gets the field-specific message of SPEC §3, as in 0.1.

use crate::op::SearchScope;
use crate::store::fts::fts_query;
use peer_proto::address::{Address, AddressError};
use peer_proto::api::{
    AckParams, DmFilterParams, HelloParams, HistoryParams, LeaseRenewParams, PeekParams,
    PublishParams, SendParams, SubscribeParams, ThreadParams, TopicParams, WATCH_MESSAGES,
};
use peer_proto::glob::GlobSet;
use peer_proto::identity::{is_valid_alias, is_valid_home, is_valid_sid, is_valid_topic};
use peer_proto::limits::{
    HISTORY_MAX_LIMIT, LEASE_DEFAULT_TTL_S, LEASE_MAX_TTL_S, LEASE_REASON_MAX_BYTES, MAX_GLOBS,
    MAX_GLOB_BYTES, PEEK_MAX_ADDRESSES, SEARCH_DEFAULT_LIMIT, SEARCH_MAX_QUERY_BYTES,
};
use peer_proto::method;
use peer_proto::rpc::Params;
use peer_proto::{ErrorCode, RpcError};
use serde_json::value::RawValue;

/// A validated request.
#[derive(Debug)]
pub(crate) enum Call {
    Hello(HelloParams),
    /// `None` clears the alias.
    SetAlias(Option<String>),
    SetDmFilter(GlobSet),
    /// To a `home:` address.
    Send(SendParams),
    /// [ext] To `home@<node>:…` (`params.to` as given), which that node
    /// reads as `local`.
    SendRemote {
        params: SendParams,
        node: String,
        local: String,
    },
    Publish(PublishParams),
    Subscribe(SubscribeParams),
    Unsubscribe(TopicParams),
    ListPeers,
    ListTopics,
    /// `limit` is within 1..=[`HISTORY_MAX_LIMIT`].
    History(HistoryParams),
    Watch {
        from: GlobSet,
        to: GlobSet,
    },
    Unwatch,
    Status,
    Ack(AckParams),
    /// Every address is a `home:` address; 1..=[`PEEK_MAX_ADDRESSES`] of
    /// them; `limit` is within 1..=[`HISTORY_MAX_LIMIT`].
    Peek(PeekParams),
    /// `ttl_s` is within 1..=[`LEASE_MAX_TTL_S`]; 1..=[`MAX_GLOBS`] paths.
    Lease(LeaseCall),
    /// `ttl_s` is set, within 1..=[`LEASE_MAX_TTL_S`].
    LeaseRenew(LeaseRenewParams),
    /// `None`: every lease of the session.
    LeaseRelease(Option<Vec<String>>),
    Leases(Option<GlobSet>),
    /// `limit` is within 1..=[`HISTORY_MAX_LIMIT`].
    Thread(ThreadParams),
    /// `query` is in FTS5 form (see `store::fts::fts_query`).
    Search {
        query: String,
        scope: SearchScope,
    },
}

/// A validated `peer.lease`.
#[derive(Debug)]
pub(crate) struct LeaseCall {
    pub(crate) paths: GlobSet,
    pub(crate) ttl_s: u64,
    pub(crate) exclusive: bool,
    pub(crate) reason: String,
}

/// What the router needs to order its checks: hello-first applies to every known
/// method but hello itself, even when its params are bad.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) is_hello: bool,
    pub(crate) call: Result<Call, RpcError>,
}

const STRING: &str = "a string";
const STRINGS: &str = "a list of strings";

/// Validates `params` for `method` (a `&str`, or the envelope's `Cow<str>` as is).
pub(crate) fn parse(method: impl AsRef<str>, p: &Params) -> Parsed {
    let method = method.as_ref();
    let call = match method {
        method::HELLO => hello(p),
        method::SET_ALIAS => set_alias(p),
        method::SET_DM_FILTER => p
            .required("patterns", STRINGS)
            .and_then(|patterns| globs(DmFilterParams { patterns }.patterns, "patterns"))
            .map(Call::SetDmFilter),
        method::SEND => send(p),
        method::PUBLISH => topic(p).map(|topic| {
            Call::Publish(PublishParams {
                topic,
                body: body(p),
            })
        }),
        method::SUBSCRIBE => subscribe(p),
        method::UNSUBSCRIBE => topic(p).map(|topic| Call::Unsubscribe(TopicParams { topic })),
        method::LIST_PEERS => Ok(Call::ListPeers),
        method::LIST_TOPICS => Ok(Call::ListTopics),
        method::HISTORY => history(p),
        method::WATCH => watch(p),
        method::UNWATCH => Ok(Call::Unwatch),
        method::STATUS => Ok(Call::Status),
        method::ACK => p
            .required("message_ids", "a list of message ids")
            .map(|message_ids| Call::Ack(AckParams { message_ids })),
        method::PEEK => peek(p),
        method::THREAD => thread(p),
        method::SEARCH => search(p),
        method::LEASE => lease(p),
        method::LEASE_RENEW => lease_renew(p),
        method::LEASE_RELEASE => lease_release(p),
        method::LEASES => p
            .optional::<String>("path", "a path or glob")
            .and_then(|path| path.map(|g| globs(vec![g], "path")).transpose())
            .map(Call::Leases),
        _ => Err(RpcError::new(
            ErrorCode::MethodNotFound,
            format!("unknown method: {method}"),
        )),
    };
    Parsed {
        is_hello: method == method::HELLO,
        call,
    }
}

fn hello(p: &Params) -> Result<Call, RpcError> {
    const SID: &str = "'sess_' + 16 characters of [A-Za-z0-9_-]";
    let sid: String = p.required("sid", SID)?;
    if !is_valid_sid(&sid) {
        return Err(RpcError::invalid_params(format!("sid must be {SID}")));
    }
    let home: String = p.required("home", STRING)?;
    if !is_valid_home(&home) {
        return Err(RpcError::invalid_params(format!(
            "home must be {}",
            AddressError::HOME_RULE
        )));
    }
    Ok(Call::Hello(HelloParams {
        presence: p.optional("presence", "a boolean")?,
        ack: p.optional("ack", "a boolean")?,
        // Only logged by clients' daemons; never refused for its shape.
        client: None,
        ..HelloParams::new(sid, home)
    }))
}

fn set_alias(p: &Params) -> Result<Call, RpcError> {
    let alias: String = p.required("alias", "a string (empty to clear)")?;
    if alias.is_empty() {
        return Ok(Call::SetAlias(None));
    }
    if !is_valid_alias(&alias) {
        return Err(RpcError::invalid_params(
            "alias must match ^[a-z][a-z0-9_-]{0,63}$ and not start with 'sess_'",
        ));
    }
    Ok(Call::SetAlias(Some(alias)))
}

fn send(p: &Params) -> Result<Call, RpcError> {
    let to: String = p.required("to", "a home: address")?;
    let remote = match Address::parse(&to) {
        Ok(Address::Home(_)) => None,
        Ok(Address::Remote(r)) => Some((r.node.to_owned(), r.local())),
        Ok(Address::Topic(_)) => {
            return Err(RpcError::invalid_params(
                "peer.send target must be a home: address",
            ))
        }
        Err(e) => return Err(address_error(e)),
    };
    let params = SendParams {
        to,
        body: body(p),
        reply_to: p.optional("reply_to", "a string or omitted")?,
    };
    Ok(match remote {
        None => Call::Send(params),
        Some((node, local)) => Call::SendRemote {
            params,
            node,
            local,
        },
    })
}

/// Any JSON value (the decoder has checked that clients can read it back); an
/// absent body is `null`, as in 0.1.
fn body(p: &Params) -> Box<RawValue> {
    match p.raw("body") {
        Some(raw) => raw.to_owned(),
        None => RawValue::NULL.to_owned(),
    }
}

/// A DM filter or watch filter: at most [`MAX_GLOBS`] patterns of at most
/// [`MAX_GLOB_BYTES`] each, since every message is matched against them.
fn globs(patterns: Vec<String>, name: &str) -> Result<GlobSet, RpcError> {
    if patterns.len() > MAX_GLOBS || patterns.iter().any(|g| g.len() > MAX_GLOB_BYTES) {
        return Err(RpcError::invalid_params(format!(
            "{name} must be at most {MAX_GLOBS} patterns of at most {MAX_GLOB_BYTES} bytes"
        )));
    }
    Ok(GlobSet::new(patterns))
}

fn topic(p: &Params) -> Result<String, RpcError> {
    let topic: String = p.required("topic", STRING)?;
    if !is_valid_topic(&topic) {
        return Err(RpcError::invalid_params(
            "topic must be non-empty, at most 256 bytes, with no leading '/' and no '#'",
        ));
    }
    Ok(topic)
}

fn subscribe(p: &Params) -> Result<Call, RpcError> {
    Ok(Call::Subscribe(SubscribeParams {
        topic: topic(p)?,
        replay: p.optional("replay", "a non-negative integer")?,
        since: p.optional("since", "a message id or omitted")?,
    }))
}

fn history(p: &Params) -> Result<Call, RpcError> {
    let address: String = p.required("address", "an address")?;
    Address::parse(&address).map_err(address_error)?;
    Ok(Call::History(HistoryParams {
        address,
        since: p.optional("since", "a message id or omitted")?,
        limit: read_limit(p)?,
    }))
}

/// The optional `limit` of a read (history, peek, thread): 1 to
/// [`HISTORY_MAX_LIMIT`]; absent, the method's default (within that range).
fn read_limit(p: &Params) -> Result<Option<u32>, RpcError> {
    let rule = format!("an integer from 1 to {HISTORY_MAX_LIMIT}");
    let limit = p.optional("limit", &rule)?;
    if limit.is_some_and(|l| !(1..=HISTORY_MAX_LIMIT).contains(&l)) {
        return Err(RpcError::invalid_params(format!("limit must be {rule}")));
    }
    Ok(limit)
}

fn peek(p: &Params) -> Result<Call, RpcError> {
    let rule = format!("a list of 1 to {PEEK_MAX_ADDRESSES} home: addresses");
    let addresses: Vec<String> = p.required("addresses", &rule)?;
    if addresses.is_empty() || addresses.len() > PEEK_MAX_ADDRESSES {
        return Err(RpcError::invalid_params(format!(
            "addresses must be {rule}"
        )));
    }
    for a in &addresses {
        match Address::parse(a).map_err(address_error)? {
            Address::Home(_) => {}
            _ => {
                return Err(RpcError::invalid_params(format!(
                    "addresses must be {rule}; {a:?} is not"
                )))
            }
        }
    }
    Ok(Call::Peek(PeekParams {
        addresses,
        limit: read_limit(p)?,
    }))
}

fn thread(p: &Params) -> Result<Call, RpcError> {
    Ok(Call::Thread(ThreadParams {
        message_id: p.required("message_id", "a message id")?,
        limit: read_limit(p)?,
    }))
}

fn search(p: &Params) -> Result<Call, RpcError> {
    let query: String = p.required("query", STRING)?;
    if query.len() > SEARCH_MAX_QUERY_BYTES {
        return Err(RpcError::invalid_params(format!(
            "query must be at most {SEARCH_MAX_QUERY_BYTES} bytes"
        )));
    }
    let query = fts_query(&query).map_err(|e| RpcError::invalid_params(e.to_string()))?;
    let address: Option<String> = p.optional("address", "an address or omitted")?;
    if let Some(a) = &address {
        Address::parse(a).map_err(address_error)?;
    }
    Ok(Call::Search {
        query,
        scope: SearchScope {
            address,
            since: p.optional("since", "a message id or omitted")?,
            limit: read_limit(p)?.unwrap_or(SEARCH_DEFAULT_LIMIT),
        },
    })
}

fn ttl(p: &Params) -> Result<u64, RpcError> {
    let rule = format!("an integer from 1 to {LEASE_MAX_TTL_S}");
    let ttl = p.optional("ttl_s", &rule)?.unwrap_or(LEASE_DEFAULT_TTL_S);
    if !(1..=LEASE_MAX_TTL_S).contains(&ttl) {
        return Err(RpcError::invalid_params(format!("ttl_s must be {rule}")));
    }
    Ok(ttl)
}

fn lease(p: &Params) -> Result<Call, RpcError> {
    let paths: Vec<String> = p.required("paths", STRINGS)?;
    if paths.is_empty() {
        return Err(RpcError::invalid_params("paths must not be empty"));
    }
    let reason: String = p.optional("reason", STRING)?.unwrap_or_default();
    if reason.len() > LEASE_REASON_MAX_BYTES {
        return Err(RpcError::invalid_params(format!(
            "reason must be at most {LEASE_REASON_MAX_BYTES} bytes"
        )));
    }
    Ok(Call::Lease(LeaseCall {
        paths: globs(paths, "paths")?,
        ttl_s: ttl(p)?,
        exclusive: p.optional("exclusive", "a boolean")?.unwrap_or(true),
        reason,
    }))
}

fn lease_renew(p: &Params) -> Result<Call, RpcError> {
    Ok(Call::LeaseRenew(LeaseRenewParams {
        lease_id: p.required("lease_id", "a lease id")?,
        ttl_s: Some(ttl(p)?),
    }))
}

fn lease_release(p: &Params) -> Result<Call, RpcError> {
    let ids: Option<Vec<String>> = p.optional("lease_ids", "a list of lease ids")?;
    let all: bool = p.optional("all", "a boolean")?.unwrap_or(false);
    match (ids, all) {
        (Some(_), true) | (None, false) => Err(RpcError::invalid_params(
            "give either lease_ids or all: true",
        )),
        (ids, _) => Ok(Call::LeaseRelease(ids)),
    }
}

fn watch(p: &Params) -> Result<Call, RpcError> {
    let include = p.optional::<Vec<String>>("include", STRINGS)?;
    if let Some(bad) = include.iter().flatten().find(|k| *k != WATCH_MESSAGES) {
        return Err(RpcError::invalid_params(format!(
            "unsupported include kind {bad:?}; only {WATCH_MESSAGES:?} is supported"
        )));
    }
    let filter = |name| match p.optional::<Vec<String>>(name, STRINGS)? {
        Some(patterns) => globs(patterns, name),
        None => Ok(GlobSet::everything()),
    };
    Ok(Call::Watch {
        from: filter("from_filter")?,
        to: filter("to_filter")?,
    })
}

fn address_error(e: AddressError) -> RpcError {
    RpcError::invalid_params(format!("invalid address: {e}"))
}
/// For the fuzz targets: validates `params` for `method` and panics if the
/// outcome breaks a rule — an error other than -32601/-32602, a hello flag
/// that disagrees with the method, or an accepted value outside the grammar.
#[cfg(feature = "fuzzing")]
pub fn check_parse(method: &str, params: &Params) {
    use peer_proto::identity::is_valid_topic;
    let parsed = parse(method, params);
    assert_eq!(parsed.is_hello, method == method::HELLO);
    let call = match parsed.call {
        Ok(call) => call,
        Err(e) if !method::ALL.contains(&method) => return assert_eq!(e.code, -32601),
        Err(e) => return assert_eq!(e.code, -32602, "{e:?}"),
    };
    match call {
        Call::Hello(h) => assert!(is_valid_sid(&h.sid) && is_valid_home(&h.home)),
        Call::SetAlias(alias) => assert!(alias.is_none_or(|a| is_valid_alias(&a))),
        Call::Send(p) => assert!(matches!(Address::parse(&p.to), Ok(Address::Home(_)))),
        Call::SendRemote {
            params,
            node,
            local,
        } => {
            assert!(matches!(Address::parse(&params.to), Ok(Address::Remote(r)) if r.node == node));
            assert!(matches!(Address::parse(&local), Ok(Address::Home(_))));
        }
        Call::Publish(PublishParams { topic, .. })
        | Call::Subscribe(SubscribeParams { topic, .. })
        | Call::Unsubscribe(TopicParams { topic }) => assert!(is_valid_topic(&topic)),
        Call::History(h) => {
            assert!(Address::parse(&h.address).is_ok());
            assert!((1..=HISTORY_MAX_LIMIT).contains(&h.limit()));
        }
        Call::Peek(p) => {
            assert!((1..=PEEK_MAX_ADDRESSES).contains(&p.addresses.len()));
            for a in &p.addresses {
                assert!(matches!(Address::parse(a), Ok(Address::Home(_))));
            }
            assert!((1..=HISTORY_MAX_LIMIT).contains(&p.limit()));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peer_proto::rpc::decode;

    fn parse_line(method: &str, params: &str) -> Result<Call, RpcError> {
        let line = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
        let env = decode(line.as_bytes()).unwrap();
        parse(env.method, &env.params).call
    }

    fn code(method: &str, params: &str) -> i64 {
        parse_line(method, params).unwrap_err().code
    }

    #[test]
    fn validates_every_method() {
        assert!(matches!(
            parse_line(
                "peer.hello",
                r#"{"sid":"sess_abcdefghijklmnop","home":"~/p"}"#
            ),
            Ok(Call::Hello(h)) if h.has_presence() && !h.wants_ack()
        ));
        assert_eq!(code("peer.hello", r#"{"sid":"x","home":"~"}"#), -32602);
        assert_eq!(
            code(
                "peer.hello",
                r#"{"sid":"sess_abcdefghijklmnop","home":"~/"}"#
            ),
            -32602
        );
        assert!(matches!(
            parse_line("peer.set_alias", r#"{"alias":""}"#),
            Ok(Call::SetAlias(None))
        ));
        assert_eq!(code("peer.set_alias", r#"{"alias":"Bad"}"#), -32602);
        assert_eq!(code("peer.set_alias", r#"{}"#), -32602);
        assert_eq!(code("peer.set_dm_filter", r#"{"patterns":[1]}"#), -32602);
        assert_eq!(code("peer.send", r#"{"to":"topic:x","body":1}"#), -32602);
        assert_eq!(code("peer.send", r#"{"to":"home:~","reply_to":5}"#), -32602);
        let Ok(Call::Send(sent)) = parse_line("peer.send", r#"{"to":"home:~"}"#) else {
            panic!()
        };
        assert_eq!(sent.body.get(), "null");
        assert_eq!(code("peer.publish", r#"{"topic":"a#b"}"#), -32602);
        assert_eq!(
            code("peer.subscribe", r#"{"topic":"t","replay":-1}"#),
            -32602
        );
        assert_eq!(
            code("peer.subscribe", r#"{"topic":"t","replay":1.5}"#),
            -32602
        );
        assert_eq!(
            code("peer.history", r#"{"address":"topic:t","limit":0}"#),
            -32602
        );
        assert_eq!(
            code("peer.history", r#"{"address":"topic:t","limit":1001}"#),
            -32602
        );
        assert!(matches!(
            parse_line("peer.history", r#"{"address":"topic:t"}"#),
            Ok(Call::History(h)) if h.limit() == 100
        ));
        assert_eq!(code("peer.watch", r#"{"include":["presence"]}"#), -32602);
        let many = format!(r#"{{"patterns":{:?}}}"#, vec!["*"; MAX_GLOBS + 1]);
        assert_eq!(code("peer.set_dm_filter", &many), -32602);
        let long = format!(r#"{{"to_filter":["{}"]}}"#, "a".repeat(MAX_GLOB_BYTES + 1));
        assert_eq!(code("peer.watch", &long), -32602);
        let home = format!("/{}", "h".repeat(2000));
        let hello = format!(r#"{{"sid":"sess_abcdefghijklmnop","home":"{home}"}}"#);
        assert_eq!(code("peer.hello", &hello), -32602);
        assert_eq!(code("peer.nope", r#"{}"#), -32601);
    }

    #[test]
    fn leases_are_validated() {
        assert!(matches!(
            parse_line("peer.lease", r#"{"paths":["src/*"]}"#),
            Ok(Call::Lease(l)) if l.exclusive && l.ttl_s == LEASE_DEFAULT_TTL_S && l.reason.is_empty()
        ));
        assert_eq!(code("peer.lease", r#"{"paths":[]}"#), -32602);
        assert_eq!(code("peer.lease", r#"{"paths":["a"],"ttl_s":0}"#), -32602);
        assert_eq!(code("peer.lease", r#"{"paths":["a"],"ttl_s":1e9}"#), -32602);
        assert_eq!(
            code("peer.lease", r#"{"paths":["a"],"exclusive":1}"#),
            -32602
        );
        assert_eq!(code("peer.lease_renew", r#"{}"#), -32602);
        assert_eq!(code("peer.lease_release", r#"{}"#), -32602);
        assert_eq!(
            code("peer.lease_release", r#"{"lease_ids":[],"all":true}"#),
            -32602
        );
        assert!(matches!(
            parse_line("peer.lease_release", r#"{"all":true}"#),
            Ok(Call::LeaseRelease(None))
        ));
        assert!(matches!(
            parse_line("peer.leases", r#"{}"#),
            Ok(Call::Leases(None))
        ));
    }

    #[test]
    fn peek_takes_home_addresses_only() {
        assert!(matches!(
            parse_line("peer.peek", r#"{"addresses":["home:~/p","home:~/p#tester"]}"#),
            Ok(Call::Peek(p)) if p.addresses.len() == 2 && p.limit() == 100
        ));
        assert_eq!(code("peer.peek", r#"{}"#), -32602);
        assert_eq!(code("peer.peek", r#"{"addresses":[]}"#), -32602);
        assert_eq!(code("peer.peek", r#"{"addresses":["topic:t"]}"#), -32602);
        assert_eq!(code("peer.peek", r#"{"addresses":["home:x"]}"#), -32602);
        assert_eq!(
            code("peer.peek", r#"{"addresses":["home:~"],"limit":0}"#),
            -32602
        );
        let many = format!(
            r#"{{"addresses":{:?}}}"#,
            vec!["home:~"; PEEK_MAX_ADDRESSES + 1]
        );
        assert_eq!(code("peer.peek", &many), -32602);
    }
}
