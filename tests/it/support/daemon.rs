//! The daemon side of the harness: starts the real `blemees-peerd` on a private
//! socket and state dir, stops and restarts it, and prepares what it starts on.
//!
//! Set `PEERD_UNDER_TEST=<program>` to run the suite against another daemon
//! (e.g. the Python 0.1 reference, `blemees-peerd` on PATH); daemon flags newer
//! than 0.1 that its `--help` does not mention are left off its command line.

use super::client::{error_of, messages, sid, Client, SID_IN_USE, TIMEOUT};
use super::{eventually, poll_until};
use serde_json::{json, Value};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// How long the daemon may take to start listening or to exit.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Daemon flags newer than 0.1 (each takes a value).
const FLAGS_AFTER_0_1: &[&str] = &[
    "--retention-days",
    "--max-line-bytes",
    "--max-outbox-bytes",
    "--db-busy-timeout-ms",
    "--max-buffered-input-bytes",
    "--max-queued-output-bytes",
    "--first-line-timeout-ms",
];

/// The daemon program, and the flags of [`FLAGS_AFTER_0_1`] it lacks: an
/// override (PEERD_UNDER_TEST) lacks those its `--help` does not mention.
fn program() -> &'static (String, Vec<&'static str>) {
    static PROGRAM: OnceLock<(String, Vec<&'static str>)> = OnceLock::new();
    PROGRAM.get_or_init(|| match std::env::var("PEERD_UNDER_TEST") {
        Ok(prog) if !prog.is_empty() => {
            let help = Command::new(&prog)
                .arg("--help")
                .output()
                .unwrap_or_else(|e| panic!("PEERD_UNDER_TEST={prog}: {e}"));
            let help = String::from_utf8_lossy(&help.stdout).into_owned();
            let lacking = FLAGS_AFTER_0_1
                .iter()
                .copied()
                .filter(|flag| !help.contains(flag))
                .collect();
            (prog, lacking)
        }
        _ => (env!("CARGO_BIN_EXE_blemees-peerd").to_string(), Vec::new()),
    })
}

/// A `Command` for the daemon under test with `args`, minus the flags (and
/// their values) that an override program does not know.
pub fn peerd_command(args: &[String]) -> Command {
    let (prog, lacking) = program();
    let mut cmd = Command::new(prog);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if lacking.contains(&arg.as_str()) {
            args.next();
        } else if !lacking
            .iter()
            .any(|flag| arg.starts_with(&format!("{flag}=")))
        {
            cmd.arg(arg);
        }
    }
    cmd.stdin(Stdio::null()).env_remove("BLEMEES_PEER_SOCKET");
    cmd
}

/// Waits for `child` (described as `what`) to exit, at most [`START_TIMEOUT`];
/// if it does not, kills and reaps it and fails the test.
pub fn wait_exit(child: &mut Child, what: &str) -> ExitStatus {
    poll_until(START_TIMEOUT, || child.try_wait().expect("try_wait")).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} did not exit within {START_TIMEOUT:?}");
    })
}

/// How a client sub-command of the daemon program (`status`, `send`, …) ended.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// A client sub-command `args` of the daemon program, finding the daemon at
/// `socket` through `$BLEMEES_PEER_SOCKET` (SPEC §8).
pub fn cli_command(socket: &Path, args: &[&str]) -> Command {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut cmd = peerd_command(&args);
    cmd.env("BLEMEES_PEER_SOCKET", socket);
    cmd
}

/// Runs a sub-command to completion (see [`wait_exit`]).
pub fn cli(socket: &Path, args: &[&str]) -> Run {
    let mut child = cli_command(socket, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cli");
    wait_exit(&mut child, &format!("`{}`", args.join(" ")));
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// [`cli`], which must exit 0: what it printed.
pub fn cli_ok(socket: &Path, args: &[&str]) -> String {
    let run = cli(socket, args);
    assert_eq!(run.code, Some(0), "`{}`: {}", args.join(" "), run.stderr);
    run.stdout
}

/// How to start a daemon: created by [`Daemon::builder`], consumed by `start`.
pub struct DaemonBuilder {
    dir: tempfile::TempDir,
    socket: PathBuf,
    socket_flag: bool,
    state_flag: bool,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl DaemonBuilder {
    /// The private temporary directory the daemon will live in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }
    pub fn env(mut self, key: &str, value: impl AsRef<Path>) -> Self {
        let value = value.as_ref().to_string_lossy().into_owned();
        self.envs.push((key.to_string(), value));
        self
    }
    /// Where the socket is expected (and passed with `--socket` unless
    /// [`Self::without_socket_flag`]).
    pub fn socket_at(mut self, path: impl Into<PathBuf>) -> Self {
        self.socket = path.into();
        self
    }
    /// Do not pass `--socket`: the daemon must find the path on its own.
    pub fn without_socket_flag(mut self) -> Self {
        self.socket_flag = false;
        self
    }
    /// Do not pass `--state-dir`: the daemon must find the path on its own.
    pub fn without_state_flag(mut self) -> Self {
        self.state_flag = false;
        self
    }
    pub fn start(self) -> Daemon {
        let state = self.dir.path().join("state");
        let stderr_path = self.dir.path().join("peerd.stderr");
        let mut args = Vec::new();
        if self.socket_flag {
            args.push("--socket".to_string());
            args.push(self.socket.to_string_lossy().into_owned());
        }
        if self.state_flag {
            args.push("--state-dir".to_string());
            args.push(state.to_string_lossy().into_owned());
        }
        let mut daemon = Daemon {
            dir: self.dir,
            socket: self.socket,
            state,
            stderr_path,
            args: [args, self.args].concat(),
            envs: self.envs,
            child: None,
        };
        daemon.spawn();
        daemon
    }
}

/// A running daemon in its own temporary directory; killed on drop.
pub struct Daemon {
    dir: tempfile::TempDir,
    socket: PathBuf,
    state: PathBuf,
    stderr_path: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    child: Option<Child>,
}

impl Daemon {
    pub fn builder() -> DaemonBuilder {
        let dir = tempfile::Builder::new()
            .prefix("peerd-e2e-")
            .tempdir()
            .expect("tempdir");
        // Keep a daemon that ignores a flag away from the user's real dirs.
        let runtime = dir.path().join("xdg-runtime");
        let state_home = dir.path().join("xdg-state");
        fs::create_dir(&runtime).unwrap();
        fs::create_dir(&state_home).unwrap();
        DaemonBuilder {
            socket: dir.path().join("peerd.sock"),
            dir,
            socket_flag: true,
            state_flag: true,
            args: Vec::new(),
            envs: vec![
                ("XDG_RUNTIME_DIR".into(), runtime.to_string_lossy().into()),
                ("XDG_STATE_HOME".into(), state_home.to_string_lossy().into()),
            ],
        }
    }

    pub fn start() -> Daemon {
        Self::builder().start()
    }

    pub fn start_with(args: &[&str]) -> Daemon {
        Self::builder().args(args).start()
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }
    pub fn state_dir(&self) -> &Path {
        &self.state
    }
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon not running").id()
    }

    /// Everything the daemon wrote to stderr so far (all runs).
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .expect("stderr log");
        let mut cmd = peerd_command(&self.args);
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.child = Some(cmd.spawn().expect("spawn daemon"));
        // On a timeout, drop() shows what the daemon wrote.
        let what = format!("the daemon to listen on {}", self.socket.display());
        eventually(&what, START_TIMEOUT, || {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!("daemon exited at start-up ({status}):\n{}", self.stderr());
            }
            UnixStream::connect(&self.socket).is_ok()
        });
    }

    /// SIGKILL, and reap.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and wait for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.stop_with(rustix::process::Signal::TERM)
    }

    /// Sends `signal`, and waits for the exit status.
    pub fn stop_with(&mut self, signal: rustix::process::Signal) -> ExitStatus {
        let mut child = self.child.take().expect("daemon not running");
        let pid = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process(pid, signal).expect("kill");
        wait_exit(&mut child, &format!("the daemon, sent {signal:?},"))
    }

    /// Starts the daemon again on the same socket and state dir.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the daemon before restart()");
        self.spawn();
    }

    /// A fresh connection (no hello yet).
    pub fn connect(&self) -> Client {
        Client::connect(&self.socket)
    }

    /// A connection that said hello with `params`, retrying while the daemon
    /// still holds the sid for a connection whose close it has not yet seen.
    /// Returns it with the frames up to the hello response.
    pub fn hello_when_free(&self, params: Value) -> (Client, Vec<Value>) {
        eventually("the sid to be free", TIMEOUT, || {
            let mut c = self.connect();
            let frames = c.try_hello(params.clone());
            match error_of(frames.last().unwrap()) {
                Some((SID_IN_USE, _)) => None,
                Some(e) => panic!("hello {params}: {e:?}"),
                None => Some((c, frames)),
            }
        })
    }

    /// A connection that said hello in ack mode as `sid` in `home` (retried
    /// like [`Self::hello_when_free`]); returns it with the messages drained by
    /// its hello.
    pub fn ack_peer(&self, sid: &str, home: &str) -> (Client, Vec<Value>) {
        let (c, frames) = self.hello_when_free(json!({"sid": sid, "home": home, "ack": true}));
        let result = &frames.last().unwrap()["result"];
        assert!(
            result["features"]
                .as_array()
                .unwrap()
                .contains(&json!("ack")),
            "{frames:?}"
        );
        (c, messages(&frames))
    }

    /// A connection that said hello as a fresh sid in `home`.
    pub fn peer(&self, home: &str) -> Client {
        let mut c = self.connect();
        c.hello(&sid(), home);
        c
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("---- daemon stderr ----\n{}", self.stderr());
        }
    }
}

/// The home `name` (an absolute path) inside `dir`, a test's private directory.
pub fn home_in(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

/// The first column of the first row `sql` gives on the SQLite database at
/// `db`, opened read-only.
pub fn query_db<T: rusqlite::types::FromSql>(db: &Path, sql: &str) -> T {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("open {}: {e}", db.display()));
    conn.query_row(sql, [], |row| row.get(0))
        .unwrap_or_else(|e| panic!("{sql} on {}: {e}", db.display()))
}

/// Writes a file (helper for start-up tests).
pub fn write_file(path: &Path, contents: &str) {
    File::create(path)
        .and_then(|mut f| f.write_all(contents.as_bytes()))
        .expect("write file");
}

/// `python3 -c code` to be run as uid/gid 65534 (nobody), for tests of what
/// another local user can do; needs root.
pub fn python_as_nobody(code: &str) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "/usr/bin/python3",
        "-c",
        code,
    ]);
    cmd
}
