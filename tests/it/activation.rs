//! [ext] systemd socket activation: with `LISTEN_PID`/`LISTEN_FDS` set for it, the
//! daemon serves the listening socket it was handed as descriptor 3, and leaves
//! that socket (which systemd owns) in place when it stops.

use crate::support::*;
use serde_json::json;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::process::Stdio;

#[test]
fn serves_the_socket_systemd_passes_and_leaves_it_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let activated = dir.path().join("activated.sock");
    let own = dir.path().join("never-bound.sock");
    let listener = UnixListener::bind(&activated).unwrap();
    let fd = listener.as_raw_fd();

    // As systemd does: the socket at descriptor 3, LISTEN_PID naming the daemon
    // itself (`sh` execs it, keeping its pid), LISTEN_FDS=1.
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", r#"LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@""#])
        .arg(env!("CARGO_BIN_EXE_blemees-peerd"))
        .arg("--socket")
        .arg(&own)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: dup2 is async-signal-safe; the child only moves an inherited
    // descriptor into place before exec.
    unsafe {
        cmd.pre_exec(move || {
            use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
            let mut three = OwnedFd::from_raw_fd(3);
            let moved = rustix::io::dup2(BorrowedFd::borrow_raw(fd), &mut three)
                .and_then(|()| rustix::io::fcntl_setfd(&three, rustix::io::FdFlags::empty()));
            // Descriptor 3 must stay open across exec.
            std::mem::forget(three);
            Ok(moved?)
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(listener);

    eventually("the daemon to serve", START_TIMEOUT, || {
        std::os::unix::net::UnixStream::connect(&activated).is_ok()
    });
    let mut c = Client::connect(&activated);
    c.hello(&sid(), "~/activated");
    assert_eq!(c.call("peer.status", json!({}))["pid"], child.id());
    assert!(!own.exists(), "--socket is not bound under activation");

    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = wait_exit(&mut child, "the daemon");
    assert!(status.success(), "{status}");
    assert!(activated.exists(), "systemd's socket is left in place");
}
