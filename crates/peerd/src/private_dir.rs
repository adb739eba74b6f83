//! Directories only this user may enter: the state directory and a socket
//! directory the daemon creates (SPEC §2, §7).

use anyhow::Context;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// The mode of a private directory.
const PRIVATE_DIR_MODE: u32 = 0o700;

/// Creates `dir` and any missing parents with mode `0700`; an existing
/// directory is left as it is. `what` names it in the error.
pub(crate) fn create(dir: &Path, what: &str) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
        .with_context(|| format!("creating {what} {}", dir.display()))
}

/// Makes an existing `dir` of this user's private: a state directory left
/// `0755` by an older version (or by hand) let other users read message
/// bodies. A directory of another user is left alone (the trust check refuses
/// it). `what` names it in the log and the error.
pub(crate) fn tighten(dir: &Path, what: &str) -> anyhow::Result<()> {
    let meta =
        std::fs::metadata(dir).with_context(|| format!("inspecting {what} {}", dir.display()))?;
    let mode = meta.permissions().mode() & 0o7777;
    if meta.uid() == rustix::process::geteuid().as_raw() && mode != PRIVATE_DIR_MODE {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(PRIVATE_DIR_MODE))
            .with_context(|| format!("making {what} {} private", dir.display()))?;
        tracing::warn!(
            "{what} {} had mode {mode:o}; it is now {PRIVATE_DIR_MODE:o}",
            dir.display()
        );
    }
    Ok(())
}
