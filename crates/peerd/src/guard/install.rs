//! `guard install` and `guard uninstall`: the pre-commit hook. A hook that is
//! not the guard's is kept beside it (renamed) and run first, so installing
//! takes nothing away, and uninstalling puts it back.

use super::{git, BYPASS_ENV, BYPASS_VALUE, PREFIX};
use anyhow::{bail, Context};
use std::fmt::Write;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The hook git runs before it records a commit.
const HOOK: &str = "pre-commit";
/// Where a hook that was there before the guard's is kept.
const CHAINED: &str = "pre-commit.blemees-chained";
/// The new hook, written whole, before it replaces the old one.
const HOOK_TMP: &str = "pre-commit.blemees-tmp";
/// The line that tells the guard's hook from any other.
const MARKER: &str = "# blemees-peer guard: written by `blemees-peerd guard install`";
/// How far into a hook file [`MARKER`] is looked for (the hook may be a
/// program of any size; the marker is on its second line).
const MARKER_WITHIN_BYTES: u64 = 4096;
/// Hooks are programs everybody who can commit may run.
const HOOK_MODE: u32 = 0o755;

/// Installs the hook in the repository of `repo`; running it again rewrites
/// it (with this binary and `socket`) and keeps the hook it kept.
pub(super) fn install(repo: &Path, socket: Option<&Path>) -> anyhow::Result<String> {
    let hooks = git::hooks_dir(repo)?;
    fs::create_dir_all(&hooks).with_context(|| format!("creating {}", hooks.display()))?;
    let (hook, chained) = (hooks.join(HOOK), hooks.join(CHAINED));
    let peerd = std::env::current_exe().context("cannot tell where this blemees-peerd is")?;
    let socket = socket.map(std::path::absolute).transpose()?;
    let script = script(utf8(&peerd)?, socket.as_deref().map(utf8).transpose()?);
    let mut said = format!("{PREFIX}: installed in {}", hook.display());
    if hook.symlink_metadata().is_ok() && !is_ours(&hook) {
        if chained.symlink_metadata().is_ok() {
            bail!(
                "{} is not the guard's, and {} is taken; move one of them away",
                hook.display(),
                chained.display()
            );
        }
        fs::rename(&hook, &chained).with_context(|| format!("keeping {}", hook.display()))?;
        let _ = write!(
            said,
            "; the hook that was there runs first, from {}",
            chained.display()
        );
    }
    let tmp = hooks.join(HOOK_TMP);
    fs::write(&tmp, script).with_context(|| format!("writing {}", tmp.display()))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(HOOK_MODE))?;
    fs::rename(&tmp, &hook).with_context(|| format!("writing {}", hook.display()))?;
    Ok(said)
}

/// Removes the guard's hook and puts back the one it kept, if any.
pub(super) fn uninstall(repo: &Path) -> anyhow::Result<String> {
    let hooks = git::hooks_dir(repo)?;
    let (hook, chained) = (hooks.join(HOOK), hooks.join(CHAINED));
    if !is_ours(&hook) {
        return Ok(format!("{PREFIX}: not installed in {}", hooks.display()));
    }
    if chained.symlink_metadata().is_ok() {
        fs::rename(&chained, &hook).with_context(|| format!("restoring {}", hook.display()))?;
        return Ok(format!("{PREFIX}: removed; {} is back", hook.display()));
    }
    fs::remove_file(&hook).with_context(|| format!("removing {}", hook.display()))?;
    Ok(format!("{PREFIX}: removed from {}", hooks.display()))
}

/// Whether `hook` is one the guard wrote.
fn is_ours(hook: &Path) -> bool {
    let mut head = Vec::new();
    fs::File::open(hook)
        .and_then(|f| f.take(MARKER_WITHIN_BYTES).read_to_end(&mut head))
        .is_ok_and(|_| String::from_utf8_lossy(&head).contains(MARKER))
}

fn utf8(path: &Path) -> anyhow::Result<&str> {
    path.to_str().with_context(|| {
        format!(
            "{} is not UTF-8, which the hook cannot hold",
            path.display()
        )
    })
}

/// The hook: the kept hook first (a failure stops the commit), then `guard
/// check` of the blemees-peerd at `peerd`. When that program is gone the
/// commit goes ahead, with a warning: a guard that cannot run must not
/// stop work.
fn script(peerd: &str, socket: Option<&str>) -> String {
    let socket = socket
        .map(|s| format!(" --socket {}", quote(s)))
        .unwrap_or_default();
    format!(
        r#"#!/bin/sh
{MARKER}; `blemees-peerd guard uninstall` removes it.
# Refuses a commit that changes paths under another agent session's exclusive
# path lease. To commit anyway: {BYPASS_ENV}={BYPASS_VALUE} git commit ...
chained="$(dirname "$0")/{CHAINED}"
if [ -x "$chained" ]; then
    "$chained" "$@" || exit $?
fi
peerd={peerd}
if [ ! -x "$peerd" ]; then
    echo "{PREFIX}: warning: $peerd is gone, leases not checked; run 'blemees-peerd guard install' again" >&2
    exit 0
fi
exec "$peerd"{socket} guard check
"#,
        peerd = quote(peerd),
    )
}

/// `s` as one single-quoted shell word.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_carries_its_marker_and_quotes_what_it_runs() {
        let hook = script("/opt/it's/blemees-peerd", Some("/run/peer d.sock"));
        assert_eq!(
            hook.lines().nth(1).map(|l| l.starts_with(MARKER)),
            Some(true)
        );
        assert!(
            hook.contains(r"peerd='/opt/it'\''s/blemees-peerd'"),
            "{hook}"
        );
        assert!(hook.contains(r#"exec "$peerd" --socket '/run/peer d.sock' guard check"#));
        assert!(script("/p", None).contains(r#"exec "$peerd" guard check"#));
    }
}
