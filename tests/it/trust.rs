//! [ext] Hardening of paths and names: nobody but the daemon's own user may
//! stand in for the daemon, see its files, or pick a home that reads another
//! session's queue (SPEC §2, §4; docs/operations.md).

use crate::support::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Output, Stdio};

/// A fake daemon: binds the socket at argv[1] (open to all), then answers
/// every request line with one result that reads as a hello and as a send.
const IMPOSTOR: &str = r#"
import json, os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
s.listen(8)
s.settimeout(30)
while True:
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    f = c.makefile("rwb")
    for line in f:
        req = json.loads(line)
        result = {"peer_id": "home:/", "sid": "sess_impostorimpostor", "server_version": "0.1.0",
                  "message_id": "msg_stolen", "delivered": 1}
        f.write((json.dumps({"jsonrpc": "2.0", "id": req.get("id"), "result": result}) + "\n").encode())
        f.flush()
"#;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Runs `python3 -c code args…` as uid/gid 65534 (nobody).
fn as_nobody(code: &str, args: &[&Path]) -> Child {
    python_as_nobody(code)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run setpriv")
}

/// Runs the daemon binary with `args` to completion.
fn run(args: &[&str], socket: Option<&Path>) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut cmd = peerd_command(&args);
    if let Some(socket) = socket {
        cmd.env("BLEMEES_PEER_SOCKET", socket);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_exit(&mut child, &format!("`{}`", args.join(" ")));
    child.wait_with_output().unwrap()
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn an_impostor_on_the_socket_path_gets_nothing() {
    if !is_root() {
        eprintln!("skipped: running as another uid needs root");
        return;
    }
    // A shared sticky directory, as /tmp is for the fallback socket path.
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let shared = dir.path().join("tmp");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    let socket = shared.join("blemees-peerd-0.sock");
    let mut impostor = as_nobody(IMPOSTOR, &[&socket]);
    eventually("the impostor to listen", START_TIMEOUT, || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });

    // The operator's send would have handed the body over and said "sent".
    let out = run(&["send", "home:/victim", "secret"], Some(&socket));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains("uid 65534") && stderr.contains("refusing"),
        "{stderr}"
    );

    // The victim's daemon says who holds its path instead of starting.
    let state = dir.path().join("state");
    let (socket_arg, state_arg) = (socket.to_str().unwrap(), state.to_str().unwrap());
    let out = run(&["--socket", socket_arg, "--state-dir", state_arg], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("belongs to uid 65534") && stderr.contains("impersonating"),
        "{stderr}"
    );
    let _ = impostor.kill();
    let _ = impostor.wait();
}

#[test]
fn the_daemon_refuses_directories_others_can_write_or_own() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let socket = dir.path().join("peerd.sock");
    let state = open.join("state");
    let (socket_arg, state_arg) = (socket.to_str().unwrap(), state.to_str().unwrap());
    let out = run(&["--socket", socket_arg, "--state-dir", state_arg], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("writable by other users") && stderr.contains(open.to_str().unwrap()),
        "{stderr}"
    );

    if !is_root() {
        eprintln!("skipped the foreign-owner half: chown needs root");
        return;
    }
    // A symlink into another user's directory is judged by where it leads.
    let foreign = dir.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
    let link = dir.path().join("run");
    std::os::unix::fs::symlink(&foreign, &link).unwrap();
    let socket = link.join("peerd.sock");
    let state = dir.path().join("state");
    let (socket_arg, state_arg) = (socket.to_str().unwrap(), state.to_str().unwrap());
    let out = run(&["--socket", socket_arg, "--state-dir", state_arg], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("belongs to uid 65534"), "{stderr}");
    assert!(
        !socket.exists(),
        "nothing was bound in the foreign directory"
    );
}

#[test]
fn an_open_state_directory_is_made_private_and_so_is_the_database() {
    let b = Daemon::builder();
    let state = b.dir().join("state");
    fs::create_dir(&state).unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o755)).unwrap();
    let d = b.start();
    d.peer("~/a").send_dm("home:~/b", json!("kept private"));
    assert_eq!(mode_of(&state), 0o700);
    for file in ["peerd.db", "peerd.db-wal"] {
        let path = state.join(file);
        assert_eq!(mode_of(&path), 0o600, "{}", path.display());
    }
    assert!(d.stderr().contains("now 700"), "{}", d.stderr());
}

#[test]
fn a_home_with_a_hash_is_refused_at_hello() {
    let d = Daemon::start();
    let mut c = d.connect();
    let (code, message) = c.call_err("peer.hello", json!({"sid": sid(), "home": "~/p#boss"}));
    assert_eq!(code, INVALID_PARAMS);
    assert!(message.contains("no '#'"), "{message}");
    // A DM queued for alias `boss` of `~/p` stays queued for it.
    let mut sender = d.peer("~/s");
    assert_eq!(sender.send_dm("home:~/p#boss", json!(1))["queued"], true);
    let mut thief = d.connect();
    let (code, _) = thief.call_err("peer.hello", json!({"sid": sid(), "home": "/src/C#/app"}));
    assert_eq!(code, INVALID_PARAMS);
}
