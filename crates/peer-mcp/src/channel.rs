//! `--claude-channel`: Claude Code "channels" push. A server that declares the
//! experimental capability `claude/channel` may send
//! `notifications/claude/channel` with `{content, meta}`; Claude Code shows the
//! event to the model as it arrives, so an agent hears a peer without calling
//! `peer_await` (Claude Code's channels reference, code.claude.com/docs/en/channels-reference).
//!
//! The push is a copy: the message stays in the inbox, so `peer_inbox` still
//! returns it and acknowledged delivery is unchanged (a host that ignores
//! channel events loses nothing). Off by default because hosts that do not
//! enable channels drop these events silently.

use rmcp::model::{CustomNotification, ExperimentalCapabilities, JsonObject, ServerNotification};
use rmcp::{Peer, RoleServer};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

/// The experimental capability that makes Claude Code listen.
pub(crate) const CAPABILITY: &str = "claude/channel";
/// The notification method Claude Code listens to.
pub(crate) const METHOD: &str = "notifications/claude/channel";
/// Pushes waiting for stdout. A full queue drops the push, never the message:
/// it is still in the inbox.
const QUEUE: usize = 1000;

/// The `experimental` capabilities to declare: `{"claude/channel": {}}`.
pub(crate) fn experimental() -> ExperimentalCapabilities {
    ExperimentalCapabilities::from([(CAPABILITY.to_string(), JsonObject::new())])
}

/// Where the notification pump hands messages to push.
#[derive(Clone)]
pub(crate) struct ChannelTx(mpsc::Sender<Value>);

/// The pushes waiting for the MCP session to be up.
pub(crate) struct ChannelRx(mpsc::Receiver<Value>);

pub(crate) fn queue() -> (ChannelTx, ChannelRx) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (ChannelTx(tx), ChannelRx(rx))
}

impl ChannelTx {
    /// Queues a push of the `peer.message` with these params; never waits, so a
    /// host slow to read stdout cannot hold up the inbox.
    pub(crate) fn push(&self, params: Value) {
        if self.0.try_send(params).is_err() {
            tracing::debug!(
                "channel push not sent (queue full or closed); the message is in the inbox"
            );
        }
    }
}

/// Sends every queued push to the host until the session ends. Started once
/// the MCP handshake is done: messages that arrive before it wait in the queue.
pub(crate) async fn forward(peer: Peer<RoleServer>, mut rx: ChannelRx) {
    while let Some(params) = rx.0.recv().await {
        let note = CustomNotification::new(METHOD, Some(event(&params)));
        if let Err(e) = peer
            .send_notification(ServerNotification::CustomNotification(note))
            .await
        {
            tracing::debug!("channel push not sent: {e}");
            return;
        }
    }
}

/// The channel event for a `peer.message`: the body as `content` (a string
/// body as is, anything else as compact JSON) and the routing fields as `meta`.
/// Claude Code turns meta into attributes of the event and drops keys that are
/// not identifiers, so the keys are snake_case and every value is a string; a
/// field that is null (no alias, not a reply) is left out.
fn event(params: &Value) -> Value {
    let content = match &params["body"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let meta: Map<String, Value> = ["from", "from_alias", "to", "message_id", "reply_to"]
        .into_iter()
        .filter_map(|k| Some((k.to_string(), params[k].as_str()?.into())))
        .collect();
    serde_json::json!({ "content": content, "meta": meta })
}

#[cfg(test)]
mod tests {
    use super::event;
    use serde_json::json;

    #[test]
    fn string_bodies_stay_text_and_null_fields_are_left_out() {
        let e = event(&json!({
            "message_id": "m1", "from": "home:~/a#sess_x", "from_alias": null,
            "to": "topic:builds", "body": "green", "reply_to": null, "seq": 4,
        }));
        assert_eq!(
            e,
            json!({"content": "green",
                   "meta": {"from": "home:~/a#sess_x", "to": "topic:builds", "message_id": "m1"}})
        );
    }

    #[test]
    fn other_bodies_are_json_and_every_meta_key_is_an_identifier() {
        let e = event(&json!({
            "message_id": "m2", "from": "home:/t#sess_y", "from_alias": "architect",
            "to": "home:/u", "body": {"n": [1, 2]}, "reply_to": "m1",
        }));
        assert_eq!(e["content"], r#"{"n":[1,2]}"#);
        assert_eq!(e["meta"]["from_alias"], "architect");
        assert_eq!(e["meta"]["reply_to"], "m1");
        for key in e["meta"].as_object().unwrap().keys() {
            assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        }
    }
}
