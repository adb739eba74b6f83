//! [ext] A batch whose transaction fails (here: another process holds the
//! database's write lock past `--db-busy-timeout-ms`) is undone whole: every
//! request in it gets exactly one answer, nothing of it is stored, and no
//! alias claim or session it made outlives it (SPEC §6). Requests that write
//! nothing are not held back by the lock.

use crate::support::*;
use serde_json::json;

const INTERNAL_ERROR: i64 = -32603;

#[test]
fn a_failed_commit_answers_everyone_and_leaves_nothing_behind() {
    let d = Daemon::start_with(&["--db-busy-timeout-ms", "100"]);
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    // Queued DMs make the alias claim and the hello below write (they drain).
    a.send_dm("home:~/a#boss", json!("for the boss"));
    a.send_dm("home:~/c", json!("for c"));
    let c_sid = sid();
    // An ack-mode session holding a DM: settling it writes.
    let h_sid = sid();
    let (mut h, _) = d.hello_when_free(json!({"sid": h_sid, "home": "~/h", "ack": true}));
    b.expect_presence("peer.peer_joined", &h_sid);
    let held = a.send_dm("home:~/h", json!("held"))["message_id"].clone();
    assert_eq!(h.expect_message()["message_id"], held);

    // Another process takes the write lock and keeps it.
    let db = rusqlite::Connection::open(d.state_dir().join("peerd.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();

    let (code, message) = a.call_err("peer.send", json!({"to": b.home_addr(), "body": "lost?"}));
    assert_eq!(code, INTERNAL_ERROR, "{message}");
    let (code, _) = a.call_err("peer.set_alias", json!({"alias": "boss"}));
    assert_eq!(code, INTERNAL_ERROR);
    let mut c = d.connect();
    let (code, _) = c.call_err("peer.hello", json!({"sid": c_sid, "home": "~/c"}));
    assert_eq!(code, INTERNAL_ERROR);
    // The failed hello left no session behind: the same sid is not "in use".
    let (code, _) = c.call_err("peer.hello", json!({"sid": c_sid, "home": "~/c"}));
    assert_eq!(code, INTERNAL_ERROR);
    // The failing operation's own request is answered too.
    let (code, _) = h.call_err("peer.ack", json!({"message_ids": [held]}));
    assert_eq!(code, INTERNAL_ERROR);
    // An error answer stands whatever the batch; what writes nothing works.
    a.assert_err("peer.send", json!({"to": "topic:x"}), INVALID_PARAMS);
    let peers = a.list_peers();
    assert_eq!(peers.len(), 3, "a, b and h, not c: {peers:?}");
    assert!(
        peers.iter().all(|p| p["sessions"][0]["alias"].is_null()),
        "the alias claim was undone: {peers:?}"
    );
    assert_eq!(a.subscribe("news")["ok"], true);
    b.expect_silence(100);

    db.execute_batch("ROLLBACK").unwrap();
    drop(db);

    // The alias is free and its queued DM still waits for it; so does c's.
    let frames = a.request("peer.set_alias", json!({"alias": "boss"}));
    assert_eq!(messages(&frames).len(), 1, "{frames:?}");
    let frames = c.hello_frames(&c_sid, "~/c");
    assert_eq!(bodies(&messages(&frames)), vec![json!("for c")]);
    // The DM is still held, so acknowledging it settles it now.
    assert_eq!(
        h.call("peer.ack", json!({"message_ids": [held]}))["acked"],
        1
    );
    // The failed send was never stored; a new one goes through.
    let history = a.history(json!({"address": b.home_addr()}));
    assert!(history.is_empty(), "{history:?}");
    a.send_dm(&b.home_addr(), json!("kept"));
    assert_eq!(b.expect_message()["body"], "kept");
}

#[test]
fn a_database_deleted_under_the_daemon_stops_sends_being_answered_as_stored() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    a.send_dm("home:~/b", json!("stored"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(d.state_dir().join(format!("peerd.db{suffix}")));
    }
    for _ in 0..3 {
        let (code, message) = a.call_err("peer.send", json!({"to": "home:~/b", "body": "lost"}));
        assert_eq!(code, INTERNAL_ERROR, "{message}");
    }
    eventually("the loss to be logged once", START_TIMEOUT, || {
        d.stderr()
            .matches("deleted or replaced while the daemon runs")
            .count()
            == 1
    });
}
