//! `blemees-peer-mcp hook <event>`: the host hook (SPEC §12.2). Claude Code and
//! Codex run it at fixed points of a session with the event as JSON on stdin;
//! it looks at what the session has not read (the sidecar's peek endpoint,
//! [`crate::peek`]) and answers in the host's documented output shape:
//!
//! * `stop` (Stop): `{"decision": "block", "reason": …}` when a message the
//!   agent was not yet woken for is waiting, unless `stop_hook_active`.
//! * `prompt` (UserPromptSubmit) and `tool` (PostToolUse):
//!   `{"hookSpecificOutput": {"hookEventName": …, "additionalContext": …}}`
//!   saying how many messages wait and from whom; after a tool, only when
//!   something new arrived or [`CONTEXT_REPEAT`] passed.
//! * `wake` (Claude Code's `asyncRewake` Stop hook): waits in the background
//!   for a message that arrives after the stop, then exits 2 with the reason
//!   on stderr, which wakes the idle session.
//!
//! The hook only looks: it never takes or acknowledges anything, so a message
//! stays unread until `peer_inbox`/`peer_await` deliver it. Whatever goes
//! wrong (no daemon, no sidecar, bad input) it exits 0 without output and
//! leaves a line in `<sessions dir>/hooks.log`: it must never get in the
//! agent's way.

use crate::identity::{self, Sources};
use crate::peek::{self, Snapshot, Unread};
use peer_proto::agent_env::{var, AGENT_ALIAS_ENV};
use peer_proto::identity::derive_sid;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long after telling the agent about waiting messages a tool call may
/// tell it the same again.
pub(crate) const CONTEXT_REPEAT: Duration = Duration::from_secs(300);
/// How long one look at a peek socket may take (a sidecar that has not
/// joined the daemon yet joins first, within half a second).
const PEEK_TIMEOUT: Duration = Duration::from_millis(1000);
/// How often `wake` looks.
const WAKE_POLL: Duration = Duration::from_millis(500);
/// Message ids remembered in the hook state.
const REMEMBERED: usize = 1000;
/// Messages previewed in a Stop reason.
const PREVIEWS: usize = 3;
/// The hook log is rotated beyond this size.
const LOG_MAX_BYTES: u64 = 1 << 20;

/// Which host runs the hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Host {
    Claude,
    Codex,
}

/// The hook point it is installed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Point {
    /// Stop: keep the agent working while unread messages wait.
    Stop,
    /// UserPromptSubmit: tell the agent what waits.
    Prompt,
    /// PostToolUse: tell the agent what waits (rate-limited).
    Tool,
    /// Stop, as Claude Code's `asyncRewake` hook: wait for a message, then wake.
    Wake,
}

#[derive(Debug, clap::Args)]
pub(crate) struct HookArgs {
    /// The hook point
    #[arg(value_enum)]
    point: Point,
    /// The host running the hook
    #[arg(long, value_enum, default_value_t = Host::Claude)]
    host: Host,
    /// blemees-peerd socket path [default: as blemees-peerd resolves it]
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// `wake`: longest wait, in seconds
    #[arg(long, default_value_t = 3300)]
    wait: u64,
}

/// The members of the hook input this hook reads (both hosts send them; the
/// rest is ignored).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Input {
    #[serde(default)]
    pub(crate) session_id: Option<String>,
    #[serde(default)]
    pub(crate) cwd: Option<String>,
    #[serde(default)]
    pub(crate) hook_event_name: Option<String>,
    #[serde(default)]
    pub(crate) stop_hook_active: Option<bool>,
}

impl Input {
    pub(crate) fn parse(bytes: &[u8]) -> Result<Input, String> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        if !v.is_object() {
            return Err("not a JSON object".into());
        }
        serde_json::from_value(v).map_err(|e| format!("unexpected member types: {e}"))
    }
}

/// What the hook remembers per session, in `<sessions dir>/<sid>.hook.json`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct State {
    /// Messages a Stop block (or a wake) already named: never again.
    #[serde(default)]
    pub(crate) woken: Vec<String>,
    /// Messages the last context line named, and when (seconds since the epoch).
    #[serde(default)]
    pub(crate) told: Vec<String>,
    #[serde(default)]
    pub(crate) told_at: f64,
}

fn remember(list: &mut Vec<String>, ids: impl IntoIterator<Item = String>) {
    for id in ids {
        if !list.contains(&id) {
            list.push(id);
        }
    }
    if list.len() > REMEMBERED {
        list.drain(..list.len() - REMEMBERED);
    }
}

/// The host's event name for a hook point's output.
fn event_name(point: Point, input: &Input) -> &'static str {
    match input.hook_event_name.as_deref() {
        Some("Stop") => "Stop",
        Some("UserPromptSubmit") => "UserPromptSubmit",
        Some("PostToolUse") => "PostToolUse",
        _ => match point {
            Point::Stop | Point::Wake => "Stop",
            Point::Prompt => "UserPromptSubmit",
            Point::Tool => "PostToolUse",
        },
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `tester (home:~/b#sess_…)`, or the address alone; topic messages say so.
fn sender(u: &Unread) -> String {
    let who = match &u.from_alias {
        Some(a) => format!("{a} ({})", u.from),
        None => u.from.clone(),
    };
    if u.to.starts_with("topic:") {
        format!("{who} on {}", u.to)
    } else {
        who
    }
}

fn senders(unread: &[Unread]) -> String {
    let mut all: Vec<String> = Vec::new();
    for u in unread {
        let s = sender(u);
        if !all.contains(&s) {
            all.push(s);
        }
    }
    all.join(", ")
}

/// The Stop reason: who, a preview each, and what to do.
pub(crate) fn stop_reason(unread: &[Unread]) -> String {
    let n = unread.len();
    let mut text = format!(
        "blemees-peer: {} waiting for you, from {}:",
        plural(n, "unread peer message is", "unread peer messages are"),
        senders(unread)
    );
    for u in unread.iter().take(PREVIEWS) {
        text.push_str(&format!("\n- {}: {:?}", sender(u), u.preview));
    }
    if n > PREVIEWS {
        text.push_str(&format!("\n- and {} more", n - PREVIEWS));
    }
    let it = if n == 1 { "it" } else { "them" };
    text.push_str(&format!(
        "\nCall peer_inbox to read {it} (and answer if it asks for something) before you stop."
    ));
    text
}

/// The context line for UserPromptSubmit and PostToolUse.
pub(crate) fn context_line(unread: &[Unread]) -> String {
    let n = unread.len();
    let it = if n == 1 { "it" } else { "them" };
    format!(
        "blemees-peer: {} waiting, from {}. Call peer_inbox to read {it}.",
        plural(n, "unread peer message", "unread peer messages"),
        senders(unread)
    )
}

fn ids(unread: &[Unread]) -> Vec<String> {
    unread.iter().map(|u| u.message_id.clone()).collect()
}

/// The hook's answer for `point`, given what is unread, and the new state.
/// `None`: no output (the host carries on as if there were no hook).
pub(crate) fn decide(
    point: Point,
    input: &Input,
    unread: &[Unread],
    state: &mut State,
    now: f64,
) -> Option<Value> {
    if unread.is_empty() {
        return None;
    }
    let event = event_name(point, input);
    match event {
        "Stop" => {
            if input.stop_hook_active == Some(true) {
                return None;
            }
            if unread.iter().all(|u| state.woken.contains(&u.message_id)) {
                return None;
            }
            remember(&mut state.woken, ids(unread));
            Some(json!({"decision": "block", "reason": stop_reason(unread)}))
        }
        _ => {
            let news = unread.iter().any(|u| !state.told.contains(&u.message_id));
            let stale = now - state.told_at >= CONTEXT_REPEAT.as_secs_f64();
            if event == "PostToolUse" && !news && !stale {
                return None;
            }
            state.told = ids(unread);
            state.told_at = now;
            Some(json!({"hookSpecificOutput": {
                "hookEventName": event,
                "additionalContext": context_line(unread),
            }}))
        }
    }
}

/// What a `wake` hook should do after one look.
#[derive(Debug, PartialEq)]
pub(crate) enum Wake {
    Wait,
    /// Exit 2 with this on stderr.
    Rouse(String),
    /// A newer `wake` hook took over.
    GiveWay,
}

/// One look of a `wake` hook: `newest` is the pid of the newest `wake` hook
/// of the session, `baseline` what was unread when this one started (the
/// synchronous Stop hook's business).
pub(crate) fn wake_step(
    me: u32,
    newest: Option<u32>,
    baseline: &[String],
    unread: &[Unread],
    state: &mut State,
) -> Wake {
    if newest.is_some_and(|w| w != me) {
        return Wake::GiveWay;
    }
    let fresh = unread
        .iter()
        .any(|u| !baseline.contains(&u.message_id) && !state.woken.contains(&u.message_id));
    if !fresh {
        return Wake::Wait;
    }
    remember(&mut state.woken, ids(unread));
    Wake::Rouse(stop_reason(unread))
}

// ---------------------------------------------------------------------------
// Finding the session
// ---------------------------------------------------------------------------

/// The pids above this process, nearest first (Linux: from /proc; elsewhere
/// only the parent).
fn ancestors() -> Vec<u32> {
    let mut out = vec![std::os::unix::process::parent_id()];
    while out.len() < 16 {
        let pid = *out.last().expect("non-empty");
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            break;
        };
        // pid (comm) state ppid …; comm may hold spaces and parentheses.
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            break;
        };
        if ppid <= 1 {
            break;
        }
        out.push(ppid);
    }
    out
}

/// The identity inputs of this hook: the process environment (which the host
/// gives hooks and sidecars alike), with the hook input's cwd and, for Claude
/// Code, its session id (the value of `CLAUDE_CODE_SESSION_ID`).
pub(crate) fn sources(host: Host, input: &Input) -> Sources {
    let mut s = Sources::from_process(None, None, None);
    if let Some(cwd) = input.cwd.as_deref().filter(|c| !c.is_empty()) {
        s.cwd = Some(PathBuf::from(cwd));
    }
    if host == Host::Claude && s.host_session_id.is_none() {
        s.host_session_id = input.session_id.clone().filter(|i| !i.is_empty());
    }
    s
}

/// The sidecar serving this session, and what it says.
fn find(dir: &Path, host: Host, input: &Input) -> Result<Snapshot, String> {
    let src = sources(host, input);
    let sid = identity::stable_sid(&src);
    // No directory yet: no sidecar has run with this socket. One that anyone
    // else could write to is not trusted at all.
    if dir.exists() {
        peek::check_private_dir(dir).map_err(|e| format!("not looking in it: {e}"))?;
    }
    let entries = std::fs::read_dir(dir).into_iter().flatten();
    let mut socks: Vec<(PathBuf, String, u32)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let (s, pid) = peek::parse_socket_name(&name)?;
            Some((e.path(), s.to_owned(), pid))
        })
        .collect();
    if let Some(sid) = &sid {
        for (path, s, _) in &socks {
            if s == sid {
                if let Ok(snap) = peek::query(path, PEEK_TIMEOUT) {
                    return Ok(snap);
                }
            }
        }
    }
    for pid in ancestors() {
        for (path, _, p) in &socks {
            if *p == pid {
                if let Ok(snap) = peek::query(path, PEEK_TIMEOUT) {
                    return Ok(snap);
                }
            }
        }
    }
    // Last resort: the only live sidecar of this home.
    let home = identity::resolve_home(&src);
    socks.truncate(32);
    let mut same_home: Vec<Snapshot> = socks
        .iter()
        .filter_map(|(path, _, _)| peek::query(path, PEEK_TIMEOUT).ok())
        .filter(|snap| snap.home == home)
        .collect();
    match same_home.len() {
        1 => Ok(same_home.remove(0)),
        0 => Err(format!(
            "no sidecar serves this session (sid {}, home {home})",
            sid.as_deref().unwrap_or("unknown")
        )),
        n => Err(format!(
            "{n} sidecars serve home {home} and none is this session's"
        )),
    }
}

/// How long asking the daemon may take.
const DAEMON_TIMEOUT: Duration = Duration::from_millis(1000);

/// No sidecar serves this session (it has not started, or it is gone): what
/// the daemon still holds for the session's addresses (`peer.peek`, SPEC §5),
/// as a snapshot. A daemon without `peer.peek` (0.1) gives nothing.
fn from_daemon(socket: &Path, host: Host, input: &Input) -> Result<Snapshot, String> {
    use peer_proto::address::session_address;
    use peer_proto::api::{feature, HelloParams, Peek, PeekParams};
    let src = sources(host, input);
    let home = identity::resolve_home(&src);
    let sid = identity::stable_sid(&src);
    let alias = var(AGENT_ALIAS_ENV).filter(|a| peer_proto::identity::is_valid_alias(a));
    let mut addresses = vec![format!("home:{home}")];
    addresses.extend(sid.as_deref().map(|s| session_address(&home, s)));
    addresses.extend(alias.as_deref().map(|a| session_address(&home, a)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    let ask = async {
        let hello = HelloParams::operator(home.clone())
            .client("blemees-peer-mcp hook", peer_proto::VERSION);
        let (conn, _notes, hello) = peer_client::connect_hello(socket, &hello)
            .await
            .map_err(|e| format!("no daemon: {e}"))?;
        if !hello.has(feature::PEEK) {
            return Err("the daemon has no peer.peek".to_string());
        }
        let params = PeekParams {
            addresses,
            limit: None,
        };
        conn.request::<Peek>(&params)
            .await
            .map_err(|e| format!("peer.peek failed: {e}"))
    };
    let result = runtime
        .block_on(async { tokio::time::timeout(DAEMON_TIMEOUT, ask).await })
        .map_err(|_| "the daemon did not answer in time".to_string())??;
    let unread = result
        .messages
        .into_iter()
        .map(|m| Unread {
            preview: peek::preview(&serde_json::from_str(m.body.get()).unwrap_or(Value::Null)),
            message_id: m.message_id,
            from: m.from,
            from_alias: m.from_alias,
            to: m.to,
        })
        .collect();
    Ok(Snapshot {
        v: peek::VERSION,
        // Without a sid, the hook's state is kept per home.
        sid: sid.unwrap_or_else(|| format!("home.{}", derive_sid(&home))),
        home,
        alias,
        unread,
    })
}

fn state_path(dir: &Path, sid: &str) -> PathBuf {
    dir.join(format!("{sid}.hook.json"))
}

fn load_state(path: &Path) -> State {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save_state(path: &Path, state: &State) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec(state).unwrap_or_default())?;
    std::fs::rename(&tmp, path)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Appends a line to `<sessions dir>/hooks.log` (best effort).
fn log(dir: &Path, point: Point, host: Host, line: &str) {
    if peek::ensure_private_dir(dir).is_err() {
        return;
    }
    let path = dir.join("hooks.log");
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > LOG_MAX_BYTES) {
        let _ = std::fs::rename(&path, dir.join("hooks.log.1"));
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path);
    if let Ok(mut f) = file {
        let _ = writeln!(
            f,
            "{:.3} pid {} {host:?} {point:?}: {line}",
            now(),
            std::process::id()
        );
    }
}

/// Runs the hook: always exit 0, except a `wake` that wakes the session (2).
pub(crate) fn run(args: HookArgs) -> ExitCode {
    let socket = peer_proto::paths::socket_path(
        args.socket.as_deref(),
        &peer_proto::paths::Env::from_process(),
    );
    let dir = peek::sessions_dir(&socket);
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().take(16 << 20).read_to_end(&mut bytes) {
        log(
            &dir,
            args.point,
            args.host,
            &format!("cannot read the hook input: {e}"),
        );
        return ExitCode::SUCCESS;
    }
    let input = match Input::parse(&bytes) {
        Ok(i) => i,
        Err(e) => {
            log(
                &dir,
                args.point,
                args.host,
                &format!("bad hook input ({e}); ignored"),
            );
            return ExitCode::SUCCESS;
        }
    };
    let snap = match find(&dir, args.host, &input) {
        Ok(s) => s,
        Err(e) => match from_daemon(&socket, args.host, &input) {
            Ok(s) => {
                log(
                    &dir,
                    args.point,
                    args.host,
                    &format!("{e}; asked the daemon"),
                );
                s
            }
            Err(why) => {
                log(&dir, args.point, args.host, &format!("{e}; {why}"));
                return ExitCode::SUCCESS;
            }
        },
    };
    let path = state_path(&dir, &snap.sid);
    if args.point == Point::Wake {
        // What waits now is the Stop hook's to name, unless it may not
        // (stop_hook_active): then it is this hook's, at once.
        let baseline = match input.stop_hook_active {
            Some(true) => Vec::new(),
            _ => ids(&snap.unread),
        };
        return wake(&dir, &path, args, snap, &baseline);
    }
    let mut state = load_state(&path);
    let before = state.clone();
    let out = decide(args.point, &input, &snap.unread, &mut state, now());
    if state != before {
        if let Err(e) = save_state(&path, &state) {
            log(
                &dir,
                args.point,
                args.host,
                &format!("cannot save {}: {e}", path.display()),
            );
        }
    }
    if let Some(out) = out {
        let what = if out.get("decision").is_some() {
            "blocked the stop"
        } else {
            "added context"
        };
        log(
            &dir,
            args.point,
            args.host,
            &format!("{}: {what}: {} unread", snap.sid, snap.unread.len()),
        );
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{out}");
        let _ = stdout.flush();
    }
    ExitCode::SUCCESS
}

/// Claude Code's `CLAUDE_CODE_ENTRYPOINT` for `claude -p`, which its hooks
/// inherit. A one-shot run has no idle session to wake, and it waits (up to
/// 30 s) for `asyncRewake` hooks before it exits.
const HEADLESS_ENTRYPOINT: &str = "sdk-cli";

fn wake(dir: &Path, path: &Path, args: HookArgs, first: Snapshot, baseline: &[String]) -> ExitCode {
    if std::env::var("CLAUDE_CODE_ENTRYPOINT").is_ok_and(|e| e == HEADLESS_ENTRYPOINT) {
        return ExitCode::SUCCESS;
    }
    let me = std::process::id();
    // Its own file, so that it never races the Stop hook's state.
    let waker = path.with_extension("waker");
    let _ = std::fs::write(&waker, me.to_string());
    let newest = || {
        std::fs::read_to_string(&waker)
            .ok()
            .and_then(|p| p.trim().parse().ok())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(args.wait);
    let mut snap = first;
    loop {
        let mut state = load_state(path);
        match wake_step(me, newest(), baseline, &snap.unread, &mut state) {
            Wake::GiveWay => return ExitCode::SUCCESS,
            Wake::Rouse(reason) => {
                let _ = save_state(path, &state);
                log(
                    dir,
                    args.point,
                    args.host,
                    &format!("{}: waking the session", snap.sid),
                );
                eprintln!("{reason}");
                return ExitCode::from(2);
            }
            Wake::Wait => {}
        }
        if std::time::Instant::now() >= deadline {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(WAKE_POLL);
        snap = match requery(dir, &snap.sid) {
            Some(s) => s,
            None => {
                log(
                    dir,
                    args.point,
                    args.host,
                    "the sidecar went away; stopped waiting",
                );
                return ExitCode::SUCCESS;
            }
        };
    }
}

/// The snapshot of the sidecar with `sid`, found by its socket name.
fn requery(dir: &Path, sid: &str) -> Option<Snapshot> {
    let entries = std::fs::read_dir(dir).ok()?;
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().into_string().ok()?;
        if peek::parse_socket_name(&name).is_some_and(|(s, _)| s == sid) {
            if let Ok(snap) = peek::query(&e.path(), PEEK_TIMEOUT) {
                return Some(snap);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dm(id: &str, alias: Option<&str>, body: &str) -> Unread {
        Unread {
            message_id: id.into(),
            from: "home:~/b#sess_aaaaaaaaaaaaaaaa".into(),
            from_alias: alias.map(str::to_owned),
            to: "home:~/a".into(),
            preview: body.into(),
        }
    }

    fn input(v: Value) -> Input {
        Input::parse(v.to_string().as_bytes()).unwrap()
    }

    // Claude Code's hooks reference (code.claude.com/docs/en/hooks): the
    // common members plus each event's own.
    fn claude(event: &str, extra: Value) -> Input {
        let mut v = json!({
            "session_id": "2d0c7d43-5c2b-4a8e-9d39-8c1e6d2f0a11",
            "transcript_path": "/home/u/.claude/projects/p/2d0c7d43.jsonl",
            "cwd": "/home/u/p",
            "permission_mode": "default",
            "hook_event_name": event,
        });
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        input(v)
    }

    // Codex's generated schemas (codex-rs/hooks/schema/generated/
    // stop.command.input.schema.json and friends).
    fn codex(event: &str, extra: Value) -> Input {
        let mut v = json!({
            "session_id": "0199a213-81c0-7800-8aa1-bbab2a035a53",
            "transcript_path": null,
            "cwd": "/home/u/p",
            "hook_event_name": event,
            "model": "gpt-5-codex",
            "permission_mode": "default",
            "turn_id": "1",
        });
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        input(v)
    }

    const REASON_ONE: &str = "blemees-peer: 1 unread peer message is waiting for you, from tester (home:~/b#sess_aaaaaaaaaaaaaaaa):\n- tester (home:~/b#sess_aaaaaaaaaaaaaaaa): \"run the tests\"\nCall peer_inbox to read it (and answer if it asks for something) before you stop.";

    #[test]
    fn claude_stop_blocks_once_per_message() {
        let stop = claude(
            "Stop",
            json!({"stop_hook_active": false, "last_assistant_message": "Done."}),
        );
        let unread = [dm("msg_1", Some("tester"), "run the tests")];
        let mut state = State::default();
        let out = decide(Point::Stop, &stop, &unread, &mut state, 100.0);
        assert_eq!(
            out,
            Some(json!({"decision": "block", "reason": REASON_ONE}))
        );
        assert_eq!(state.woken, ["msg_1"]);
        assert_eq!(
            decide(Point::Stop, &stop, &unread, &mut state, 101.0),
            None,
            "no second wake-up for the same message"
        );
        let two = [unread[0].clone(), dm("msg_2", None, "{\"x\":1}")];
        let out = decide(Point::Stop, &stop, &two, &mut state, 102.0).unwrap();
        let reason = out["reason"].as_str().unwrap();
        assert!(reason.starts_with("blemees-peer: 2 unread peer messages are waiting for you, from tester (home:~/b#sess_aaaaaaaaaaaaaaaa), home:~/b#sess_aaaaaaaaaaaaaaaa:"), "{reason}");
        assert!(reason.contains("Call peer_inbox to read them"), "{reason}");
    }

    #[test]
    fn stop_respects_stop_hook_active() {
        let unread = [dm("msg_1", None, "hi")];
        for i in [
            claude("Stop", json!({"stop_hook_active": true})),
            codex(
                "Stop",
                json!({"stop_hook_active": true, "last_assistant_message": null}),
            ),
        ] {
            let mut state = State::default();
            assert_eq!(decide(Point::Stop, &i, &unread, &mut state, 0.0), None);
            assert_eq!(state, State::default(), "not counted as woken");
        }
    }

    #[test]
    fn nothing_waiting_means_no_output() {
        let mut state = State::default();
        for (p, i) in [
            (
                Point::Stop,
                claude("Stop", json!({"stop_hook_active": false})),
            ),
            (
                Point::Prompt,
                claude("UserPromptSubmit", json!({"prompt": "hi"})),
            ),
            (
                Point::Tool,
                codex("PostToolUse", json!({"tool_name": "Bash"})),
            ),
        ] {
            assert_eq!(decide(p, &i, &[], &mut state, 0.0), None);
        }
        assert_eq!(state, State::default());
    }

    #[test]
    fn codex_stop_is_the_same_block() {
        let stop = codex(
            "Stop",
            json!({"stop_hook_active": false, "last_assistant_message": "ok"}),
        );
        let unread = [dm("msg_1", Some("tester"), "run the tests")];
        let out = decide(Point::Stop, &stop, &unread, &mut State::default(), 0.0);
        // Only members Codex's stop.command.output schema allows.
        assert_eq!(
            out,
            Some(json!({"decision": "block", "reason": REASON_ONE}))
        );
    }

    #[test]
    fn prompt_context_says_how_many_and_from_whom() {
        let unread = [
            dm("msg_1", Some("tester"), "a"),
            dm("msg_2", Some("tester"), "b"),
        ];
        let want = json!({"hookSpecificOutput": {"hookEventName": "UserPromptSubmit",
            "additionalContext": "blemees-peer: 2 unread peer messages waiting, from tester (home:~/b#sess_aaaaaaaaaaaaaaaa). Call peer_inbox to read them."}});
        for i in [
            claude("UserPromptSubmit", json!({"prompt": "go on"})),
            codex("UserPromptSubmit", json!({"prompt": "go on"})),
        ] {
            let mut state = State::default();
            assert_eq!(
                decide(Point::Prompt, &i, &unread, &mut state, 10.0),
                Some(want.clone())
            );
            assert_eq!(
                decide(Point::Prompt, &i, &unread, &mut state, 11.0),
                Some(want.clone()),
                "each prompt is told"
            );
        }
    }

    #[test]
    fn tool_context_is_rate_limited() {
        let post = claude(
            "PostToolUse",
            json!({"tool_name": "mcp__peer__peer_whoami",
            "tool_input": {}, "tool_response": {"content": []}, "tool_use_id": "toolu_01"}),
        );
        let mut unread = vec![dm("msg_1", None, "a")];
        let mut state = State::default();
        let out = decide(Point::Tool, &post, &unread, &mut state, 1000.0).unwrap();
        assert_eq!(out["hookSpecificOutput"]["hookEventName"], "PostToolUse");
        assert_eq!(
            out["hookSpecificOutput"]["additionalContext"],
            "blemees-peer: 1 unread peer message waiting, from home:~/b#sess_aaaaaaaaaaaaaaaa. Call peer_inbox to read it."
        );
        assert_eq!(
            decide(Point::Tool, &post, &unread, &mut state, 1001.0),
            None,
            "said already"
        );
        unread.push(dm("msg_2", None, "b"));
        assert!(
            decide(Point::Tool, &post, &unread, &mut state, 1002.0).is_some(),
            "news"
        );
        assert_eq!(
            decide(Point::Tool, &post, &unread, &mut state, 1003.0),
            None
        );
        let later = 1002.0 + CONTEXT_REPEAT.as_secs_f64();
        assert!(
            decide(Point::Tool, &post, &unread, &mut state, later).is_some(),
            "a reminder"
        );
    }

    #[test]
    fn topic_messages_say_their_topic() {
        let mut t = dm("msg_t", Some("ci"), "red");
        t.to = "topic:builds".into();
        assert_eq!(
            context_line(&[t]),
            "blemees-peer: 1 unread peer message waiting, from ci (home:~/b#sess_aaaaaaaaaaaaaaaa) on topic:builds. Call peer_inbox to read it."
        );
    }

    #[test]
    fn long_lists_are_cut() {
        let unread: Vec<_> = (0..5).map(|i| dm(&format!("m{i}"), None, "x")).collect();
        let r = stop_reason(&unread);
        assert_eq!(r.matches("\n- home:").count(), PREVIEWS);
        assert!(r.contains("\n- and 2 more\n"), "{r}");
    }

    #[test]
    fn the_event_comes_from_the_input_when_known() {
        let i = codex("PostToolUse", json!({}));
        let unread = [dm("m", None, "x")];
        let out = decide(Point::Prompt, &i, &unread, &mut State::default(), 0.0).unwrap();
        assert_eq!(out["hookSpecificOutput"]["hookEventName"], "PostToolUse");
    }

    #[test]
    fn bad_input_is_refused_not_fatal() {
        assert!(Input::parse(b"").is_err());
        assert!(Input::parse(b"not json").is_err());
        assert!(Input::parse(b"[1]").is_err());
        assert!(Input::parse(br#"{"stop_hook_active": "yes"}"#).is_err());
        let i = Input::parse(br#"{"unknown": 1}"#).unwrap();
        assert_eq!(i.session_id, None);
    }

    #[test]
    fn claude_hooks_find_the_sidecar_by_session_id() {
        let i = claude("Stop", json!({}));
        let s = sources(Host::Claude, &i);
        if std::env::var_os(peer_proto::agent_env::CLAUDE_SESSION_ID_ENV).is_none()
            && std::env::var_os(peer_proto::agent_env::AGENT_SID_ENV).is_none()
        {
            assert_eq!(
                identity::stable_sid(&s),
                Some(derive_sid("2d0c7d43-5c2b-4a8e-9d39-8c1e6d2f0a11")),
                "the sid the sidecar derives from CLAUDE_CODE_SESSION_ID"
            );
            let c = sources(Host::Codex, &codex("Stop", json!({})));
            assert_eq!(
                identity::stable_sid(&c),
                None,
                "Codex's id is not the sidecar's"
            );
        }
        assert_eq!(s.cwd.as_deref(), Some(Path::new("/home/u/p")));
    }

    #[test]
    fn wake_waits_for_news_and_gives_way() {
        let old = dm("m1", None, "old");
        let mut state = State::default();
        let baseline = vec!["m1".to_string()];
        assert_eq!(
            wake_step(
                7,
                Some(7),
                &baseline,
                std::slice::from_ref(&old),
                &mut state
            ),
            Wake::Wait
        );
        let new = dm("m2", Some("tester"), "new");
        let both = [old.clone(), new.clone()];
        match wake_step(7, Some(7), &baseline, &both, &mut state) {
            Wake::Rouse(r) => assert!(r.contains("\"new\""), "{r}"),
            other => panic!("{other:?}"),
        }
        assert!(state.woken.contains(&"m2".to_string()));
        assert_eq!(
            wake_step(7, Some(7), &[], &both, &mut state),
            Wake::Wait,
            "woken once"
        );
        let mut fresh = State::default();
        assert_eq!(
            wake_step(7, Some(8), &baseline, &[new], &mut fresh),
            Wake::GiveWay
        );
    }

    #[test]
    fn woken_ids_are_bounded() {
        let mut list = Vec::new();
        remember(&mut list, (0..REMEMBERED + 5).map(|i| i.to_string()));
        assert_eq!(list.len(), REMEMBERED);
        assert_eq!(list[0], "5");
    }
}
