//! Full-text search over message bodies (`peer.search`, SPEC §15): what text of
//! a body is indexed, how a user's query becomes an FTS5 query, and the SQL
//! that keeps the index and answers searches.
//!
//! The index (`messages_fts`) is a *contentless* FTS5 table keyed by `seq`: the
//! bodies are already stored once in `messages`, so the index holds only the
//! tokens. Its `contentless_delete` option lets a trimmed or expired message's
//! tokens be deleted by `seq` alone, which a trigger on `messages` does, so the
//! index never answers with a message that is gone.
//!
//! Messages are indexed in chunks, not in the batch that stores them: an FTS5
//! write costs about one segment flush per transaction, which on a round trip
//! of its own doubled the daemon's CPU. The rows indexed are always one range
//! of seqs, `[fts_backfill_below, fts_indexed_upto]` in `meta`: new messages
//! extend it upwards ([`index_new`], between batches and before each search),
//! the messages of a database upgraded from schema 3 downwards ([`index_old`]).

use super::db::{message, meta, set_meta, COLUMNS};
use crate::op::SearchScope;
use peer_proto::limits::SEARCH_MAX_TERMS;
use peer_proto::Message;
use rusqlite::{params, Connection};
use serde_json::Value;

/// The text of a body that a search looks in: a string body as it reads
/// (escapes decoded), else every string, number and object key in it, one per
/// line. Markup of the JSON itself (`{"k":`) would only add noise tokens.
pub(crate) fn indexed_text(body: &str) -> String {
    if let Ok(text) = serde_json::from_str::<String>(body) {
        return text;
    }
    let mut out = String::new();
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        collect(&value, &mut out);
    }
    out
}

fn collect(value: &Value, out: &mut String) {
    fn line(out: &mut String, text: &str) {
        out.push_str(text);
        out.push('\n');
    }
    match value {
        Value::String(s) => line(out, s),
        Value::Number(n) => line(out, &n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        Value::Object(members) => {
            for (key, v) in members {
                line(out, key);
                collect(v, out);
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// A query that cannot be searched for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum QueryError {
    /// No word in it.
    Empty,
    /// More than [`SEARCH_MAX_TERMS`] words and phrases.
    TooManyTerms,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::Empty => f.write_str("query must contain a word"),
            QueryError::TooManyTerms => write!(
                f,
                "query must have at most {SEARCH_MAX_TERMS} words and phrases"
            ),
        }
    }
}

/// The FTS5 query for a user's `query`: every bare word, `"quoted phrase"` and
/// `prefix*` word must match. Each term is passed to FTS5 as a quoted string,
/// so nothing a user types (`-`, `:`, `OR`, an unbalanced quote) is read as
/// FTS5 syntax and no query is a syntax error.
pub(crate) fn fts_query(query: &str) -> Result<String, QueryError> {
    let mut terms = Vec::new();
    let mut rest = query.trim_start();
    while !rest.is_empty() {
        let (term, prefix, after) = if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            let after = quoted.get(end + 1..).unwrap_or("");
            (&quoted[..end], false, after)
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            let word = &rest[..end];
            match word.strip_suffix('*') {
                Some(stem) => (stem, true, &rest[end..]),
                None => (word, false, &rest[end..]),
            }
        };
        rest = after.trim_start();
        // A term with no letter or digit would match nothing once tokenized.
        if term.chars().any(char::is_alphanumeric) {
            let quoted = format!(
                "\"{}\"{}",
                term.replace('"', "\"\""),
                if prefix { "*" } else { "" }
            );
            terms.push(quoted);
        }
    }
    match terms.len() {
        0 => Err(QueryError::Empty),
        n if n > SEARCH_MAX_TERMS => Err(QueryError::TooManyTerms),
        _ => Ok(terms.join(" AND ")),
    }
}

/// Indexes message `seq` with `body`'s text.
fn index(c: &Connection, seq: i64, body: &str) -> rusqlite::Result<()> {
    c.prepare_cached("INSERT INTO messages_fts (rowid, text) VALUES (?1, ?2)")?
        .execute(params![seq, indexed_text(body)])?;
    Ok(())
}

/// The stored messages matching `fts` (an [`fts_query`]) within `scope`, up to
/// seq `until` (see `reader`), best match first (FTS5's bm25 rank), newer
/// first among equals.
pub(crate) fn search(
    c: &Connection,
    fts: &str,
    scope: &SearchScope,
    until: i64,
) -> rusqlite::Result<Vec<Message>> {
    let after: i64 = match &scope.since {
        Some(id) => super::db::seq_of(c, id)?.unwrap_or(0),
        None => 0,
    };
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM messages_fts f JOIN messages m ON m.seq = f.rowid
         WHERE messages_fts MATCH ?1 AND f.rowid > ?2 AND f.rowid <= ?3
           AND (?4 IS NULL OR m.to_addr = ?4 OR m.from_addr = ?4
                OR substr(m.from_addr, 1, length(?4) + 1) = ?4 || '#')
         ORDER BY f.rank, m.seq DESC LIMIT ?5"
    ))?;
    let rows = stmt.query_map(
        params![fts, after, until, scope.address, scope.limit],
        message,
    )?;
    rows.collect()
}

/// Indexes up to `chunk` of the messages stored since the last call, oldest
/// first. Returns the newest seq now indexed and whether there may be more.
pub(crate) fn index_new(c: &Connection, chunk: usize) -> rusqlite::Result<(i64, bool)> {
    let upto = meta(c, "fts_indexed_upto")?;
    let rows = unindexed(
        c,
        "SELECT seq, body FROM messages WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        upto,
        chunk,
    )?;
    let Some(&(last, _)) = rows.last() else {
        return Ok((upto, false));
    };
    set_meta(c, "fts_indexed_upto", last)?;
    Ok((last, rows.len() == chunk))
}

/// Indexes up to `chunk` of the messages stored before the index existed,
/// newest first (the likeliest to be searched for). Returns whether there may
/// be more.
pub(crate) fn index_old(c: &Connection, chunk: usize) -> rusqlite::Result<bool> {
    let below = meta(c, "fts_backfill_below")?;
    let rows = unindexed(
        c,
        "SELECT seq, body FROM messages WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2",
        below,
        chunk,
    )?;
    let more = rows.len() == chunk;
    let next = match rows.last() {
        Some(&(seq, _)) if more => seq,
        _ => 0,
    };
    set_meta(c, "fts_backfill_below", next)?;
    Ok(more)
}

/// Indexes the rows `select` (bound to `from` and `chunk`) finds.
fn unindexed(
    c: &Connection,
    select: &str,
    from: i64,
    chunk: usize,
) -> rusqlite::Result<Vec<(i64, String)>> {
    let rows: Vec<(i64, String)> = c
        .prepare_cached(select)?
        .query_map(params![from, chunk as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (seq, body) in &rows {
        index(c, *seq, body)?;
    }
    Ok(rows)
}

/// The newest seq indexed: where [`index_new`] goes on from.
pub(crate) fn indexed_upto(c: &Connection) -> rusqlite::Result<i64> {
    meta(c, "fts_indexed_upto")
}

/// How many stored messages wait to be indexed, old and new.
pub(crate) fn pending(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row(
        "SELECT count(*) FROM messages
          WHERE seq < (SELECT value FROM meta WHERE key = 'fts_backfill_below')
             OR seq > (SELECT value FROM meta WHERE key = 'fts_indexed_upto')",
        [],
        |r| r.get(0),
    )
}

/// Whether messages stored before the index existed wait to be indexed.
pub(crate) fn old_pending(c: &Connection) -> rusqlite::Result<bool> {
    let below = meta(c, "fts_backfill_below")?;
    c.prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE seq < ?1)")?
        .query_row([below], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Kind;
    use crate::store::db::{self, State};
    use crate::store::schema;
    use serde_json::value::RawValue;

    fn store(c: &Connection, seq: i64, to: &str, body: &str) {
        let m = Message {
            message_id: peer_proto::identity::mint_message_id(seq as u64),
            from: "home:~/p#sess_abcdefghijklmnop".into(),
            from_alias: None,
            to: to.into(),
            body: RawValue::from_string(body.into()).unwrap(),
            reply_to: None,
            ts: seq as f64,
            seq: Some(seq),
        };
        let kind = if to.starts_with("topic:") {
            Kind::Topic
        } else {
            Kind::Dm
        };
        db::insert(c, &m, kind, State::Done, m.ts).unwrap();
        index_new(c, 100).unwrap();
    }

    fn found(c: &Connection, query: &str, address: Option<&str>) -> Vec<i64> {
        let scope = SearchScope {
            address: address.map(Into::into),
            since: None,
            limit: 100,
        };
        let mut seqs: Vec<i64> = search(c, &fts_query(query).unwrap(), &scope, i64::MAX)
            .unwrap()
            .iter()
            .map(|m| m.seq.unwrap())
            .collect();
        seqs.sort_unstable();
        seqs
    }

    #[test]
    fn finds_words_phrases_and_prefixes_and_forgets_trimmed_rows() {
        let dir = tempfile::tempdir().unwrap();
        let c = schema::open(&dir.path().join("t.db")).unwrap();
        store(&c, 1, "topic:ci", r#""the flaky test in résumé.rs""#);
        store(&c, 2, "home:~/q", r#"{"note":"Flaky TESTS again"}"#);
        store(&c, 3, "topic:ci", r#""deploy done""#);
        store(&c, 4, "topic:log", r#""entry 0 of the archive""#);
        assert_eq!(found(&c, "\"entry 0 of\"", None), [4]);
        assert_eq!(found(&c, "flaky", None), [1, 2]);
        assert_eq!(found(&c, "resume", None), [1], "diacritics are folded");
        assert_eq!(found(&c, "\"flaky test\"", None), [1]);
        assert_eq!(found(&c, "test*", None), [1, 2]);
        assert_eq!(found(&c, "flaky", Some("home:~/q")), [2]);
        assert_eq!(
            found(&c, "flaky", Some("home:~/p")),
            [1, 2],
            "from any session of the home"
        );
        // The ring of topic:ci keeps one message: 1 goes, with its tokens.
        db::trim_ring(&c, "topic:ci", 1).unwrap();
        assert_eq!(found(&c, "flaky", None), [2]);
        db::purge_before(&c, 10.0, 100).unwrap();
        assert_eq!(found(&c, "flaky", None), Vec::<i64>::new());
        let indexed: i64 = c
            .query_row("SELECT count(*) FROM messages_fts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(indexed, 0, "no tokens outlive their message");
    }

    #[test]
    fn new_rows_are_indexed_in_chunks_and_deleted_ones_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let c = schema::open(&dir.path().join("t.db")).unwrap();
        store(&c, 1, "topic:t", r#""first words""#);
        let m = |seq: i64| Message {
            message_id: peer_proto::identity::mint_message_id(seq as u64),
            from: "home:~/p#sess_abcdefghijklmnop".into(),
            from_alias: None,
            to: "topic:t".into(),
            body: RawValue::from_string(r#""later words""#.into()).unwrap(),
            reply_to: None,
            ts: seq as f64,
            seq: Some(seq),
        };
        for seq in 2..=6 {
            db::insert(&c, &m(seq), Kind::Topic, State::Done, seq as f64).unwrap();
        }
        assert_eq!(pending(&c).unwrap(), 5);
        assert_eq!(found(&c, "words", None), [1], "not indexed yet");
        // Deleted before its turn: nothing to forget, and it is skipped.
        c.execute("DELETE FROM messages WHERE seq = 3", []).unwrap();
        assert_eq!(index_new(&c, 2).unwrap(), (4, true));
        assert_eq!(index_new(&c, 2).unwrap(), (6, true));
        assert_eq!(index_new(&c, 2).unwrap(), (6, false));
        assert_eq!(found(&c, "words", None), [1, 2, 4, 5, 6]);
        assert_eq!(pending(&c).unwrap(), 0);
    }

    #[test]
    fn old_rows_are_indexed_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let c = schema::open(&path).unwrap();
        for seq in 1..=5 {
            store(&c, seq, "topic:t", r#""old words""#);
        }
        // As a schema-3 database: no index, its rows wait to be indexed.
        c.execute_batch(
            "DELETE FROM messages_fts;
             UPDATE meta SET value = 6 WHERE key = 'fts_backfill_below';
             UPDATE meta SET value = 5 WHERE key = 'fts_indexed_upto';",
        )
        .unwrap();
        store(&c, 6, "topic:t", r#""new words""#);
        assert_eq!(pending(&c).unwrap(), 5);
        assert_eq!(found(&c, "words", None), [6]);
        // A row deleted before its turn has nothing to forget.
        c.execute("DELETE FROM messages WHERE seq = 1", []).unwrap();
        assert!(index_old(&c, 2).unwrap());
        assert_eq!(found(&c, "words", None), [4, 5, 6]);
        assert_eq!(pending(&c).unwrap(), 2);
        assert!(
            index_old(&c, 2).unwrap(),
            "a full chunk may have more after it"
        );
        assert!(!index_old(&c, 2).unwrap());
        assert_eq!(pending(&c).unwrap(), 0);
        assert_eq!(found(&c, "words", None), [2, 3, 4, 5, 6]);
    }

    #[test]
    fn text_of_string_and_structured_bodies() {
        assert_eq!(indexed_text(r#""caf\u00e9 \"ok\"""#), "café \"ok\"");
        assert_eq!(
            indexed_text(r#"{"kind":"review","files":["a.rs",7],"done":false}"#),
            "done\nfiles\na.rs\n7\nkind\nreview\n"
        );
        assert_eq!(indexed_text("null"), "");
    }

    #[test]
    fn queries_are_quoted_terms_never_syntax() {
        assert_eq!(fts_query("flaky test").unwrap(), r#""flaky" AND "test""#);
        assert_eq!(
            fts_query(r#"  "race condition" lease*  "#).unwrap(),
            r#""race condition" AND "lease"*"#
        );
        assert_eq!(
            fts_query(r#"a-b OR NOT "x""#).unwrap(),
            r#""a-b" AND "OR" AND "NOT" AND "x""#
        );
        assert_eq!(
            fts_query(r#"say "he said "#).unwrap(),
            r#""say" AND "he said ""#
        );
        assert_eq!(fts_query("  * -- \"\" ").unwrap_err(), QueryError::Empty);
        let many = vec!["w"; SEARCH_MAX_TERMS + 1].join(" ");
        assert_eq!(fts_query(&many).unwrap_err(), QueryError::TooManyTerms);
    }
}
