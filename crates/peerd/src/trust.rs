//! Paths the daemon may trust: only this user (or root) may be able to put a
//! file where the daemon listens or keeps its state. Otherwise another local
//! user could bind the socket path first and receive every client's messages,
//! or read the database.

use anyhow::bail;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Write permission for the group or for others.
const SHARED_WRITE: u32 = 0o022;
/// The sticky bit: in such a directory (`/tmp`) only an entry's owner may
/// remove or rename it.
const STICKY: u32 = 0o1000;

/// Checks `dir` and every directory above it, after resolving symlinks (so a
/// link into another user's directory is judged by where it leads): each must
/// be owned by this user or root, and writable by nobody else unless sticky.
/// The error names the first culprit; `what` names `dir`.
pub(crate) fn check_dir(dir: &Path, what: &str) -> anyhow::Result<()> {
    let real = std::fs::canonicalize(dir)?;
    let me = rustix::process::geteuid().as_raw();
    for d in real.ancestors() {
        let meta = std::fs::metadata(d)?;
        let mode = meta.permissions().mode();
        if meta.uid() != me && meta.uid() != 0 {
            bail!(
                "refusing {what} {}: {} belongs to uid {}, not to this user (uid {me})",
                dir.display(),
                d.display(),
                meta.uid()
            );
        }
        if mode & SHARED_WRITE != 0 && mode & STICKY == 0 {
            bail!(
                "refusing {what} {}: {} is writable by other users (mode {:o}) and not sticky",
                dir.display(),
                d.display(),
                mode & 0o7777
            );
        }
    }
    Ok(())
}

/// Refuses an existing file at `path` that belongs to another user (e.g. a
/// socket bound there first by somebody else).
pub(crate) fn check_owner(path: &Path, what: &str) -> anyhow::Result<()> {
    let me = rustix::process::geteuid().as_raw();
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.uid() != me => bail!(
            "refusing {what} {}: it belongs to uid {}, not to this user (uid {me}); \
             another user may be impersonating the daemon",
            path.display(),
            meta.uid()
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::Permissions;

    #[test]
    fn a_private_tree_is_trusted_a_shared_writable_one_is_not() {
        let tmp = tempfile::tempdir().unwrap();
        let private = tmp.path().join("a/b");
        std::fs::create_dir_all(&private).unwrap();
        check_dir(&private, "socket directory").unwrap();
        std::fs::set_permissions(tmp.path().join("a"), Permissions::from_mode(0o777)).unwrap();
        let e = check_dir(&private, "socket directory")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("writable by other users") && e.contains("/a "),
            "{e}"
        );
        std::fs::set_permissions(tmp.path().join("a"), Permissions::from_mode(0o1777)).unwrap();
        check_dir(&private, "socket directory").unwrap();
    }

    #[test]
    fn a_symlink_is_judged_by_where_it_leads() {
        let tmp = tempfile::tempdir().unwrap();
        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, Permissions::from_mode(0o777)).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&open, &link).unwrap();
        let e = check_dir(&link, "state directory").unwrap_err().to_string();
        assert!(e.contains("/open"), "{e}");
    }
}
