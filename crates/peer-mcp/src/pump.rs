//! Background tasks between the session and the MCP side: filing daemon
//! notifications into the inbox, and acknowledging delivered DMs.

use crate::inbox::Pushed;
use crate::mailbox::Mailbox;
use crate::resources::{self, Watchers};
use peer_client::{Link, Notifications, Session};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Files every notification of the session into the mailbox and tells resource
/// subscribers what changed.
pub async fn file_notifications(
    mut notes: Notifications,
    mailbox: Arc<Mailbox>,
    watchers: Arc<Watchers>,
) {
    while let Some(note) = notes.recv().await {
        let method = note.method.clone();
        let topic = note.params["to"]
            .as_str()
            .is_some_and(|to| to.starts_with("topic:"));
        match mailbox.push(note) {
            Some(Pushed::Added) => watchers.changed(resources::INBOX),
            Some(Pushed::Duplicate) => tracing::debug!("dropped a duplicate {method}"),
            Some(Pushed::Dropped) => tracing::debug!("inbox full: dropped a {method}"),
            None => tracing::debug!("not filed: {method}"),
        }
        match method.as_str() {
            "peer.peer_joined" | "peer.peer_left" | "peer.alias_changed" => {
                watchers.changed(resources::PEERS)
            }
            "peer.message" if topic => watchers.changed(resources::TOPICS),
            _ => {}
        }
    }
}

/// Acknowledges delivered DMs. While the daemon is away the ids wait (the
/// daemon re-sends those DMs on reconnect; the inbox drops the repeats) and are
/// acknowledged on the next connection.
pub async fn acknowledge(session: Session, mut acks: mpsc::UnboundedReceiver<Vec<String>>) {
    let mut link = session.watch_link();
    let mut pending: Vec<String> = Vec::new();
    loop {
        if pending.is_empty() {
            match acks.recv().await {
                Some(ids) => pending.extend(ids),
                None => return,
            }
        }
        while let Ok(ids) = acks.try_recv() {
            pending.extend(ids);
        }
        match session.ack(&pending).await {
            Ok(acked) => {
                if acked {
                    tracing::debug!("acknowledged {} DMs", pending.len());
                }
                pending.clear();
            }
            Err(e) => {
                tracing::debug!("acknowledging {} DMs later: {e}", pending.len());
                // Wait for the link to come back up before retrying.
                loop {
                    if link.changed().await.is_err() {
                        return;
                    }
                    if matches!(*link.borrow(), Link::Up { .. }) {
                        break;
                    }
                }
            }
        }
    }
}
