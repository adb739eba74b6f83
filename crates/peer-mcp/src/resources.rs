//! The three resources (`peer://inbox`, `peer://peers`, `peer://topics`) and who
//! wants to hear when they change: a legacy client via `resources/subscribe`
//! (protocol versions up to 2025-11-25), a 2026-07-28 client via the
//! `subscriptions/listen` streams it keeps open.

use rmcp::model::{Resource, ResourceUpdatedNotificationParam};
use rmcp::service::SubscriptionSink;
use rmcp::{Peer, RoleServer};
use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

pub(crate) const INBOX: &str = "peer://inbox";
pub(crate) const PEERS: &str = "peer://peers";
pub(crate) const TOPICS: &str = "peer://topics";
pub(crate) const ALL: [&str; 3] = [INBOX, PEERS, TOPICS];

/// The resource list.
pub(crate) fn list() -> Vec<Resource> {
    let json = |uri: &str, name: &str, description: &str| {
        Resource::new(uri, name)
            .with_description(description)
            .with_mime_type("application/json")
    };
    vec![
        json(
            INBOX,
            "inbox",
            "Received peer messages not yet taken, oldest first (reading does not take them).",
        ),
        json(PEERS, "peers", "Connected agent sessions, grouped by home."),
        json(
            TOPICS,
            "topics",
            "Topics with subscriber counts and last message time.",
        ),
    ]
}

#[derive(Default)]
struct Legacy {
    peer: Option<Peer<RoleServer>>,
    uris: HashSet<String>,
}

/// Subscribers to resource updates.
#[derive(Default)]
pub(crate) struct Watchers {
    legacy: Mutex<Legacy>,
    listeners: Mutex<Vec<SubscriptionSink>>,
}

impl Watchers {
    fn legacy(&self) -> MutexGuard<'_, Legacy> {
        self.legacy.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn listeners(&self) -> MutexGuard<'_, Vec<SubscriptionSink>> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `resources/subscribe`.
    pub(crate) fn subscribe(&self, peer: Peer<RoleServer>, uri: String) {
        let mut l = self.legacy();
        l.peer = Some(peer);
        l.uris.insert(uri);
    }

    /// `resources/unsubscribe`.
    pub(crate) fn unsubscribe(&self, uri: &str) {
        self.legacy().uris.remove(uri);
    }

    /// A `subscriptions/listen` stream opened.
    pub(crate) fn listen(&self, sink: SubscriptionSink) {
        self.listeners().push(sink);
    }

    /// A `subscriptions/listen` stream ended.
    pub(crate) fn unlisten(&self, sink: &SubscriptionSink) {
        self.listeners().retain(|s| s.id() != sink.id());
    }

    /// Tells every subscriber of `uri` it changed. Sending happens in the
    /// background so the caller (the notification pump, a tool) never waits on
    /// the host reading stdout.
    pub(crate) fn changed(&self, uri: &'static str) {
        let legacy = {
            let l = self.legacy();
            l.peer.clone().filter(|_| l.uris.contains(uri))
        };
        let listeners: Vec<SubscriptionSink> = self
            .listeners()
            .iter()
            .filter(|s| {
                s.accepted()
                    .resource_subscriptions
                    .as_ref()
                    .is_some_and(|uris| uris.iter().any(|u| u == uri))
            })
            .cloned()
            .collect();
        if legacy.is_none() && listeners.is_empty() {
            return;
        }
        tokio::spawn(async move {
            if let Some(peer) = legacy {
                let param = ResourceUpdatedNotificationParam::new(uri);
                if let Err(e) = peer.notify_resource_updated(param).await {
                    tracing::debug!("resource update for {uri} not sent: {e}");
                }
            }
            for sink in listeners {
                if let Err(e) = sink.notify_resource_updated(uri).await {
                    tracing::debug!("resource update for {uri} not sent: {e}");
                }
            }
        });
    }
}
