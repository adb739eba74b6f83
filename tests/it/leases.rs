//! Path leases (SPEC §13): contention for overlapping globs, announcements on
//! `topic:leases`, persistence across kill -9, expiry, and the holder's grace
//! period across a disconnect.

use crate::support::*;
use serde_json::{json, Value};
use std::time::Duration;

fn lease(c: &mut Client, params: Value) -> Value {
    c.call("peer.lease", params)
}

fn leases(c: &mut Client) -> Vec<Value> {
    c.call("peer.leases", json!({}))["leases"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn two_agents_contend_for_overlapping_globs_and_watchers_see_it_live() {
    let d = Daemon::start();
    let home = home_in(d.dir(), "repo");
    let mut watcher = d.peer(&home);
    watcher.subscribe("leases");
    let mut a = d.peer(&home);
    a.set_alias("alice");
    let mut b = d.peer(&home);

    let got = lease(
        &mut a,
        json!({"paths": ["src/*"], "reason": "refactor", "ttl_s": 600}),
    );
    assert_eq!(got["granted"], true, "{got}");
    let id = got["lease"]["lease_id"].as_str().unwrap().to_owned();
    let m = watcher.expect_message();
    assert_eq!(m["to"], "topic:leases");
    assert_eq!(m["body"]["event"], "granted");
    assert_eq!(m["body"]["lease"]["lease_id"], id.as_str());

    let refused = lease(&mut b, json!({"paths": ["src/peer/*.rs"]}));
    assert_eq!(refused["granted"], false);
    let conflict = &refused["conflicts"][0];
    assert_eq!(conflict["holder"], a.addr());
    assert_eq!(conflict["alias"], "alice");
    assert_eq!(conflict["reason"], "refactor");
    assert_eq!(conflict["paths"], json!(["src/*"]));

    let shared = lease(&mut b, json!({"paths": ["src/lib.rs"], "exclusive": false}));
    assert_eq!(shared["granted"], true);
    assert_eq!(shared["conflicts"].as_array().unwrap().len(), 1);
    assert_eq!(watcher.expect_message()["body"]["event"], "granted");
    let disjoint = lease(&mut b, json!({"paths": ["docs/*"]}));
    assert_eq!(disjoint["conflicts"], json!([]));
    watcher.expect_message();

    let near = b.call("peer.leases", json!({"path": "src/main.rs"}));
    assert_eq!(near["leases"].as_array().unwrap().len(), 1);
    let released = a.call("peer.lease_release", json!({"all": true}));
    assert_eq!(released["released"], json!([id]));
    assert_eq!(watcher.expect_message()["body"]["event"], "released");
    let now_free = lease(&mut b, json!({"paths": ["src/peer/*.rs"]}));
    assert_eq!(now_free["granted"], true);
    let history = watcher.history(json!({"address": "topic:leases"}));
    assert_eq!(history.len(), 5);
}

#[test]
fn a_lease_survives_kill_9_and_expires_on_time() {
    let mut d = Daemon::builder()
        .args(&["--lease-grace-secs", "60"])
        .start();
    let home = home_in(d.dir(), "repo");
    let mut a = d.peer(&home);
    let got = lease(&mut a, json!({"paths": ["Cargo.toml"], "ttl_s": 4}));
    let expires = got["lease"]["expires"].as_f64().unwrap();
    drop(a);
    d.kill9();
    d.restart();
    let mut b = d.peer(&home);
    b.subscribe("leases");
    let held = leases(&mut b);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["expires"].as_f64().unwrap(), expires);
    assert_eq!(
        lease(&mut b, json!({"paths": ["*.toml"]}))["granted"],
        false
    );
    // It ends within a tick of its TTL, announced.
    let m = b.expect_message();
    assert_eq!(m["body"]["event"], "expired");
    let late = now() - expires;
    assert!(
        (-0.1..3.0).contains(&late),
        "expired {late}s after its time"
    );
    assert!(leases(&mut b).is_empty());
    assert_eq!(lease(&mut b, json!({"paths": ["*.toml"]}))["granted"], true);
}

#[test]
fn a_holder_that_comes_back_within_the_grace_keeps_its_lease() {
    let d = Daemon::builder().args(&["--lease-grace-secs", "2"]).start();
    let home = home_in(d.dir(), "repo");
    let mut other = d.peer(&home);
    let a_sid = sid();
    let mut a = d.connect();
    a.hello(&a_sid, &home);
    lease(&mut a, json!({"paths": ["src/*"], "ttl_s": 600}));
    drop(a);
    // Back with the same sid within the grace: the lease is still there.
    std::thread::sleep(Duration::from_millis(500));
    let (a, _) = d.hello_when_free(json!({"sid": a_sid, "home": home}));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(leases(&mut other).len(), 1);
    // Gone for longer than the grace: it ends.
    drop(a);
    eventually("the lease to end", Duration::from_secs(10), || {
        leases(&mut other).is_empty()
    });
    assert_eq!(
        lease(&mut other, json!({"paths": ["src/x"]}))["granted"],
        true
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sidecars_with_the_leases_tools_contend_renew_and_release() {
    use crate::support::sidecar::{Sidecar, LEASE_TOOLS, TOOLS};
    let d = Daemon::start();
    let home = home_in(d.dir(), "repo");
    let start = |name: &'static str| {
        Sidecar::builder(d.socket())
            .identity(&home, &sid())
            .arg("--alias")
            .arg(name)
            .arg("--tools")
            .arg("leases,core")
            .start()
    };
    let (a, b) = (start("alice").await, start("bob").await);
    a.wait_connected().await;
    b.wait_connected().await;
    assert_eq!(a.tools().await.len(), TOOLS.len() + LEASE_TOOLS.len());
    let got = a
        .tool(
            "peer_lease",
            json!({"paths": ["src/*"], "reason": "refactor"}),
        )
        .await;
    assert_eq!(got["granted"], true, "{got}");
    let id = got["lease"]["lease_id"].clone();
    let refused = b.tool("peer_lease", json!({"paths": ["src/x.rs"]})).await;
    assert_eq!(refused["granted"], false);
    assert_eq!(refused["conflicts"][0]["alias"], "alice");
    let shared = b
        .tool("peer_lease", json!({"paths": ["src/x.rs"], "shared": true}))
        .await;
    assert_eq!(shared["granted"], true);
    let renewed = a
        .tool("peer_lease", json!({"paths": [], "renew": id, "ttl_s": 99}))
        .await;
    assert_eq!(renewed["lease"]["lease_id"], id);
    let listed = b.tool("peer_leases", json!({"path": "src/y.rs"})).await;
    assert_eq!(listed["leases"].as_array().unwrap().len(), 1, "{listed}");
    let released = a.tool("peer_lease_release", json!({})).await;
    assert_eq!(released["released"], json!([id]));
    // Without --tools, the lease tools are not offered.
    let plain = Sidecar::start(d.socket(), &home, &sid()).await;
    assert_eq!(plain.tools().await.len(), TOOLS.len());
}
