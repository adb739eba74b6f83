//! Bounded per-connection output (SPEC §6): a client that stops reading is cut off
//! once it falls `--max-outbox-bytes` behind; everyone else keeps working
//! meanwhile; the DMs it never received go back to its queue; and the daemon's
//! memory stays bounded.

use crate::support::*;
use serde_json::json;
use std::collections::BTreeSet;

/// Peak resident memory of `pid`, in bytes (Linux `VmHWM`).
#[cfg(target_os = "linux")]
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn a_stalled_reader_is_cut_off_and_its_unread_dms_are_queued_again() {
    let d = Daemon::start_with(&["--max-outbox-bytes", "1048576"]);
    let sid = sid();
    let mut stalled = d.connect();
    stalled.hello(&sid, "~/stalled");
    let mut sender = d.peer("~/sender");
    let mut bystander = d.peer("~/bystander");
    let mut friend = d.peer("~/friend");

    // 60 DMs of 64 KiB: far more than the outbox and the socket buffers hold.
    let body = "x".repeat(64 * 1024);
    let mut sent = BTreeSet::new();
    for i in 0..60 {
        let r = sender.send_dm(
            &format!("home:~/stalled#{sid}"),
            json!({"i": i, "pad": body}),
        );
        sent.insert(r["message_id"].as_str().unwrap().to_owned());
        // Another peer's request/response keeps working throughout the flood.
        let echo = bystander.send_dm(&friend.home_addr(), json!(i));
        assert_eq!(echo["delivered"], 1);
        assert_eq!(friend.expect_message()["body"], i);
    }

    // The stalled reader was disconnected: it finds what reached its socket, then EOF.
    let before_close = stalled.expect_closed();
    let mut received: BTreeSet<String> = messages(&before_close)
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(received.len() < sent.len(), "it was cut off early");

    // Coming back with the same sid, it gets every DM it never read.
    let (_again, frames) = d.hello_when_free(json!({"sid": sid, "home": "~/stalled"}));
    received.extend(ids(&messages(&frames)));
    assert_eq!(received, sent, "nothing lost");
}

/// Linux only: it reads the daemon's peak memory from /proc.
#[cfg(target_os = "linux")]
#[test]
fn a_30_mb_flood_at_a_stalled_reader_keeps_the_daemon_small() {
    let d = Daemon::start();
    let mut stalled = d.peer("~/stalled");
    let mut sender = d.peer("~/sender");
    let body = "y".repeat(1024 * 1024);
    for _ in 0..30 {
        sender.send_dm(&stalled.addr(), json!(body));
    }
    // The sender is still served; the stalled reader was cut off.
    eventually("the stalled reader to be cut off", TIMEOUT, || {
        sender.call("peer.status", json!({}))["sessions"] == 1
    });
    let peak = peak_rss(d.pid());
    eprintln!("daemon peak RSS: {} MiB", peak >> 20);
    assert!(peak < 100 * 1024 * 1024, "daemon peak RSS {peak} bytes");
    stalled.expect_closed();
}
