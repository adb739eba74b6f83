//! Turning a decoded envelope into a typed, validated [`Call`]. Runs on the
//! connection's own task, so parsing and validation of many clients proceed in
//! parallel and the router only ever sees well-formed values.

use peer_proto::address::{Address, AddressError};
use peer_proto::glob::GlobSet;
use peer_proto::identity::{is_valid_alias, is_valid_home, is_valid_sid, is_valid_topic};
use peer_proto::rpc::Params;
use peer_proto::{ErrorCode, RpcError};
use serde_json::value::RawValue;

/// Largest `limit` of `peer.history`.
pub const HISTORY_MAX_LIMIT: u32 = 1000;
/// Most patterns in one DM filter or watch filter.
pub const MAX_GLOBS: usize = 32;
/// Longest pattern in a DM filter or watch filter, in bytes. Matching costs up to
/// pattern length × address length per message, so both are bounded.
pub const MAX_GLOB_BYTES: usize = 256;
/// `limit` of `peer.history` when absent.
pub const HISTORY_DEFAULT_LIMIT: u32 = 100;

/// A validated request.
#[derive(Debug)]
pub enum Call {
    Hello(Hello),
    SetAlias {
        alias: Option<String>,
    },
    SetDmFilter {
        patterns: GlobSet,
    },
    Send {
        to: String,
        body: Box<RawValue>,
        reply_to: Option<String>,
    },
    Publish {
        topic: String,
        body: Box<RawValue>,
    },
    /// `since` (catch up after that message) wins over `replay` (the last N).
    Subscribe {
        topic: String,
        replay: u64,
        since: Option<String>,
    },
    Unsubscribe {
        topic: String,
    },
    ListPeers,
    ListTopics,
    History {
        address: String,
        since: Option<String>,
        limit: u32,
    },
    Watch {
        from: GlobSet,
        to: GlobSet,
    },
    Unwatch,
    Status,
    Ack {
        message_ids: Vec<String>,
    },
}

/// `peer.hello` params.
#[derive(Debug)]
pub struct Hello {
    pub sid: String,
    pub home: String,
    /// False for operator and CLI connections: not listed, no joined/left, no share
    /// of home broadcasts or queues.
    pub presence: bool,
    /// DMs stay pending until acknowledged with `peer.ack`.
    pub ack: bool,
}

/// What the router needs to order its checks: hello-first applies to every known
/// method but hello itself, even when its params are bad.
#[derive(Debug)]
pub struct Parsed {
    pub is_hello: bool,
    pub call: Result<Call, RpcError>,
}

const STRING: &str = "a string";
const STRINGS: &str = "a list of strings";

/// Validates `params` for `method` (a `&str`, or the envelope's `Cow<str>` as is).
pub fn parse(method: impl AsRef<str>, p: &Params) -> Parsed {
    let method = method.as_ref();
    let is_hello = method == "peer.hello";
    let call = match method {
        "peer.hello" => hello(p),
        "peer.set_alias" => set_alias(p),
        "peer.set_dm_filter" => p
            .required("patterns", STRINGS)
            .and_then(|v| globs(v, "patterns"))
            .map(|patterns| Call::SetDmFilter { patterns }),
        "peer.send" => send(p),
        "peer.publish" => topic(p).map(|topic| Call::Publish {
            topic,
            body: body(p),
        }),
        "peer.subscribe" => subscribe(p),
        "peer.unsubscribe" => topic(p).map(|topic| Call::Unsubscribe { topic }),
        "peer.list_peers" => Ok(Call::ListPeers),
        "peer.list_topics" => Ok(Call::ListTopics),
        "peer.history" => history(p),
        "peer.watch" => watch(p),
        "peer.unwatch" => Ok(Call::Unwatch),
        "peer.status" => Ok(Call::Status),
        "peer.ack" => p
            .required::<Vec<String>>("message_ids", "a list of message ids")
            .map(|message_ids| Call::Ack { message_ids }),
        _ => Err(RpcError::new(
            ErrorCode::MethodNotFound,
            format!("unknown method: {method}"),
        )),
    };
    Parsed { is_hello, call }
}

fn hello(p: &Params) -> Result<Call, RpcError> {
    let sid: String = p.required("sid", "'sess_' + 16 characters of [A-Za-z0-9_-]")?;
    if !is_valid_sid(&sid) {
        return Err(RpcError::invalid_params(
            "sid must be 'sess_' + 16 characters of [A-Za-z0-9_-]",
        ));
    }
    let home: String = p.required("home", STRING)?;
    if !is_valid_home(&home) {
        return Err(RpcError::invalid_params(
            "home must be '~', '~/path' or '/path' with no empty, '.' or '..' segment and no trailing '/'",
        ));
    }
    let presence = p.optional::<bool>("presence", "a boolean")?.unwrap_or(true);
    let ack = p.optional::<bool>("ack", "a boolean")?.unwrap_or(false);
    Ok(Call::Hello(Hello {
        sid,
        home,
        presence,
        ack,
    }))
}

fn set_alias(p: &Params) -> Result<Call, RpcError> {
    let alias: String = p.required("alias", "a string (empty to clear)")?;
    if alias.is_empty() {
        return Ok(Call::SetAlias { alias: None });
    }
    if !is_valid_alias(&alias) {
        return Err(RpcError::invalid_params(
            "alias must match ^[a-z][a-z0-9_-]{0,63}$ and not start with 'sess_'",
        ));
    }
    Ok(Call::SetAlias { alias: Some(alias) })
}

fn send(p: &Params) -> Result<Call, RpcError> {
    let to: String = p.required("to", "a home: address")?;
    match Address::parse(&to) {
        Ok(Address::Home(_)) => {}
        Ok(Address::Topic(_)) => {
            return Err(RpcError::invalid_params(
                "peer.send target must be a home: address",
            ))
        }
        Err(e) => return Err(address_error(e)),
    }
    let reply_to = p.optional::<String>("reply_to", "a string or omitted")?;
    Ok(Call::Send {
        to,
        body: body(p),
        reply_to,
    })
}

/// Any JSON value (the decoder has checked that clients can read it back); an
/// absent body is `null`, as in 0.1.
fn body(p: &Params) -> Box<RawValue> {
    match p.raw("body") {
        Some(raw) => raw.to_owned(),
        None => RawValue::from_string("null".to_owned()).expect("null is JSON"),
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
    let topic = topic(p)?;
    let replay = p
        .optional::<u64>("replay", "a non-negative integer")?
        .unwrap_or(0);
    let since = p.optional::<String>("since", "a message id or omitted")?;
    Ok(Call::Subscribe {
        topic,
        replay,
        since,
    })
}

fn history(p: &Params) -> Result<Call, RpcError> {
    let address: String = p.required("address", "an address")?;
    Address::parse(&address).map_err(address_error)?;
    let since = p.optional::<String>("since", "a message id or omitted")?;
    const LIMIT: &str = "an integer from 1 to 1000";
    let limit = p
        .optional::<u32>("limit", LIMIT)?
        .unwrap_or(HISTORY_DEFAULT_LIMIT);
    if !(1..=HISTORY_MAX_LIMIT).contains(&limit) {
        return Err(RpcError::invalid_params(format!("limit must be {LIMIT}")));
    }
    Ok(Call::History {
        address,
        since,
        limit,
    })
}

fn watch(p: &Params) -> Result<Call, RpcError> {
    let include = p.optional::<Vec<String>>("include", STRINGS)?;
    if let Some(bad) = include.iter().flatten().find(|k| *k != "messages") {
        return Err(RpcError::invalid_params(format!(
            "unsupported include kind {bad:?}; only \"messages\" is supported"
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
            Ok(Call::Hello(Hello {
                presence: true,
                ack: false,
                ..
            }))
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
            Ok(Call::SetAlias { alias: None })
        ));
        assert_eq!(code("peer.set_alias", r#"{"alias":"Bad"}"#), -32602);
        assert_eq!(code("peer.set_alias", r#"{}"#), -32602);
        assert_eq!(code("peer.set_dm_filter", r#"{"patterns":[1]}"#), -32602);
        assert_eq!(code("peer.send", r#"{"to":"topic:x","body":1}"#), -32602);
        assert_eq!(code("peer.send", r#"{"to":"home:~","reply_to":5}"#), -32602);
        let Ok(Call::Send { body, .. }) = parse_line("peer.send", r#"{"to":"home:~"}"#) else {
            panic!()
        };
        assert_eq!(body.get(), "null");
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
            Ok(Call::History { limit: 100, .. })
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
}
