//! A real `nats-server` with JetStream on loopback, for the federation tests
//! (issue 12): one server, or a cluster of three. The binary is
//! `$BLEMEES_NATS_SERVER`, else the pinned one `.ci/nats.sh` installs (run here
//! on first use). Each server has a private directory holding its generated
//! config file, its JetStream store and its log, which a failing test prints.

use super::daemon::wait_exit;
use super::eventually;
use rustix::net;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// How long a server (or a cluster) may take to serve with JetStream ready.
const NATS_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a [`NatsCluster`] may take to form. Its JetStream meta group
/// usually elects a leader within a second, but when the first campaign is
/// lost (votes asked for before every route is up) the next one waits out
/// nats-server's fixed 4–9 s election timeout; under load, twice that.
const CLUSTER_FORM_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one request to the monitoring port may take.
const MONITOR_TIMEOUT: Duration = Duration::from_secs(2);
/// The servers of [`NatsCluster`]: three, the smallest JetStream cluster that
/// keeps a quorum when one server is lost.
const CLUSTER_SIZE: usize = 3;
/// The name of [`NatsCluster`]'s cluster.
pub const CLUSTER_NAME: &str = "blemees-test";

/// The `nats-server` program: `$BLEMEES_NATS_SERVER`, else
/// `.ci/nats/bin/nats-server`, installed by `.ci/nats.sh` if missing.
fn nats_server_bin() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    if let Some(bin) = std::env::var_os("BLEMEES_NATS_SERVER") {
        return PathBuf::from(bin);
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = repo.join(".ci/nats/bin/nats-server");
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !bin.exists() {
        let status = Command::new("bash")
            .arg(repo.join(".ci/nats.sh"))
            .status()
            .expect("run .ci/nats.sh");
        assert!(status.success(), "installing nats-server failed");
    }
    bin
}

/// `N` distinct loopback ports free right now: all are held until all are
/// chosen, so none is handed out twice.
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: [TcpListener; N] = std::array::from_fn(|_| {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port")
    });
    listeners.map(|l| l.local_addr().expect("local addr").port())
}

/// A config string literal: paths and names go in quoted, escaped as JSON
/// strings (which NATS config reads the same way).
pub fn quoted(s: &str) -> String {
    Value::from(s).to_string()
}

/// `GET path` on the monitoring port: the status code and the body, or `None`
/// while nothing listens there.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    stream.set_read_timeout(Some(MONITOR_TIMEOUT)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Binds (without listening) the loopback `ports` of a stopped server, so
/// that they stay its own until it restarts: a client connecting meanwhile is
/// refused as by a closed port, but no other socket can take them, not even
/// as the local end of an outgoing connection (which would make the server
/// fail to listen again). With `SO_REUSEADDR`, as the server itself binds
/// with it, the server may listen again while they are held.
fn hold(ports: [u16; 2]) -> Vec<OwnedFd> {
    ports
        .iter()
        .map(|&port| {
            let socket = net::socket(net::AddressFamily::INET, net::SocketType::STREAM, None)
                .expect("a socket");
            net::sockopt::set_socket_reuseaddr(&socket, true).expect("SO_REUSEADDR");
            net::bind(&socket, &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
                .unwrap_or_else(|e| panic!("hold port {port}: {e}"));
            socket
        })
        .collect()
}

/// One running `nats-server` with JetStream, listening for clients on a free
/// loopback port; killed on drop.
pub struct NatsServer {
    dir: tempfile::TempDir,
    name: String,
    port: u16,
    monitor_port: u16,
    child: Option<Child>,
    /// The ports, [`hold`] while the server is stopped.
    held: Vec<OwnedFd>,
}

impl NatsServer {
    /// A lone server with JetStream and nothing else configured.
    pub fn start() -> NatsServer {
        Self::with_config("")
    }

    /// A lone server whose config file ends with `extra` (NATS config syntax:
    /// `accounts { … }`, `authorization { … }`, …). An account that is to use
    /// JetStream needs its own `jetstream: enabled`.
    pub fn with_config(extra: &str) -> NatsServer {
        let [port, monitor_port] = free_ports();
        let mut server = Self::configured("nats", port, monitor_port, extra);
        server.spawn();
        server.wait_ready();
        server
    }

    /// A server (not yet started) with a private directory whose config file
    /// names it `name`, listens on `port` (clients) and `monitor_port` (HTTP
    /// monitoring), keeps its JetStream store in the directory, and ends with
    /// `extra`.
    fn configured(name: &str, port: u16, monitor_port: u16, extra: &str) -> NatsServer {
        let dir = tempfile::Builder::new()
            .prefix("nats-e2e-")
            .tempdir()
            .expect("tempdir");
        let store = dir.path().join("store");
        let config = format!(
            "server_name: {name}\n\
             listen: \"127.0.0.1:{port}\"\n\
             http: \"127.0.0.1:{monitor_port}\"\n\
             jetstream {{ store_dir: {store} }}\n\
             {extra}\n",
            name = quoted(name),
            store = quoted(&store.to_string_lossy()),
        );
        fs::write(dir.path().join("nats.conf"), config).expect("write nats.conf");
        NatsServer {
            dir,
            name: name.to_string(),
            port,
            monitor_port,
            child: None,
            held: Vec::new(),
        }
    }

    /// The URL clients connect to: `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The same with TLS, for a server configured with a `tls` block:
    /// `tls://127.0.0.1:<port>`.
    pub fn tls_url(&self) -> String {
        format!("tls://127.0.0.1:{}", self.port)
    }

    /// The client port, the same across [`Self::restart`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's `server_name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `GET path` on the monitoring port (`/jsz`, `/routez`, `/varz`, …), whose
    /// answer must be 200 and JSON.
    pub fn monitor(&self, path: &str) -> Value {
        match http_get(self.monitor_port, path) {
            Some((200, body)) => serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{path} on {}: {e}: {body}", self.name)),
            other => panic!("{path} on {}: {other:?}", self.name),
        }
    }

    /// The names of the servers this one has routes to (NATS opens several
    /// routes to each).
    pub fn routed_to(&self) -> BTreeSet<String> {
        let routez = self.monitor("/routez");
        routez["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["remote_name"].as_str().map(str::to_string))
            .collect()
    }

    /// Everything the server logged so far (all runs).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats.log")
    }

    /// Starts the process on the config file, without waiting for it to serve.
    fn spawn(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("nats log");
        let bin = nats_server_bin();
        let child = Command::new(&bin)
            .arg("-c")
            .arg(self.dir.path().join("nats.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("nats log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        self.child = Some(child);
    }

    /// Whether the server accepts clients and its `/healthz` is ok: JetStream
    /// is up, has recovered its store and, in a cluster, follows a meta leader.
    /// Fails the test if the process has exited.
    fn ready(&mut self) -> bool {
        let child = self.child.as_mut().expect("nats-server not running");
        if let Some(status) = child.try_wait().expect("try_wait") {
            self.child = None;
            // drop() prints the log.
            panic!("nats-server {} exited ({status})", self.name);
        }
        matches!(http_get(self.monitor_port, "/healthz"), Some((200, _)))
            && TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok()
    }

    fn wait_ready(&mut self) {
        let what = format!("nats-server {} to be ready", self.name);
        eventually(&what, NATS_START_TIMEOUT, || self.ready());
    }

    /// SIGKILL, and reap: what JetStream has stored stays on disk, and the
    /// ports are held for [`Self::restart`].
    pub fn kill9(&mut self) {
        self.kill();
        self.held = hold([self.port, self.monitor_port]);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (nats-server's graceful shutdown), and wait for the exit; the
    /// ports are held for [`Self::restart`].
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("nats-server not running");
        let pid = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("kill");
        let status = wait_exit(&mut child, &format!("nats-server {}", self.name));
        assert!(
            status.success(),
            "nats-server {} exited {status}",
            self.name
        );
        self.held = hold([self.port, self.monitor_port]);
    }

    /// Starts the server again after [`Self::kill9`] or [`Self::stop`]: same
    /// ports, same config, same JetStream store, so streams and their messages
    /// survive.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop nats-server before restart()");
        self.spawn();
        self.wait_ready();
        self.held.clear();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("---- nats-server {} log ----\n{}", self.name, self.log());
        }
    }
}

/// Three `nats-server`s on loopback routed into one cluster, JetStream
/// clustered over them (each server with its own `server_name` and store).
pub struct NatsCluster {
    pub servers: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts the three and waits until the cluster has formed: every server is
    /// routed to both others and JetStream has a meta leader.
    pub fn start() -> NatsCluster {
        // Each server's client, monitoring and route port, all chosen together.
        let all: [u16; 3 * CLUSTER_SIZE] = free_ports();
        let ports: [[u16; 3]; CLUSTER_SIZE] =
            std::array::from_fn(|i| std::array::from_fn(|j| all[3 * i + j]));
        let routes = ports
            .iter()
            .map(|[_, _, route]| quoted(&format!("nats-route://127.0.0.1:{route}")))
            .collect::<Vec<_>>()
            .join(", ");
        let servers = ports
            .iter()
            .enumerate()
            .map(|(i, &[port, monitor_port, route])| {
                let cluster = format!(
                    "cluster {{ name: {name}, listen: \"127.0.0.1:{route}\", routes: [{routes}] }}",
                    name = quoted(CLUSTER_NAME),
                );
                NatsServer::configured(&format!("n{}", i + 1), port, monitor_port, &cluster)
            })
            .collect();
        let mut cluster = NatsCluster { servers };
        // A server's JetStream is not healthy before it sees a quorum: start
        // them all, then wait.
        cluster.servers.iter_mut().for_each(NatsServer::spawn);
        eventually("the NATS cluster to form", CLUSTER_FORM_TIMEOUT, || {
            cluster.formed()
        });
        cluster
    }

    /// The servers' client URLs.
    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(NatsServer::url).collect()
    }

    /// Every server ready, and routed to every other.
    fn formed(&mut self) -> bool {
        self.servers.iter_mut().all(NatsServer::ready)
            && self
                .servers
                .iter()
                .all(|s| s.routed_to().len() == CLUSTER_SIZE - 1)
    }
}
