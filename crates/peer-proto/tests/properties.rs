//! Property tests: `decode`, the identity and address grammar and the globs are
//! checked against the reference implementations in `oracle/` on generated
//! input. Case counts are kept small enough for all of this to take a few
//! seconds of `cargo test`; the fuzz targets in `fuzz/` run the same checks for
//! as long as one likes. Failing inputs are saved in
//! `properties.proptest-regressions` beside this file and replayed first on
//! every run.

mod oracle;

use peer_proto::address::{Address, HomeAddress, Target};
use peer_proto::glob::Glob;
use peer_proto::identity;
use peer_proto::rpc::{self, MAX_JSON_DEPTH};
use peer_proto::{ErrorCode, RpcError};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::value::RawValue;
use serde_json::Value;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

// ---- JSON-ish text -------------------------------------------------------

/// String literals with escapes, brackets, quotes and non-ASCII inside.
fn json_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-z0-9 ._]{0,4}",
        1 => select(vec![r#"\""#, r"\\", r"\n", r"\/", r"\u002e", r"\ud83d\ude00", "[{", "]}", "é€😀", "\u{2028}"])
            .prop_map(str::to_owned),
    ];
    vec(piece, 0..4).prop_map(|p| format!("\"{}\"", p.concat()))
}

fn json_number() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,2})?([eE][-+]?[0-9]{1,2})?",
        1 => select(vec!["1e400", "-0", "18446744073709551616"]).prop_map(str::to_owned),
    ]
}

/// Member names, the envelope's own (plain and escaped) among them.
fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => select(vec![r#""jsonrpc""#, r#""id""#, r#""method""#, r#""params""#, r#""j\u0073onrpc""#, r#""body""#])
            .prop_map(str::to_owned),
        1 => json_string(),
    ]
}

/// Whitespace JSON allows between tokens.
fn ws() -> impl Strategy<Value = &'static str> {
    select(vec!["", "", "", " ", "\t", "\r\n "])
}

fn object(members: Vec<(String, String)>) -> String {
    let members: Vec<String> = members
        .into_iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect();
    format!("{{{}}}", members.join(","))
}

fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        select(vec!["null", "true", "false"]).prop_map(str::to_owned),
        json_number(),
        json_string(),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            (vec(inner.clone(), 0..4), ws())
                .prop_map(|(items, ws)| format!("[{ws}{}]", items.join(","))),
            vec((json_key(), inner), 0..4).prop_map(object),
        ]
    })
}

/// Objects that are mostly requests: the envelope members with right and wrong
/// values, in any order, sometimes repeated, among other members.
fn envelope() -> impl Strategy<Value = String> {
    let member = prop_oneof![
        3 => json_value().prop_map(|v| ("\"id\"".to_owned(), v)),
        4 => prop_oneof![4 => Just("\"2.0\"".to_owned()), 1 => Just("\"\\u0032.0\"".to_owned()), 1 => json_value()]
            .prop_map(|v| ("\"jsonrpc\"".to_owned(), v)),
        4 => prop_oneof![3 => json_string(), 1 => json_value()].prop_map(|v| ("\"method\"".to_owned(), v)),
        3 => prop_oneof![3 => vec((json_key(), json_value()), 0..4).prop_map(object), 1 => json_value()]
            .prop_map(|v| ("\"params\"".to_owned(), v)),
        1 => (json_key(), json_value()),
    ];
    (vec(member, 0..6), ws()).prop_map(|(members, ws)| format!("{ws}{}{ws}", object(members)))
}

/// A line damaged at one place: cut short, or a byte inserted.
fn damaged(line: String) -> impl Strategy<Value = Vec<u8>> {
    let len = line.len();
    (0..=len, any::<u8>(), any::<bool>()).prop_map(move |(at, byte, cut)| {
        let mut bytes = line.clone().into_bytes();
        if cut {
            bytes.truncate(at);
        } else {
            bytes.insert(at, byte);
        }
        bytes
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn decode_agrees_with_spec_on_any_bytes(line in vec(any::<u8>(), 0..64)) {
        oracle::check_decode(&line);
    }

    #[test]
    fn decode_agrees_with_spec_on_requests(line in envelope()) {
        oracle::check_decode(line.as_bytes());
    }

    #[test]
    fn decode_agrees_with_spec_on_damaged_requests(line in envelope().prop_flat_map(damaged)) {
        oracle::check_decode(&line);
    }

    #[test]
    fn params_members_keep_their_raw_text(
        members in vec(("[a-z]{1,6}", json_value()), 0..5),
        ws in ws(),
    ) {
        // Values no client could parse back (1e400, lone surrogates) make the
        // whole line a parse error; that is checked by the decode properties.
        prop_assume!(members.iter().all(|(_, v)| serde_json::from_str::<serde_json::Value>(v).is_ok()));
        let params = object(members.iter().map(|(k, v)| (format!("\"{k}\""), format!("{ws}{v}{ws}"))).collect());
        let line = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"m","params":{params}}}"#);
        let env = rpc::decode(line.as_bytes()).map_err(|r| TestCaseError::fail(format!("{:?}", r.error)))?;
        // With repeated names the last one is the member.
        for (k, v) in members.iter().rev() {
            if members.iter().rev().find(|(k2, _)| k2 == k).map(|(_, v2)| v2) == Some(v) {
                prop_assert_eq!(env.params.raw(k).map(RawValue::get), Some(v.as_str()));
            }
        }
    }

    #[test]
    fn nesting_beyond_the_limit_is_a_parse_error(depth in 1..MAX_JSON_DEPTH + 8, object in any::<bool>()) {
        let (open, close) = if object { (r#"{"a":"#, "}") } else { ("[", "]") };
        let body = format!("{}0{}", open.repeat(depth), close.repeat(depth));
        // The envelope and params objects are two levels more.
        let line = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"m","params":{{"body":{body}}}}}"#);
        let result = rpc::decode(line.as_bytes());
        if depth + 2 > MAX_JSON_DEPTH {
            let rejected = result.unwrap_err();
            prop_assert_eq!((rejected.error.code, rejected.id.is_none()), (-32700, true));
        } else {
            prop_assert!(result.is_ok());
        }
        prop_assert!(oracle::check_decode(line.as_bytes()));
    }

    #[test]
    fn frames_are_one_line_of_json(
        method in "\\PC{0,12}",
        text in "(\\PC|[\n\r\u{2028}\u{0}\"\\\\]){0,24}",
        // Ids come from a request line, which has no newline in it.
        id in json_value()
            .prop_map(|id| id.replace('\n', " "))
            .prop_filter("a Value", |id| serde_json::from_str::<Value>(id).is_ok()),
        code in select(vec![ErrorCode::ParseError, ErrorCode::InvalidParams, ErrorCode::AliasTaken]),
    ) {
        let id = RawValue::from_string(id).unwrap();
        let params = serde_json::json!({ "text": text, "list": [text, 1.5, null] });
        let error = RpcError::new(code, text.clone());
        for (frame, expected) in [
            (rpc::response_frame(&id, &params), serde_json::json!({"jsonrpc": "2.0", "id": id, "result": params})),
            (rpc::error_frame(Some(&id), &error), serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": code.code(), "message": text}})),
            (rpc::error_frame(None, &error), serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": code.code(), "message": text}})),
            (rpc::notification_frame(&method, &params), serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params})),
        ] {
            prop_assert_eq!(frame.iter().position(|&b| b == b'\n'), Some(frame.len() - 1));
            prop_assert_eq!(serde_json::from_slice::<Value>(&frame).unwrap(), expected);
        }
    }
}

// ---- identity and addresses ----------------------------------------------

fn valid_sid() -> impl Strategy<Value = String> {
    "sess_[A-Za-z0-9_-]{16}"
}

fn valid_alias() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,63}".prop_filter("not sid-like", |a| !a.starts_with("sess_"))
}

fn valid_topic() -> impl Strategy<Value = String> {
    "[^/#][^#]{0,80}"
}

fn valid_home() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        "[a-zA-Z0-9_ é-]{1,6}",
        "\\.[a-z][a-z.]{0,2}",
        "\\.\\.[a-z]{1,2}"
    ];
    (select(vec!["~", "/"]), vec(segment, 0..4)).prop_map(|(root, segs)| {
        match (root, segs.is_empty()) {
            (root, true) => root.to_owned(),
            ("~", false) => format!("~/{}", segs.join("/")),
            (_, false) => format!("/{}", segs.join("/")),
        }
    })
}

/// One small edit of the kind that separates valid from invalid.
fn mutated(s: String) -> impl Strategy<Value = String> {
    let edits = select(vec![
        "insert", "delete", "upper", "slash", "dotdot", "dot", "empty", "hash", "sid", "long",
        "unicode",
    ]);
    (
        edits,
        any::<prop::sample::Index>(),
        select(vec![
            'a', 'Z', '0', '_', '-', '.', '/', '#', '~', ' ', 'é', '\n',
        ]),
    )
        .prop_map(move |(edit, at, c)| {
            let mut s = s.clone();
            let at = s
                .char_indices()
                .map(|(i, _)| i)
                .chain([s.len()])
                .nth(at.index(s.chars().count() + 1))
                .unwrap();
            match edit {
                "insert" => s.insert(at, c),
                "delete" if at < s.len() => {
                    s.remove(at);
                }
                "upper" => s = s.to_uppercase(),
                "slash" => s.push('/'),
                "dotdot" => s.push_str("/.."),
                "dot" => s.insert_str(at, "/./"),
                "empty" => s.insert_str(at, "//"),
                "hash" => s.insert(at, '#'),
                "sid" => s.insert_str(0, "sess_"),
                "long" => s.push_str(&"x".repeat(250)),
                "unicode" => s.insert(at, 'ü'),
                _ => {}
            }
            s
        })
}

fn any_identity() -> impl Strategy<Value = String> {
    prop_oneof![valid_sid(), valid_alias(), valid_topic(), valid_home()]
}

fn check_validators(s: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(identity::is_valid_sid(s), oracle::sid(s), "sid {:?}", s);
    prop_assert_eq!(
        identity::is_valid_alias(s),
        oracle::alias(s),
        "alias {:?}",
        s
    );
    prop_assert_eq!(
        identity::is_valid_topic(s),
        oracle::topic(s),
        "topic {:?}",
        s
    );
    prop_assert_eq!(identity::is_valid_home(s), oracle::home(s), "home {:?}", s);
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn valid_identities_are_accepted(sid in valid_sid(), alias in valid_alias(), topic in valid_topic(), home in valid_home()) {
        prop_assert!(identity::is_valid_sid(&sid));
        prop_assert!(identity::is_valid_alias(&alias));
        prop_assert!(identity::is_valid_topic(&topic));
        prop_assert!(identity::is_valid_home(&home));
        let to_sid = format!("home:{home}#{sid}");
        let to_alias = format!("home:{home}#{alias}");
        let to_topic = format!("topic:{topic}");
        prop_assert_eq!(
            Address::parse(&to_sid),
            Ok(Address::Home(HomeAddress { home: &home, target: Some(Target::Sid(&sid)) }))
        );
        prop_assert_eq!(
            Address::parse(&to_alias),
            Ok(Address::Home(HomeAddress { home: &home, target: Some(Target::Alias(&alias)) }))
        );
        prop_assert_eq!(Address::parse(&to_topic), Ok(Address::Topic(&topic)));
    }

    #[test]
    fn validators_agree_with_the_grammar_on_mutations(s in any_identity().prop_flat_map(mutated)) {
        check_validators(&s)?;
    }

    #[test]
    fn validators_agree_with_the_grammar_on_any_string(s in "\\PC{0,40}") {
        check_validators(&s)?;
    }

    #[test]
    fn address_parse_agrees_with_the_grammar(
        scheme in select(vec!["home:", "topic:", "hom:", "", "Home:", "home@n-1:", "home@a.b:", "home@:", "home@x"]),
        body in prop_oneof![valid_home(), valid_topic()].prop_flat_map(mutated),
        target in proptest::option::of(prop_oneof![valid_sid(), valid_alias()].prop_flat_map(mutated)),
    ) {
        let address = match target {
            Some(t) => format!("{scheme}{body}#{t}"),
            None => format!("{scheme}{body}"),
        };
        prop_assert_eq!(Address::parse(&address), oracle::address(&address), "{:?}", address);
    }
}

// ---- globs -----------------------------------------------------------------

/// Patterns and texts over a few characters, so that sets, ranges, negation and
/// stars meet often; `^ \ & ~ |` are special to the regex Python builds.
fn glob_pattern() -> impl Strategy<Value = String> {
    "[ab*?\\[\\]!/^\\\\&~|é-]{0,10}"
}

fn glob_text() -> impl Strategy<Value = String> {
    "[ab/\\[\\]!^\\\\é-]{0,10}"
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn glob_matches_like_python_fnmatchcase(pattern in glob_pattern(), text in glob_text()) {
        oracle::check_glob(&pattern, &text);
    }
}

proptest! {
    #![proptest_config(config(32))]

    /// A backtracking matcher takes exponential time on these; ours is
    /// O(pattern × text), about 10⁵ steps each, so even 32 of them run in
    /// milliseconds. A hang here is the failure.
    #[test]
    fn hostile_globs_do_not_backtrack(stars in 8..40usize, len in 1000..4000usize, sep in "[a?]") {
        let pattern = format!("{}b", format!("*{sep}").repeat(stars));
        let glob = Glob::new(&pattern);
        let text = "a".repeat(len);
        prop_assert!(!glob.matches(&text));
        prop_assert!(glob.matches(&(text + "b")));
    }
}
