//! The twelve core tools, named and shaped as in 0.1 (plus `peer_whoami`), and
//! the groups a user enables with `--tools` (see [`ToolGroup`]). Each maps to
//! one daemon request, except the inbox tools, which read the sidecar's own
//! inbox. Descriptions are short: every agent pays for them in its context.

use crate::inbox::{Taken, INBOX_CAPACITY};
use crate::reply;
use crate::resources;
use crate::schema;
use crate::server::PeerServer;
use crate::wait::{self, Outcome, Wait, PROGRESS_EVERY};
use peer_proto::api::{
    self, HistoryParams, LeaseParams, LeaseReleaseParams, LeaseRenewParams, LeasesParams, NoParams,
    PublishParams, SearchParams, SendParams, ThreadParams,
};
use peer_proto::limits::{HISTORY_MAX_LIMIT, LEASE_MAX_TTL_S, MAX_GLOBS};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// `peer_inbox`'s default `limit`, as 0.1.
pub(crate) const INBOX_DEFAULT_LIMIT: usize = 100;

/// `peer_await`'s longest `timeout`, in seconds (a longer one is cut to it).
const AWAIT_MAX_SECS: u64 = wait::AWAIT_MAX.as_secs();

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct SendArgs {
    /// home:<dir>[#<sid|alias>]; home@<node>:<dir>… on another machine
    pub(crate) to: String,
    /// Text, or JSON text of an object/array: sent as that JSON
    #[serde(default, deserialize_with = "schema::body")]
    #[schemars(with = "String")]
    pub(crate) body: Value,
    /// message_id this answers
    pub(crate) reply_to: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct PublishArgs {
    /// Topic name
    pub(crate) topic: String,
    /// Text, or JSON text of an object/array: sent as that JSON
    #[serde(default, deserialize_with = "schema::body")]
    #[schemars(with = "String")]
    pub(crate) body: Value,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct SubscribeArgs {
    /// Topic name
    pub(crate) topic: String,
    /// Re-deliver the last N stored messages
    #[schemars(range(min = 0))]
    pub(crate) replay: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct TopicArgs {
    /// Topic name
    pub(crate) topic: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct InboxArgs {
    /// Most entries to return (default 100)
    #[schemars(range(min = 1, max = INBOX_CAPACITY))]
    pub(crate) limit: Option<u32>,
    /// Also return joined/left/alias events
    pub(crate) include_presence: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct AwaitArgs {
    /// Seconds to wait (default 50)
    #[schemars(range(min = 0, max = AWAIT_MAX_SECS))]
    pub(crate) timeout: Option<f64>,
    /// Most entries to return (default 100)
    #[schemars(range(min = 1, max = INBOX_CAPACITY))]
    pub(crate) limit: Option<u32>,
    /// Also return joined/left/alias events
    pub(crate) include_presence: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct AliasArgs {
    /// [a-z][a-z0-9_-]{0,63}; "" clears
    pub(crate) alias: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct DmFilterArgs {
    /// Globs over the sender address
    #[schemars(length(max = MAX_GLOBS))]
    pub(crate) patterns: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct HistoryArgs {
    /// topic:<name> or a home: address
    pub(crate) address: String,
    /// Only messages after this message_id
    pub(crate) since: Option<String>,
    /// Most messages (default 100)
    #[schemars(range(min = 1, max = HISTORY_MAX_LIMIT))]
    pub(crate) limit: Option<u32>,
}

/// A group of tools, enabled with `--tools core,leases`. Every tool costs
/// context in every agent that has the sidecar, so only `core` is on by
/// default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ToolGroup {
    /// The twelve tools of 0.1 and `peer_whoami`.
    Core,
    /// `peer_lease`, `peer_lease_release`, `peer_leases`.
    Leases,
    /// `peer_thread`.
    Threads,
    /// `peer_search`.
    Search,
}

impl PeerServer {
    /// The tools of `groups`, each group once.
    pub(crate) fn tools_of(groups: &[ToolGroup]) -> ToolRouter<PeerServer> {
        let mut router = ToolRouter::new();
        for g in [
            ToolGroup::Core,
            ToolGroup::Leases,
            ToolGroup::Threads,
            ToolGroup::Search,
        ] {
            if groups.contains(&g) {
                router += match g {
                    ToolGroup::Core => Self::tool_router(),
                    ToolGroup::Leases => Self::lease_tools(),
                    ToolGroup::Threads => Self::thread_tools(),
                    ToolGroup::Search => Self::search_tools(),
                };
            }
        }
        router
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct LeaseArgs {
    /// Path globs, e.g. src/* (a * also crosses /)
    #[schemars(length(max = MAX_GLOBS))]
    pub(crate) paths: Vec<String>,
    /// Seconds it lasts (default 1800)
    #[schemars(range(min = 1, max = LEASE_MAX_TTL_S))]
    pub(crate) ttl_s: Option<u64>,
    /// Shared: granted despite conflicts (default exclusive)
    pub(crate) shared: Option<bool>,
    /// Why, shown to others
    pub(crate) reason: Option<String>,
    /// Renew this lease instead, for ttl_s
    pub(crate) renew: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ReleaseArgs {
    /// Lease ids; omitted: all of yours
    pub(crate) lease_ids: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ThreadArgs {
    /// Any message_id of the conversation
    pub(crate) message_id: String,
    /// Most messages (default 100)
    #[schemars(range(min = 1, max = HISTORY_MAX_LIMIT))]
    pub(crate) limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct SearchArgs {
    /// Words, "phrases", prefix*; all must match
    pub(crate) query: String,
    /// Only to or from this address
    pub(crate) address: Option<String>,
    /// Only after this message_id
    pub(crate) since: Option<String>,
    /// Most messages (default 20)
    #[schemars(range(min = 1, max = HISTORY_MAX_LIMIT))]
    pub(crate) limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct LeasesArgs {
    /// Only leases overlapping this path or glob
    pub(crate) path: Option<String>,
}

fn limit_of(limit: Option<u32>) -> usize {
    limit.map_or(INBOX_DEFAULT_LIMIT, |l| l.max(1) as usize)
}

/// A tool's JSON `body` as the raw JSON the protocol carries.
fn raw(body: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(body).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

fn taken_json(taken: &Taken) -> Value {
    let messages: Vec<Value> = taken.entries.iter().map(|e| e.to_json()).collect();
    json!({ "messages": messages, "dropped": taken.dropped })
}

#[tool_router(vis = "pub(crate)")]
impl PeerServer {
    #[tool(
        input_schema = schema::input::<SendArgs>(),
        description = "Send a direct message. to: home:<dir> (every session there), home:<dir>#<sid> or home:<dir>#<alias>.",
        annotations(title = "Send a direct message", destructive_hint = false, open_world_hint = false)
    )]
    async fn peer_send(
        &self,
        Parameters(a): Parameters<SendArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let params = SendParams {
            to: a.to,
            body: raw(&a.body),
            reply_to: a.reply_to,
        };
        let r = self.session.request::<api::Send>(&params).await;
        self.reply(&ctx, r)
    }

    #[tool(
        input_schema = schema::input::<PublishArgs>(),
        description = "Publish a message to a topic's subscribers.",
        annotations(title = "Publish to a topic", destructive_hint = false, open_world_hint = false)
    )]
    async fn peer_publish(
        &self,
        Parameters(a): Parameters<PublishArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let params = PublishParams {
            topic: a.topic,
            body: raw(&a.body),
        };
        let r = self.session.request::<api::Publish>(&params).await;
        self.reply(&ctx, r)
    }

    #[tool(
        input_schema = schema::input::<SubscribeArgs>(),
        description = "Subscribe to a topic; its messages arrive in the inbox. replay: also re-deliver the last N.",
        annotations(title = "Subscribe to a topic", destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn peer_subscribe(
        &self,
        Parameters(a): Parameters<SubscribeArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let r = self
            .session
            .subscribe(&a.topic, a.replay.unwrap_or(0))
            .await;
        self.reply(&ctx, r)
    }

    #[tool(
        input_schema = schema::input::<TopicArgs>(),
        description = "Unsubscribe from a topic.",
        annotations(title = "Unsubscribe from a topic", destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn peer_unsubscribe(
        &self,
        Parameters(a): Parameters<TopicArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let r = self.session.unsubscribe(&a.topic).await;
        self.reply(&ctx, r)
    }

    #[tool(
        input_schema = schema::input::<InboxArgs>(),
        description = "Take received messages, oldest first, without waiting. Returns {messages, dropped}.",
        annotations(title = "Read the inbox", read_only_hint = true, open_world_hint = false)
    )]
    async fn peer_inbox(
        &self,
        Parameters(a): Parameters<InboxArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let include_presence = a.include_presence.unwrap_or(false);
        let Some(taken) =
            self.mailbox
                .take_for(&ctx.id, &ctx.ct, limit_of(a.limit), include_presence)
        else {
            return reply::cancelled();
        };
        self.watchers.changed(resources::INBOX);
        reply::json(&ctx, taken_json(&taken))
    }

    #[tool(
        input_schema = schema::input::<AwaitArgs>(),
        description = "Wait for messages and take them (timeout seconds: default 50, max 110). Returns {messages, dropped}, or {messages: [], timeout: true}.",
        annotations(title = "Wait for messages", read_only_hint = true, open_world_hint = false)
    )]
    async fn peer_await(
        &self,
        Parameters(a): Parameters<AwaitArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let token = ctx.meta.get_progress_token();
        let peer = ctx.peer.clone();
        let progress = |n: u32| {
            let (peer, token) = (peer.clone(), token.clone());
            async move {
                let Some(token) = token else { return };
                let param = ProgressNotificationParam::new(token, f64::from(n))
                    .with_message("waiting for peer messages");
                if let Err(e) = peer.notify_progress(param).await {
                    tracing::debug!("progress not sent: {e}");
                }
            }
        };
        let w = Wait {
            mailbox: &self.mailbox,
            request: &ctx.id,
            ct: &ctx.ct,
            limit: limit_of(a.limit),
            include_presence: a.include_presence.unwrap_or(false),
            timeout: wait::wait_for(a.timeout),
            progress_every: PROGRESS_EVERY,
        };
        match wait::wait(w, progress).await {
            Outcome::Taken(taken) => {
                self.watchers.changed(resources::INBOX);
                reply::json(&ctx, taken_json(&taken))
            }
            Outcome::TimedOut => reply::json(&ctx, json!({ "messages": [], "timeout": true })),
            Outcome::Cancelled => reply::cancelled(),
        }
    }

    #[tool(
        input_schema = schema::input::<AliasArgs>(),
        description = "Claim an alias (others reach you as home:<dir>#<alias>); \"\" clears it.",
        annotations(title = "Set your alias", destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn peer_set_alias(
        &self,
        Parameters(a): Parameters<AliasArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let r = self.session.set_alias(&a.alias).await;
        self.reply(&ctx, r)
    }

    #[tool(
        input_schema = schema::input::<DmFilterArgs>(),
        description = "Accept DMs only from senders whose address matches a glob: [\"*\"] all, [] none.",
        annotations(title = "Filter incoming DMs", destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn peer_set_dm_filter(
        &self,
        Parameters(a): Parameters<DmFilterArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let r = self.session.set_dm_filter(a.patterns).await;
        self.reply(&ctx, r)
    }

    #[tool(
        description = "List connected agent sessions by home, with sids, aliases and topics.",
        annotations(title = "List peers", read_only_hint = true, open_world_hint = false)
    )]
    async fn peer_list_peers(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let r = self.session.request::<api::ListPeers>(&NoParams {}).await;
        self.reply(&ctx, r)
    }

    #[tool(
        description = "List topics with subscriber counts and last message time.",
        annotations(title = "List topics", read_only_hint = true, open_world_hint = false)
    )]
    async fn peer_list_topics(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let r = self.session.request::<api::ListTopics>(&NoParams {}).await;
        self.reply(&ctx, r)
    }

    #[tool(
        input_schema = schema::input::<HistoryArgs>(),
        description = "Read stored messages of a topic:<name> or home: address, oldest first.",
        annotations(title = "Read message history", read_only_hint = true, open_world_hint = false)
    )]
    async fn peer_history(
        &self,
        Parameters(a): Parameters<HistoryArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let params = HistoryParams {
            address: a.address,
            since: a.since,
            limit: a.limit,
        };
        let r = self.session.request::<api::History>(&params).await;
        self.reply(&ctx, r)
    }

    #[tool(
        description = "Your own address, sid and alias, and whether the daemon is connected.",
        annotations(title = "Who am I", read_only_hint = true, open_world_hint = false)
    )]
    async fn peer_whoami(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let s = &self.session;
        let connected = matches!(s.link(), peer_client::Link::Up { .. });
        reply::json(
            &ctx,
            json!({
                "peer_id": s.peer_id(),
                "sid": s.sid(),
                "alias": s.alias(),
                "address": s.address(),
                "connected": connected,
            }),
        )
    }
}

#[tool_router(router = lease_tools, vis = "pub(crate)")]
impl PeerServer {
    #[tool(
        input_schema = schema::input::<LeaseArgs>(),
        description = "Claim paths before editing them. Refused if another session holds an overlapping lease; returns {granted, lease, conflicts}.",
        annotations(title = "Lease paths", destructive_hint = false, open_world_hint = false)
    )]
    async fn peer_lease(
        &self,
        Parameters(a): Parameters<LeaseArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        if let Some(lease_id) = a.renew {
            let params = LeaseRenewParams {
                lease_id,
                ttl_s: a.ttl_s,
            };
            let r = self.session.request::<api::LeaseRenew>(&params).await;
            return self.reply(&ctx, r);
        }
        let params = LeaseParams {
            paths: a.paths,
            ttl_s: a.ttl_s,
            exclusive: a.shared.map(|shared| !shared),
            reason: a.reason,
        };
        let r = self.session.request::<api::Lease>(&params).await;
        self.reply(&ctx, r)
    }

    #[tool(
        input_schema = schema::input::<ReleaseArgs>(),
        description = "Release your leases (all of them when lease_ids is omitted).",
        annotations(title = "Release leases", destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn peer_lease_release(
        &self,
        Parameters(a): Parameters<ReleaseArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let params = LeaseReleaseParams {
            all: a.lease_ids.is_none().then_some(true),
            lease_ids: a.lease_ids,
        };
        let r = self.session.request::<api::LeaseRelease>(&params).await;
        self.reply(&ctx, r)
    }

    #[tool(
        input_schema = schema::input::<LeasesArgs>(),
        description = "List live path leases: holder, paths, reason, expiry.",
        annotations(title = "List leases", read_only_hint = true, open_world_hint = false)
    )]
    async fn peer_leases(
        &self,
        Parameters(a): Parameters<LeasesArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let params = LeasesParams { path: a.path };
        let r = self.session.request::<api::Leases>(&params).await;
        self.reply(&ctx, r)
    }
}

#[tool_router(router = thread_tools, vis = "pub(crate)")]
impl PeerServer {
    #[tool(
        input_schema = schema::input::<ThreadArgs>(),
        description = "Read the whole reply chain (reply_to) around a message, DMs and topics, oldest first.",
        annotations(title = "Read a conversation", read_only_hint = true, open_world_hint = false)
    )]
    async fn peer_thread(
        &self,
        Parameters(a): Parameters<ThreadArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let params = ThreadParams {
            message_id: a.message_id,
            limit: a.limit,
        };
        let r = self.session.request::<api::Thread>(&params).await;
        self.reply(&ctx, r)
    }
}

#[tool_router(router = search_tools, vis = "pub(crate)")]
impl PeerServer {
    #[tool(
        input_schema = schema::input::<SearchArgs>(),
        description = "Full-text search of stored DMs and topic messages, best match first.",
        annotations(title = "Search messages", read_only_hint = true, open_world_hint = false)
    )]
    async fn peer_search(
        &self,
        Parameters(a): Parameters<SearchArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let params = SearchParams {
            query: a.query,
            address: a.address,
            since: a.since,
            limit: a.limit,
        };
        let r = self.session.request::<api::Search>(&params).await;
        self.reply(&ctx, r)
    }
}
