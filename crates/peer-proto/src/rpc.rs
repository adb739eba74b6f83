//! JSON-RPC 2.0 framing for `blemees-peer/1`: decoding one inbound line into an
//! envelope (id, method, params) with the exact error of SPEC §2 for each kind of
//! bad input, typed access to params with field-specific error messages, and
//! encoding of responses and notifications as newline-terminated frames.
//!
//! Decoding borrows from the line buffer (`&RawValue`), so a multi-megabyte body
//! is validated once and copied once, never turned into a tree of `Value`s.

use crate::error::{ErrorCode, RpcError};
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// Deepest `[`/`{` nesting accepted in one line. serde_json skips raw values
/// without a depth limit, so `decode` walks every line with a checking visitor,
/// which is subject to serde_json's recursion limit: a body nested deeper would
/// crash recipients whose parser recurses (Python's `json` gives up near 1000).
/// The constant documents that limit (a property test pins it). It is serde_json's own
/// limit — its recursion budget of 128 runs out at the 128th level — so that any
/// frame the daemon forwards (a body sits as deep in a `peer.message` as in the
/// `peer.send` that carried it) can be read back by a Rust client.
pub const MAX_JSON_DEPTH: usize = 127;

/// The `"2.0"` every request and response carries.
pub const JSONRPC_VERSION: &str = "2.0";

/// One decoded request or notification.
#[derive(Debug)]
pub struct Envelope<'a> {
    /// `None` for a notification (no `id` member); `Some("null")` for an explicit null.
    pub id: Option<&'a RawValue>,
    /// Borrowed from the line unless the client escaped a character in it.
    pub method: Cow<'a, str>,
    /// The params object, members kept raw.
    pub params: Params<'a>,
}

/// A line that could not become an [`Envelope`]: the error to answer with, and the
/// id to answer to (`None` means answer with `"id": null`).
#[derive(Debug)]
pub struct Rejected<'a> {
    /// The request's id, if it had one.
    pub id: Option<&'a RawValue>,
    /// The error to answer with.
    pub error: RpcError,
    /// Whether the line was a notification (then nothing is answered, SPEC §2),
    /// which is only known once the line parsed as an object.
    pub is_notification: bool,
}

/// The members of a request object that `decode` looks at, each kept raw; any
/// other member is skipped unread.
#[derive(Default)]
struct RawEnvelope<'a> {
    jsonrpc: Option<&'a RawValue>,
    /// `None` when absent; an explicit `null` is `Some("null")`.
    id: Option<&'a RawValue>,
    method: Option<&'a RawValue>,
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Member {
    Jsonrpc,
    Id,
    Method,
    Params,
    #[serde(other)]
    Other,
}

/// Hand-written because a derived impl refuses a repeated member, which would turn
/// a valid object into "not a request"; here the last one wins, as with Python's
/// `json` (0.1) and with `Params`. Only a JSON object deserializes.
impl<'de> Deserialize<'de> for RawEnvelope<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = RawEnvelope<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut env = RawEnvelope::default();
                while let Some(member) = map.next_key()? {
                    let slot = match member {
                        Member::Jsonrpc => &mut env.jsonrpc,
                        Member::Id => &mut env.id,
                        Member::Method => &mut env.method,
                        Member::Params => &mut env.params,
                        Member::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = Some(map.next_value()?);
                }
                Ok(env)
            }
        }
        d.deserialize_map(Members)
    }
}

/// A JSON string, borrowed from the line unless it contains escapes.
#[derive(Deserialize)]
struct Str<'a>(#[serde(borrow)] Cow<'a, str>);

/// The string a raw member holds, if it is one.
fn string(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Str>(raw?.get()).ok().map(|s| s.0)
}

/// Decodes one line (without its newline).
pub fn decode(line: &[u8]) -> Result<Envelope<'_>, Rejected<'_>> {
    let reject = |id, error, is_notification| Rejected {
        id,
        error,
        is_notification,
    };
    // One checking walk of the whole line (strings, numbers, and nesting up to
    // MAX_JSON_DEPTH, where serde_json's recursion limit stops it); the envelope
    // is then read without re-validating, and bodies stay raw.
    if let Err(e) = serde_json::from_slice::<Readable>(line) {
        let message = match e.to_string().contains("recursion limit exceeded") {
            true => format!("invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels"),
            false => format!("invalid JSON: {e}"),
        };
        let error = RpcError::new(ErrorCode::ParseError, message);
        return Err(reject(None, error, false));
    }
    let raw = match serde_json::from_slice::<RawEnvelope>(line) {
        Ok(raw) => raw,
        Err(_) => {
            let error = RpcError::new(ErrorCode::InvalidRequest, "request must be a JSON object");
            return Err(reject(None, error, false));
        }
    };
    let is_notification = raw.id.is_none();
    if string(raw.jsonrpc).as_deref() != Some(JSONRPC_VERSION) {
        let error = RpcError::new(ErrorCode::InvalidRequest, "jsonrpc must be \"2.0\"");
        return Err(reject(raw.id, error, is_notification));
    }
    let Some(method) = string(raw.method) else {
        let error = RpcError::new(ErrorCode::InvalidRequest, "method must be a string");
        return Err(reject(raw.id, error, is_notification));
    };
    let params = match raw.params {
        None => Params::default(),
        Some(p) if p.get() == "null" => Params::default(),
        Some(p) => match Params::from_raw(p) {
            Some(params) => params,
            None => {
                let error = RpcError::invalid_params("params must be an object");
                return Err(reject(raw.id, error, is_notification));
            }
        },
    };
    Ok(Envelope {
        id: raw.id,
        method,
        params,
    })
}

/// The members of a `params` object, each kept raw until a method asks for it with
/// the type it needs.
#[derive(Debug, Default)]
pub struct Params<'a> {
    members: Vec<(String, &'a RawValue)>,
}

impl<'a> Params<'a> {
    fn from_raw(raw: &'a RawValue) -> Option<Self> {
        let map: std::collections::BTreeMap<String, &'a RawValue> =
            serde_json::from_str(raw.get()).ok()?;
        Some(Params {
            members: map.into_iter().collect(),
        })
    }

    /// The raw member, if present (a JSON `null` counts as present here).
    pub fn raw(&self, name: &str) -> Option<&'a RawValue> {
        self.members
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }

    /// A required member; `what` completes "`name` must be …" in the error.
    pub fn required<T: DeserializeOwned>(&self, name: &str, what: &str) -> Result<T, RpcError> {
        self.optional(name, what)?
            .ok_or_else(|| RpcError::invalid_params(format!("{name} must be {what}")))
    }

    /// An optional member: absent or `null` → `None`.
    pub fn optional<T: DeserializeOwned>(
        &self,
        name: &str,
        what: &str,
    ) -> Result<Option<T>, RpcError> {
        match self.raw(name) {
            None => Ok(None),
            Some(v) if v.get() == "null" => Ok(None),
            Some(v) => serde_json::from_str(v.get())
                .map(Some)
                .map_err(|_| RpcError::invalid_params(format!("{name} must be {what}"))),
        }
    }
}

/// Deserialises any JSON value, keeping nothing, but checking everything:
/// skipping a value (`IgnoredAny`, raw capture) does not validate its strings or
/// numbers, and serde_json would then accept and forward numbers beyond
/// ±1.8e308 and unpaired `\uD800`-style escapes that every parsing client (ours,
/// Python's) fails on, losing the message.
struct Readable;

impl<'de> Deserialize<'de> for Readable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ReadableVisitor)
    }
}

struct ReadableVisitor;

impl<'de> serde::de::Visitor<'de> for ReadableVisitor {
    type Value = Readable;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_str<E>(self, _: &str) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_unit<E>(self) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Readable, A::Error> {
        while a.next_element::<Readable>()?.is_some() {}
        Ok(Readable)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Readable, A::Error> {
        while a.next_entry::<Readable, Readable>()?.is_some() {}
        Ok(Readable)
    }
}

#[derive(Serialize)]
struct Response<'a, T> {
    jsonrpc: &'static str,
    id: &'a RawValue,
    result: T,
}

#[derive(Serialize)]
struct ErrorResponse<'a> {
    jsonrpc: &'static str,
    id: Option<&'a RawValue>,
    error: &'a RpcError,
}

#[derive(Serialize)]
struct Notification<'a, T> {
    jsonrpc: &'static str,
    method: &'a str,
    params: T,
}

#[derive(Serialize)]
struct Request<'a, T> {
    jsonrpc: &'static str,
    id: u64,
    method: &'a str,
    params: T,
}

/// Initial buffer of a response or error frame: most are about 100 bytes.
const ANSWER_CAPACITY: usize = 128;
/// Initial buffer of a notification or request frame: one carrying a typical
/// message fits.
const MESSAGE_CAPACITY: usize = 512;

/// `value` as one line. `capacity` is the expected size: serialising into an
/// empty Vec would reallocate it once per doubling.
fn frame(value: &impl Serialize, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    // Serialising plain structs, strings and raw JSON into a Vec cannot fail.
    serde_json::to_writer(&mut out, value).expect("frame serialises");
    out.push(b'\n');
    out
}

/// `{"jsonrpc":"2.0","id":…,"result":…}\n`
pub fn response_frame(id: &RawValue, result: &impl Serialize) -> Vec<u8> {
    frame(
        &Response {
            jsonrpc: JSONRPC_VERSION,
            id,
            result,
        },
        ANSWER_CAPACITY,
    )
}

/// `{"jsonrpc":"2.0","id":…|null,"error":{code,message}}\n`
pub fn error_frame(id: Option<&RawValue>, error: &RpcError) -> Vec<u8> {
    frame(
        &ErrorResponse {
            jsonrpc: JSONRPC_VERSION,
            id,
            error,
        },
        ANSWER_CAPACITY,
    )
}

/// `{"jsonrpc":"2.0","method":…,"params":…}\n`
pub fn notification_frame(method: &str, params: &impl Serialize) -> Vec<u8> {
    frame(
        &Notification {
            jsonrpc: JSONRPC_VERSION,
            method,
            params,
        },
        MESSAGE_CAPACITY,
    )
}

/// `{"jsonrpc":"2.0","id":N,"method":…,"params":…}\n` — for clients.
pub fn request_frame(id: u64, method: &str, params: &impl Serialize) -> Vec<u8> {
    frame(
        &Request {
            jsonrpc: JSONRPC_VERSION,
            id,
            method,
            params,
        },
        MESSAGE_CAPACITY,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn code_of(line: &str) -> (Option<String>, i64, bool) {
        let r = decode(line.as_bytes()).unwrap_err();
        (
            r.id.map(|i| i.get().to_owned()),
            r.error.code,
            r.is_notification,
        )
    }

    #[test]
    fn decodes_requests() {
        let env = decode(br#"{"jsonrpc":"2.0","id":7,"method":"peer.send","params":{"to":"home:~","body":{"a":[1]}}}"#).unwrap();
        assert_eq!(env.id.unwrap().get(), "7");
        assert_eq!(env.method, "peer.send");
        assert_eq!(env.params.raw("body").unwrap().get(), r#"{"a":[1]}"#);
        let to: String = env.params.required("to", "a string").unwrap();
        assert_eq!(to, "home:~");
        let env = decode(br#"{"jsonrpc":"2.0","method":"x"}"#).unwrap();
        assert!(env.id.is_none());
        let env = decode(br#"{"jsonrpc":"2.0","id":null,"method":"x","params":null}"#).unwrap();
        assert_eq!(env.id.unwrap().get(), "null");
    }

    #[test]
    fn rejects_per_spec() {
        assert_eq!(code_of("{nope"), (None, -32700, false));
        assert_eq!(code_of("[1,2]"), (None, -32600, false));
        assert_eq!(code_of("42"), (None, -32600, false));
        assert_eq!(
            code_of(r#"{"id":3,"method":"m"}"#),
            (Some("3".into()), -32600, false)
        );
        assert_eq!(
            code_of(r#"{"jsonrpc":"1.0","id":"a","method":"m"}"#),
            (Some("\"a\"".into()), -32600, false)
        );
        assert_eq!(
            code_of(r#"{"jsonrpc":"2.0","id":4,"method":5}"#),
            (Some("4".into()), -32600, false)
        );
        assert_eq!(
            code_of(r#"{"jsonrpc":"2.0","id":4,"method":"m","params":[1]}"#),
            (Some("4".into()), -32602, false)
        );
        assert_eq!(
            code_of(r#"{"jsonrpc":"2.0","method":"m","params":"s"}"#),
            (None, -32602, true)
        );
        let deep = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{{\"b\":{}{}}}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(code_of(&deep), (None, -32700, false));
        assert_eq!(code_of("{\"a\":\"\u{0}\"}").1, -32700);
        assert!(decode(
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"b\":\"\xff\"}}"
        )
        .is_err());
    }

    #[test]
    fn repeated_members_and_escapes_are_plain_json() {
        // Both were answered -32600 although the line is a valid request (the
        // decode oracle, serde_json's Value, reads them as one).
        let env = decode(br#"{"jsonrpc":"2.0","id":1,"id":2,"method":"a","method":"b"}"#).unwrap();
        assert_eq!((env.id.unwrap().get(), &*env.method), ("2", "b"));
        let env = decode(br#"{"jsonrpc":"\u0032.0","method":"peer\u002ehello"}"#).unwrap();
        assert_eq!(env.method, "peer.hello");
    }

    #[test]
    fn depth_limit_is_what_serde_json_can_read_back() {
        // Found by the property tests: at 128 levels decode accepted a line that
        // serde_json (and so every Rust client receiving the body) refuses.
        let line = |depth: usize| {
            let body = format!("{}{}", "[".repeat(depth - 2), "]".repeat(depth - 2));
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"m","params":{{"b":{body}}}}}"#)
        };
        let deepest = line(MAX_JSON_DEPTH);
        assert!(decode(deepest.as_bytes()).is_ok());
        assert!(serde_json::from_str::<Value>(&deepest).is_ok());
        let too_deep = line(MAX_JSON_DEPTH + 1);
        assert_eq!(code_of(&too_deep), (None, -32700, false));
        assert!(serde_json::from_str::<Value>(&too_deep).is_err());
    }

    #[test]
    fn depth_ignores_brackets_in_strings() {
        let line = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{{\"b\":\"{}\\\"\"}}}}",
            "[".repeat(1000)
        );
        assert!(decode(line.as_bytes()).is_ok());
    }

    #[test]
    fn typed_params_name_the_field() {
        let env =
            decode(br#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"limit":"x"}}"#).unwrap();
        let e = env
            .params
            .optional::<u32>("limit", "an integer 1..1000")
            .unwrap_err();
        assert_eq!(e.code, -32602);
        assert_eq!(e.message, "limit must be an integer 1..1000");
        assert_eq!(env.params.optional::<u32>("absent", "x").unwrap(), None);
        assert!(env.params.required::<u32>("absent", "x").is_err());
    }

    #[test]
    fn lines_clients_could_not_parse_back_are_parse_errors() {
        let line = |body: &str| {
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"m","params":{{"body":{body}}}}}"#)
        };
        let ok = line(r#"{"k":[null,true,-1e300,"\ud83d\ude00",{}]}"#);
        assert!(decode(ok.as_bytes()).is_ok());
        for bad in [
            "1e400",
            r#""\ud800""#,
            r#"[1,{"a":"\udc00x"}]"#,
            r#""\ud83d6\ude00""#,
        ] {
            assert_eq!(code_of(&line(bad)), (None, -32700, false), "{bad}");
        }
    }

    #[test]
    fn frames() {
        let id = RawValue::from_string("\"x\"".into()).unwrap();
        let f: Value = serde_json::from_slice(&response_frame(&id, &json!({"ok": true}))).unwrap();
        assert_eq!(
            f,
            json!({"jsonrpc": "2.0", "id": "x", "result": {"ok": true}})
        );
        let f = error_frame(None, &RpcError::new(ErrorCode::ParseError, "bad"));
        assert!(f.ends_with(b"\n"));
        let f: Value = serde_json::from_slice(&f).unwrap();
        assert_eq!(
            f,
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "bad"}})
        );
        let f: Value = serde_json::from_slice(&notification_frame("peer.x", &json!({}))).unwrap();
        assert_eq!(
            f,
            json!({"jsonrpc": "2.0", "method": "peer.x", "params": {}})
        );
    }
}
