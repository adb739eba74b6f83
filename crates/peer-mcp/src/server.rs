//! The MCP server: identity, tools, resources, and the cancellation hook that
//! returns a cancelled call's messages to the inbox.

use crate::channel;
use crate::instructions;
use crate::join::Join;
use crate::mailbox::Mailbox;
use crate::reply;
use crate::resources::{self, Watchers};
use peer_client::ClientError;
use peer_proto::api::{self, NoParams, Request};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CallToolResult, CancelledNotificationParam, Implementation, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ResourceContents, ServerCapabilities, ServerConfig, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{tool_handler, ErrorData as McpError, RoleServer, ServerHandler};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Name in `serverInfo`, as 0.1.
pub(crate) const SERVER_NAME: &str = "blemees-peer-mcp";

#[derive(Clone)]
pub(crate) struct PeerServer {
    /// The daemon session, started when the host is in earnest (see [`Join`]).
    pub(crate) session: Arc<Join>,
    pub(crate) mailbox: Arc<Mailbox>,
    pub(crate) watchers: Arc<Watchers>,
    /// `--claude-channel`: declare `claude/channel` (the pushes themselves
    /// come from the notification pump).
    claude_channel: bool,
    tool_router: ToolRouter<PeerServer>,
}

impl PeerServer {
    pub(crate) fn new(
        session: Arc<Join>,
        mailbox: Arc<Mailbox>,
        watchers: Arc<Watchers>,
        claude_channel: bool,
        tools: &[crate::tools::ToolGroup],
    ) -> Self {
        PeerServer {
            session,
            mailbox,
            watchers,
            claude_channel,
            tool_router: Self::tools_of(tools),
        }
    }

    /// A daemon result as a tool result.
    pub(crate) fn reply(
        &self,
        ctx: &RequestContext<RoleServer>,
        r: Result<impl Serialize, ClientError>,
    ) -> CallToolResult {
        match r {
            Ok(v) => reply::json(ctx, serde_json::to_value(v).unwrap_or_default()),
            Err(e) => reply::error(self.session.socket(), &e),
        }
    }

    /// The JSON of a daemon-backed resource; a failure is reported inside it,
    /// as 0.1 did, so a host polling resources sees why.
    async fn daemon_resource<R: Request<Params = NoParams>>(&self) -> Value {
        match self.session.request::<R>(&NoParams {}).await {
            Ok(v) => serde_json::to_value(v).unwrap_or_default(),
            Err(e) => {
                json!({ "error": reply::error(self.session.socket(), &e).content[0].as_text().map(|t| t.text.clone()) })
            }
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for PeerServer {
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_resources_subscribe()
            .build();
        if self.claude_channel {
            capabilities.experimental = Some(channel::experimental());
        }
        let alias = self.session.alias();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(SERVER_NAME, peer_proto::VERSION))
            .with_instructions(instructions::text(
                self.session.home(),
                &self.session.address(),
                alias.as_deref(),
                self.claude_channel,
            ))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(resources::list()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let value = match request.uri.as_str() {
            resources::INBOX => Value::Array(self.mailbox.snapshot()),
            resources::PEERS => self.daemon_resource::<api::ListPeers>().await,
            resources::TOPICS => self.daemon_resource::<api::ListTopics>().await,
            other => {
                return Err(McpError::resource_not_found(
                    format!("unknown resource {other}"),
                    Some(json!({ "uri": other })),
                ))
            }
        };
        let text = ResourceContents::text(value.to_string(), request.uri.clone())
            .with_mime_type("application/json");
        Ok(ReadResourceResult::new(vec![text]).into())
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.watchers.subscribe(ctx.peer.clone(), request.uri);
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.watchers.unsubscribe(&request.uri);
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let uris = requested.resource_subscriptions.as_ref().map(|uris| {
            uris.iter()
                .filter(|u| resources::ALL.contains(&u.as_str()))
                .cloned()
                .collect()
        });
        let mut accepted = SubscriptionFilter::new();
        accepted.resource_subscriptions = uris;
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let sink = context.sink().clone();
        self.watchers.listen(sink.clone());
        context.cancelled().await;
        self.watchers.unlisten(&sink);
        Ok(())
    }

    async fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        _ctx: NotificationContext<RoleServer>,
    ) {
        if let Some(id) = notification.request_id {
            tracing::debug!(%id, "the host cancelled a request");
            self.mailbox.cancelled(&id);
        }
    }
}
