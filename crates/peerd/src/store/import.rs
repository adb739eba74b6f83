//! One-time import of a state directory written by the Python blemees-peer 0.1
//! daemon: `dms/*.jsonl` (undelivered DM queues) and `topics/*.jsonl` (topic
//! rings), one `peer.message`-shaped JSON object per line.
//!
//! Everything is inserted in one transaction, then the files are moved to
//! `imported-0.1/`. If the daemon dies in between, the next start imports the
//! same files again and the duplicates are skipped by message id, so an import
//! can be interrupted at any point without losing or doubling a message.

use super::db::{self, State};
use crate::op::Kind;
use anyhow::Context;
use peer_proto::address::Address;
use peer_proto::Message;
use rusqlite::Connection;
use std::fs;
use std::path::{Path, PathBuf};

/// Where imported files are moved, inside the state directory.
pub(crate) const IMPORTED_DIR: &str = "imported-0.1";

/// What an import did, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) files: usize,
    pub(crate) dms: usize,
    pub(crate) topic_messages: usize,
    pub(crate) corrupt_lines: usize,
    pub(crate) duplicates: usize,
}

/// Imports any 0.1 files under `state_dir`, numbering messages from `next_seq`.
/// Returns the report and the next free seq. Does nothing (and reads no file)
/// when there are none.
pub(crate) fn import_0_1(
    conn: &mut Connection,
    state_dir: &Path,
    next_seq: i64,
    dm_maxlen: usize,
    topic_maxlen: usize,
) -> anyhow::Result<(Report, i64)> {
    let dm_files = jsonl_files(&state_dir.join("dms"))?;
    let topic_files = jsonl_files(&state_dir.join("topics"))?;
    let mut report = Report::default();
    if dm_files.is_empty() && topic_files.is_empty() {
        return Ok((report, next_seq));
    }
    let mut found: Vec<(Message, Kind)> = Vec::new();
    for (files, kind) in [(&dm_files, Kind::Dm), (&topic_files, Kind::Topic)] {
        for file in files {
            let text = fs::read_to_string(file)
                .with_context(|| format!("reading 0.1 file {}", file.display()))?;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                match parse_line(line, kind) {
                    Some(m) => found.push((m, kind)),
                    None => report.corrupt_lines += 1,
                }
            }
        }
    }
    report.files = dm_files.len() + topic_files.len();
    // One global order, oldest first, so queue drains across addresses keep it.
    found.sort_by(|a, b| a.0.ts.total_cmp(&b.0.ts));

    let tx = conn.transaction()?;
    let mut seq = next_seq;
    for (mut m, kind) in found {
        if db::seq_of(&tx, &m.message_id)?.is_some() {
            report.duplicates += 1;
            continue;
        }
        m.seq = Some(seq);
        seq += 1;
        let state = match kind {
            Kind::Dm => State::Queued,
            Kind::Topic => State::Done,
        };
        db::insert(&tx, &m, kind, state, crate::clock::Now::read().unix)?;
        match kind {
            Kind::Dm => {
                db::trim_queue(&tx, &m.to, dm_maxlen)?;
                report.dms += 1;
            }
            Kind::Topic => {
                db::trim_ring(&tx, &m.to, topic_maxlen)?;
                report.topic_messages += 1;
            }
        }
    }
    tx.commit()?;

    for (dir, files) in [("dms", &dm_files), ("topics", &topic_files)] {
        let target = state_dir.join(IMPORTED_DIR).join(dir);
        fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
        for file in files.iter() {
            let name = file.file_name().expect("listed files have names");
            fs::rename(file, target.join(name))
                .with_context(|| format!("moving {} aside", file.display()))?;
        }
    }
    Ok((report, seq))
}

/// The `*.jsonl` files directly in `dir`, sorted; none if `dir` does not exist.
fn jsonl_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    Ok(files)
}

/// A message of the right kind with a valid address, or None for a corrupt line.
fn parse_line(line: &str, kind: Kind) -> Option<Message> {
    let m: Message = serde_json::from_str(line).ok()?;
    let fits = match Address::parse(&m.to).ok()? {
        Address::Home(_) => kind == Kind::Dm,
        Address::Topic(_) => kind == Kind::Topic,
        Address::Remote(_) => false,
    };
    (fits && m.ts.is_finite()).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema;

    fn line(id: &str, to: &str, ts: f64) -> String {
        format!(
            r#"{{"message_id":"{id}","from":"home:~/o#sess_oldoldoldoldold1","from_alias":null,"to":"{to}","body":{{"k":1}},"reply_to":null,"ts":{ts}}}"#
        )
    }

    #[test]
    fn imports_queues_and_rings_skips_corrupt_lines_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path();
        fs::create_dir_all(state.join("dms")).unwrap();
        fs::create_dir_all(state.join("topics")).unwrap();
        let dm = [
            line("msg_2", "home:~/b", 2.0),
            "garbage".into(),
            line("msg_1", "home:~/b", 1.0),
            line("msg_t", "topic:wrong-file", 1.5),
        ];
        fs::write(state.join("dms/a.jsonl"), dm.join("\n")).unwrap();
        fs::write(state.join("topics/b.jsonl"), line("msg_3", "topic:t", 3.0)).unwrap();
        fs::write(state.join("topics/notes.txt"), "not imported").unwrap();
        let mut c = schema::open(&state.join("peerd.db")).unwrap();

        let (report, next) = import_0_1(&mut c, state, 10, 100, 1000).unwrap();
        let want = Report {
            files: 2,
            dms: 2,
            topic_messages: 1,
            corrupt_lines: 2,
            duplicates: 0,
        };
        assert_eq!(report, want);
        assert_eq!(next, 13);
        let queued = db::take_queued(&c, &["home:~/b".into()], |_| true, State::Done).unwrap();
        let order: Vec<_> = queued
            .iter()
            .map(|m| (m.message_id.as_str(), m.seq))
            .collect();
        assert_eq!(order, [("msg_1", Some(10)), ("msg_2", Some(11))]);
        assert!(state.join("imported-0.1/dms/a.jsonl").exists());
        assert!(!state.join("dms/a.jsonl").exists());
        assert!(state.join("topics/notes.txt").exists());

        // Files put back (as if the move had not happened) import nothing twice.
        fs::rename(
            state.join("imported-0.1/dms/a.jsonl"),
            state.join("dms/a.jsonl"),
        )
        .unwrap();
        let (again, next) = import_0_1(&mut c, state, 13, 100, 1000).unwrap();
        assert_eq!((again.duplicates, again.dms, next), (2, 0, 13));
        assert_eq!(
            import_0_1(&mut c, state, 13, 100, 1000).unwrap().0,
            Report::default()
        );
    }
}
