//! [ext] The git guard (SPEC §13): `blemees-peerd guard install` in a real
//! repository, real `git commit`s through the hook, leases taken on a real
//! daemon. git runs with a cleared environment and `HOME` in the test's
//! directory, so the user's git configuration plays no part, and the guard
//! expands `~` homes against that directory.

use crate::support::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a command did.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// `program args` in `dir` with only `PATH`, `HOME` (= `home`) and `envs`.
fn run_in(program: &Path, dir: &Path, home: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    wait_exit(
        &mut child,
        &format!("`{} {}`", program.display(), args.join(" ")),
    );
    let out = child.wait_with_output().unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn peerd() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_blemees-peerd"))
}

/// Makes each file written by [`Repo::commit`] differ from the last.
static EDIT: AtomicU64 = AtomicU64::new(0);

/// A git repository in `<home>/repo`, with a first commit.
struct Repo {
    home: PathBuf,
    top: PathBuf,
}

impl Repo {
    fn init(home: &Path) -> Repo {
        let repo = Repo {
            home: home.to_path_buf(),
            top: home.join("repo"),
        };
        fs::create_dir_all(&repo.top).unwrap();
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.name", "Tester"]);
        repo.git(&["config", "user.email", "tester@example.com"]);
        repo.git(&["commit", "-q", "--allow-empty", "-m", "first"]);
        repo
    }

    /// `git args` at the top, which must succeed.
    fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.top, args)
    }

    fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let run = run_in(Path::new("git"), dir, &self.home, args, &[]);
        assert!(run.ok, "git {}: {}", args.join(" "), run.stderr);
        run.stdout
    }

    /// `blemees-peerd guard args` in `dir`.
    fn guard_in(&self, dir: &Path, args: &[&str]) -> Run {
        let args = [&["guard"], args].concat();
        run_in(&peerd(), dir, &self.home, &args, &[])
    }

    /// `guard install`, which must succeed, against the daemon at `socket`.
    fn install(&self, socket: &Path) -> String {
        let run = self.guard_in(
            &self.top,
            &["install", "--socket", socket.to_str().unwrap()],
        );
        assert!(run.ok, "guard install: {}", run.stderr);
        run.stdout
    }

    /// Changes `path` in the worktree at `dir` and commits it alone, with
    /// `envs`. A refused commit is unstaged again.
    fn commit_in(&self, dir: &Path, path: &str, envs: &[(&str, &str)]) -> Run {
        let file = dir.join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        let edit = EDIT.fetch_add(1, Ordering::Relaxed);
        fs::write(&file, format!("edit {edit}\n")).unwrap();
        self.git_in(dir, &["add", path]);
        let args = ["commit", "-q", "-m", &format!("change {path}")];
        let run = run_in(Path::new("git"), dir, &self.home, &args, envs);
        if !run.ok {
            self.git_in(dir, &["reset", "-q"]);
        }
        run
    }

    fn commit(&self, path: &str, envs: &[(&str, &str)]) -> Run {
        self.commit_in(&self.top, path, envs)
    }

    fn hooks(&self) -> PathBuf {
        self.top.join(".git/hooks")
    }
}

/// A session working in `home` that holds an exclusive lease on `glob`.
fn holder(d: &Daemon, home: &str, alias: &str, glob: &str) -> Client {
    let mut c = d.peer(home);
    c.set_alias(alias);
    let got = c.call(
        "peer.lease",
        json!({"paths": [glob], "reason": "refactoring the parser"}),
    );
    assert_eq!(got["granted"], true, "{got}");
    c
}

#[test]
fn a_commit_on_another_sessions_leased_paths_is_refused_unless_bypassed() {
    let mut d = Daemon::start();
    let repo = Repo::init(d.dir());
    let alice = holder(&d, "~/repo", "alice", "src/*");
    assert!(repo.install(d.socket()).contains("installed"));

    let refused = repo.commit("src/a.rs", &[]);
    assert!(!refused.ok, "committed over alice's lease");
    for part in [
        "src/a.rs",
        "alice",
        &alice.addr(),
        "refactoring the parser",
        "BLEMEES_PEER_GUARD=off git commit",
    ] {
        assert!(
            refused.stderr.contains(part),
            "{part:?} in {}",
            refused.stderr
        );
    }
    assert!(repo.commit("docs/x.md", &[]).ok, "docs/ is not leased");
    let bypassed = repo.commit("src/a.rs", &[("BLEMEES_PEER_GUARD", "off")]);
    assert!(bypassed.ok, "{}", bypassed.stderr);
    let own = repo.commit("src/b.rs", &[("BLEMEES_AGENT_SID", alice.sid())]);
    assert!(own.ok, "the holder's own commit: {}", own.stderr);
    let other_agent = repo.commit("src/b.rs", &[("CLAUDE_CODE_SESSION_ID", "another")]);
    assert!(!other_agent.ok, "another agent's commit went through");

    // A rename out of the leased tree changes the leased path too.
    repo.git(&["mv", "src/a.rs", "a.rs"]);
    let moved = run_in(
        Path::new("git"),
        &repo.top,
        &repo.home,
        &["commit", "-q", "-m", "mv"],
        &[],
    );
    assert!(
        !moved.ok && moved.stderr.contains("src/a.rs"),
        "{}",
        moved.stderr
    );
    repo.git(&["reset", "-q", "--hard"]);

    d.terminate();
    let unguarded = repo.commit("src/a.rs", &[]);
    assert!(unguarded.ok, "no daemon: {}", unguarded.stderr);
    assert!(unguarded.stderr.contains("warning"), "{}", unguarded.stderr);
}

#[test]
fn linked_worktrees_share_the_guard() {
    let d = Daemon::start();
    let repo = Repo::init(d.dir());
    let top = fs::canonicalize(&repo.top).unwrap();
    // The holder works in the main worktree, its home written absolute.
    let _alice = holder(&d, top.to_str().unwrap(), "alice", "src/*");
    let linked = d.dir().join("repo-wt");
    repo.git(&["worktree", "add", "-q", linked.to_str().unwrap()]);
    // Installed from the linked worktree, it lands in the shared hooks.
    let run = repo.guard_in(
        &linked,
        &["install", "--socket", d.socket().to_str().unwrap()],
    );
    assert!(run.ok, "{}", run.stderr);
    assert!(repo.hooks().join("pre-commit").exists());

    let refused = repo.commit_in(&linked, "src/c.rs", &[]);
    assert!(!refused.ok, "committed over the lease in a linked worktree");
    assert!(refused.stderr.contains("alice"), "{}", refused.stderr);
    assert!(repo.commit_in(&linked, "docs/c.md", &[]).ok);
}

#[test]
fn leases_of_sessions_outside_the_repository_do_not_block() {
    let d = Daemon::start();
    let repo = Repo::init(d.dir());
    let _elsewhere = holder(&d, "~/elsewhere", "bob", "src/*");
    // A sibling whose name starts with the repository's is still outside it.
    let _sibling = holder(&d, &home_in(d.dir(), "repo-other"), "carol", "lib/*");
    repo.install(d.socket());
    for path in ["src/a.rs", "lib/b.rs"] {
        let run = repo.commit(path, &[]);
        assert!(run.ok && run.stderr.is_empty(), "{path}: {}", run.stderr);
    }
}

#[test]
fn an_existing_hook_is_kept_runs_first_and_comes_back() {
    let t = tempfile::tempdir().unwrap();
    let repo = Repo::init(t.path());
    let original = "#!/bin/sh\necho ran >> \"$(git rev-parse --show-toplevel)/../hook-ran\"\n\
                    if [ -e STOP ]; then echo 'stopped by the old hook' >&2; exit 3; fi\n";
    let hook = repo.hooks().join("pre-commit");
    fs::write(&hook, original).unwrap();
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
    // No daemon at this socket: the guard warns and allows.
    let socket = t.path().join("none.sock");
    repo.install(&socket);
    repo.install(&socket);
    assert_eq!(
        fs::read_to_string(repo.hooks().join("pre-commit.blemees-chained")).unwrap(),
        original,
        "installing twice keeps the original"
    );

    let run = repo.commit("a.txt", &[]);
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stderr.contains("warning"), "{}", run.stderr);
    let ran = || fs::read_to_string(t.path().join("hook-ran")).unwrap_or_default();
    assert_eq!(ran().lines().count(), 1, "the kept hook ran");
    fs::write(repo.top.join("STOP"), "").unwrap();
    let stopped = repo.commit("b.txt", &[]);
    assert!(
        !stopped.ok && stopped.stderr.contains("stopped by the old hook"),
        "{}",
        stopped.stderr
    );

    let run = repo.guard_in(&repo.top, &["uninstall"]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(fs::read_to_string(&hook).unwrap(), original);
    assert!(!repo.hooks().join("pre-commit.blemees-chained").exists());
    let again = repo.guard_in(&repo.top, &["uninstall"]);
    assert!(
        again.ok && again.stdout.contains("not installed"),
        "{}",
        again.stdout
    );
}

#[test]
fn a_hook_whose_blemees_peerd_is_gone_warns_and_allows() {
    let t = tempfile::tempdir().unwrap();
    let repo = Repo::init(t.path());
    let copy = t.path().join("blemees-peerd");
    fs::copy(peerd(), &copy).unwrap();
    let run = run_in(&copy, &repo.top, &repo.home, &["guard", "install"], &[]);
    assert!(run.ok, "{}", run.stderr);
    fs::remove_file(&copy).unwrap();
    let run = repo.commit("src/a.rs", &[]);
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stderr.contains("is gone"), "{}", run.stderr);
}

#[test]
fn the_hook_goes_where_core_hooks_path_says() {
    let t = tempfile::tempdir().unwrap();
    let repo = Repo::init(t.path());
    repo.git(&["config", "core.hooksPath", ".githooks"]);
    repo.install(&t.path().join("none.sock"));
    assert!(repo.top.join(".githooks/pre-commit").exists());
    assert!(!repo.hooks().join("pre-commit").exists());
    let run = repo.commit("a.txt", &[]);
    assert!(run.ok && run.stderr.contains("warning"), "{}", run.stderr);
}

#[test]
fn a_daemon_that_does_not_answer_does_not_hold_up_the_commit() {
    let t = tempfile::tempdir().unwrap();
    let repo = Repo::init(t.path());
    let socket = t.path().join("mute.sock");
    // Connections are accepted by the kernel and never answered.
    let _mute = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    repo.install(&socket);
    let run = repo.commit("src/a.rs", &[]);
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stderr.contains("did not answer"), "{}", run.stderr);
}
