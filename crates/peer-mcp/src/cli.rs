//! The command line of `blemees-peer-mcp` (flags as 0.1) and the process's
//! start-up: logging, identity, the session, and the MCP server on stdio.

use crate::channel;
use crate::delivery::DeliveryTransport;
use crate::identity::{self, Sources};
use crate::join::{Join, JoinOnUse};
use crate::mailbox::Mailbox;
use crate::peek;
use crate::pump;
use crate::resources::Watchers;
use crate::server::{PeerServer, SERVER_NAME};
use anyhow::Context;
use clap::Parser;
use peer_client::{LogLevel, SessionConfig};
use peer_proto::api::ClientInfo;
use peer_proto::paths::{self, Env};
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::ServiceExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// blemees-peer MCP sidecar — gives an AI agent the peer channel as MCP tools.
#[derive(Debug, Parser)]
#[command(name = "blemees-peer-mcp", version = peer_proto::VERSION, about)]
pub(crate) struct Args {
    /// blemees-peerd socket path [default: as blemees-peerd resolves it]
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Session home [default: $BLEMEES_AGENT_HOME, else $CLAUDE_PROJECT_DIR, else the cwd]
    #[arg(long)]
    home: Option<String>,
    /// Session id [default: $BLEMEES_AGENT_SID, else derived from
    /// $CLAUDE_CODE_SESSION_ID, else fresh]
    #[arg(long)]
    sid: Option<String>,
    /// Alias to claim at start-up [default: $BLEMEES_AGENT_ALIAS]
    #[arg(long)]
    alias: Option<String>,
    /// Log verbosity (logs go to stderr, never stdout)
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    log_level: LogLevel,
    /// Also append logs to this file
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// Also push each arriving message to Claude Code as a channel event
    /// (`notifications/claude/channel`); messages stay readable with peer_inbox
    #[arg(long)]
    claude_channel: bool,
    /// Tool groups to offer, comma-separated: core (the 0.1 tools and
    /// peer_whoami), leases (path leases), threads (peer_thread), search
    /// (peer_search). Each tool costs every agent context
    #[arg(long, value_enum, value_delimiter = ',', default_value = "core")]
    tools: Vec<crate::tools::ToolGroup>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// What else the binary does besides serving MCP.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run as a Claude Code or Codex hook: read the hook input on stdin and
    /// tell the agent about unread peer messages (never takes any)
    Hook(crate::hook::HookArgs),
    /// Add the peer hooks to Claude Code's or Codex's settings
    InstallHooks(crate::install::InstallArgs),
    /// Remove exactly the peer hooks install-hooks added
    UninstallHooks(crate::install::InstallArgs),
}

/// rmcp logs every message at info; it speaks only from warnings up unless
/// debugging. (A `Targets` filter rather than an `EnvFilter`: no pattern
/// engine to build, and a sidecar runs per agent session, so its size counts.)
fn log_filter(level: LogLevel) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let all = LevelFilter::from_level(level.into());
    let rmcp = match level {
        LogLevel::Info => LevelFilter::WARN,
        _ => all,
    };
    Targets::new().with_default(all).with_target("rmcp", rmcp)
}

/// Runs the sidecar until the host closes stdin.
pub fn main() -> ExitCode {
    let mut args = Args::parse();
    match args.command.take() {
        Some(Command::Hook(hook)) => return crate::hook::run(hook),
        Some(Command::InstallHooks(a)) => return crate::install::run(a, true),
        Some(Command::UninstallHooks(a)) => return crate::install::run(a, false),
        None => {}
    }
    if let Err(e) = init_logging(&args) {
        eprintln!("blemees-peer-mcp: {e:#}");
        return ExitCode::from(2);
    }
    // One thread is plenty for one agent's traffic, and it keeps the sidecar
    // small: agent hosts start one per session.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let id = identity::resolve(&Sources::from_process(args.home, args.sid, args.alias));
    let socket = paths::socket_path(args.socket.as_deref(), &Env::from_process());
    tracing::info!(home = %id.home, sid = %id.sid, socket = %socket.display(), "starting");
    let config = SessionConfig {
        socket: socket.clone(),
        sid: id.sid,
        home: id.home,
        alias: id.alias,
        ack: true,
        client: Some(ClientInfo {
            name: SERVER_NAME.into(),
            version: peer_proto::VERSION.into(),
        }),
    };
    let (mailbox, acks) = Mailbox::new();
    let mailbox = Arc::new(mailbox);
    let watchers = Arc::new(Watchers::default());
    let (channel_tx, channel_rx) = args.claude_channel.then(channel::queue).unzip();
    // The session (hello, presence) starts only when the host is in earnest.
    let join = {
        let (mailbox, watchers) = (mailbox.clone(), watchers.clone());
        Arc::new(Join::new(config, move |session, notes| {
            tokio::spawn(pump::file_notifications(
                notes, mailbox, watchers, channel_tx,
            ));
            tokio::spawn(pump::acknowledge(session.clone(), acks));
        }))
    };

    // What hooks look at (SPEC §12.1); removed when the sidecar ends.
    let _peek = peek::serve(&socket, join.clone(), mailbox.clone());

    let stdio = AsyncRwTransport::new_server(tokio::io::stdin(), tokio::io::stdout());
    let transport = DeliveryTransport::new(JoinOnUse::new(stdio, join.clone()), mailbox.clone());
    let server = PeerServer::new(
        join.clone(),
        mailbox,
        watchers,
        args.claude_channel,
        &args.tools,
    );
    let running = server
        .serve(transport)
        .await
        .context("MCP start-up failed")?;
    if let Some(rx) = channel_rx {
        tokio::spawn(channel::forward(running.peer().clone(), rx));
    }
    let reason = running.waiting().await.context("MCP service failed")?;
    tracing::info!(?reason, "MCP host went away; stopping");
    if let Some(session) = join.started() {
        session.close();
    }
    Ok(())
}

fn init_logging(args: &Args) -> anyhow::Result<()> {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let fmt = tracing_subscriber::fmt::layer().with_ansi(false);
    match &args.log_file {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening --log-file {}", path.display()))?;
            tracing_subscriber::registry()
                .with(fmt.with_writer(std::io::stderr.and(Arc::new(file))))
                .with(log_filter(args.log_level))
                .init();
        }
        None => tracing_subscriber::registry()
            .with(fmt.with_writer(std::io::stderr))
            .with(log_filter(args.log_level))
            .init(),
    }
    Ok(())
}
