//! Federation when this node's own storage fails (SPEC §16): a message from
//! another node whose batch could not be stored is read again from JetStream,
//! not skipped by the messages after it.

use crate::support::nats::NatsServer;
use crate::support::*;
use serde_json::json;
use std::time::Duration;

#[test]
fn a_remote_message_whose_batch_failed_is_read_again() {
    let nats = NatsServer::start();
    let url = nats.url();
    let alpha = Daemon::start_with(&["--nats", &url, "--node", "alpha"]);
    let beta = Daemon::start_with(&[
        "--nats",
        &url,
        "--node",
        "beta",
        "--db-busy-timeout-ms",
        "100",
    ]);
    let mut a = alpha.peer("~/a");
    let b_sid = sid();
    let (mut b, _) = beta.hello_when_free(json!({"sid": b_sid, "home": "~/b"}));
    let to = format!("home@beta:~/b#{b_sid}");

    // Another process holds beta's write lock: storing what arrives fails.
    let db = rusqlite::Connection::open(beta.state_dir().join("peerd.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let first = a.send_dm(&to, json!("first"))["message_id"].clone();
    eventually("beta to fail storing it", Duration::from_secs(10), || {
        beta.stderr().contains("store batch failed")
    });
    b.expect_silence(200);
    db.execute_batch("ROLLBACK").unwrap();
    drop(db);

    let second = a.send_dm(&to, json!("second"))["message_id"].clone();
    let got: Vec<_> = (0..2)
        .map(|_| b.expect_message()["message_id"].clone())
        .collect();
    assert_eq!(got, [first, second]);
    b.expect_silence(300);
}
