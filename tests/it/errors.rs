//! Malformed input (SPEC §2): answered with the right error, and the
//! connection stays open and keeps working afterwards.

use crate::support::*;
use serde_json::{json, Value};

/// A lone session (nobody else connects, so no presence noise).
fn lone_session(d: &Daemon) -> Client {
    d.peer("~/solo")
}

/// Sends `line` (a newline is added) and asserts the reply is error `code`
/// with `id`; then checks the connection still serves requests.
fn assert_reply_error(c: &mut Client, line: &[u8], code: i64, id: Value) {
    let mut bytes = line.to_vec();
    bytes.push(b'\n');
    c.send_raw(&bytes);
    let frame = c.read_frame();
    let shown = String::from_utf8_lossy(line);
    let (got, message) =
        error_of(&frame).unwrap_or_else(|| panic!("{shown}: not an error: {frame}"));
    assert_eq!(got, code, "{shown}: {message}");
    assert_eq!(frame.get("id"), Some(&id), "{shown}: {frame}");
    assert_eq!(frame["jsonrpc"], "2.0", "{frame}");
    still_works(c);
}

fn still_works(c: &mut Client) {
    let frames = c.request("peer.list_topics", json!({}));
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert!(frames[0]["result"]["topics"].is_array(), "{frames:?}");
}

#[test]
fn invalid_json_is_a_parse_error_with_null_id() {
    let d = Daemon::start();
    let mut c = lone_session(&d);
    for line in [
        r#"{not json"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"peer.list_topics""#,
        r#"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"peer.list_topics"} trailing"#,
    ] {
        assert_reply_error(&mut c, line.as_bytes(), PARSE_ERROR, Value::Null);
    }
}

#[test]
fn non_object_json_is_an_invalid_request_with_null_id() {
    let d = Daemon::start();
    let mut c = lone_session(&d);
    for line in ["[1,2]", "42", r#""peer.list_topics""#, "true", "null"] {
        assert_reply_error(&mut c, line.as_bytes(), INVALID_REQUEST, Value::Null);
    }
}

#[test]
fn wrong_jsonrpc_version_is_an_invalid_request_with_its_id() {
    let d = Daemon::start();
    let mut c = lone_session(&d);
    let cases = [
        (r#"{"id":7,"method":"peer.list_topics"}"#, json!(7)),
        (
            r#"{"jsonrpc":"1.0","id":"abc","method":"peer.list_topics"}"#,
            json!("abc"),
        ),
        (
            r#"{"jsonrpc":2.0,"id":8,"method":"peer.list_topics"}"#,
            json!(8),
        ),
    ];
    for (line, id) in cases {
        assert_reply_error(&mut c, line.as_bytes(), INVALID_REQUEST, id);
    }
}

#[test]
fn non_string_method_is_an_invalid_request_with_its_id() {
    let d = Daemon::start();
    let mut c = lone_session(&d);
    let cases = [
        (r#"{"jsonrpc":"2.0","id":1,"method":5}"#, json!(1)),
        (r#"{"jsonrpc":"2.0","id":2,"method":null}"#, json!(2)),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":["peer.list_topics"]}"#,
            json!(3),
        ),
        (r#"{"jsonrpc":"2.0","id":"four"}"#, json!("four")),
    ];
    for (line, id) in cases {
        assert_reply_error(&mut c, line.as_bytes(), INVALID_REQUEST, id);
    }
}

#[test]
fn params_must_be_an_object_or_absent() {
    let d = Daemon::start();
    let mut c = lone_session(&d);
    for params in ["[1,2]", r#""x""#, "5", "true"] {
        let line =
            format!(r#"{{"jsonrpc":"2.0","id":11,"method":"peer.list_topics","params":{params}}}"#);
        assert_reply_error(&mut c, line.as_bytes(), INVALID_PARAMS, json!(11));
    }
    for line in [
        r#"{"jsonrpc":"2.0","id":12,"method":"peer.list_topics","params":null}"#,
        r#"{"jsonrpc":"2.0","id":13,"method":"peer.list_topics"}"#,
    ] {
        c.send_line(line);
        let frame = c.read_frame();
        assert!(frame["result"]["topics"].is_array(), "{line}: {frame}");
    }
}

#[test]
fn unknown_method_is_method_not_found() {
    let d = Daemon::start();
    let mut c = lone_session(&d);
    for method in ["peer.nope", "", "list_peers"] {
        let line = json!({"jsonrpc": "2.0", "id": 21, "method": method}).to_string();
        assert_reply_error(&mut c, line.as_bytes(), METHOD_NOT_FOUND, json!(21));
    }
}

#[test]
fn notification_is_executed_and_never_answered() {
    let d = Daemon::start();
    let mut b = d.peer("~/b");
    let mut a = d.connect();
    // Even hello may be a notification.
    let a_sid = sid();
    a.send_json(
        &json!({"jsonrpc": "2.0", "method": "peer.hello", "params": {"sid": a_sid, "home": "~/a"}}),
    );
    let to = b.addr();
    a.send_json(
        &json!({"jsonrpc": "2.0", "method": "peer.send", "params": {"to": to, "body": "silent"}}),
    );
    // Failing notifications are not answered either.
    a.send_json(&json!({"jsonrpc": "2.0", "method": "peer.nope"}));
    a.send_json(&json!({"jsonrpc": "2.0", "method": "peer.send", "params": {"to": "bad"}}));
    let m = b.expect_message();
    assert_eq!(
        (m["body"].clone(), m["from"].clone()),
        (json!("silent"), json!(format!("home:~/a#{a_sid}")))
    );
    let frames = a.request("peer.list_topics", json!({}));
    let not_presence: Vec<&Value> = frames.iter().filter(|f| !is_presence(f)).collect();
    assert_eq!(not_presence.len(), 1, "{frames:?}");
    assert!(frames.last().unwrap()["result"].is_object(), "{frames:?}");
}

#[test]
fn json_nested_too_deep_is_a_parse_error_and_nothing_breaks() {
    let d = Daemon::start();
    let mut c = lone_session(&d);
    let depth = 100_000;
    let line = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert_reply_error(&mut c, line.as_bytes(), PARSE_ERROR, Value::Null);
    let nested_params = format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"peer.publish","params":{{"topic":"t","body":{}{}}}}}"#,
        "{\"a\":".repeat(depth),
        "1".to_string() + &"}".repeat(depth)
    );
    c.send_line(&nested_params);
    let frame = c.read_frame();
    assert!(error_of(&frame).is_some(), "deep body accepted: {frame}");
    still_works(&mut c);
    // The daemon is still serving everyone.
    d.peer("~/other").list_peers();
}

#[test]
fn invalid_utf8_gets_an_error_and_the_connection_survives() {
    let d = Daemon::start();
    let mut c = lone_session(&d);
    let mut line =
        br#"{"jsonrpc":"2.0","id":9,"method":"peer.publish","params":{"topic":"t","body":""#
            .to_vec();
    line.extend_from_slice(b"\xff\xfe\xc3(");
    line.extend_from_slice(br#""}}"#);
    line.push(b'\n');
    c.send_raw(&line);
    let frame = c.read_frame();
    assert!(
        error_of(&frame).is_some(),
        "invalid UTF-8 accepted: {frame}"
    );
    assert!(
        matches!(&frame["id"], Value::Null) || frame["id"] == 9,
        "{frame}"
    );
    still_works(&mut c);
    assert!(c.history(json!({"address": "topic:t"})).is_empty());
    c.send_raw(b"\xff\xfe\n");
    let frame = c.read_frame();
    assert!(error_of(&frame).is_some(), "{frame}");
    still_works(&mut c);
}
