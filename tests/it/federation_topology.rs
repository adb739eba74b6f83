//! Federation over the NATS topologies of docs/federation.md: daemons attached
//! to different servers of a three-server cluster, and a node behind a leaf
//! node (a laptop behind NAT, whose leaf server dials out to a hub). Each
//! exchanges DMs and topic messages both ways.

use crate::support::nats::{NatsCluster, NatsServer};
use crate::support::nats_nodes::*;
use crate::support::*;
use serde_json::json;

/// The names of the clients connected to `server`.
fn clients_of(server: &NatsServer) -> Vec<String> {
    let connz = server.monitor("/connz");
    let connections = connz["connections"].as_array().cloned().unwrap_or_default();
    connections
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

/// `a` (on node `node_a`) and `b` (on `node_b`) see each other listed, and
/// exchange a DM each way, by alias and back to the sender's qualified sid,
/// and a publish each way on topic `news`, which both subscribe to.
fn exchange(a: &mut Client, node_a: &str, b: &mut Client, node_b: &str) {
    wait_listed(a, node_b, b.sid());
    wait_listed(b, node_a, a.sid());
    a.set_alias("architect");
    a.subscribe("news");
    b.subscribe("news");
    let alias = format!("home@{node_a}:{}#architect", a.home());
    b.send_dm(&alias, json!("from b"));
    let got = a.expect_message();
    assert_eq!(got["body"], "from b");
    let b_there = format!("home@{node_b}:{}#{}", b.home(), b.sid());
    assert_eq!(got["from"], b_there);
    a.send_dm(&b_there, json!("from a"));
    let got = b.expect_message();
    assert_eq!(got["body"], "from a");
    assert_eq!(
        got["from"],
        format!("home@{node_a}:{}#{}", a.home(), a.sid())
    );

    a.publish("news", json!("news from a"));
    assert_eq!(b.expect_message()["body"], "news from a");
    b.publish("news", json!("news from b"));
    assert_eq!(a.expect_message()["body"], "news from b");
}

#[test]
fn nodes_on_different_servers_of_a_cluster_exchange_dms_and_topics() {
    let cluster = NatsCluster::start();
    let urls = cluster.urls();
    // Each daemon is given one server, so each is attached to its own (it
    // learns the others from it, for when that one goes away). The stream,
    // made by whichever daemon comes first, lives on one server of the three
    // (one replica, as the daemon makes it): JetStream serves it to all.
    let alpha = Daemon::start_with(&["--nats", &urls[0], "--node", "alpha"]);
    let beta = Daemon::start_with(&["--nats", &urls[2], "--node", "beta"]);
    for (daemon, server, node) in [
        (&alpha, &cluster.servers[0], "alpha"),
        (&beta, &cluster.servers[2], "beta"),
    ] {
        wait_federation_up(daemon);
        let name = format!("blemees-peerd {node}");
        assert!(
            clients_of(server).contains(&name),
            "{node} not on {}",
            server.name()
        );
    }
    let (mut a, mut b) = (alpha.peer("~/a"), beta.peer("~/b"));
    exchange(&mut a, "alpha", &mut b, "beta");
}

#[test]
fn a_node_behind_a_leaf_node_exchanges_dms_and_topics_through_the_hub() {
    // The hub: the least-privilege account, for a node that connects to it
    // and for the laptop's leaf node, which logs in as the laptop's user.
    let users = [
        NodeUser::client("server"),
        NodeUser::behind_leaf("laptop", &["server"]),
    ];
    let config = format!(
        "leafnodes {{ listen: \"127.0.0.1:-1\" }}\n{}",
        accounts(&users)
    );
    let hub = NatsServer::with_config(&config);
    create_stream(&hub);
    let leaf_port = &hub.monitor("/varz")["leaf"]["port"];

    // The laptop's server: no JetStream of its own, the JetStream API mapped
    // to the hub's, and a leaf connection dialled out to the hub.
    let remote = format!(
        "nats-leaf://laptop:{}@127.0.0.1:{leaf_port}",
        password("laptop")
    );
    let leaf = NatsServer::with_config(&format!(
        "server_name: laptop-leaf\n\
         jetstream: disabled\n\
         mappings: {{ \"$JS.API.>\": \"{HUB_JS_API}.>\" }}\n\
         leafnodes {{ remotes: [{{ url: {remote:?} }}] }}"
    ));
    eventually("the leaf node to connect to the hub", TIMEOUT, || {
        hub.monitor("/leafz")["leafnodes"] == 1
    });

    let server = Daemon::start_with(&["--nats", &url_as(&hub, "server"), "--node", "server"]);
    // On the laptop, the daemon is a client of its own server, as any user.
    let laptop = Daemon::start_with(&["--nats", &leaf.url(), "--node", "laptop"]);
    wait_federation_up(&server);
    wait_federation_up(&laptop);
    let (mut a, mut b) = (laptop.peer("~/l"), server.peer("~/s"));
    exchange(&mut a, "laptop", &mut b, "server");
    assert!(!hub.log().contains("Violation"), "{}", hub.log());
}
