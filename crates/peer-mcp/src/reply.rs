//! Tool results: JSON as text for every client, plus `structuredContent` for
//! clients whose protocol version has it (2025-06-18 on); daemon failures as
//! `isError` results an agent can read and act on.

use peer_client::ClientError;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::RoleServer;
use serde_json::Value;
use std::path::Path;

/// First protocol version with `structuredContent` in tool results.
const STRUCTURED_SINCE: &str = "2025-06-18";

/// A successful result carrying `value`.
pub(crate) fn json(ctx: &RequestContext<RoleServer>, value: Value) -> CallToolResult {
    let structured = value.is_object()
        && ctx
            .protocol_version()
            .is_some_and(|v| v.as_str() >= STRUCTURED_SINCE);
    if structured {
        CallToolResult::structured(value)
    } else {
        CallToolResult::success(vec![ContentBlock::text(value.to_string())])
    }
}

/// A failed daemon request, explained.
pub(crate) fn error(socket: &Path, e: &ClientError) -> CallToolResult {
    let text = match e {
        ClientError::Rpc(_) | ClientError::Protocol(_) => e.to_string(),
        _ => format!(
            "{e}. Start the daemon with `blemees-peerd --socket {}` (or plain `blemees-peerd` \
             for the default socket); this sidecar reconnects by itself.",
            socket.display()
        ),
    };
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// The result of a call the host cancelled; rmcp never sends it.
pub(crate) fn cancelled() -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text("cancelled")])
}
