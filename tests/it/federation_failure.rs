//! Federation when this node's own storage fails (SPEC §16): a message from
//! another node whose batch could not be stored is read again from JetStream,
//! not skipped by the messages after it.

use crate::support::federation::*;
use crate::support::nats::NatsServer;
use crate::support::*;
use serde_json::json;
use std::time::Duration;

/// Nodes alpha and beta on `nats`; beta, with `beta_flags`, gives up on a
/// write lock held by another process after 100 ms, so a test can make its
/// batches fail.
fn alpha_and_beta(nats: &NatsServer, beta_flags: &[&str]) -> (Daemon, Daemon) {
    let url = nats.url();
    let alpha = Daemon::start_with(&["--nats", &url, "--node", "alpha"]);
    let mut flags = vec![
        "--nats",
        &url,
        "--node",
        "beta",
        "--db-busy-timeout-ms",
        "100",
    ];
    flags.extend_from_slice(beta_flags);
    (alpha, Daemon::start_with(&flags))
}

#[test]
fn a_remote_message_whose_batch_failed_is_read_again() {
    let nats = NatsServer::start();
    let (alpha, beta) = alpha_and_beta(&nats, &[]);
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

/// A backlog of publishes crosses in envelopes longer than the topic's ring
/// here, each stored over more than one batch. While they stream in, a batch
/// fails: the envelope it was storing is read again, and must not store and
/// deliver a second time what the ring no longer holds. The subscriber sees
/// each publish once, in order.
#[test]
fn envelopes_longer_than_the_ring_are_delivered_once_when_a_batch_fails() {
    const N: usize = 1500;
    /// Received before another process takes the write lock: a few
    /// envelopes in (they hold up to 256 messages).
    const BEFORE_LOCK: usize = 300;
    let mut nats = NatsServer::start();
    let (alpha, beta) = alpha_and_beta(&nats, &["--topic-maxlen", "10"]);
    wait_link_up(&alpha);
    wait_link_up(&beta);
    let mut s = beta.peer("~/s");
    s.subscribe("t");
    let mut a = alpha.peer("~/a");

    let mut publish = |bodies: std::ops::Range<usize>| -> Vec<String> {
        bodies
            .map(|i| {
                a.publish("t", json!(i))["message_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    // NATS down: the publishes wait in alpha's outbox, to cross in long runs.
    nats.stop();
    let mut sent = publish(0..N);
    nats.restart();
    let mut got = receive_all(&mut s, &sent[..BEFORE_LOCK]);
    let db = rusqlite::Connection::open(beta.state_dir().join("peerd.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    // Usually the backlog is still streaming in; should it all be stored
    // already, these make sure a batch fails.
    sent.extend(publish(N..N + 300));
    eventually("beta to fail storing a batch", FED_TIMEOUT, || {
        beta.stderr().contains("store batch failed")
    });
    db.execute_batch("ROLLBACK").unwrap();
    drop(db);

    let missing: Vec<&String> = sent.iter().filter(|id| !ids(&got).contains(id)).collect();
    got.extend(receive_all(&mut s, &missing));
    s.expect_silence(500);
    assert_eq!(ids(&got), sent, "each publish once, in order");
}
