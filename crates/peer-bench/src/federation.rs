//! A federation on this machine, for the federation workloads: one nats-server
//! started by the bench, and daemons of ours federating through it as nodes
//! of their own, each on its own socket and state directory (as separate
//! hosts would be).

use crate::daemon::{Daemon, Implementation};
use crate::nats_server::NatsServer;
use crate::workloads::within;
use anyhow::Context;
use peer_client::connect_hello;
use peer_proto::address::qualify;
use peer_proto::api::{self, HelloParams, NoParams};
use std::path::Path;
use std::time::Duration;

/// How long a daemon may take to report its link to NATS up: it connects in
/// the background after it serves, and twenty start on two cores at once.
const LINK_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a daemon's link is looked at while it comes up.
const LINK_POLL: Duration = Duration::from_millis(10);
/// The link state `peer.status` reports once the daemon is connected to NATS.
const LINK_UP: &str = "up";

/// One node: a daemon federating as `name`.
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) daemon: Daemon,
}

impl Node {
    /// How another node addresses the session this node calls `local`
    /// (`home:…`): `home@<name>:…`.
    pub(crate) fn address(&self, local: &str) -> String {
        qualify(local, &self.name)
    }
}

/// The server and its nodes; the nodes stop first when it is dropped.
pub(crate) struct Federation {
    pub(crate) nodes: Vec<Node>,
    pub(crate) nats: NatsServer,
}

impl Federation {
    /// Starts a nats-server (`program`) and a daemon of `imp` for each of
    /// `names`, and waits until every daemon's link is up.
    pub(crate) async fn start(
        imp: &Implementation,
        program: &Path,
        names: impl IntoIterator<Item = String>,
    ) -> anyhow::Result<Federation> {
        let nats = NatsServer::start(program).await?;
        let mut nodes = Vec::new();
        for name in names {
            let args = ["--nats", &nats.url, "--node", &name];
            let daemon = Daemon::start_with(imp, &args).await?;
            nodes.push(Node { name, daemon });
        }
        for node in &nodes {
            link_up(node).await?;
        }
        Ok(Federation { nodes, nats })
    }

    /// CPU time all the daemons have used so far (not nats-server's).
    pub(crate) fn cpu(&self) -> Duration {
        self.nodes.iter().map(|n| n.daemon.cpu()).sum()
    }
}

/// Waits until `node`'s daemon reports its link to NATS up. Its JetStream
/// consumers start just after; the workloads' warm-ups wait for those.
async fn link_up(node: &Node) -> anyhow::Result<()> {
    let operator = HelloParams::operator("/bench");
    let (conn, _notes, _) = connect_hello(&node.daemon.socket, &operator).await?;
    let what = format!("node {}'s link to NATS coming up", node.name);
    within(LINK_UP_TIMEOUT, &what, async {
        loop {
            let status = conn.request::<api::Status>(&NoParams {}).await?;
            let federation = status
                .federation
                .with_context(|| format!("node {} has no federation", node.name))?;
            if federation.link == LINK_UP {
                return Ok(());
            }
            tokio::time::sleep(LINK_POLL).await;
        }
    })
    .await
}
