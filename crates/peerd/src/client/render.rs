//! Readable text for the client sub-commands: tables, one-line message
//! summaries, local times, optional colour.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use peer_proto::text::printable;
use serde_json::Value;
use std::fmt::Write;

/// Longest body preview in a message line, in characters, its `…` included.
pub(crate) const PREVIEW_CHARS: usize = 121;

/// ANSI colours for a terminal, or none.
pub(crate) struct Style {
    dim: &'static str,
    from: &'static str,
    to: &'static str,
    reset: &'static str,
}

impl Style {
    pub(crate) fn plain() -> Style {
        Style {
            dim: "",
            from: "",
            to: "",
            reset: "",
        }
    }

    pub(crate) fn colour() -> Style {
        Style {
            dim: "\x1b[2m",
            from: "\x1b[36m",
            to: "\x1b[33m",
            reset: "\x1b[0m",
        }
    }
}

/// `ts` (float seconds) in local time, `format` as strftime.
pub(crate) fn local(ts: Option<f64>, format: &str) -> String {
    let Some(ts) = ts.filter(|t| t.is_finite()) else {
        return "-".to_owned();
    };
    match Timestamp::from_millisecond((ts * 1000.0) as i64) {
        Ok(t) => t.to_zoned(TimeZone::system()).strftime(format).to_string(),
        Err(_) => format!("{ts:.3}"),
    }
}

/// A peer-controlled string member of `v`, printable, or `missing`.
fn text(v: &Value, missing: &str) -> String {
    v.as_str().map_or_else(|| missing.to_owned(), printable)
}

/// A body on one line, cut to [`PREVIEW_CHARS`].
pub(crate) fn preview(body: &Value) -> String {
    peer_proto::text::preview(body, PREVIEW_CHARS)
}

/// `from (alias) → to  body`, the core of every message line.
fn summary(m: &Value, style: &Style) -> String {
    let s = |v: &Value| text(v, "?");
    let alias = m["from_alias"]
        .as_str()
        .map(|a| format!(" ({})", printable(a)))
        .unwrap_or_default();
    format!(
        "{}{}{alias}{} → {}{}{}  {}",
        style.from,
        s(&m["from"]),
        style.reset,
        style.to,
        s(&m["to"]),
        style.reset,
        preview(&m["body"])
    )
}

/// One line of `watch`: time, sender → address, what happened, body.
pub(crate) fn wire_line(m: &Value, style: &Style) -> String {
    let fate = match (m["delivered"].as_u64(), m["queued"].as_bool()) {
        (_, Some(true)) => " [queued]".to_owned(),
        (Some(n), _) => format!(" [{n}]"),
        _ => String::new(),
    };
    format!(
        "{}{}{} {}{}{fate}{}",
        style.dim,
        local(m["ts"].as_f64(), "%H:%M:%S"),
        style.reset,
        summary(m, style),
        style.dim,
        style.reset
    )
}

pub(crate) fn history(result: &Value, style: &Style) -> String {
    let mut out = String::new();
    for m in result["messages"].as_array().into_iter().flatten() {
        let when = local(m["ts"].as_f64(), "%Y-%m-%d %H:%M:%S");
        let _ = writeln!(
            out,
            "{when}  {}  {}",
            summary(m, style),
            text(&m["message_id"], "")
        );
    }
    if out.is_empty() {
        out.push_str("(no messages)");
    }
    out
}

pub(crate) fn status(s: &Value) -> String {
    let mut out = String::new();
    for key in [
        "server_version",
        "pid",
        "uptime_s",
        "connections",
        "sessions",
        "topics",
        "queued_dms",
        "db_bytes",
        "unindexed",
    ] {
        let value = match (&s[key], key) {
            (Value::Number(n), "uptime_s") => format!("{:.0} s", n.as_f64().unwrap_or(0.0)),
            (Value::Number(n), "db_bytes") => {
                format!("{:.1} MiB", n.as_f64().unwrap_or(0.0) / 1048576.0)
            }
            (Value::String(v), _) => printable(v),
            (v, _) => v.to_string(),
        };
        let _ = writeln!(out, "{key:<15}{value}");
    }
    if let Some(f) = s["federation"].as_object() {
        let field = |k: &str| match &f.get(k) {
            Some(Value::String(v)) => printable(v),
            Some(Value::Null) | None => "-".to_owned(),
            Some(v) => v.to_string(),
        };
        let _ = writeln!(
            out,
            "{:<15}node {}, link {}, backlog {}, nats {}",
            "federation",
            field("node"),
            field("link"),
            field("backlog"),
            field("nats")
        );
    }
    out
}

/// Rows as aligned columns under `header`.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let head: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&head).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

pub(crate) fn peers(result: &Value) -> String {
    let peers = result["peers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    // Other nodes' sessions (federation) get a column saying whose they are.
    let federated = peers.iter().any(|p| p["node"].is_string());
    let mut rows = Vec::new();
    for peer in peers {
        for s in peer["sessions"].as_array().into_iter().flatten() {
            let subs: Vec<String> = s["subscriptions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(printable)
                .collect();
            let mut row = vec![
                text(&peer["peer_id"], "?"),
                text(&s["sid"], "?"),
                text(&s["alias"], "-"),
                subs.join(","),
            ];
            if federated {
                row.insert(0, text(&peer["node"], "(here)"));
            }
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return "(no live sessions)".to_owned();
    }
    match federated {
        true => table(&["NODE", "HOME", "SID", "ALIAS", "SUBSCRIPTIONS"], rows),
        false => table(&["HOME", "SID", "ALIAS", "SUBSCRIPTIONS"], rows),
    }
}

pub(crate) fn topics(result: &Value) -> String {
    let rows: Vec<Vec<String>> = result["topics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            vec![
                text(&t["name"], "?"),
                t["subscribers"].to_string(),
                local(t["last_message_at"].as_f64(), "%Y-%m-%d %H:%M:%S"),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "(no topics)".to_owned();
    }
    table(&["TOPIC", "SUBSCRIBERS", "LAST MESSAGE"], rows)
}

pub(crate) fn leases(result: &Value) -> String {
    let rows: Vec<Vec<String>> = result["leases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            let holder = match l["alias"].as_str() {
                Some(alias) => format!("{} ({alias})", text(&l["holder"], "?")),
                None => text(&l["holder"], "?"),
            };
            let paths: Vec<String> = l["paths"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| text(p, "?"))
                .collect();
            let kind = if l["exclusive"].as_bool() == Some(true) {
                "exclusive"
            } else {
                "shared"
            };
            vec![
                text(&l["lease_id"], "?"),
                holder,
                paths.join(" "),
                kind.to_owned(),
                local(l["expires"].as_f64(), "%Y-%m-%d %H:%M:%S"),
                text(&l["reason"], ""),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "(no leases)".to_owned();
    }
    table(
        &["LEASE", "HOLDER", "PATHS", "KIND", "EXPIRES", "REASON"],
        rows,
    )
}

pub(crate) fn sent(r: &Value) -> String {
    let id = text(&r["message_id"], "?");
    match r["queued"].as_bool() {
        Some(true) => format!("queued {id} (no live recipient yet)"),
        _ => format!("sent {id} to {} session(s)", r["delivered"]),
    }
}

pub(crate) fn published(r: &Value) -> String {
    format!(
        "published {} to {} subscriber(s)",
        text(&r["message_id"], "?"),
        r["subscribers"]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn previews_are_one_short_line() {
        assert_eq!(preview(&json!("hi\nthere")), "hi there");
        assert_eq!(preview(&json!({"a": 1})), r#"{"a":1}"#);
        let long = preview(&json!("é".repeat(500)));
        assert_eq!(long.chars().count(), PREVIEW_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn wire_lines_say_who_where_and_what_happened() {
        let m = json!({"from": "home:~/a#sess_x", "from_alias": "architect", "to": "home:~/b",
                       "body": {"task": "test"}, "ts": 1.7e9, "delivered": 0, "queued": true});
        let line = wire_line(&m, &Style::plain());
        assert!(
            line.contains("home:~/a#sess_x (architect) → home:~/b"),
            "{line}"
        );
        assert!(line.ends_with(r#"{"task":"test"} [queued]"#), "{line}");
        assert!(wire_line(&m, &Style::colour()).contains("\x1b[36m"));
    }

    #[test]
    fn nothing_a_peer_chose_reaches_the_terminal_raw() {
        let evil = "\x1b]0;pwned\x07\x1b[2J\u{202E}cod.exe";
        let m = json!({"from": format!("home:/{evil}#sess_x"), "from_alias": evil,
                       "to": format!("topic:{evil}"), "body": evil, "ts": 1.0,
                       "message_id": evil, "delivered": 1});
        let peer_list = json!({"peers": [{"peer_id": format!("home:/{evil}"),
                          "sessions": [{"sid": "sess_x", "alias": evil, "subscriptions": [evil]}]}]});
        let topic_list =
            json!({"topics": [{"name": evil, "subscribers": 1, "last_message_at": null}]});
        for out in [
            wire_line(&m, &Style::plain()),
            history(&json!({"messages": [m.clone()]}), &Style::plain()),
            peers(&peer_list),
            topics(&topic_list),
            sent(&m),
            published(&m),
        ] {
            assert!(
                !out.contains('\x1b') && !out.contains('\u{202E}'),
                "{out:?}"
            );
            assert!(!out.contains('\x07'), "{out:?}");
        }
        assert_eq!(printable("a\tb\nc"), "a b c");
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], vec![vec!["long".into(), "x".into()]]);
        assert_eq!(t, "A     BB\nlong  x\n");
    }
}
