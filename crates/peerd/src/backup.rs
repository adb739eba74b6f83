//! `blemees-peerd backup DEST`: a consistent copy of the database, taken while
//! the daemon keeps running. SQLite's online backup reads a snapshot through its
//! own connection (WAL mode lets it run beside the daemon's writer) and copies it
//! in steps, so the daemon is never blocked for long.

use anyhow::{bail, Context};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// Pages copied per step, and the pause between steps that lets the daemon write.
const PAGES_PER_STEP: i32 = 1024;
const PAUSE_BETWEEN_STEPS: Duration = Duration::from_millis(5);

/// Copies `db` (the daemon's `peerd.db`) to `dest`, which must not exist yet.
pub(crate) fn backup(db: &Path, dest: &Path) -> anyhow::Result<()> {
    if !db.exists() {
        bail!("no database at {} (is --state-dir right?)", db.display());
    }
    if dest.exists() {
        bail!("{} exists; refusing to overwrite it", dest.display());
    }
    let src = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", db.display()))?;
    src.pragma_update(None, "busy_timeout", 5000)?;
    let mut out = Connection::open(dest).with_context(|| format!("creating {}", dest.display()))?;
    rusqlite::backup::Backup::new(&src, &mut out)?
        .run_to_completion(PAGES_PER_STEP, PAUSE_BETWEEN_STEPS, None)
        .with_context(|| format!("copying {} to {}", db.display(), dest.display()))?;
    let check: String = out.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if check != "ok" {
        bail!(
            "the copy at {} failed its integrity check: {check}",
            dest.display()
        );
    }
    Ok(())
}
