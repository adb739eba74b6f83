//! Directories only this user may enter: the state directory and a socket
//! directory the daemon creates (SPEC §2, §7).

use anyhow::Context;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Creates `dir` and any missing parents with mode `0700`; an existing
/// directory is left as it is. `what` names it in the error.
pub(crate) fn create(dir: &Path, what: &str) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {what} {}", dir.display()))
}
