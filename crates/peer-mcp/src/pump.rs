//! Background tasks between the session and the MCP side: filing daemon
//! notifications into the inbox, and acknowledging delivered DMs.

use crate::channel::ChannelTx;
use crate::inbox::Pushed;
use crate::mailbox::Mailbox;
use crate::resources::{self, Watchers};
use peer_client::{Link, Notifications, Session};
use peer_proto::address::Address;
use peer_proto::method;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Files every notification of the session into the mailbox, tells resource
/// subscribers what changed and, with `--claude-channel`, pushes each new
/// message to the host. Only messages the inbox took as new are pushed, so a
/// re-sent DM or topic catch-up is not announced twice.
pub(crate) async fn file_notifications(
    mut notes: Notifications,
    mailbox: Arc<Mailbox>,
    watchers: Arc<Watchers>,
    channel: Option<ChannelTx>,
) {
    while let Some(note) = notes.recv().await {
        let name = note.method.clone();
        let topic = note.params["to"]
            .as_str()
            .is_some_and(|to| matches!(Address::parse(to), Ok(Address::Topic(_))));
        let push = channel
            .as_ref()
            .filter(|_| name == method::MESSAGE)
            .map(|tx| (tx, note.params.clone()));
        match mailbox.push(note) {
            Some(Pushed::Added) => {
                watchers.changed(resources::INBOX);
                if let Some((tx, params)) = push {
                    tx.push(params);
                }
            }
            Some(Pushed::Duplicate) => tracing::debug!("dropped a duplicate {name}"),
            Some(Pushed::Dropped) => tracing::debug!("inbox full: dropped a {name}"),
            None => tracing::debug!("not filed: {name}"),
        }
        if method::is_presence(&name) {
            watchers.changed(resources::PEERS);
        } else if name == method::MESSAGE && topic {
            watchers.changed(resources::TOPICS);
        }
    }
}

/// Acknowledges delivered DMs. While the daemon is away the ids wait (the
/// daemon re-sends those DMs on reconnect; the inbox drops the repeats) and are
/// acknowledged on the next connection.
pub(crate) async fn acknowledge(session: Session, mut acks: mpsc::UnboundedReceiver<Vec<String>>) {
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
