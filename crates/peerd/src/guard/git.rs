//! The questions the guard asks git, each one `git` process. They inherit the
//! environment, so inside a hook they see what the commit sees: `GIT_DIR` of a
//! linked worktree, and `GIT_INDEX_FILE` of `git commit -a` or `git commit
//! <paths>`, which stage into an index of their own.

use anyhow::{bail, Context};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `git args` in `dir`: its standard output, or an error with git's message.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        bail!(
            "`git {}` in {}: {}",
            args.join(" "),
            dir.display(),
            said.trim()
        );
    }
    Ok(out.stdout)
}

/// The output of `git args` in `dir` as one path, relative ones taken from
/// `dir`, resolved when it exists (it is shown to people).
fn path(dir: &Path, args: &[&str]) -> anyhow::Result<PathBuf> {
    let out = git(dir, args)?;
    let line = out.strip_suffix(b"\n").unwrap_or(&out);
    let path = dir.join(OsStr::from_bytes(line));
    Ok(std::fs::canonicalize(&path).unwrap_or(path))
}

/// The directory git runs this repository's hooks from: `.git/hooks` of the
/// main worktree (linked worktrees share it), or `core.hooksPath`.
pub(super) fn hooks_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    path(dir, &["rev-parse", "--git-path", "hooks"])
}

/// The top directory of the worktree `dir` is in.
pub(super) fn top_level(dir: &Path) -> anyhow::Result<PathBuf> {
    path(dir, &["rev-parse", "--show-toplevel"])
}

/// The paths the commit being made changes, relative to the top: added,
/// modified and deleted; a rename as both its old and its new path (it
/// changes both), which `--no-renames` makes git list.
pub(super) fn staged_paths(top: &Path) -> anyhow::Result<Vec<String>> {
    let out = git(
        top,
        &["diff", "--cached", "--name-only", "--no-renames", "-z"],
    )?;
    Ok(out
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect())
}

/// The top directories of every worktree of the repository `top` belongs to.
pub(super) fn worktrees(top: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = git(top, &["worktree", "list", "--porcelain"])?;
    Ok(out
        .split(|&b| b == b'\n')
        .filter_map(|line| line.strip_prefix(b"worktree "))
        .map(|p| PathBuf::from(OsStr::from_bytes(p)))
        .collect())
}
