//! Sends one DM through the local blemees-peerd and prints the daemon's answer.
//!
//! ```sh
//! cargo run -p peer-client --example send -- 'home:~/project#tester' '{"run": 42}'
//! ```
//!
//! BODY is JSON if it parses, else taken as a string. The connection is an
//! operator one (`presence: false`): hidden from `peer.list_peers`, announcing
//! nothing.

use peer_client::connect_hello;
use peer_proto::api::{self, HelloParams, SendParams};
use peer_proto::paths::{socket_path, Env};
use serde_json::value::{to_raw_value, RawValue};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(to), Some(body)) = (args.next(), args.next()) else {
        eprintln!("usage: send TO BODY");
        std::process::exit(2);
    };
    let body = match RawValue::from_string(body.clone()) {
        Ok(json) => json,
        Err(_) => to_raw_value(&body)?,
    };
    // The socket the daemon uses by default ($BLEMEES_PEER_SOCKET, $XDG_RUNTIME_DIR, /tmp).
    let socket = socket_path(None, &Env::from_process());
    let hello = HelloParams::operator("~").client("send-example", peer_proto::VERSION);
    let (conn, _notifications, _) = connect_hello(&socket, &hello).await?;
    let params = SendParams {
        to,
        body,
        reply_to: None,
    };
    let sent = conn.request::<api::Send>(&params).await?;
    println!("{}", serde_json::to_string(&sent)?);
    Ok(())
}
