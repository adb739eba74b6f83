//! Connecting and saying `peer.hello` in one step (the params and result are
//! typed in `peer_proto::api`).

use crate::connection::{Connection, Notifications};
use crate::error::ClientError;
use peer_proto::api::{Hello, HelloParams, HelloResult};
use std::path::Path;

/// Connects to `socket` and says hello. Notifications the hello causes (queued
/// DMs) are already on the returned stream.
pub async fn connect_hello(
    socket: &Path,
    hello: &HelloParams,
) -> Result<(Connection, Notifications, HelloResult), ClientError> {
    let (conn, notes) = Connection::connect(socket).await?;
    let result = conn.request::<Hello>(hello).await?;
    Ok((conn, notes, result))
}
