//! Client sub-commands of `blemees-peerd` for people and scripts: `status`,
//! `peers`, `topics`, `history`, `send`, `publish`, `watch`. They connect as an
//! operator (`presence: false`: not listed, nothing announced, no share of home
//! broadcasts or queues) and exit 0 on success, 1 on a daemon error, 2 on a usage
//! error (clap) and 3 when no daemon runs at the socket.

mod render;

use clap::Subcommand;
use peer_client::{connect_hello, ClientError, Connection, Hello, Notifications};
use peer_proto::home::canonical_home;
use peer_proto::VERSION;
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

/// Exit code when the daemon answered with an error or the connection broke.
const EXIT_DAEMON_ERROR: u8 = 1;
/// Exit code when nothing listens at the socket.
const EXIT_NOT_RUNNING: u8 = 3;

#[derive(Debug, Subcommand)]
pub enum Command {
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
pub fn run(command: Command, socket: &Path) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start: {e}"), EXIT_DAEMON_ERROR),
    };
    match runtime.block_on(execute(command, socket)) {
        Ok(()) => ExitCode::SUCCESS,
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

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("blemees-peerd: {message}");
    ExitCode::from(code)
}

/// A BODY argument: JSON if it parses, else the text as a string.
fn body(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// An operator connection, its home being the current directory.
async fn connect(socket: &Path) -> Result<(Connection, Notifications), ClientError> {
    let cwd = std::env::current_dir().ok();
    let user_home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let home = cwd
        .and_then(|d| canonical_home(d.to_str()?, user_home.as_deref()))
        .unwrap_or_else(|| "/".to_owned());
    let hello = Hello::operator(home).client("blemees-peerd", VERSION);
    let (conn, notes, _) = connect_hello(socket, &hello).await?;
    Ok((conn, notes))
}

/// Prints `value` as JSON or, for people, as `text(value)`.
fn print(json: bool, value: &Value, text: impl FnOnce(&Value) -> String) {
    let out = if json { value.to_string() } else { text(value) };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", out.trim_end());
}

async fn execute(command: Command, socket: &Path) -> Result<(), ClientError> {
    let (conn, notes) = connect(socket).await?;
    match command {
        Command::Status { json } => {
            let status = conn.call("peer.status", json!({})).await?;
            print(json, &status, render::status);
        }
        Command::Peers { json } => {
            let peers = conn.call("peer.list_peers", json!({})).await?;
            print(json, &peers, render::peers);
        }
        Command::Topics { json } => {
            let topics = conn.call("peer.list_topics", json!({})).await?;
            print(json, &topics, render::topics);
        }
        Command::History {
            address,
            limit,
            since,
            json,
        } => {
            let params = json!({"address": address, "limit": limit, "since": since});
            let history = conn.call("peer.history", params).await?;
            let style = render::Style::plain();
            print(json, &history, |h| render::history(h, &style));
        }
        Command::Send {
            to,
            body: text,
            reply_to,
            json,
        } => {
            let params = json!({"to": to, "body": body(&text), "reply_to": reply_to});
            let sent = conn.call("peer.send", params).await?;
            print(json, &sent, render::sent);
        }
        Command::Publish {
            topic,
            body: text,
            json,
        } => {
            let params = json!({"topic": topic, "body": body(&text)});
            let published = conn.call("peer.publish", params).await?;
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
    let params = json!({"include": ["messages"], "from_filter": from, "to_filter": to});
    conn.call("peer.watch", params).await?;
    let style = if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        render::Style::colour()
    } else {
        render::Style::plain()
    };
    while let Some(note) = notes.recv().await {
        if note.method != "peer.wire_message" {
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
