//! `install-hooks` / `uninstall-hooks`: writes the peer hooks into the host's
//! own settings file, or takes them out again (README, "Waking the agent").
//!
//! * Claude Code: `"hooks"` in `~/.claude/settings.json` (`--user`, the
//!   default; `$CLAUDE_CONFIG_DIR` if set) or `.claude/settings.json` in the
//!   current directory (`--project`): Stop (`hook stop`, and `hook wake` as an
//!   `asyncRewake` hook unless `--no-wake`), UserPromptSubmit (`hook prompt`)
//!   and PostToolUse (`hook tool`).
//! * Codex: `~/.codex/hooks.json` (`--user`; `$CODEX_HOME` if set) or
//!   `.codex/hooks.json` (`--project`): Stop, UserPromptSubmit, PostToolUse.
//!
//! Everything else in the file is kept. A hook handler is ours when its
//! command runs `blemees-peer-mcp` (or the `--command` given) with `hook`: a
//! second install replaces ours with the same and so changes nothing, and
//! uninstall removes those handlers and nothing else (plus the groups and
//! events they leave empty).

use crate::hook::{Host, Point};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The binary's name, by which installed commands are recognised.
const BIN_NAME: &str = "blemees-peer-mcp";
/// Seconds Claude Code gives a synchronous hook (it takes milliseconds).
const HOOK_TIMEOUT_SECS: u64 = 10;
/// Seconds Claude Code lets the background `wake` hook run (it waits less).
const WAKE_TIMEOUT_SECS: u64 = 3600;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("host").required(true).args(["claude", "codex"])))]
#[command(group(clap::ArgGroup::new("scope").args(["project", "user"])))]
pub(crate) struct InstallArgs {
    /// Claude Code (settings.json)
    #[arg(long)]
    claude: bool,
    /// Codex (hooks.json)
    #[arg(long)]
    codex: bool,
    /// This project: .claude/settings.json or .codex/hooks.json in the current directory
    #[arg(long)]
    project: bool,
    /// You, every project (the default): ~/.claude/settings.json or ~/.codex/hooks.json
    #[arg(long)]
    user: bool,
    /// Show the file as it would be written, and write nothing
    #[arg(long)]
    print: bool,
    /// Claude Code: leave out the asyncRewake hook that wakes an idle session
    #[arg(long)]
    no_wake: bool,
    /// The blemees-peer-mcp to run [default: this executable]
    #[arg(long, value_name = "PATH")]
    command: Option<String>,
    /// Settings file to edit [default: the host's, by scope]
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// blemees-peerd socket the hooks should use [default: as the sidecar resolves it]
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
}

/// Quotes `s` for a POSIX shell when it needs it.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@%,".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The hook command line for `point`.
pub(crate) fn command_line(bin: &str, host: Host, point: Point, socket: Option<&Path>) -> String {
    let point = match point {
        Point::Stop => "stop",
        Point::Prompt => "prompt",
        Point::Tool => "tool",
        Point::Wake => "wake",
    };
    let mut line = format!("{} hook {point}", shell_quote(bin));
    if host == Host::Codex {
        line.push_str(" --host codex");
    }
    if let Some(s) = socket {
        line.push_str(&format!(" --socket {}", shell_quote(&s.to_string_lossy())));
    }
    line
}

/// The groups to add, per event, in order.
pub(crate) fn wanted(
    bin: &str,
    host: Host,
    wake: bool,
    socket: Option<&Path>,
) -> Vec<(&'static str, Value)> {
    let handler = |point: Point| {
        let mut h = json!({"type": "command", "command": command_line(bin, host, point, socket)});
        if host == Host::Claude {
            h["timeout"] = json!(HOOK_TIMEOUT_SECS);
        }
        json!({ "hooks": [h] })
    };
    let mut out = vec![("Stop", handler(Point::Stop))];
    if host == Host::Claude && wake {
        let h = json!({"type": "command", "command": command_line(bin, host, Point::Wake, socket),
            "asyncRewake": true, "timeout": WAKE_TIMEOUT_SECS});
        out.push(("Stop", json!({ "hooks": [h] })));
    }
    out.push(("UserPromptSubmit", handler(Point::Prompt)));
    out.push(("PostToolUse", handler(Point::Tool)));
    out
}

/// Whether a hook handler is one of ours.
fn is_ours(handler: &Value, bin: &str) -> bool {
    let Some(cmd) = handler.get("command").and_then(Value::as_str) else {
        return false;
    };
    let quoted = shell_quote(bin);
    let mut words = cmd.split_whitespace();
    let first = words.next().unwrap_or_default();
    let runs_us = first == quoted
        || first.trim_matches('\'').rsplit('/').next() == Some(BIN_NAME)
        || cmd.starts_with(&format!("{quoted} "));
    let rest = cmd.strip_prefix(&quoted).map(str::trim_start).or_else(|| {
        cmd.split_once(char::is_whitespace)
            .map(|(_, r)| r.trim_start())
    });
    runs_us && rest.is_some_and(|r| r.starts_with("hook "))
}

/// Takes our handlers out of `settings`; true if any was there.
fn strip(settings: &mut Value, bin: &str) -> bool {
    let Some(hooks) = settings.get_mut("hooks").and_then(Value::as_object_mut) else {
        return false;
    };
    let mut removed = false;
    for groups in hooks.values_mut() {
        let Some(groups) = groups.as_array_mut() else {
            continue;
        };
        groups.retain_mut(|group| {
            let Some(handlers) = group.get_mut("hooks").and_then(Value::as_array_mut) else {
                return true;
            };
            let before = handlers.len();
            handlers.retain(|h| !is_ours(h, bin));
            if handlers.len() == before {
                return true;
            }
            removed = true;
            !handlers.is_empty()
        });
    }
    hooks.retain(|_, groups| !groups.as_array().is_some_and(Vec::is_empty));
    if hooks.is_empty() && removed {
        if let Some(obj) = settings.as_object_mut() {
            obj.remove("hooks");
        }
    }
    removed
}

/// Whether `settings` holds exactly `wanted` of ours, and no other of ours.
fn has_exactly(settings: &Value, bin: &str, wanted: &[(&str, Value)]) -> bool {
    let Some(hooks) = settings.get("hooks").and_then(Value::as_object) else {
        return false;
    };
    let mut ours: Vec<(String, Value)> = Vec::new();
    for (event, groups) in hooks {
        for group in groups.as_array().into_iter().flatten() {
            let handlers = group.get("hooks").and_then(Value::as_array);
            if handlers.is_some_and(|hs| hs.iter().any(|h| is_ours(h, bin))) {
                ours.push((event.clone(), group.clone()));
            }
        }
    }
    ours.len() == wanted.len()
        && wanted
            .iter()
            .all(|(e, g)| ours.iter().any(|(oe, og)| oe == e && og == g))
}

/// `settings` with our hooks installed (`install`) or removed.
pub(crate) fn apply(
    mut settings: Value,
    bin: &str,
    wanted: &[(&'static str, Value)],
    install: bool,
) -> Result<Value, String> {
    if !settings.is_object() {
        return Err("the settings file does not hold a JSON object".into());
    }
    if settings.get("hooks").is_some_and(|h| !h.is_object()) {
        return Err("its \"hooks\" is not an object".into());
    }
    if install && has_exactly(&settings, bin, wanted) {
        return Ok(settings);
    }
    strip(&mut settings, bin);
    if install {
        let obj = settings.as_object_mut().expect("checked above");
        let hooks = obj
            .entry("hooks")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("checked above");
        for (event, group) in wanted {
            let groups = hooks
                .entry(event.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            match groups.as_array_mut() {
                Some(a) => a.push(group.clone()),
                None => return Err(format!("\"hooks\".{event} is not an array")),
            }
        }
    }
    Ok(settings)
}

/// The settings file for the host and scope.
fn settings_file(args: &InstallArgs, host: Host) -> Result<PathBuf, String> {
    if let Some(f) = &args.file {
        return Ok(f.clone());
    }
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if args.project {
        let cwd = std::env::current_dir().map_err(|e| format!("no working directory: {e}"))?;
        return Ok(match host {
            Host::Claude => cwd.join(".claude").join("settings.json"),
            Host::Codex => cwd.join(".codex").join("hooks.json"),
        });
    }
    let home = peer_proto::paths::user_home().ok_or("no home directory")?;
    Ok(match host {
        Host::Claude => var("CLAUDE_CONFIG_DIR")
            .unwrap_or_else(|| home.join(".claude"))
            .join("settings.json"),
        Host::Codex => var("CODEX_HOME")
            .unwrap_or_else(|| home.join(".codex"))
            .join("hooks.json"),
    })
}

/// Runs `install-hooks` (`install`) or `uninstall-hooks`.
pub(crate) fn run(args: InstallArgs, install: bool) -> ExitCode {
    match execute(&args, install) {
        Ok(msg) => {
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("blemees-peer-mcp: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(args: &InstallArgs, install: bool) -> Result<String, String> {
    let host = if args.codex {
        Host::Codex
    } else {
        Host::Claude
    };
    let bin = match &args.command {
        Some(c) => c.clone(),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot tell where this executable is ({e}); pass --command"))?
            .to_string_lossy()
            .into_owned(),
    };
    let path = settings_file(args, host)?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    let before: Value = match text.as_deref().map(str::trim) {
        None | Some("") => json!({}),
        Some(t) => serde_json::from_str(t)
            .map_err(|e| format!("{} is not JSON ({e}); left as it is", path.display()))?,
    };
    let wanted = wanted(&bin, host, !args.no_wake, args.socket.as_deref());
    let after = apply(before.clone(), &bin, &wanted, install)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let rendered = format!(
        "{}\n",
        serde_json::to_string_pretty(&after).expect("JSON values serialise")
    );
    if args.print {
        print!("{rendered}");
        return Ok(String::new());
    }
    if after == before && (text.is_some() || !install) {
        return Ok(format!("{}: unchanged", path.display()));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension("json.blemees-tmp");
    std::fs::write(&tmp, &rendered).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("writing {}: {e}", path.display()))?;
    let what = if install { "installed" } else { "removed" };
    let mut msg = format!("{}: peer hooks {what}", path.display());
    if host == Host::Codex && install {
        msg.push_str(
            "\nCodex runs new hooks only once you trust them: open /hooks in codex and trust them",
        );
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIN: &str = "/opt/bin/blemees-peer-mcp";

    fn install(v: Value, host: Host) -> Value {
        apply(v, BIN, &wanted(BIN, host, true, None), true).unwrap()
    }

    fn uninstall(v: Value, host: Host) -> Value {
        apply(v, BIN, &wanted(BIN, host, true, None), false).unwrap()
    }

    #[test]
    fn claude_entries_are_the_documented_shape() {
        let v = install(json!({}), Host::Claude);
        assert_eq!(
            v,
            json!({"hooks": {
                "Stop": [
                    {"hooks": [{"type": "command", "command": "/opt/bin/blemees-peer-mcp hook stop", "timeout": 10}]},
                    {"hooks": [{"type": "command", "command": "/opt/bin/blemees-peer-mcp hook wake", "asyncRewake": true, "timeout": 3600}]}
                ],
                "UserPromptSubmit": [{"hooks": [{"type": "command", "command": "/opt/bin/blemees-peer-mcp hook prompt", "timeout": 10}]}],
                "PostToolUse": [{"hooks": [{"type": "command", "command": "/opt/bin/blemees-peer-mcp hook tool", "timeout": 10}]}]
            }})
        );
    }

    #[test]
    fn codex_entries_say_the_host() {
        let v = install(json!({}), Host::Codex);
        assert_eq!(
            v["hooks"]["Stop"],
            json!([{"hooks": [{"type": "command", "command": "/opt/bin/blemees-peer-mcp hook stop --host codex"}]}])
        );
        assert_eq!(v["hooks"].as_object().unwrap().len(), 3);
    }

    #[test]
    fn install_keeps_other_content_and_is_idempotent() {
        let theirs = json!({
            "permissions": {"allow": ["mcp__peer"]},
            "hooks": {
                "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
                "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "check.sh"}]}]
            }
        });
        let once = install(theirs.clone(), Host::Claude);
        assert_eq!(once["permissions"], theirs["permissions"]);
        assert_eq!(once["hooks"]["PreToolUse"], theirs["hooks"]["PreToolUse"]);
        assert_eq!(once["hooks"]["Stop"][0], theirs["hooks"]["Stop"][0]);
        assert_eq!(once["hooks"]["Stop"].as_array().unwrap().len(), 3);
        let twice = install(once.clone(), Host::Claude);
        assert_eq!(twice, once, "a second install changes nothing");
        assert_eq!(
            uninstall(twice, Host::Claude),
            theirs,
            "uninstall removes exactly ours"
        );
        assert_eq!(uninstall(json!({}), Host::Claude), json!({}));
    }

    #[test]
    fn a_changed_install_replaces_ours() {
        let old = apply(json!({}), BIN, &wanted(BIN, Host::Claude, true, None), true).unwrap();
        let sock = Path::new("/tmp/my peer.sock");
        let new = apply(
            old,
            BIN,
            &wanted(BIN, Host::Claude, false, Some(sock)),
            true,
        )
        .unwrap();
        assert_eq!(new["hooks"]["Stop"].as_array().unwrap().len(), 1);
        assert_eq!(
            new["hooks"]["Stop"][0]["hooks"][0]["command"],
            "/opt/bin/blemees-peer-mcp hook stop --socket '/tmp/my peer.sock'"
        );
    }

    #[test]
    fn ours_is_recognised_by_command() {
        let h = |c: &str| json!({"type": "command", "command": c});
        assert!(is_ours(&h("/opt/bin/blemees-peer-mcp hook stop"), BIN));
        assert!(is_ours(&h("blemees-peer-mcp hook tool --host codex"), BIN));
        assert!(is_ours(&h("/elsewhere/blemees-peer-mcp hook wake"), BIN));
        assert!(!is_ours(&h("blemees-peer-mcp --alias x"), BIN));
        assert!(!is_ours(&h("my-hook blemees-peer-mcp hook"), BIN));
        assert!(!is_ours(&json!({"type": "prompt", "prompt": "x"}), BIN));
    }

    #[test]
    fn refuses_what_it_cannot_edit() {
        let w = wanted(BIN, Host::Claude, true, None);
        assert!(apply(json!([]), BIN, &w, true).is_err());
        assert!(apply(json!({"hooks": []}), BIN, &w, true).is_err());
        assert!(apply(json!({"hooks": {"Stop": {}}}), BIN, &w, true).is_err());
    }
}
