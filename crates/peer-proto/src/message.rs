//! The `peer.message` notification's params, as sent and as received.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A DM or topic message. Field order is the wire order of 0.1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// `msg_` + its seq in base 36 and a random tail.
    pub message_id: String,
    /// Always the sender's sid form `home:<home>#<sid>`.
    pub from: String,
    /// The sender's alias at send time.
    pub from_alias: Option<String>,
    /// The address as the sender wrote it (`home:…` or `topic:…`).
    pub to: String,
    /// Any JSON value, kept as the sender's exact text.
    pub body: Box<RawValue>,
    /// The message this one answers.
    pub reply_to: Option<String>,
    /// Seconds since the Unix epoch.
    pub ts: f64,
    /// [ext] Grows over the daemon's life; absent from 0.1 daemons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
}

/// `peer.wire_message` params: the message plus what happened to it.
#[derive(Debug, Serialize)]
pub struct WireMessage<'a> {
    #[serde(flatten)]
    /// The message.
    pub message: &'a Message,
    /// Live sessions that got it.
    pub delivered: usize,
    /// Whether it waits in a DM queue.
    pub queued: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn wire_message_flattens_the_raw_body() {
        let m = Message {
            message_id: "msg_x".into(),
            from: "home:~#sess_abcdefghijklmnop".into(),
            from_alias: None,
            to: "topic:t".into(),
            body: RawValue::from_string(r#"{"k": [1, 2]}"#.into()).unwrap(),
            reply_to: None,
            ts: 1.5,
            seq: Some(3),
        };
        let v: Value = serde_json::to_value(WireMessage {
            message: &m,
            delivered: 2,
            queued: false,
        })
        .unwrap();
        assert_eq!(v["body"], json!({"k": [1, 2]}));
        assert_eq!(v["delivered"], 2);
        assert_eq!(v["seq"], 3);
        let text = serde_json::to_string(&m).unwrap();
        assert!(
            text.starts_with(r#"{"message_id":"msg_x","from":"#),
            "{text}"
        );
        let back: Message = serde_json::from_str(&text).unwrap();
        assert_eq!(back.body.get(), r#"{"k": [1, 2]}"#);
    }
}
