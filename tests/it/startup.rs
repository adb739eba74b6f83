//! Start-up: socket path resolution, refusing to clobber, stale sockets, modes.

use crate::support::*;
use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Stdio;

/// Runs a second daemon on `socket` (own state dir under `dir`) and returns
/// its exit status; it must exit on its own.
fn run_expecting_exit(dir: &Path, socket: &Path) -> std::process::ExitStatus {
    let args = [
        "--socket".to_string(),
        socket.to_string_lossy().into_owned(),
        "--state-dir".to_string(),
        dir.join("state-2").to_string_lossy().into_owned(),
    ];
    let mut child = peerd_command(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_exit(&mut child, "the second daemon")
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn refuses_a_non_socket_file_at_the_socket_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peerd.sock");
    write_file(&path, "precious");
    let status = run_expecting_exit(dir.path(), &path);
    assert!(!status.success(), "exit status {status}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "precious");
}

#[test]
fn refuses_to_start_beside_a_live_daemon() {
    let d = Daemon::start();
    let status = run_expecting_exit(d.dir(), d.socket());
    assert!(!status.success(), "exit status {status}");
    let mut a = d.peer("~/a");
    assert_eq!(a.list_peers().len(), 1);
}

#[test]
fn replaces_a_stale_socket() {
    let b = Daemon::builder();
    let path = b.dir().join("peerd.sock");
    drop(UnixListener::bind(&path).unwrap());
    assert!(fs::metadata(&path).unwrap().file_type().is_socket());
    let d = b.socket_at(&path).start();
    d.peer("~/a").list_peers();
}

#[test]
fn socket_is_private_to_the_user() {
    let d = Daemon::start();
    assert_eq!(mode_of(d.socket()), 0o600);
}

#[test]
fn creates_a_missing_socket_directory_private() {
    let b = Daemon::builder();
    let path = b.dir().join("run").join("blemees").join("peerd.sock");
    let d = b.socket_at(&path).start();
    let parent = path.parent().unwrap();
    assert_eq!(mode_of(parent), 0o700, "{}", parent.display());
    d.peer("~/a").list_peers();
}

#[test]
fn version_flag_prints_a_version_and_exits_zero() {
    let out = peerd_command(&["--version".to_string()])
        .output()
        .expect("run --version");
    assert!(out.status.success(), "{:?}", out);
    let text = String::from_utf8_lossy(&out.stdout);
    let has_version = text
        .split(|c: char| c.is_whitespace() || c == 'v')
        .any(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() >= 2
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        });
    assert!(has_version, "no version in {text:?}");
}

#[test]
fn socket_path_comes_from_the_environment_without_the_flag() {
    let b = Daemon::builder();
    let path = b.dir().join("from-env.sock");
    let d = b
        .without_socket_flag()
        .env("BLEMEES_PEER_SOCKET", &path)
        .socket_at(&path)
        .start();
    d.peer("~/a").list_peers();
}

#[test]
fn socket_path_defaults_under_xdg_runtime_dir() {
    let b = Daemon::builder();
    let runtime = b.dir().join("runtime");
    fs::create_dir(&runtime).unwrap();
    let path = runtime.join("blemees").join("peerd.sock");
    let d = b
        .without_socket_flag()
        .env("XDG_RUNTIME_DIR", &runtime)
        .socket_at(&path)
        .start();
    d.peer("~/a").list_peers();
}

#[test]
fn state_dir_defaults_under_xdg_state_home() {
    let b = Daemon::builder();
    let state_home = b.dir().join("state-home");
    let d = b
        .without_state_flag()
        .env("XDG_STATE_HOME", &state_home)
        .start();
    d.peer("~/a").publish("t", serde_json::json!(1));
    let dir = state_home.join("blemees").join("peerd");
    eventually("the default state dir to be used", TIMEOUT, || {
        fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some())
    });
}

#[test]
fn every_log_level_is_accepted_and_logs_go_to_stderr() {
    for level in ["debug", "info", "warning", "error"] {
        let d = Daemon::start_with(&["--log-level", level]);
        d.peer("~/a").list_peers();
        if level == "debug" {
            eventually("a debug log line", TIMEOUT, || !d.stderr().is_empty());
        }
    }
}
