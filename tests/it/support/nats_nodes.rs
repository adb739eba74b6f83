//! Federated nodes on NATS: the least-privilege account of docs/federation.md
//! ("Trust"), as config for [`NatsServer::with_config`] (an admin user, who
//! may do anything and makes the stream, and a user per node, named after it,
//! allowed exactly what its daemon needs under the default subject prefix),
//! and when a node reads from JetStream and lists another's sessions.

use super::client::Client;
use super::daemon::Daemon;
use super::eventually;
use super::nats::NatsServer;
use super::TIMEOUT;
use std::time::Duration;

/// How long a daemon may take to find or make the stream: in a cluster, the
/// JetStream meta leader places it.
const FEDERATION_UP: Duration = Duration::from_secs(30);
/// How long a session may take to be listed on another node: presence is
/// published at most every half second.
const PRESENCE_TIMEOUT: Duration = Duration::from_secs(10);

/// The subject prefix (the daemon's default) and the stream named after it.
pub const PREFIX: &str = "blemees";
pub const STREAM: &str = "BLEMEES";
/// The user that makes the stream.
pub const ADMIN: &str = "admin";
/// Where a node behind a leaf node reaches the hub's JetStream API: its leaf
/// server maps `$JS.API.>` here, and the hub's account maps it back. (A hub
/// refuses `$JS.API.>` itself from leaf nodes, lest the JetStream of both
/// sides answer.)
pub const HUB_JS_API: &str = "$JS.hub.API";

/// The password of user `user`.
pub fn password(user: &str) -> String {
    format!("{user}-secret")
}

/// `nats://user:password@…` for `server`'s client port.
pub fn url_as(server: &NatsServer, user: &str) -> String {
    let host = server.url().replacen("nats://", "", 1);
    format!("nats://{user}:{}@{host}", password(user))
}

/// A node's user.
pub struct NodeUser<'a> {
    node: &'a str,
    /// The JetStream API prefix it uses: `$JS.API`, or [`HUB_JS_API`].
    api: &'static str,
    /// The nodes it may send DMs to: `["*"]`, any.
    dm_to: Vec<&'a str>,
}

impl<'a> NodeUser<'a> {
    /// Node `node`, a client of the server.
    pub fn client(node: &'a str) -> NodeUser<'a> {
        NodeUser {
            node,
            api: "$JS.API",
            dm_to: vec!["*"],
        }
    }

    /// Node `node` behind a leaf node, sending DMs to the nodes `dm_to`. A
    /// hub tells a leaf node of the stream's interest in `<p>.dm.>` only if
    /// the leaf's user may publish to some of it, and nats-server 2.15 does
    /// not count `<p>.dm.*.<node>`, wildcard and all, as such (the leaf's
    /// DMs would find no stream): so the destinations are named.
    pub fn behind_leaf(node: &'a str, dm_to: &[&'a str]) -> NodeUser<'a> {
        NodeUser {
            node,
            api: HUB_JS_API,
            dm_to: dm_to.to_vec(),
        }
    }

    /// Its `permissions` block: exactly what its daemon needs.
    fn permissions(&self) -> String {
        let (p, s, node, api) = (PREFIX, STREAM, self.node, self.api);
        let dms: Vec<String> = self
            .dm_to
            .iter()
            .map(|to| format!("\"{p}.dm.{to}.{node}\""))
            .collect();
        format!(
            r#"{{
              publish: {{ allow: [
                {dms}, "{p}.topic.{node}", "{p}.presence.{node}",
                "{api}.STREAM.INFO.{s}",
                "{api}.CONSUMER.CREATE.{s}.*.{p}.dm.{node}.*",
                "{api}.CONSUMER.CREATE.{s}.*.{p}.topic.*",
                "{api}.CONSUMER.MSG.NEXT.{s}.*",
                "{api}.CONSUMER.INFO.{s}.*",
                "{api}.CONSUMER.DELETE.{s}.*"
              ] }}
              subscribe: {{ allow: ["{p}.inbox.{node}.>", "{p}.presence.*"] }}
            }}"#,
            dms = dms.join(", ")
        )
    }
}

/// The account `FED`, with JetStream, holding [`ADMIN`] and `nodes`, and
/// mapping [`HUB_JS_API`] for nodes behind leaf nodes.
pub fn accounts(nodes: &[NodeUser]) -> String {
    let mut users = vec![format!(
        "{{user: {ADMIN}, password: {:?}}}",
        password(ADMIN)
    )];
    users.extend(nodes.iter().map(|n| {
        format!(
            "{{user: {}, password: {:?}, permissions: {}}}",
            n.node,
            password(n.node),
            n.permissions()
        )
    }));
    let hub_api = format!("\"{HUB_JS_API}.>\": \"$JS.API.>\"");
    format!(
        "accounts {{ FED {{ jetstream: enabled, mappings: {{ {hub_api} }}, users: [\n{}\n] }} }}",
        users.join(",\n")
    )
}

/// Makes the stream on `server`, whose config holds [`accounts`], as the
/// nodes expect it: a daemon logged in as [`ADMIN`] makes it as every daemon
/// would, and is needed no longer after that.
pub fn create_stream(server: &NatsServer) {
    let admin = Daemon::start_with(&["--nats", &url_as(server, ADMIN), "--node", ADMIN]);
    eventually("the admin's daemon to create the stream", TIMEOUT, || {
        server.monitor("/jsz")["streams"] == 1
    });
    drop(admin);
}

/// Waits until `daemon` reads from JetStream: it has the stream, and makes its
/// consumers next. What is sent to it before is not lost (its consumers read
/// the stream from where it left off) but may take longer to arrive than a
/// test waits for one message.
pub fn wait_federation_up(daemon: &Daemon) {
    eventually("the daemon to find the stream", FEDERATION_UP, || {
        daemon.stderr().contains("federation up")
    });
}

/// Waits until `c`'s node lists session `sid` of node `node` (presence).
pub fn wait_listed(c: &mut Client, node: &str, sid: &str) {
    let what = format!("{node}'s session {sid} to be listed");
    eventually(&what, PRESENCE_TIMEOUT, || {
        c.list_peers().iter().any(|home| {
            home["node"] == node
                && home["sessions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["sid"] == sid)
        })
    });
}
