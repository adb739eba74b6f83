//! The command line of `blemees-peerd` (flags as 0.1, plus the new limits).

use crate::backup;
use crate::client;
use crate::config::{self, Config};
use crate::federation::{self, FederationConfig};
use crate::guard;
use clap::builder::TypedValueParser;
use clap::{Parser, Subcommand};
use peer_client::LogLevel;
use peer_proto::paths::{self, Env};
use std::path::PathBuf;
use std::process::ExitCode;

/// blemees-peer daemon — the peer channel for AI coding agents on this machine.
///
/// Without a command it runs the daemon in the foreground; the commands talk to a
/// running daemon.
#[derive(Debug, Parser)]
#[command(name = "blemees-peerd", version, about)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Unix socket path [default: $BLEMEES_PEER_SOCKET, else
    /// $XDG_RUNTIME_DIR/blemees/peerd.sock, else /tmp/blemees-peerd-<uid>.sock]
    #[arg(long, value_name = "PATH", global = true)]
    socket: Option<PathBuf>,
    /// State directory [default: $XDG_STATE_HOME/blemees/peerd, else
    /// ~/.local/state/blemees/peerd]
    #[arg(long, value_name = "DIR", global = true)]
    state_dir: Option<PathBuf>,
    /// Max queued DMs per recipient address; the oldest is dropped first
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_DM_MAXLEN,
          value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    dm_maxlen: usize,
    /// Max retained messages per topic ring buffer
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_TOPIC_MAXLEN,
          value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    topic_maxlen: usize,
    /// Days of history to keep
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_RETENTION_DAYS,
          value_parser = clap::value_parser!(u32).range(1..))]
    retention_days: u32,
    /// Longest accepted request line, in bytes
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_MAX_LINE_BYTES,
          value_parser = clap::value_parser!(u32).range(1024..).map(|v| v as usize))]
    max_line_bytes: usize,
    /// Bytes a client may fall behind in reading before it is disconnected
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_MAX_OUTBOX_BYTES,
          value_parser = clap::value_parser!(u32).range(65536..).map(|v| v as usize))]
    max_outbox_bytes: usize,
    /// Bytes of unfinished request lines held for all clients together
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_MAX_BUFFERED_INPUT_BYTES,
          value_parser = clap::value_parser!(u64).range(1 << 20..).map(|v| v as usize))]
    max_buffered_input_bytes: usize,
    /// Bytes of unwritten output held for all clients together
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_MAX_QUEUED_OUTPUT_BYTES,
          value_parser = clap::value_parser!(u64).range(1 << 20..).map(|v| v as usize))]
    max_queued_output_bytes: usize,
    /// How long a new connection may take to send its first complete line, in
    /// milliseconds
    #[arg(long, value_name = "MS", default_value_t = config::DEFAULT_FIRST_LINE_TIMEOUT_MS,
          value_parser = clap::value_parser!(u32).range(1..))]
    first_line_timeout_ms: u32,
    /// How long a write waits for a database lock another process holds
    /// before its batch is answered with an error, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = config::DEFAULT_DB_BUSY_TIMEOUT_MS,
          value_parser = clap::value_parser!(u32).range(1..=60_000))]
    db_busy_timeout_ms: u32,
    /// Seconds a path lease outlives its holder's session, waiting for the
    /// holder to come back with the same sid
    #[arg(long, value_name = "SECS", default_value_t = config::DEFAULT_LEASE_GRACE_SECS,
          value_parser = clap::value_parser!(u32).range(0..=86_400))]
    lease_grace_secs: u32,
    /// Federate through this NATS server (nats:// or tls:// URL; repeat the
    /// flag for the servers of a cluster). Without it, no federation
    #[arg(long = "nats", value_name = "URL")]
    nats: Vec<String>,
    /// This node's name in federation (1 to 64 of [A-Za-z0-9_-]) [default:
    /// the host name up to its first dot]
    #[arg(long, value_name = "NAME", value_parser = node_name)]
    node: Option<String>,
    /// Subject prefix (and, in capitals, JetStream stream name) of the nodes
    /// that talk to each other: teams sharing a NATS account pick their own
    #[arg(long, value_name = "PREFIX", default_value = federation::DEFAULT_PREFIX,
          value_parser = subject_prefix)]
    nats_prefix: String,
    /// NATS credentials file (.creds: user JWT and nkey seed)
    #[arg(long, value_name = "FILE")]
    nats_creds: Option<PathBuf>,
    /// File holding an nkey seed (SU…) to authenticate to NATS
    #[arg(long, value_name = "FILE")]
    nats_nkey: Option<PathBuf>,
    /// File holding a NATS token
    #[arg(long, value_name = "FILE")]
    nats_token_file: Option<PathBuf>,
    /// CA certificate (PEM) that NATS servers' TLS certificates must chain to;
    /// requires TLS
    #[arg(long, value_name = "FILE")]
    nats_ca: Option<PathBuf>,
    /// Days the JetStream stream keeps a message when it creates the stream:
    /// a node offline longer misses what was sent to it meanwhile
    #[arg(long, value_name = "N", default_value_t = federation::DEFAULT_MAX_AGE_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    nats_max_age_days: u32,
    /// Log verbosity (logs go to stderr)
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    log_level: LogLevel,
}

fn node_name(s: &str) -> Result<String, String> {
    if peer_proto::address::is_valid_node(s) {
        Ok(s.to_owned())
    } else {
        Err("must be 1 to 64 of [A-Za-z0-9_-]".into())
    }
}

fn subject_prefix(s: &str) -> Result<String, String> {
    if federation::wire::is_valid_prefix(s) {
        Ok(s.to_owned())
    } else {
        Err("must be dot-separated tokens of [A-Za-z0-9_-]".into())
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Client(client::Command),
    /// Copy the database to DEST while the daemon keeps running
    Backup {
        /// Where the copy goes (must not exist yet)
        dest: PathBuf,
    },
    /// Refuse git commits that change paths other sessions leased exclusively
    ///
    /// `guard install` writes a pre-commit hook into a repository. It refuses a
    /// commit that changes paths matching an exclusive lease of another agent
    /// session working in that repository, naming the holder and the reason.
    /// With no daemon it warns and allows. Bypass it for one commit with
    /// `BLEMEES_PEER_GUARD=off git commit …`.
    Guard {
        #[command(subcommand)]
        command: guard::Command,
    },
}

impl Args {
    fn config(&self) -> Config {
        let env = Env::from_process();
        let mut c = Config::new(
            paths::socket_path(self.socket.as_deref(), &env),
            paths::state_dir(self.state_dir.as_deref(), &env),
        );
        c.dm_maxlen = self.dm_maxlen;
        c.topic_maxlen = self.topic_maxlen;
        c.retention_days = self.retention_days;
        c.max_line_bytes = self.max_line_bytes;
        c.max_outbox_bytes = self.max_outbox_bytes;
        c.db_busy_timeout_ms = self.db_busy_timeout_ms;
        c.max_buffered_input_bytes = self.max_buffered_input_bytes;
        c.max_queued_output_bytes = self.max_queued_output_bytes;
        c.first_line_timeout_ms = self.first_line_timeout_ms;
        c.lease_grace_secs = self.lease_grace_secs;
        c.federation = (!self.nats.is_empty()).then(|| FederationConfig {
            urls: self.nats.clone(),
            node: self.node.clone().unwrap_or_else(federation::default_node),
            prefix: self.nats_prefix.clone(),
            creds: self.nats_creds.clone(),
            nkey: self.nats_nkey.clone(),
            token: self.nats_token_file.clone(),
            ca: self.nats_ca.clone(),
            max_age_days: self.nats_max_age_days,
        });
        c
    }
}

/// Entry point of the `blemees-peerd` binary.
pub fn main() -> ExitCode {
    let mut args = Args::parse();
    // Everything this process creates (the database and its WAL, a backup
    // copy) is for this user alone, whatever umask it was started with.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(PRIVATE_UMASK));
    match args.command.take() {
        Some(Command::Client(command)) => {
            let socket = paths::socket_path(args.socket.as_deref(), &Env::from_process());
            return client::run(command, &socket);
        }
        Some(Command::Backup { dest }) => {
            return match backup::backup(&args.config().db_path(), &dest) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            };
        }
        Some(Command::Guard { command }) => return guard::run(command, args.socket.as_deref()),
        None => {}
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_max_level(tracing::Level::from(args.log_level))
        .init();
    let config = args.config();
    // One event thread runs the connections, the router and the store: a message
    // crosses no thread boundary between its request and its delivery, which is
    // what keeps a round trip short. Checkpoints have their own thread.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::anyhow!(e)),
    };
    match runtime.block_on(crate::server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Files and directories are created without any access for group or others.
const PRIVATE_UMASK: u32 = 0o077;

fn fail(e: &anyhow::Error) -> ExitCode {
    tracing::error!("{e:#}");
    eprintln!("blemees-peerd: error: {e:#}");
    ExitCode::FAILURE
}
