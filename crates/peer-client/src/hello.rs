//! `peer.hello`, typed: what a client says about itself and what the daemon
//! answers, including the [ext] feature list a 0.1 daemon leaves out.

use crate::connection::{Connection, Notifications};
use crate::error::ClientError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `client: {name, version}` — shown in the daemon's logs.
#[derive(Debug, Clone, Serialize)]
pub struct ClientInfo {
    pub name: String,
    pub version: String,
}

/// The params of `peer.hello`. Optional [ext] fields are left out when unset so
/// a 0.1 daemon sees exactly what a 0.1 client sends.
#[derive(Debug, Clone, Serialize)]
pub struct Hello {
    pub sid: String,
    pub home: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientInfo>,
}

impl Hello {
    /// An agent session: visible to others, joined/left announced.
    pub fn new(sid: impl Into<String>, home: impl Into<String>) -> Self {
        Hello {
            sid: sid.into(),
            home: home.into(),
            presence: None,
            ack: None,
            client: None,
        }
    }

    /// An operator or script connection (`presence: false`) with a fresh sid:
    /// hidden from `list_peers`, announces nothing.
    pub fn operator(home: impl Into<String>) -> Self {
        Hello {
            presence: Some(false),
            ..Hello::new(peer_proto::identity::mint_sid(), home)
        }
    }

    pub fn client(mut self, name: &str, version: &str) -> Self {
        self.client = Some(ClientInfo {
            name: name.to_string(),
            version: version.to_string(),
        });
        self
    }

    /// Asks for acknowledged delivery; a daemon without the `ack` feature
    /// ignores it.
    pub fn ack(mut self, ack: bool) -> Self {
        self.ack = Some(ack);
        self
    }
}

/// The `peer.hello` result.
#[derive(Debug, Clone, Deserialize)]
pub struct HelloResult {
    pub peer_id: String,
    pub sid: String,
    pub server_version: String,
    /// [ext] absent from 0.1.
    #[serde(default)]
    pub protocol: Option<String>,
    /// [ext] absent from 0.1, which then has none of the optional features.
    #[serde(default)]
    pub features: Vec<String>,
}

impl HelloResult {
    pub fn has(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

/// Connects to `socket` and says hello. Notifications the hello causes (queued
/// DMs) are already on the returned stream.
pub async fn connect_hello(
    socket: &Path,
    hello: &Hello,
) -> Result<(Connection, Notifications, HelloResult), ClientError> {
    let (conn, notes) = Connection::connect(socket).await?;
    let result = conn.call_as("peer.hello", hello).await?;
    Ok((conn, notes, result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unset_extensions_stay_off_the_wire() {
        let v = serde_json::to_value(Hello::new("sess_x", "~")).unwrap();
        assert_eq!(v, json!({"sid": "sess_x", "home": "~"}));
        let v = serde_json::to_value(Hello::operator("/t").client("cli", "1").ack(true)).unwrap();
        assert_eq!(v["presence"], false);
        assert_eq!(v["ack"], true);
        assert_eq!(v["client"], json!({"name": "cli", "version": "1"}));
        assert!(peer_proto::identity::is_valid_sid(
            v["sid"].as_str().unwrap()
        ));
    }

    #[test]
    fn a_0_1_result_has_no_features() {
        let r: HelloResult = serde_json::from_value(
            json!({"peer_id": "home:~", "sid": "sess_x", "server_version": "0.1.0"}),
        )
        .unwrap();
        assert!(!r.has(crate::feature::SINCE));
        let r: HelloResult = serde_json::from_value(json!({"peer_id": "home:~", "sid": "sess_x",
            "server_version": "0.2.0", "features": ["since", "ack"]}))
        .unwrap();
        assert!(r.has(crate::feature::ACK));
    }
}
