//! The NATS harness itself ([`support::nats`](crate::support::nats)), checked
//! against the real server before federation tests rely on it: a server
//! answers with JetStream on, keeps its port and store across restarts, takes
//! extra config, and three form a cluster. The client here is the bare NATS
//! text protocol over std's TCP, so the harness is tested without the client
//! library the daemon will use.

use crate::support::nats::{NatsCluster, NatsServer, CLUSTER_NAME};
use crate::support::TIMEOUT;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// The inbox [`Bare::request`] takes its one answer on.
const INBOX: &str = "_INBOX.bare";

/// A NATS protocol connection spoken by hand: what the server sends as it
/// arrives, one line at a time.
struct Bare {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Bare {
    /// Connects to `url` (`nats://host:port`) and reads the server's first
    /// line, which must be `INFO {…}`; returns that JSON too.
    fn connect(url: &str) -> (Bare, Value) {
        let addr = url.strip_prefix("nats://").expect("a nats:// URL");
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {url}: {e}"));
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let writer = stream.try_clone().unwrap();
        let mut bare = Bare {
            reader: BufReader::new(stream),
            writer,
        };
        let first = bare.line();
        let info = first
            .strip_prefix("INFO {")
            .map(|rest| format!("{{{rest}"))
            .unwrap_or_else(|| panic!("first line from {url}: {first}"));
        let info = serde_json::from_str(&info).unwrap_or_else(|e| panic!("{e}: {first}"));
        (bare, info)
    }

    fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).expect("write");
    }

    /// The next line from the server, without its CRLF.
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read a line");
        line.trim_end().to_string()
    }

    /// Sends `CONNECT options` and a `PING`; the server's answer: `PONG` once
    /// it has accepted the connection, else an `-ERR` line.
    fn handshake(&mut self, options: Value) -> String {
        self.send(&format!("CONNECT {options}\r\nPING\r\n"));
        self.line()
    }

    /// Publishes `payload` on `subject` with a reply subject and returns the
    /// one answer, as JSON (JetStream's API and acknowledgements answer so).
    fn request(&mut self, subject: &str, payload: &str) -> Value {
        self.send(&format!(
            "SUB {INBOX} 1\r\nUNSUB 1 1\r\nPUB {subject} {INBOX} {}\r\n{payload}\r\n",
            payload.len()
        ));
        loop {
            let line = self.line();
            if line == "PING" {
                self.send("PONG\r\n");
                continue;
            }
            let len = line
                .strip_prefix(&format!("MSG {INBOX} 1 "))
                .and_then(|len| len.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("answer to {subject}: {line}"));
            let mut body = vec![0; len + 2];
            self.reader.read_exact(&mut body).expect("read a message");
            return serde_json::from_slice(&body[..len]).expect("a JSON answer");
        }
    }
}

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
