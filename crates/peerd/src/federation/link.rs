//! The connection to NATS: authentication and TLS the way NATS users set them
//! up (a `.creds` file, an nkey seed, a token, `tls://` URLs with a CA), the
//! link's state for `peer.status`, and the JetStream stream every node shares.

use super::wire::Subjects;
use super::FederationConfig;
use anyhow::Context;
use async_nats::jetstream::{self, stream};
use peer_proto::api::FederationStatus;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How long a connection attempt may take before it is retried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Publishes with the same message id within this window are stored once
/// (the outbox re-sends what it could not see acknowledged).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);

/// What `peer.status` shows of the link, shared with the event thread, and
/// how many connections to NATS were made, for the consumers to follow.
#[derive(Debug, Clone)]
pub(crate) struct LinkState {
    status: Arc<Mutex<FederationStatus>>,
    connections: Arc<watch::Sender<u64>>,
}

impl LinkState {
    pub(crate) fn new(config: &FederationConfig) -> LinkState {
        let nats: Vec<&str> = config.urls.iter().map(|u| without_credentials(u)).collect();
        LinkState {
            status: Arc::new(Mutex::new(FederationStatus {
                backlog: 0,
                link: "connecting".into(),
                nats: nats.join(","),
                node: config.node.clone(),
            })),
            connections: Arc::new(watch::Sender::new(0)),
        }
    }

    /// The status as of now (the store fills in the backlog).
    pub(crate) fn get(&self) -> FederationStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Changes at each connection to NATS, the first and every reconnect:
    /// what a consumer made on an earlier connection may not survive.
    pub(crate) fn connections(&self) -> watch::Receiver<u64> {
        self.connections.subscribe()
    }

    fn set(&self, link: &str) {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).link = link.to_owned();
    }

    fn connected(&self) {
        self.set("up");
        self.connections.send_modify(|n| *n += 1);
    }
}

/// `url` without a `user:password@` (or token) part, for showing.
fn without_credentials(url: &str) -> &str {
    match url.rsplit_once('@') {
        Some((_, host)) => host,
        None => url,
    }
}

/// Connects to the configured servers, retrying in the background until one
/// answers; the client reconnects by itself after that.
pub(crate) async fn connect(
    config: &FederationConfig,
    state: LinkState,
) -> anyhow::Result<async_nats::Client> {
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("blemees-peerd {}", config.node))
        .custom_inbox_prefix(config.subjects().inboxes())
        .connection_timeout(CONNECT_TIMEOUT)
        .retry_on_initial_connect()
        .max_reconnects(None);
    if let Some((user, password)) = url_credentials(&config.urls)? {
        options = match password {
            Some(password) => options.user_and_password(user, password),
            None => options.token(user),
        };
    }
    if let Some(path) = &config.creds {
        options = options
            .credentials_file(path)
            .await
            .with_context(|| format!("reading the NATS credentials {}", path.display()))?;
    }
    if let Some(path) = &config.nkey {
        options = options.nkey(read_secret(path, "NATS nkey seed")?);
    }
    if let Some(path) = &config.token {
        options = options.token(read_secret(path, "NATS token")?);
    }
    if let Some(path) = &config.ca {
        options = options
            .add_root_certificates(path.clone())
            .require_tls(true);
    }
    options = options.reconnect_to_server_callback(log_failed_attempts(config.node.clone()));
    let (events, node) = (state.clone(), config.node.clone());
    options = options.event_callback(move |event| {
        let (events, node) = (events.clone(), node.clone());
        async move {
            match event {
                async_nats::Event::Connected => events.connected(),
                async_nats::Event::Disconnected => events.set("down"),
                event => match refusal(&event) {
                    Some(what) => tracing::error!(
                        "NATS refused node {node} {what}: {event} (see \"Trust\" in \
                         docs/federation.md)"
                    ),
                    None => tracing::info!("NATS: {event}"),
                },
            }
        }
    });
    let client = options
        .connect(config.urls.join(","))
        .await
        .context("connecting to NATS")?;
    Ok(client)
}

/// Logs why each attempt to reach a server failed, which the client's events
/// do not tell: a TLS certificate that does not chain to the CA, a refused or
/// timed-out connection all come as "IO error". The client calls this before
/// every attempt, with each server's count of failed attempts and its last
/// error; the server to try is left to the client (`None`).
fn log_failed_attempts(
    node: String,
) -> impl Fn(
    Vec<async_nats::Server>,
    async_nats::ServerInfo,
) -> std::future::Ready<Option<async_nats::ReconnectToServer>>
       + Send
       + Sync
       + 'static {
    // The count of failed attempts last seen of each server: its last error
    // is new when the count changed (it is 0 again after a connection).
    let seen: Mutex<HashMap<String, usize>> = Mutex::default();
    move |servers, _| {
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        for server in servers {
            let url = server.addr.as_url_str().to_owned();
            let before = seen.insert(url.clone(), server.failed_attempts);
            let new = server.failed_attempts > 0 && before != Some(server.failed_attempts);
            match &server.last_error {
                Some(error) if new => tracing::warn!(
                    "node {node} could not connect to NATS at {}: {error}",
                    without_credentials(&url)
                ),
                _ => {}
            }
        }
        std::future::ready(None)
    }
}

/// What NATS refused, if `event` is a refusal. They are worth an error of
/// their own: a publish or request that NATS refuses a permission for gets
/// no answer, so the operation itself only times out, and a connection
/// whose credentials are refused is retried for ever.
fn refusal(event: &async_nats::Event) -> Option<&'static str> {
    use async_nats::{ClientError, Event, ServerError};
    match event {
        Event::ServerError(ServerError::Other(e)) if e.starts_with("Permissions Violation") => {
            Some("a permission its NATS user lacks")
        }
        Event::ServerError(ServerError::AuthorizationViolation) => Some("its credentials"),
        Event::ClientError(ClientError::Other(e)) if e.contains("authorization violation") => {
            Some("its credentials")
        }
        _ => None,
    }
}

/// The user and password (or the token: a user alone) of the first of `urls`
/// that has any, as NATS users write them (`nats://user:pass@host`): the
/// client library does not read them from the URL itself.
fn url_credentials(urls: &[String]) -> anyhow::Result<Option<(String, Option<String>)>> {
    for url in urls {
        let addr: async_nats::ServerAddr = url
            .parse()
            .with_context(|| format!("reading the NATS URL {}", without_credentials(url)))?;
        if let Some(user) = addr.username() {
            let decode = |s: &str| -> anyhow::Result<String> {
                let text = percent_encoding::percent_decode_str(s).decode_utf8()?;
                Ok(text.into_owned())
            };
            return Ok(Some((
                decode(user)?,
                addr.password().map(decode).transpose()?,
            )));
        }
    }
    Ok(None)
}

/// A secret file's content, trimmed (editors add a newline).
fn read_secret(path: &std::path::Path, what: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the {what} {}", path.display()))?;
    Ok(text.trim().to_owned())
}

/// The stream of every node's DMs and publishes: created with file storage
/// if it does not exist (an account that may not create it needs it made
/// beforehand; see docs/federation.md).
pub(crate) async fn stream(
    js: &jetstream::Context,
    subjects: &Subjects,
    max_age: Duration,
) -> anyhow::Result<stream::Stream> {
    let name = subjects.stream_name();
    if let Ok(found) = js.get_stream(&name).await {
        return Ok(found);
    }
    js.get_or_create_stream(stream::Config {
        name: name.clone(),
        subjects: subjects.stream_subjects(),
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age,
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    })
    .await
    .with_context(|| format!("creating the JetStream stream {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(urls: &[&str]) -> Option<(String, Option<String>)> {
        let urls: Vec<String> = urls.iter().map(|u| u.to_string()).collect();
        url_credentials(&urls).unwrap()
    }

    #[test]
    fn credentials_come_from_the_first_url_that_has_them() {
        assert_eq!(credentials(&["nats://h:4222", "tls://h2"]), None);
        assert_eq!(
            credentials(&["nats://h:4222", "nats://al%40ice:p%3Ass@h2:4222"]),
            Some(("al@ice".into(), Some("p:ss".into())))
        );
        assert_eq!(
            credentials(&["nats://s3cr3t@h"]),
            Some(("s3cr3t".into(), None))
        );
    }
}
