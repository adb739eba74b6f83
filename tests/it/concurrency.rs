//! Many connections at once, races, and misbehaving clients.

use crate::support::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Barrier};
use std::thread;

#[test]
fn hundreds_of_concurrent_sessions_are_all_served() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 130;
    let d = Daemon::start();
    let socket = d.socket().to_path_buf();
    let clients: Vec<Client> = thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let socket = &socket;
                scope.spawn(move || {
                    let home = format!("~/crowd/{t}");
                    (0..PER_THREAD)
                        .map(|_| {
                            let mut c = Client::connect(socket);
                            c.hello(&sid(), &home);
                            c
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut probe = d.peer("~/probe");
    let peers = probe.list_peers();
    let listed: BTreeSet<&str> = peers
        .iter()
        .flat_map(|p| p["sessions"].as_array().unwrap())
        .map(|s| s["sid"].as_str().unwrap())
        .collect();
    for c in &clients {
        assert!(listed.contains(c.sid()), "{} not listed", c.sid());
    }
    assert_eq!(listed.len(), THREADS * PER_THREAD + 1);

    // Round trips still work with all of them connected.
    let mut clients = clients;
    let target = clients.last_mut().unwrap();
    assert_eq!(
        probe.send_dm(&target.addr(), json!("hello crowd"))["delivered"],
        1
    );
    assert_eq!(target.expect_message()["body"], "hello crowd");
    target.subscribe("crowd");
    assert_eq!(probe.publish("crowd", json!("news"))["subscribers"], 1);
    assert_eq!(target.expect_message()["body"], "news");
}

#[test]
fn alias_race_has_exactly_one_winner() {
    const RACERS: usize = 30;
    let d = Daemon::start();
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut racers: Vec<Client> = (0..RACERS).map(|_| d.peer("~/race")).collect();
    let outcomes: Vec<Option<i64>> = thread::scope(|scope| {
        let handles: Vec<_> = racers
            .iter_mut()
            .map(|c| {
                let barrier = Arc::clone(&barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let resp = c.request("peer.set_alias", json!({"alias": "leader"}));
                    error_of(resp.last().unwrap()).map(|e| e.0)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners = outcomes.iter().filter(|o| o.is_none()).count();
    let taken = outcomes.iter().filter(|o| **o == Some(ALIAS_TAKEN)).count();
    assert_eq!((winners, taken), (1, RACERS - 1), "{outcomes:?}");

    let winner = outcomes.iter().position(Option::is_none).unwrap();
    let peers = racers[0].list_peers();
    let holders: Vec<_> = sessions_of(&peers, "home:~/race")
        .into_iter()
        .filter(|s| s["alias"] == "leader")
        .collect();
    assert_eq!(holders.len(), 1, "{peers:?}");
    assert_eq!(holders[0]["sid"], racers[winner].sid());
}

#[test]
fn misbehaving_clients_do_not_hold_up_others() {
    let d = Daemon::start();
    // Floods garbage and never reads the errors.
    let mut garbage = d.connect().stream().try_clone().unwrap();
    // Sends most of a huge line, then stalls with it unfinished.
    let mut partial = d.connect().stream().try_clone().unwrap();
    // Says nothing at all.
    let _silent = d.connect();
    // Subscribes, then never reads.
    let mut deaf = d.peer("~/deaf");
    deaf.subscribe("firehose");

    let flood = thread::spawn(move || {
        let junk = "this is not json\n".repeat(1000);
        for _ in 0..50 {
            if garbage.write_all(junk.as_bytes()).is_err() {
                break;
            }
        }
        garbage
    });
    let stall = thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..32 {
            if partial.write_all(&chunk).is_err() {
                break;
            }
        }
        partial
    });

    let mut a = d.peer("~/a");
    let mut b = d.peer("~/b");
    let to = b.addr();
    let big = "y".repeat(20_000);
    for i in 0..100 {
        assert_eq!(a.send_dm(&to, json!(i))["delivered"], 1);
        assert_eq!(b.expect_message()["body"], i);
        a.publish("firehose", json!(big));
    }
    let _keep_open = (flood.join().unwrap(), stall.join().unwrap());
    assert_eq!(b.list_peers().len(), 3);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let d = Daemon::start();
    let mut c = d.peer("~/c");
    // 50 pairs of (publish, history), all written at once.
    let mut batch = String::new();
    for k in 0..50 {
        let publish = json!({"jsonrpc": "2.0", "id": 2 * k, "method": "peer.publish",
            "params": {"topic": "t", "body": k}});
        let history = json!({"jsonrpc": "2.0", "id": 2 * k + 1, "method": "peer.history",
            "params": {"address": "topic:t", "limit": 1000}});
        batch.push_str(&format!("{publish}\n{history}\n"));
    }
    c.send_raw(batch.as_bytes());
    for k in 0..50 {
        let published = c.read_frame();
        assert_eq!(published["id"], 2 * k, "{published}");
        let history = c.read_frame();
        assert_eq!(history["id"], 2 * k + 1, "{history}");
        // Every publish before this history request is in it.
        let n = history["result"]["messages"].as_array().unwrap().len();
        assert_eq!(n, k + 1, "{history}");
    }
}
