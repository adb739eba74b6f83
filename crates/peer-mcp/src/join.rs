//! Joining the daemon lazily: the sidecar says hello (and so appears to other
//! sessions as `peer_joined`) only once the host is in earnest. A host that
//! probes the server and goes away never makes it join: one that asks only
//! `server/discover` or `initialize`, and one that also lists the tools, as
//! `claude mcp list` does (initialize, initialized, tools/list, gone within
//! milliseconds). So a finished handshake joins [`GRACE`] later if the host is
//! still there, and the first tool call or resource read joins at once (and
//! waits for the first contact, a few milliseconds on a local socket).
//!
//! [`Join`] stands where the session does: it knows the identity from the start
//! (for `initialize`), starts the [`Session`] on first use, and derefs to it.
//! [`JoinOnUse`] wraps the transport and starts it when the host's messages say
//! it is in earnest.

use peer_client::{Link, Notifications, Session, SessionConfig};
use peer_proto::address::session_address;
use rmcp::model::{ClientNotification, ClientRequest, JsonRpcMessage};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::RoleServer;
use std::future::Future;
use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long after the handshake a host that is still there is taken to be in
/// earnest (health checks close sooner; a session's first tool call comes after
/// a model round trip, and joins at once anyway).
pub(crate) const GRACE: Duration = Duration::from_secs(2);

/// How long the first tool call waits for a join it started itself to reach
/// the daemon (or fail to): a local socket answers in milliseconds.
const FIRST_CONTACT: Duration = Duration::from_secs(2);

type OnStart = Box<dyn FnOnce(&Session, Notifications) + Send>;

/// The session, started on first use.
pub(crate) struct Join {
    config: SessionConfig,
    session: OnceLock<Session>,
    on_start: Mutex<Option<OnStart>>,
    /// A join after [`GRACE`] is pending.
    scheduled: AtomicBool,
}

impl Join {
    /// `on_start` gets the session and its notification stream when it starts
    /// (to spawn the tasks that consume them).
    pub(crate) fn new(
        config: SessionConfig,
        on_start: impl FnOnce(&Session, Notifications) + Send + 'static,
    ) -> Join {
        Join {
            config,
            session: OnceLock::new(),
            on_start: Mutex::new(Some(Box::new(on_start))),
            scheduled: AtomicBool::new(false),
        }
    }

    /// The session, started now if it was not yet (needs a tokio runtime).
    pub(crate) fn now(&self) -> &Session {
        self.session.get_or_init(|| {
            tracing::info!("joining the daemon");
            let (session, notes) = Session::start(self.config.clone());
            if let Some(f) = self.on_start.lock().expect("join lock").take() {
                f(&session, notes);
            }
            session
        })
    }

    /// Joins after `grace`, unless something joins sooner (or the process
    /// ends first, as a probed sidecar does).
    pub(crate) fn soon(self: &Arc<Self>, grace: Duration) {
        if self.started().is_some() || self.scheduled.swap(true, Ordering::Relaxed) {
            return;
        }
        let join = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            join.now();
        });
    }

    /// The session if it has started.
    pub(crate) fn started(&self) -> Option<&Session> {
        self.session.get()
    }

    pub(crate) fn socket(&self) -> &Path {
        &self.config.socket
    }
    pub(crate) fn home(&self) -> &str {
        &self.config.home
    }
    pub(crate) fn sid(&self) -> &str {
        &self.config.sid
    }
    pub(crate) fn address(&self) -> String {
        session_address(self.home(), self.sid())
    }
    /// The alias held, or the one to claim on joining.
    pub(crate) fn alias(&self) -> Option<String> {
        match self.started() {
            Some(s) => s.alias(),
            None => self.config.alias.clone(),
        }
    }
}

impl Deref for Join {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.now()
    }
}

/// What a message from the host asks of the join.
#[derive(Debug, PartialEq)]
enum Use {
    /// Nothing: the handshake, discovery, pings, cancellations.
    Probe,
    /// Join after [`GRACE`]: the handshake is done, or the host lists things.
    Join,
    /// Join now, and let the request wait for the first contact with the
    /// daemon, so that it does not fail only for having come first.
    JoinAndWait,
}

fn use_of(message: &RxJsonRpcMessage<RoleServer>) -> Use {
    match message {
        JsonRpcMessage::Notification(n) => match n.notification {
            ClientNotification::InitializedNotification(_) => Use::Join,
            _ => Use::Probe,
        },
        JsonRpcMessage::Request(r) => match &r.request {
            ClientRequest::InitializeRequest(_)
            | ClientRequest::DiscoverRequest(_)
            | ClientRequest::PingRequest(_) => Use::Probe,
            ClientRequest::CallToolRequest(_) | ClientRequest::ReadResourceRequest(_) => {
                Use::JoinAndWait
            }
            _ => Use::Join,
        },
        _ => Use::Probe,
    }
}

/// The host transport, joining the daemon when the host is in earnest.
pub(crate) struct JoinOnUse<T> {
    inner: T,
    join: Arc<Join>,
    /// The first tool call, held back until the first contact with the daemon
    /// (or [`FIRST_CONTACT`]). Kept here, not in the receiving future: rmcp
    /// drops that future whenever it has something to send, and must not lose
    /// the request with it.
    held: Option<RxJsonRpcMessage<RoleServer>>,
    first_contact: Option<(watch::Receiver<Link>, Instant)>,
}

impl<T> JoinOnUse<T> {
    pub(crate) fn new(inner: T, join: Arc<Join>) -> Self {
        JoinOnUse {
            inner,
            join,
            held: None,
            first_contact: None,
        }
    }
}

impl<T: Transport<RoleServer>> Transport<RoleServer> for JoinOnUse<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        if self.held.is_none() {
            let message = self.inner.receive().await?;
            match use_of(&message) {
                Use::Probe => return Some(message),
                Use::Join => {
                    self.join.soon(GRACE);
                    return Some(message);
                }
                Use::JoinAndWait if self.join.started().is_some() => return Some(message),
                Use::JoinAndWait => {
                    let link = self.join.now().watch_link();
                    self.first_contact = Some((link, Instant::now() + FIRST_CONTACT));
                    self.held = Some(message);
                }
            }
        }
        if let Some((link, deadline)) = &mut self.first_contact {
            // The first attempt ends in Up or in a Down with its reason.
            let _ = tokio::time::timeout_at(*deadline, link.changed()).await;
            if let Link::Down { reason } = &*link.borrow() {
                tracing::debug!("first contact with the daemon failed: {reason}");
            }
        }
        self.first_contact = None;
        self.held.take()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(v: serde_json::Value) -> RxJsonRpcMessage<RoleServer> {
        serde_json::from_value(v).expect("a client message")
    }

    #[test]
    fn only_earnest_messages_join() {
        let req = |method: &str, params: serde_json::Value| {
            message(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        };
        let init = req(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "probe", "version": "0"}}),
        );
        assert_eq!(use_of(&init), Use::Probe);
        assert_eq!(use_of(&req("ping", json!({}))), Use::Probe);
        assert_eq!(use_of(&req("server/discover", json!({}))), Use::Probe);
        let initialized = message(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        assert_eq!(use_of(&initialized), Use::Join);
        assert_eq!(use_of(&req("tools/list", json!({}))), Use::Join);
        assert_eq!(
            use_of(&req("tools/call", json!({"name": "peer_whoami"}))),
            Use::JoinAndWait
        );
    }
}
