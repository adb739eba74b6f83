//! [ext] Daemon-wide memory budgets (`--max-buffered-input-bytes`,
//! `--max-queued-output-bytes`): many connections together cannot take the
//! daemon's memory; the ones holding much are cut off with an error, and the
//! others keep going.

use crate::support::*;
use serde_json::json;
use std::io::Write;

const MIB: usize = 1024 * 1024;

#[test]
fn unfinished_lines_of_many_clients_are_bounded_together() {
    let d = Daemon::start_with(&["--max-buffered-input-bytes", &MIB.to_string()]);
    let mut bystander = d.peer("~/ok");
    let mut other = d.peer("~/other");
    // Five clients each hold back 300 KiB of a line that never ends: 1.5 MiB.
    let start =
        br#"{"jsonrpc":"2.0","id":1,"method":"peer.send","params":{"to":"home:~/ok","body":""#;
    let mut floods: Vec<Client> = (0..5).map(|i| d.peer(&format!("~/flood{i}"))).collect();
    for flood in &mut floods {
        let mut stream = flood.stream().try_clone().unwrap();
        let _ = stream.write_all(start);
        let _ = stream.write_all(&vec![b'x'; 300 * 1024]);
    }
    let mut refused = 0;
    for flood in &mut floods {
        loop {
            match flood.next(std::time::Duration::from_millis(500)) {
                Next::Frame(frame) if is_presence(&frame) => continue,
                Next::Frame(frame) => {
                    let (code, message) = error_of(&frame).unwrap_or_else(|| panic!("{frame}"));
                    assert_eq!(code, PARSE_ERROR);
                    assert!(message.contains("too many unfinished lines"), "{message}");
                    refused += 1;
                }
                Next::Timeout | Next::Closed => break,
            }
        }
    }
    assert!(
        refused >= 1,
        "the budget was exceeded, so somebody was cut off"
    );
    assert!(refused < 5, "only as many as it took");
    // Everyone else is served.
    other.send_dm(&bystander.addr(), json!("still here"));
    assert_eq!(bystander.expect_message()["body"], "still here");
}

#[test]
fn replays_nobody_reads_are_bounded_together() {
    let d = Daemon::start_with(&["--max-queued-output-bytes", &MIB.to_string()]);
    let mut publisher = d.peer("~/pub");
    let body = "r".repeat(100 * 1024);
    for _ in 0..30 {
        publisher.publish("big", json!(body));
    }
    // Three clients ask for 3 MiB of replay each and never read it.
    let mut hoarders: Vec<Client> = (0..3).map(|i| d.peer(&format!("~/h{i}"))).collect();
    for h in &mut hoarders {
        h.send_json(
            &json!({"jsonrpc": "2.0", "id": 9, "method": "peer.subscribe",
                            "params": {"topic": "big", "replay": 30}}),
        );
    }
    let mut bystander = d.peer("~/ok");
    publisher.send_dm(&bystander.addr(), json!("still here"));
    assert_eq!(bystander.expect_message()["body"], "still here");
    // At least one hoarder was cut off (each alone is within its own limits).
    let closed = hoarders
        .iter_mut()
        .map(|h| loop {
            match h.next(std::time::Duration::from_millis(2000)) {
                Next::Frame(_) => continue,
                Next::Closed => break true,
                Next::Timeout => break false,
            }
        })
        .filter(|closed| *closed)
        .count();
    assert!(closed >= 1, "nobody was cut off");
    eventually("the cut to be logged", START_TIMEOUT, || {
        d.stderr().contains("output budget spent")
    });
}
