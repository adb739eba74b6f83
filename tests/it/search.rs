//! `peer.search` (SPEC §15): full-text search over stored bodies, kept in step
//! with trimming, and filled in for old rows after an upgrade.

use crate::support::sidecar::{text_of, Sidecar};
use crate::support::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The message ids a search answered with, in its order.
fn ids(result: &Value) -> Vec<String> {
    result["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_owned())
        .collect()
}

fn id_set(result: &Value) -> BTreeSet<String> {
    ids(result).into_iter().collect()
}

fn id_of(answer: &Value) -> String {
    answer["message_id"].as_str().unwrap().to_owned()
}

#[test]
fn search_finds_words_phrases_and_prefixes_within_its_scope() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    let flaky = id_of(&a.publish("ci", json!("the parser test is flaky on ARM")));
    let dm = id_of(&a.send_dm(&b.addr(), json!({"note": "Flaky tests again", "n": 3})));
    let other = id_of(&b.publish("ci", json!("deploy finished")));

    let hits = b.call("peer.search", json!({"query": "flaky"}));
    assert_eq!(id_set(&hits), BTreeSet::from([flaky.clone(), dm.clone()]));
    let phrase = b.call("peer.search", json!({"query": "\"parser test\""}));
    assert_eq!(ids(&phrase), [flaky.as_str()]);
    let prefix = b.call("peer.search", json!({"query": "deplo*"}));
    assert_eq!(ids(&prefix), [other.as_str()]);
    // To an address, or from a session or any session of a home.
    let to_b = b.call(
        "peer.search",
        json!({"query": "flaky", "address": b.addr()}),
    );
    assert_eq!(ids(&to_b), [dm.as_str()]);
    let from_a = b.call(
        "peer.search",
        json!({"query": "flaky OR deploy", "address": a.home_addr()}),
    );
    assert!(
        ids(&from_a).is_empty(),
        "OR is a word, so nothing holds all three"
    );
    let from_a = b.call(
        "peer.search",
        json!({"query": "flaky", "address": a.home_addr()}),
    );
    assert_eq!(id_set(&from_a), BTreeSet::from([flaky.clone(), dm.clone()]));
    let after = b.call("peer.search", json!({"query": "flaky", "since": flaky}));
    assert_eq!(ids(&after), [dm.as_str()]);
    let one = b.call("peer.search", json!({"query": "flaky", "limit": 1}));
    assert_eq!(ids(&one).len(), 1);

    for bad in [
        json!({}),
        json!({"query": " \"\" * "}),
        json!({"query": "x".repeat(2000)}),
        json!({"query": "x", "limit": 0}),
        json!({"query": "x", "address": "nowhere"}),
    ] {
        b.assert_err("peer.search", bad, -32602);
    }
    // Whatever a user types is words, never query syntax.
    let odd = b.call("peer.search", json!({"query": "\"unbalanced -NOT: (x"}));
    assert!(ids(&odd).is_empty());
}

#[test]
fn messages_trimmed_from_a_ring_are_not_found() {
    let d = Daemon::start_with(&["--topic-maxlen", "2"]);
    let mut a = d.peer("~/a");
    let first = id_of(&a.publish("t", json!("needle one")));
    let second = id_of(&a.publish("t", json!("needle two")));
    let third = id_of(&a.publish("t", json!("needle three")));
    let hits = a.call("peer.search", json!({"query": "needle"}));
    assert_eq!(id_set(&hits), BTreeSet::from([second, third]));
    assert!(!ids(&hits).contains(&first));
}

/// Makes the database at `db` what schema 3 left: no search index (and no
/// federation tables, which came after).
fn downgrade_to_schema_3(db: &std::path::Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch(
        "DROP TRIGGER messages_fts_forget;
         DROP TABLE messages_fts;
         DELETE FROM meta WHERE key IN ('fts_backfill_below', 'fts_indexed_upto');
         DROP TABLE fed_outbox;
         DROP TABLE fed_offsets;
         PRAGMA user_version = 3;",
    )
    .unwrap();
}

#[test]
fn search_finds_old_and_new_rows_after_an_upgrade_from_schema_3() {
    const OLD: usize = 1500;
    // A ring long enough to keep every entry.
    let mut d = Daemon::start_with(&["--topic-maxlen", "5000"]);
    let mut a = d.peer("~/a");
    let mut old = BTreeSet::new();
    for i in 0..OLD {
        old.insert(id_of(
            &a.publish("log", json!(format!("entry {i} of the archive"))),
        ));
    }
    drop(a);
    d.terminate();
    downgrade_to_schema_3(&d.state_dir().join("peerd.db"));

    d.restart();
    let mut b = d.peer("~/b");
    let new = id_of(&b.publish("log", json!("a fresh archive entry")));
    // Served at once; the old rows fill in behind.
    let status = eventually("old rows to be indexed", TIMEOUT, || {
        let s = b.call("peer.status", json!({}));
        (s["unindexed"] == json!(0)).then_some(s)
    });
    assert_eq!(status["unindexed"], json!(0));
    let hits = b.call("peer.search", json!({"query": "archive", "limit": 1000}));
    let mut expected = old.clone();
    expected.insert(new.clone());
    let found = id_set(&hits);
    assert_eq!(found.len(), 1000);
    assert!(found.is_subset(&expected));
    let fresh = b.call("peer.search", json!({"query": "fresh archive"}));
    assert_eq!(ids(&fresh), [new]);
    for i in [0, OLD / 2, OLD - 1] {
        let one = b.call("peer.search", json!({"query": format!("\"entry {i} of\"")}));
        assert_eq!(ids(&one).len(), 1, "entry {i}");
        assert!(old.contains(&ids(&one)[0]), "entry {i}");
    }
    let version: i64 = query_db(&d.state_dir().join("peerd.db"), "PRAGMA user_version");
    assert_eq!(version, 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_search_tool_answers_through_the_sidecar() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    a.publish("plans", json!("refactor the lease matcher"));
    let s = Sidecar::builder(d.socket())
        .identity(&home_in(d.dir(), "s"), &sid())
        .arg("--tools")
        .arg("core,search")
        .start()
        .await;
    let r = s.call("peer_search", json!({"query": "matcher"})).await;
    assert!(
        text_of(&r).contains("refactor the lease matcher"),
        "{}",
        text_of(&r)
    );
    let err = s.tool_error("peer_search", json!({"query": "**"})).await;
    assert!(err.contains("query must contain a word"), "{err}");
}
