//! The inbound line limit: longer lines are refused, anything smaller works.

use crate::support::*;
use serde_json::json;
use std::io::Write;

/// A send request whose line is about `bytes` long.
fn send_line_of(to: &str, bytes: usize) -> (String, String) {
    let body: String = (0..bytes)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let line = json!({"jsonrpc": "2.0", "id": 1, "method": "peer.send", "params": {"to": to, "body": body}})
        .to_string();
    (line, body)
}

#[test]
fn line_over_the_limit_is_a_parse_error_then_the_connection_closes() {
    let d = Daemon::start_with(&["--max-line-bytes", "1048576"]);
    let mut bystander = d.peer("~/ok");
    let mut big = d.peer("~/big");
    let (line, _) = send_line_of(&bystander.addr(), 1_500_000);
    // The daemon may stop reading once over the limit: ignore write errors.
    let mut stream = big.stream().try_clone().unwrap();
    let _ = stream.write_all(line.as_bytes());
    let _ = stream.write_all(b"\n");
    let frames: Vec<_> = big
        .expect_closed()
        .into_iter()
        .filter(|f| !is_presence(f))
        .collect();
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(
        error_of(&frames[0]).map(|e| e.0),
        Some(PARSE_ERROR),
        "{frames:?}"
    );
    assert_eq!(frames[0].get("id"), Some(&json!(null)), "{frames:?}");

    // Nothing was delivered and everyone else is fine.
    let frames = bystander.request("peer.list_topics", json!({}));
    assert!(messages(&frames).is_empty(), "{frames:?}");
    let to = bystander.addr();
    let mut other = d.peer("~/other");
    assert_eq!(other.send_dm(&to, json!("still here"))["delivered"], 1);
    assert_eq!(bystander.expect_message()["body"], "still here");
}

#[test]
fn body_of_3_5_megabytes_under_the_default_limit_arrives_intact() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    let (line, body) = send_line_of(&b.addr(), 3_500_000);
    a.send_line(&line);
    let resp = a.frames_until_response(&json!(1)).pop().unwrap();
    assert_eq!(resp["result"]["delivered"], 1, "{resp}");
    let m = b.expect_message();
    assert_eq!(m["body"].as_str().map(str::len), Some(body.len()));
    assert!(m["body"] == body.as_str(), "body altered in transit");
}

#[test]
fn line_just_under_a_configured_limit_works() {
    let d = Daemon::start_with(&["--max-line-bytes", "1048576"]);
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    let (line, body) = send_line_of(&b.addr(), 1_000_000);
    assert!(line.len() < 1_048_576);
    a.send_line(&line);
    let resp = a.frames_until_response(&json!(1)).pop().unwrap();
    assert_eq!(resp["result"]["delivered"], 1, "{resp}");
    assert!(b.expect_message()["body"] == body.as_str());
}

/// [ext] A connection that never finishes its first line is closed after
/// `--first-line-timeout-ms`; one that said something keeps its time.
#[test]
fn a_connection_that_never_finishes_its_first_line_is_closed() {
    let d = Daemon::start_with(&["--first-line-timeout-ms", "300"]);
    let mut silent = d.connect();
    let mut partial = d.connect();
    partial.send_raw(br#"{"jsonrpc":"2.0","#);
    let mut talker = d.peer("~/t");
    assert!(silent.expect_closed().is_empty());
    assert!(partial.expect_closed().is_empty());
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(talker.list_peers().len(), 1, "a session that spoke stays");
}
