//! [ext] Only processes of the daemon's own user may connect (SO_PEERCRED), even
//! when the socket's permissions would let anyone in.

use crate::support::*;
use std::os::unix::fs::PermissionsExt;

/// Connects as uid/gid 65534 (nobody), says hello, and reports what came back.
const CLIENT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"peer.hello","params":{"sid":"sess_nobodynobodynobo","home":"/tmp"}}\n')
    data = s.recv(65536)
except (BrokenPipeError, ConnectionResetError):
    data = b""
print("answered" if data else "closed")
"#;

#[test]
fn another_users_connection_is_refused_even_on_an_open_socket() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: switching to another uid needs root");
        return;
    }
    let d = Daemon::start();
    for dir in d
        .socket()
        .ancestors()
        .skip(1)
        .take_while(|p| p.starts_with(d.dir()))
    {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(d.socket(), std::fs::Permissions::from_mode(0o777)).unwrap();

    let out = python_as_nobody(CLIENT)
        .arg(d.socket())
        .output()
        .expect("run setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        "closed",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("the refusal to be logged", TIMEOUT, || {
        d.stderr()
            .contains("refused a connection from another user")
    });

    // The daemon's own user is still served.
    let mut me = d.peer("~/me");
    assert!(me.list_peers().len() == 1);
}
