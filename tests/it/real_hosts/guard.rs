//! The git guard with a real agent (SPEC §13): Claude Code takes a lease
//! through our sidecar and commits through its own Bash tool. The guard
//! knows the agent's own commits by the session id Claude Code gives both
//! the sidecar and the shell (`CLAUDE_CODE_SESSION_ID`), so the agent's own
//! lease does not stop it, while another session's lease does.

use super::*;

/// `git args` in `dir`, which must succeed.
fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

#[test]
fn claude_code_commits_under_its_own_lease_and_is_stopped_by_anothers() {
    let Some(bin) = hosts_bin() else { return };
    let w = World::new();
    let repo = &w.project;
    git(repo, &["init", "-q"]);
    git(repo, &["config", "user.name", "Agent"]);
    git(repo, &["config", "user.email", "agent@example.com"]);
    git(repo, &["commit", "-q", "--allow-empty", "-m", "start"]);
    let install = Command::new(env!("CARGO_BIN_EXE_blemees-peerd"))
        .arg("--socket")
        .arg(w.d.socket())
        .args(["guard", "install"])
        .current_dir(repo)
        .output()
        .unwrap();
    assert!(install.status.success(), "{install:?}");
    // Another agent of the same repository holds docs/.
    let mut writer = w.d.peer(&repo.to_string_lossy());
    writer.set_alias("writer");
    let lease = writer.call(
        "peer.lease",
        json!({"paths": ["docs/*"], "reason": "rewriting the manual"}),
    );
    assert_eq!(lease["granted"], true, "{lease}");

    let ok = |contains: &[&str]| json!({ "error": false, "contains": contains });
    let step = |tool: &str, args: Value, expect: Value| json!({"tool": tool, "args": args, "expect": expect});
    let bash = |command: &str| json!({"command": command, "description": "commit"});
    let script = json!({
        "steps": [
            step("peer_lease", json!({"paths": ["src/*"], "reason": "refactor"}), ok(&["\"granted\":true"])),
            step("Bash", bash("mkdir -p src && echo 1 > src/a.rs && git add -A && git commit -qm own && echo OWN-COMMITTED"),
                 ok(&["OWN-COMMITTED"])),
            step("Bash", bash("mkdir -p docs && echo 1 > docs/x.md && git add -A && git commit -qm docs 2>&1; echo EXIT=$?"),
                 ok(&["EXIT=1", "writer", "rewriting the manual", "BLEMEES_PEER_GUARD=off"])),
        ],
        "final": "SCENARIO DONE",
    });
    let model = Model::start(&script);
    let claude = |args: &[&str]| w.claude(&bin, &model, args);
    let mut add = vec!["mcp", "add", "--scope", "user", "peer", "--", SIDECAR_BIN];
    let mut sidecar_args = w.sidecar_args();
    sidecar_args.extend(["--tools".into(), "core,leases".into()]);
    add.extend(sidecar_args.iter().map(String::as_str));
    let out = run(claude(&add), Duration::from_secs(60));
    assert!(
        out.status.is_some_and(|s| s.success()),
        "claude mcp add:\n{out}"
    );

    let out = run(
        claude(&[
            "-p",
            "Take a lease on src, then commit.",
            "--allowedTools",
            "mcp__peer",
            "Bash",
            "--output-format",
            "json",
        ]),
        HOST_TIMEOUT,
    );
    model.assert_played("claude -p", &out);
    assert_eq!(json_result(&out)["result"], "SCENARIO DONE", "{out}");
    let log = Command::new("git")
        .args(["log", "--format=%s"])
        .current_dir(repo)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&log.stdout), "own\nstart\n");
}
