//! The NATS harness itself ([`support::nats`](crate::support::nats)), checked
//! against the real server before federation tests rely on it: a server
//! answers with JetStream on, keeps its port and store across restarts, takes
//! extra config, and three form a cluster. The client here is
//! [`Bare`], the NATS text protocol spoken by hand, so the harness is tested
//! without the client library the daemon uses.

use crate::support::bare_nats::Bare;
use crate::support::nats::{NatsCluster, NatsServer, CLUSTER_NAME};
use serde_json::json;
use std::collections::BTreeSet;
use std::net::TcpStream;

/// A connection to `server` that the server has accepted, without credentials.
fn connected(server: &NatsServer) -> Bare {
    let (mut bare, _) = Bare::connect(&server.url());
    assert_eq!(bare.handshake(json!({"verbose": false})), "PONG");
    bare
}

/// The stream `name`, kept on disk, capturing subject `name`.
fn create_file_stream(bare: &mut Bare, name: &str) {
    let config = json!({"name": name, "subjects": [name], "storage": "file"});
    let created = bare.request(
        &format!("$JS.API.STREAM.CREATE.{name}"),
        &config.to_string(),
    );
    assert!(created.get("error").is_none(), "{created}");
}

#[test]
fn a_server_says_info_with_jetstream_on_its_port() {
    let server = NatsServer::start();
    assert_eq!(server.url(), format!("nats://127.0.0.1:{}", server.port()));
    let (_, info) = Bare::connect(&server.url());
    assert_eq!(info["jetstream"], true, "{info}");
    assert_eq!(info["port"], server.port(), "{info}");
    assert_eq!(info["server_name"], server.name(), "{info}");
}

#[test]
fn restarts_keep_the_port_and_the_stored_stream() {
    let mut server = NatsServer::start();
    let port = server.port();
    let mut bare = connected(&server);
    create_file_stream(&mut bare, "kept");
    let ack = bare.request("kept", "one");
    assert_eq!(ack, json!({"stream": "kept", "seq": 1}));
    drop(bare);

    server.kill9();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    server.restart();
    assert_eq!(server.port(), port);
    let jsz = server.monitor("/jsz");
    assert_eq!((&jsz["streams"], &jsz["messages"]), (&json!(1), &json!(1)));

    server.stop();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    server.restart();
    let mut bare = connected(&server);
    let ack = bare.request("kept", "two");
    assert_eq!(ack, json!({"stream": "kept", "seq": 2}));
}

#[test]
fn extra_config_sets_accounts_and_permissions() {
    let server = NatsServer::with_config(
        r#"accounts {
             FED {
               jetstream: enabled
               users: [{user: "node-a", password: "secret",
                        permissions: {publish: "in.b.>", subscribe: "_INBOX.>"}}]
             }
           }"#,
    );
    let (_, info) = Bare::connect(&server.url());
    assert_eq!(info["auth_required"], true, "{info}");

    let (mut anonymous, _) = Bare::connect(&server.url());
    let refused = anonymous.handshake(json!({"verbose": false}));
    assert_eq!(refused, "-ERR 'Authorization Violation'");

    let (mut node_a, _) = Bare::connect(&server.url());
    let options = json!({"verbose": false, "user": "node-a", "pass": "secret"});
    assert_eq!(node_a.handshake(options), "PONG");
    node_a.send("PUB in.a.x 1\r\nx\r\nPING\r\n");
    assert_eq!(
        node_a.line(),
        "-ERR 'Permissions Violation for Publish to \"in.a.x\"'"
    );
    assert_eq!(node_a.line(), "PONG");
    node_a.send("PUB in.b.x 1\r\nx\r\nPING\r\n");
    assert_eq!(node_a.line(), "PONG");
}

#[test]
fn three_servers_form_a_jetstream_cluster() {
    let cluster = NatsCluster::start();
    let names: BTreeSet<String> = cluster
        .servers
        .iter()
        .map(|s| s.name().to_string())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for server in &cluster.servers {
        let mut others = names.clone();
        others.remove(server.name());
        assert_eq!(server.routed_to(), others);
        let meta = &server.monitor("/jsz")["meta_cluster"];
        assert_eq!(meta["cluster_size"], 3, "{meta}");
        let leader = meta["leader"].as_str().unwrap_or_default();
        assert!(names.contains(leader), "{meta}");
    }
    for url in cluster.urls() {
        let (_, info) = Bare::connect(&url);
        assert_eq!(info["jetstream"], true, "{info}");
        assert_eq!(info["cluster"], CLUSTER_NAME, "{info}");
    }
}
