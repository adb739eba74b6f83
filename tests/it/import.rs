//! [ext] First start on a state dir written by the Python 0.1 daemon.

use crate::support::*;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

const B_SID: &str = "sess_importedBBBBBBBB";

fn message(id: &str, to: &str, body: Value, ts: f64) -> Value {
    json!({
        "message_id": id,
        "from": "home:~/old#sess_oldoldoldoldold1",
        "from_alias": "elder",
        "to": to,
        "body": body,
        "reply_to": null,
        "ts": ts,
    })
}

fn write_jsonl(path: &Path, lines: &[String]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_file(path, &(lines.join("\n") + "\n"));
}

/// A 0.1 state dir: a queue for B's sid (with corrupt lines), one for the
/// home `~/c`, and a topic ring.
fn write_0_1_state(state: &Path) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let to_b = format!("home:~/b#{B_SID}");
    let dms_b = vec![
        message("msg_import_b_1", &to_b, json!("first"), 1_700_000_000.5),
        message("msg_import_b_2", &to_b, json!({"n": 2}), 1_700_000_001.5),
    ];
    let dms_c = vec![message(
        "msg_import_c_1",
        "home:~/c",
        json!([3]),
        1_700_000_002.5,
    )];
    let topic: Vec<Value> = (0..3)
        .map(|i| {
            message(
                &format!("msg_import_t_{i}"),
                "topic:log",
                json!(i),
                1_700_000_010.0 + i as f64,
            )
        })
        .collect();
    let mut b_lines: Vec<String> = dms_b.iter().map(Value::to_string).collect();
    b_lines.insert(1, "this line is corrupt".to_string());
    b_lines.push(r#"{"not": "a message"}"#.to_string());
    write_jsonl(&state.join("dms/0a1b2c3d4e5f6071.jsonl"), &b_lines);
    write_jsonl(
        &state.join("dms/1b2c3d4e5f607182.jsonl"),
        &dms_c.iter().map(Value::to_string).collect::<Vec<_>>(),
    );
    write_jsonl(
        &state.join("topics/2c3d4e5f60718293.jsonl"),
        &topic.iter().map(Value::to_string).collect::<Vec<_>>(),
    );
    (dms_b, dms_c, topic)
}

fn start_on_0_1_state() -> (Daemon, Vec<Value>, Vec<Value>, Vec<Value>) {
    let b = Daemon::builder();
    let (dms_b, dms_c, topic) = write_0_1_state(&b.dir().join("state"));
    (b.start(), dms_b, dms_c, topic)
}

fn same_messages(got: &[Value], want: &[Value]) {
    assert_eq!(ids(got), ids(want), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        for field in ["from", "from_alias", "to", "body", "reply_to"] {
            assert_eq!(g[field], w[field], "{field} of {g}");
        }
        let (gt, wt) = (g["ts"].as_f64().unwrap(), w["ts"].as_f64().unwrap());
        assert!((gt - wt).abs() < 0.001, "ts {gt} vs {wt}");
    }
}

#[test]
fn messages_of_a_0_1_state_dir_are_in_history() {
    let (d, dms_b, dms_c, topic) = start_on_0_1_state();
    let mut x = d.peer("~/x");
    let to_b = format!("home:~/b#{B_SID}");
    same_messages(&x.history(json!({"address": to_b})), &dms_b);
    same_messages(&x.history(json!({"address": "home:~/c"})), &dms_c);
    same_messages(&x.history(json!({"address": "topic:log"})), &topic);
    let frames = x.request("peer.subscribe", json!({"topic": "log", "replay": 2}));
    same_messages(&messages(&frames), &topic[1..]);
}

#[test]
fn queued_dms_of_a_0_1_state_dir_are_still_queued() {
    let (d, dms_b, dms_c, _) = start_on_0_1_state();
    let mut b = d.connect();
    same_messages(&messages(&b.hello_frames(B_SID, "~/b")), &dms_b);
    let mut c = d.connect();
    same_messages(&messages(&c.hello_frames(&sid(), "~/c")), &dms_c);
}

#[test]
fn imported_files_move_aside_and_are_not_imported_twice() {
    let (mut d, dms_b, _, topic) = start_on_0_1_state();
    let state = d.state_dir().to_path_buf();
    let jsonl_under = |dir: &Path| -> usize {
        fn walk(dir: &Path, n: &mut usize) {
            for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, n);
                } else if path.extension().is_some_and(|e| e == "jsonl") {
                    *n += 1;
                }
            }
        }
        let mut n = 0;
        walk(dir, &mut n);
        n
    };
    assert_eq!(jsonl_under(&state.join("dms")), 0);
    assert_eq!(jsonl_under(&state.join("topics")), 0);
    assert_eq!(jsonl_under(&state.join("imported-0.1")), 3);

    d.kill9();
    d.restart();
    let mut x = d.peer("~/x");
    let to_b = format!("home:~/b#{B_SID}");
    same_messages(&x.history(json!({"address": to_b})), &dms_b);
    same_messages(&x.history(json!({"address": "topic:log"})), &topic);
}
