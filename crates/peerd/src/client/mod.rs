//! Client sub-commands of `blemees-peerd` for people and scripts: `status`,
//! `peers`, `topics`, `leases`, `history`, `send`, `publish`, `watch`. They connect as an
//! operator (`presence: false`: not listed, nothing announced, no share of home
//! broadcasts or queues) and exit 0 on success, 1 on a daemon error, 2 on a usage
//! error (clap) and 3 when no daemon runs at the socket.

pub(crate) mod render;

use clap::Subcommand;
use peer_client::{connect_hello, ClientError, Connection, Notifications};
use peer_proto::api::{
    self, HelloParams, HistoryParams, LeasesParams, NoParams, PublishParams, SendParams,
    WatchParams, WATCH_MESSAGES,
};
use peer_proto::home::canonical_home;
use peer_proto::method;
use peer_proto::VERSION;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

/// Exit code when the daemon answered with an error or the connection broke.
const EXIT_DAEMON_ERROR: u8 = 1;
/// Exit code when nothing listens at the socket.
const EXIT_NOT_RUNNING: u8 = 3;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Daemon version, uptime, connections, sessions, queued DMs, database size
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Live agent sessions, by home
    Peers {
        #[arg(long)]
        json: bool,
    },
    /// Topics with subscribers or stored messages
    Topics {
        #[arg(long)]
        json: bool,
    },
    /// Live path leases: holder, globs, exclusive or shared, expiry, reason
    Leases {
        /// Only leases whose globs overlap this path or glob
        path: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Stored messages of an address (topic:NAME or a home: address)
    History {
        address: String,
        /// How many of the newest messages (1..1000)
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only messages after this message id
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Send a DM; BODY is JSON if it parses, else a string
    Send {
        to: String,
        body: String,
        /// The message id this answers
        #[arg(long)]
        reply_to: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Publish to a topic; BODY is JSON if it parses, else a string
    Publish {
        topic: String,
        body: String,
        #[arg(long)]
        json: bool,
    },
    /// Follow agent-to-agent traffic live, one line per message
    Watch {
        /// Only messages whose sender matches this glob (repeatable)
        #[arg(long = "from", value_name = "GLOB")]
        from: Vec<String>,
        /// Only messages whose address matches this glob (repeatable)
        #[arg(long = "to", value_name = "GLOB")]
        to: Vec<String>,
        /// One JSON object per line instead of text
        #[arg(long)]
        json: bool,
    },
}

/// Runs `command` against the daemon at `socket`.
pub(crate) fn run(command: Command, socket: &Path) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start: {e}"), EXIT_DAEMON_ERROR),
    };
    match runtime.block_on(execute(command, socket)) {
        Ok(()) => ExitCode::SUCCESS,
        // A socket served by another user: say so, it is not "no daemon".
        Err(e @ ClientError::Connect { .. }) if is_refusal(&e) => {
            fail(&e.to_string(), EXIT_DAEMON_ERROR)
        }
        Err(ClientError::Connect { path, .. }) => fail(
            &format!(
                "no daemon at {}; start one with `blemees-peerd` (or pass --socket)",
                path.display()
            ),
            EXIT_NOT_RUNNING,
        ),
        Err(e) => fail(&e.to_string(), EXIT_DAEMON_ERROR),
    }
}

/// Whether connecting failed because this client refused the server.
fn is_refusal(e: &ClientError) -> bool {
    matches!(e, ClientError::Connect { source, .. }
        if source.kind() == std::io::ErrorKind::PermissionDenied)
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("blemees-peerd: {message}");
    ExitCode::from(code)
}

/// A BODY argument: JSON if it parses, else the text as a string.
fn body(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned())
        .or_else(|_| serde_json::value::to_raw_value(text))
        .unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// An operator connection, its home being the current directory.
pub(crate) async fn connect(socket: &Path) -> Result<(Connection, Notifications), ClientError> {
    let cwd = std::env::current_dir().ok();
    let user_home = peer_proto::paths::user_home();
    let home = cwd
        .and_then(|d| canonical_home(d.to_str()?, user_home.as_deref()))
        .unwrap_or_else(|| "/".to_owned());
    let hello = HelloParams::operator(home).client("blemees-peerd", VERSION);
    let (conn, notes, _) = connect_hello(socket, &hello).await?;
    Ok((conn, notes))
}

/// Prints a result as JSON or, for people, as `text` of its JSON.
fn print(json: bool, result: &impl Serialize, text: impl FnOnce(&Value) -> String) {
    let value = serde_json::to_value(result).unwrap_or_default();
    let out = if json {
        value.to_string()
    } else {
        text(&value)
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", out.trim_end());
}

async fn execute(command: Command, socket: &Path) -> Result<(), ClientError> {
    let (conn, notes) = connect(socket).await?;
    match command {
        Command::Status { json } => {
            let status = conn.request::<api::Status>(&NoParams {}).await?;
            print(json, &status, render::status);
        }
        Command::Peers { json } => {
            let peers = conn.request::<api::ListPeers>(&NoParams {}).await?;
            print(json, &peers, render::peers);
        }
        Command::Topics { json } => {
            let topics = conn.request::<api::ListTopics>(&NoParams {}).await?;
            print(json, &topics, render::topics);
        }
        Command::Leases { path, json } => {
            let leases = conn.request::<api::Leases>(&LeasesParams { path }).await?;
            print(json, &leases, render::leases);
        }
        Command::History {
            address,
            limit,
            since,
            json,
        } => {
            let params = HistoryParams {
                address,
                since,
                limit: Some(limit),
            };
            let history = conn.request::<api::History>(&params).await?;
            let style = render::Style::plain();
            print(json, &history, |h| render::history(h, &style));
        }
        Command::Send {
            to,
            body: text,
            reply_to,
            json,
        } => {
            let params = SendParams {
                to,
                body: body(&text),
                reply_to,
            };
            let sent = conn.request::<api::Send>(&params).await?;
            print(json, &sent, render::sent);
        }
        Command::Publish {
            topic,
            body: text,
            json,
        } => {
            let params = PublishParams {
                topic,
                body: body(&text),
            };
            let published = conn.request::<api::Publish>(&params).await?;
            print(json, &published, render::published);
        }
        Command::Watch { from, to, json } => watch(conn, notes, from, to, json).await?,
    }
    Ok(())
}

/// Follows `peer.wire_message` until the daemon goes away.
async fn watch(
    conn: Connection,
    mut notes: Notifications,
    from: Vec<String>,
    to: Vec<String>,
    json: bool,
) -> Result<(), ClientError> {
    let everything = || vec!["*".to_owned()];
    let from = if from.is_empty() { everything() } else { from };
    let to = if to.is_empty() { everything() } else { to };
    let params = WatchParams {
        include: Some(vec![WATCH_MESSAGES.to_owned()]),
        from_filter: Some(from),
        to_filter: Some(to),
    };
    conn.request::<api::Watch>(&params).await?;
    let style = if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        render::Style::colour()
    } else {
        render::Style::plain()
    };
    while let Some(note) = notes.recv().await {
        if note.method != method::WIRE_MESSAGE {
            continue;
        }
        let line = if json {
            note.params.to_string()
        } else {
            render::wire_line(&note.params, &style)
        };
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`watch | head`) ends the watch quietly.
        if writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return Ok(());
        }
    }
    Err(ClientError::Closed)
}
