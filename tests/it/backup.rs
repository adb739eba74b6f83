//! `blemees-peerd backup DEST`: a consistent copy of the database while the daemon
//! keeps serving.

use crate::support::*;
use serde_json::json;

#[test]
fn backup_copies_the_database_of_a_running_daemon() {
    let d = Daemon::start();
    let mut a = d.peer("~/a");
    a.send_dm("home:~/nobody", json!("queued"));
    a.publish("log", json!("stored"));
    let dest = d.dir().join("copy.db");
    let state = d.state_dir().to_string_lossy().into_owned();
    let run = |dest: &std::path::Path| {
        let args = vec![
            "backup".into(),
            dest.to_string_lossy().into_owned(),
            "--state-dir".into(),
            state.clone(),
        ];
        peerd_command(&args).output().expect("run backup")
    };

    let out = run(&dest);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored: i64 = query_db(&dest, "SELECT count(*) FROM messages");
    assert_eq!(stored, 2);

    // The daemon kept serving, and an existing file is never overwritten.
    assert_eq!(a.call("peer.status", json!({}))["sessions"], 1);
    let again = run(&dest);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
}
