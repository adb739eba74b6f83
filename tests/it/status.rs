//! `peer.status` [ext].

use crate::support::*;
use serde_json::json;

#[test]
fn status_reports_plausible_daemon_counters() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    let _b = d.peer("~/b");
    let _idle = d.connect();
    a.subscribe("news");
    a.publish("news", json!(1));
    a.send_dm("home:~/nobody", json!("queued"));

    let s = a.call("peer.status", json!({}));
    assert!(
        s["server_version"].as_str().is_some_and(|v| !v.is_empty()),
        "{s}"
    );
    assert_eq!(s["pid"], d.pid(), "{s}");
    assert!(
        s["uptime_s"]
            .as_f64()
            .is_some_and(|u| (0.0..600.0).contains(&u)),
        "{s}"
    );
    assert_eq!(s["sessions"], 2, "{s}");
    let connections = s["connections"].as_u64().expect("connections");
    assert!((2..=10).contains(&connections), "{s}");
    assert_eq!(s["topics"], 1, "{s}");
    assert_eq!(s["queued_dms"], 1, "{s}");
    assert!(s["db_bytes"].as_u64().is_some_and(|b| b > 0), "{s}");
}
