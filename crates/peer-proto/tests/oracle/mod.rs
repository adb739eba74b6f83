//! Reference implementations that the property tests (`tests/properties.rs`) and
//! the fuzz targets (`fuzz/`) hold peer-proto to. Each one is written from SPEC
//! §1–§2 independently of the code under test — the grammar as regexes, JSON-RPC
//! classification over serde_json's `Value`, globs as Python's own
//! `fnmatch.fnmatchcase` — so that a misreading would have to be made twice to
//! go unnoticed. The fuzz targets include this file by path, so both check the
//! same rules; each includer uses only some of them.
#![allow(dead_code)]

use peer_proto::address::{Address, AddressError, HomeAddress, RemoteAddress, Target};
use peer_proto::rpc;
use regex::Regex;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// A regex compiled once per call site.
macro_rules! re {
    ($pattern:expr) => {{
        static RE: OnceLock<Regex> = OnceLock::new();
        RE.get_or_init(|| Regex::new($pattern).expect("oracle regex"))
    }};
}

/// One clean path segment: not empty, not `.`, not `..`, no `#`.
const SEGMENT: &str = r"(?:[^/.#][^/#]*|\.[^/.#][^/#]*|\.\.[^/#]+)";

pub(crate) fn sid(s: &str) -> bool {
    re!(r"^sess_[A-Za-z0-9_-]{16}$").is_match(s)
}

pub(crate) fn alias(s: &str) -> bool {
    re!(r"^[a-z][a-z0-9_-]{0,63}$").is_match(s) && !s.starts_with("sess_")
}

pub(crate) fn topic(s: &str) -> bool {
    re!(r"^[^/#][^#]*$").is_match(s) && s.len() <= 256
}

pub(crate) fn home(s: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(&format!(r"^(?:~|~(?:/{SEGMENT})+|/|(?:/{SEGMENT})+)$")).unwrap())
        .is_match(s)
}

/// `Address::parse` as SPEC §1 reads, with its error precedence: scheme, then the
/// part after the first `#`, then the home.
pub(crate) fn address(s: &str) -> Result<Address<'_>, AddressError> {
    if let Some(c) = re!(r"^topic:((?s).*)$").captures(s) {
        let name = c.get(1).unwrap().as_str();
        return if topic(name) {
            Ok(Address::Topic(name))
        } else {
            Err(AddressError::Topic)
        };
    }
    if let Some(c) = re!(r"^home@([^:]*):((?s).*)$").captures(s) {
        let (node, rest) = (c.get(1).unwrap().as_str(), c.get(2).unwrap().as_str());
        if !re!(r"^[A-Za-z0-9_-]{1,64}$").is_match(node) {
            return Err(AddressError::Node);
        }
        let home = home_address(rest)?;
        return Ok(Address::Remote(RemoteAddress { node, rest, home }));
    }
    let rest = s.strip_prefix("home:").ok_or(AddressError::Scheme)?;
    home_address(rest).map(Address::Home)
}

/// What follows `home:` (or `home@<node>:`).
fn home_address(rest: &str) -> Result<HomeAddress<'_>, AddressError> {
    let c = re!(r"^([^#]*)(?:#((?s).*))?$").captures(rest).unwrap();
    let target = match c.get(2).map(|t| t.as_str()) {
        None => None,
        Some(t) if sid(t) => Some(Target::Sid(t)),
        Some(t) if alias(t) => Some(Target::Alias(t)),
        Some(_) => return Err(AddressError::Target),
    };
    let home = c.get(1).unwrap().as_str();
    if !self::home(home) {
        return Err(AddressError::Home);
    }
    Ok(HomeAddress { home, target })
}

/// What SPEC §2 says `decode` must make of a line.
#[derive(Debug, PartialEq)]
pub(crate) enum Decoded {
    Request {
        id: Option<Value>,
        method: String,
        params: serde_json::Map<String, Value>,
    },
    Rejected {
        code: i64,
        id: Option<Value>,
        is_notification: bool,
    },
}

/// The expected decoding of `line`, or None when serde_json's `Value` cannot
/// stand in for a JSON parser: numbers beyond f64 and lone surrogate escapes are
/// valid JSON text (RFC 8259 §6, §8.2) that `decode` rightly passes through raw.
pub(crate) fn decode(line: &[u8]) -> Option<Decoded> {
    let rejected = |code, id, is_notification| Decoded::Rejected {
        code,
        id,
        is_notification,
    };
    let value: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => {
            let msg = e.to_string();
            // Value's recursion limit is rpc::MAX_JSON_DEPTH, so "too deep" lands here too.
            return (!msg.contains("number out of range")
                && !msg.contains("surrogate")
                && !msg.contains("invalid unicode code point"))
            .then(|| rejected(-32700, None, false));
        }
    };
    let Value::Object(mut obj) = value else {
        return Some(rejected(-32600, None, false));
    };
    let id = obj.remove("id");
    let is_notification = id.is_none();
    if obj.get("jsonrpc") != Some(&Value::from("2.0")) {
        return Some(rejected(-32600, id, is_notification));
    }
    let Some(Value::String(method)) = obj.remove("method") else {
        return Some(rejected(-32600, id, is_notification));
    };
    match obj.remove("params") {
        None | Some(Value::Null) => Some(Decoded::Request {
            id,
            method,
            params: Default::default(),
        }),
        Some(Value::Object(params)) => Some(Decoded::Request { id, method, params }),
        Some(_) => Some(rejected(-32602, id, is_notification)),
    }
}

/// Panics unless `rpc::decode` agrees with [`decode`] on `line`; returns whether
/// the line was in the oracle's domain.
pub(crate) fn check_decode(line: &[u8]) -> bool {
    let actual = rpc::decode(line);
    let Some(expected) = decode(line) else {
        return false;
    };
    // A raw member `Value` cannot hold (a lone surrogate escape inside a key,
    // which `Value` tolerates in the whole line but not on its own) is outside
    // what this oracle can judge.
    let readable =
        |raw: &serde_json::value::RawValue| serde_json::from_str::<Value>(raw.get()).is_ok();
    let raws: Vec<&serde_json::value::RawValue> = match &actual {
        Ok(env) => env
            .id
            .into_iter()
            .chain(match &expected {
                Decoded::Request { params, .. } => {
                    params.keys().filter_map(|k| env.params.raw(k)).collect()
                }
                Decoded::Rejected { .. } => Vec::new(),
            })
            .collect(),
        Err(r) => r.id.into_iter().collect(),
    };
    if !raws.into_iter().all(readable) {
        return false;
    }
    let value = |raw: &serde_json::value::RawValue| -> Value {
        serde_json::from_str(raw.get()).expect("raw member is JSON")
    };
    let actual = match actual {
        Ok(env) => {
            let params = match &expected {
                // Compare the members the oracle knows about, each re-read from its raw text.
                Decoded::Request { params, .. } => params
                    .keys()
                    .filter_map(|k| Some((k.clone(), value(env.params.raw(k)?))))
                    .collect(),
                Decoded::Rejected { .. } => Default::default(),
            };
            Decoded::Request {
                id: env.id.map(value),
                method: env.method.into_owned(),
                params,
            }
        }
        Err(r) => Decoded::Rejected {
            code: r.error.code,
            id: r.id.map(value),
            is_notification: r.is_notification,
        },
    };
    assert_eq!(
        actual,
        expected,
        "line: {:?}",
        String::from_utf8_lossy(line)
    );
    true
}

/// Python's `fnmatch.fnmatchcase`, asked through one long-lived `python3`
/// process: one JSON `[pattern, text]` line in, `1`, `0` or `E` (Python raised)
/// out.
pub(crate) struct Fnmatch {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

const FNMATCH_PY: &str = r#"
import fnmatch, json, sys
for line in sys.stdin.buffer:
    pattern, text = json.loads(line)
    try:
        answer = "1" if fnmatch.fnmatchcase(text, pattern) else "0"
    except Exception:
        answer = "E"
    sys.stdout.write(answer + "\n")
    sys.stdout.flush()
"#;

impl Fnmatch {
    /// The shared process, started on first use.
    pub(crate) fn shared() -> &'static Mutex<Fnmatch> {
        static PROCESS: OnceLock<Mutex<Fnmatch>> = OnceLock::new();
        PROCESS.get_or_init(|| {
            let mut child = Command::new("python3")
                .args(["-W", "ignore", "-c", FNMATCH_PY])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("python3 runs");
            let stdin = child.stdin.take().unwrap();
            let stdout = BufReader::new(child.stdout.take().unwrap());
            Mutex::new(Fnmatch {
                _child: child,
                stdin,
                stdout,
            })
        })
    }

    /// Python's answer, or None when Python itself raised.
    pub(crate) fn matches(&mut self, pattern: &str, text: &str) -> Option<bool> {
        let mut line = serde_json::to_vec(&(pattern, text)).unwrap();
        line.push(b'\n');
        self.stdin.write_all(&line).expect("python3 reads");
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).expect("python3 answers");
        match answer.trim_end() {
            "1" => Some(true),
            "0" => Some(false),
            "E" => None,
            other => panic!("python3 said {other:?}"),
        }
    }
}

/// Panics unless `Glob` agrees with Python on `pattern` against `text`.
pub(crate) fn check_glob(pattern: &str, text: &str) {
    let expected = Fnmatch::shared().lock().unwrap().matches(pattern, text);
    if let Some(expected) = expected {
        let actual = peer_proto::glob::Glob::new(pattern).matches(text);
        assert_eq!(actual, expected, "pattern {pattern:?} text {text:?}");
    }
}
