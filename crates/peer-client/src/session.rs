//! A session that outlives its connections: the identity an agent keeps while
//! the daemon restarts underneath it.
//!
//! The session task connects, says hello with a fixed sid, restores what the
//! agent had set up (alias, DM filter, topic subscriptions), then forwards the
//! daemon's notifications until the connection ends, and starts over with
//! backoff. For every subscribed topic it remembers the last message id seen, so
//! a reconnect catches up on what was published meanwhile: with `since` when the
//! daemon has that feature, otherwise (0.1) by reading `peer.history` after
//! resubscribing. Catch-up may repeat a message already seen; consumers
//! de-duplicate by `message_id`, as they must for acknowledged delivery anyway.

use crate::backoff::Backoff;
use crate::connection::{Connection, Notification, Notifications};
use crate::error::ClientError;
use crate::hello::connect_hello;
use peer_proto::address::{session_address, topic_address, Address};
use peer_proto::api::{
    self, feature, ClientInfo, DmFilterParams, DmFilterResult, HelloParams, HelloResult,
    HistoryParams, OkResult, Request, SetAliasParams, SetAliasResult, SubscribeParams,
    SubscribeResult, TopicParams,
};
use peer_proto::limits::HISTORY_MAX_LIMIT;
use peer_proto::{method, ErrorCode, Message};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Who the session is and where the daemon listens.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The daemon's socket.
    pub socket: PathBuf,
    /// The session's fixed sid.
    pub sid: String,
    /// The session's home.
    pub home: String,
    /// Claimed after the first hello; refused or malformed → logged, dropped.
    pub alias: Option<String>,
    /// Ask for acknowledged delivery (used when the daemon has the feature).
    pub ack: bool,
    /// Who is connecting, for the daemon's logs.
    pub client: Option<ClientInfo>,
}

/// The state of the link to the daemon.
#[derive(Clone)]
pub enum Link {
    /// Connected, hello done, state restored.
    Up {
        /// The live connection.
        conn: Connection,
        /// What the daemon said to hello.
        hello: Arc<HelloResult>,
    },
    /// Between connections; `reason` says why, for error messages.
    Down {
        /// Why, for error messages.
        reason: String,
    },
}

/// What is re-established on every new connection.
#[derive(Debug, Default)]
struct Restore {
    alias: Option<String>,
    dm_filter: Option<Vec<String>>,
    /// Subscribed topic → id of the last message seen on it.
    topics: BTreeMap<String, Option<String>>,
}

struct Shared {
    config: SessionConfig,
    restore: Mutex<Restore>,
    link: watch::Sender<Link>,
    events: mpsc::UnboundedSender<Notification>,
    stop: CancellationToken,
}

/// Handle to a running session. Cheap to clone.
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
}

impl Session {
    /// Starts the session task. The returned stream carries every notification
    /// of every connection, in order, plus catch-up messages.
    pub fn start(config: SessionConfig) -> (Session, Notifications) {
        let (events, rx) = mpsc::unbounded_channel();
        let restore = Restore {
            alias: config.alias.clone(),
            ..Restore::default()
        };
        let (link, _) = watch::channel(Link::Down {
            reason: "not connected yet".into(),
        });
        let shared = Arc::new(Shared {
            config,
            restore: Mutex::new(restore),
            link,
            events,
            stop: CancellationToken::new(),
        });
        tokio::spawn(run(shared.clone()));
        (Session { shared }, rx)
    }

    /// Stops reconnecting and drops the connection.
    pub fn close(&self) {
        self.shared.stop.cancel();
    }

    /// The daemon's socket.
    pub fn socket(&self) -> &Path {
        &self.shared.config.socket
    }
    /// The session's sid.
    pub fn sid(&self) -> &str {
        &self.shared.config.sid
    }
    /// The session's home.
    pub fn home(&self) -> &str {
        &self.shared.config.home
    }
    /// `home:<home>`.
    pub fn peer_id(&self) -> String {
        peer_proto::address::home_address(self.home())
    }
    /// The sid form `home:<home>#<sid>`: how others reach this session.
    pub fn address(&self) -> String {
        session_address(self.home(), self.sid())
    }
    /// The alias this session holds (or will claim on connecting).
    pub fn alias(&self) -> Option<String> {
        self.state().alias.clone()
    }

    /// The link as it is now.
    pub fn link(&self) -> Link {
        self.shared.link.borrow().clone()
    }

    /// Watches link changes (e.g. to wait for a reconnect).
    pub fn watch_link(&self) -> watch::Receiver<Link> {
        self.shared.link.subscribe()
    }

    /// Whether the current connection's daemon lists `feature`.
    pub fn has(&self, feature: &str) -> bool {
        matches!(self.link(), Link::Up { hello, .. } if hello.has(feature))
    }

    /// Any request on the current connection.
    pub async fn request<R: Request>(&self, params: &R::Params) -> Result<R::Result, ClientError> {
        self.conn()?.request::<R>(params).await
    }

    /// `peer.set_alias`; on success the alias is restored on every reconnect.
    pub async fn set_alias(&self, alias: &str) -> Result<SetAliasResult, ClientError> {
        let alias = alias.to_owned();
        let result = self
            .request::<api::SetAlias>(&SetAliasParams { alias })
            .await?;
        self.state().alias = result.alias.clone();
        Ok(result)
    }

    /// `peer.set_dm_filter`; on success the filter is restored on reconnect.
    pub async fn set_dm_filter(
        &self,
        patterns: Vec<String>,
    ) -> Result<DmFilterResult, ClientError> {
        let params = DmFilterParams { patterns };
        let result = self.request::<api::SetDmFilter>(&params).await?;
        self.state().dm_filter = Some(params.patterns);
        Ok(result)
    }

    /// `peer.subscribe`; on success the subscription is restored on reconnect.
    pub async fn subscribe(
        &self,
        topic: &str,
        replay: u64,
    ) -> Result<SubscribeResult, ClientError> {
        let conn = self.conn()?;
        // Listed before the call so replayed messages already move the anchor.
        let fresh = self.state().topics.try_insert_none(topic);
        let params = SubscribeParams {
            topic: topic.to_owned(),
            replay: Some(replay),
            since: None,
        };
        let result = conn.request::<api::Subscribe>(&params).await;
        if result.is_err() && fresh {
            self.state().topics.remove(topic);
        }
        let result = result?;
        if self.state().topics.get(topic).is_some_and(Option::is_none) {
            // Anchor the catch-up at the newest stored message, so a reconnect
            // re-reads only what came after it.
            let newest = newest_message_id(&conn, topic).await;
            if let Some(anchor) = self.state().topics.get_mut(topic) {
                if anchor.is_none() {
                    *anchor = newest;
                }
            }
        }
        Ok(result)
    }

    /// `peer.unsubscribe`; the topic is no longer restored.
    pub async fn unsubscribe(&self, topic: &str) -> Result<OkResult, ClientError> {
        let params = TopicParams {
            topic: topic.to_owned(),
        };
        let result = self.request::<api::Unsubscribe>(&params).await?;
        self.state().topics.remove(topic);
        Ok(result)
    }

    /// `peer.ack` for delivered DMs, when the daemon does acknowledged delivery;
    /// `Ok(false)` when it does not (nothing to acknowledge).
    pub async fn ack(&self, message_ids: &[String]) -> Result<bool, ClientError> {
        if message_ids.is_empty() || !self.has(feature::ACK) {
            return Ok(false);
        }
        let params = api::AckParams {
            message_ids: message_ids.to_vec(),
        };
        self.request::<api::Ack>(&params).await?;
        Ok(true)
    }

    fn conn(&self) -> Result<Connection, ClientError> {
        match self.link() {
            Link::Up { conn, .. } => Ok(conn),
            Link::Down { reason } => Err(ClientError::NotConnected {
                path: self.shared.config.socket.clone(),
                reason,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, Restore> {
        self.shared.state()
    }
}

trait TryInsertNone {
    fn try_insert_none(&mut self, topic: &str) -> bool;
}

impl TryInsertNone for BTreeMap<String, Option<String>> {
    /// Adds `topic` without an anchor; false if it was already there.
    fn try_insert_none(&mut self, topic: &str) -> bool {
        if self.contains_key(topic) {
            return false;
        }
        self.insert(topic.to_owned(), None);
        true
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, Restore> {
        self.restore.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forwards a notification, first moving the topic's catch-up anchor.
    fn deliver(&self, note: Notification) {
        if note.method == method::MESSAGE {
            let topic = match note.params["to"].as_str().map(Address::parse) {
                Some(Ok(Address::Topic(topic))) => Some(topic),
                _ => None,
            };
            let id = note.params["message_id"].as_str();
            if let (Some(topic), Some(id)) = (topic, id) {
                if let Some(anchor) = self.state().topics.get_mut(topic) {
                    *anchor = Some(id.to_owned());
                }
            }
        }
        // A closed receiver means the consumer is gone; the session stops soon.
        let _ = self.events.send(note);
    }

    fn set_down(&self, reason: String) {
        self.link.send_replace(Link::Down { reason });
    }
}

/// The session task: connect, restore, forward, repeat.
async fn run(shared: Arc<Shared>) {
    let mut backoff = Backoff::default();
    let mut failures = 0u32;
    loop {
        let attempt = tokio::select! {
            r = establish(&shared) => r,
            _ = shared.stop.cancelled() => return,
        };
        match attempt {
            Ok((conn, notes, hello)) => {
                backoff.reset();
                failures = 0;
                tracing::info!(
                    socket = %shared.config.socket.display(),
                    sid = %shared.config.sid,
                    server_version = %hello.server_version,
                    "connected to blemees-peerd"
                );
                shared.link.send_replace(Link::Up {
                    conn,
                    hello: Arc::new(hello),
                });
                if !forward(&shared, notes).await {
                    return;
                }
                tracing::warn!("lost the connection to blemees-peerd; reconnecting");
                shared.set_down("the connection was lost; reconnecting".into());
            }
            Err(e) => {
                // The first failure is worth a warning; a daemon that stays away
                // should not flood the log.
                if failures == 0 {
                    tracing::warn!("{e}; retrying in the background");
                } else {
                    tracing::debug!("{e}");
                }
                failures = failures.saturating_add(1);
                shared.set_down(down_reason(&e));
            }
        }
        if shared.events.is_closed() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.next_delay()) => {}
            _ = shared.stop.cancelled() => return,
        }
    }
}

/// Why the link is down, for messages that already name the socket.
fn down_reason(e: &ClientError) -> String {
    match e {
        ClientError::Connect { source, .. } => source.to_string(),
        e => e.to_string(),
    }
}

/// Forwards notifications until the connection ends (true) or the session is
/// stopped (false).
async fn forward(shared: &Shared, mut notes: Notifications) -> bool {
    loop {
        tokio::select! {
            note = notes.recv() => match note {
                Some(note) => shared.deliver(note),
                None => return true,
            },
            _ = shared.stop.cancelled() => return false,
        }
    }
}

/// Connects, says hello, and restores the session's state.
async fn establish(
    shared: &Shared,
) -> Result<(Connection, Notifications, HelloResult), ClientError> {
    let c = &shared.config;
    let mut hello = HelloParams::new(&c.sid, &c.home);
    if c.ack {
        hello = hello.ack(true);
    }
    hello.client = c.client.clone();
    let (conn, notes, result) = connect_hello(&c.socket, &hello).await?;
    restore(shared, &conn, &result).await?;
    Ok((conn, notes, result))
}

async fn restore(
    shared: &Shared,
    conn: &Connection,
    hello: &HelloResult,
) -> Result<(), ClientError> {
    let (alias, filter, topics) = {
        let s = shared.state();
        (s.alias.clone(), s.dm_filter.clone(), s.topics.clone())
    };
    if let Some(alias) = alias {
        let params = SetAliasParams {
            alias: alias.clone(),
        };
        match conn.request::<api::SetAlias>(&params).await {
            Ok(_) => tracing::info!(%alias, "claimed alias"),
            Err(ClientError::Rpc(e)) => {
                let why = if e.is(ErrorCode::AliasTaken) {
                    "taken"
                } else {
                    "refused"
                };
                tracing::warn!(%alias, "alias {why}: {}; continuing without it", e.message);
                let mut s = shared.state();
                if s.alias.as_deref() == Some(alias.as_str()) {
                    s.alias = None;
                }
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(patterns) = filter {
        conn.request::<api::SetDmFilter>(&DmFilterParams { patterns })
            .await?;
    }
    for (topic, anchor) in topics {
        restore_topic(shared, conn, hello, &topic, anchor).await?;
    }
    Ok(())
}

/// Resubscribes `topic` and catches up on messages after `anchor` (all stored
/// ones when there is none: the topic was empty when this session subscribed
/// and nothing arrived since, so everything stored now is new to it).
async fn restore_topic(
    shared: &Shared,
    conn: &Connection,
    hello: &HelloResult,
    topic: &str,
    anchor: Option<String>,
) -> Result<(), ClientError> {
    let mut subscribe = SubscribeParams {
        topic: topic.to_owned(),
        replay: None,
        since: None,
    };
    if let (true, Some(since)) = (hello.has(feature::SINCE), &anchor) {
        subscribe.since = Some(since.clone());
        conn.request::<api::Subscribe>(&subscribe).await?;
        return Ok(());
    }
    conn.request::<api::Subscribe>(&subscribe).await?;
    let params = HistoryParams {
        address: topic_address(topic),
        since: anchor,
        limit: Some(HISTORY_MAX_LIMIT),
    };
    let history = conn.request::<api::History>(&params).await?;
    for message in history.messages {
        shared.deliver(notification(&message));
    }
    Ok(())
}

/// A stored message as the `peer.message` notification it was.
fn notification(message: &Message) -> Notification {
    Notification {
        method: method::MESSAGE.to_owned(),
        params: serde_json::to_value(message).unwrap_or_default(),
    }
}

/// The id of the newest stored message of `topic`, if any (errors → none: the
/// anchor only saves re-reading).
async fn newest_message_id(conn: &Connection, topic: &str) -> Option<String> {
    let params = HistoryParams {
        address: topic_address(topic),
        since: None,
        limit: Some(1),
    };
    let history = conn.request::<api::History>(&params).await.ok()?;
    history.messages.last().map(|m| m.message_id.clone())
}
