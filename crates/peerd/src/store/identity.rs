//! Noticing that the database file was deleted or replaced under the running
//! daemon. SQLite keeps writing to the open (now unlinked) file, so every
//! later commit "succeeds" into a file nobody will ever open again: answered
//! messages would be lost at the next restart. The store checks the file's
//! identity before each batch and refuses to answer sends as stored once it
//! has changed.

use anyhow::bail;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The database file as it was opened: its device and inode.
#[derive(Debug)]
pub(crate) struct DbFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
    /// The loss has been logged (once, not per batch).
    reported: bool,
}

impl DbFile {
    /// Records the identity of the file at `path` (just opened). An empty file
    /// is worth a line in the log: SQLite takes it as a new database.
    pub(crate) fn of(path: &Path) -> anyhow::Result<DbFile> {
        let meta = std::fs::metadata(path)?;
        if meta.len() == 0 {
            tracing::warn!(
                "the database {} is empty (0 bytes): starting with no history",
                path.display()
            );
        }
        Ok(DbFile {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
            reported: false,
        })
    }

    /// Fails if the path no longer names the file that is open.
    pub(crate) fn check(&mut self) -> anyhow::Result<()> {
        let same =
            std::fs::metadata(&self.path).is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino);
        if same {
            return Ok(());
        }
        if !self.reported {
            self.reported = true;
            tracing::error!(
                "the database {} was deleted or replaced while the daemon runs; nothing \
                 more is stored and sends are refused until the daemon is restarted",
                self.path.display()
            );
        }
        bail!(
            "the database file {} was deleted or replaced; restart the daemon",
            self.path.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_or_replaced_file_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        std::fs::write(&path, b"x").unwrap();
        // Held open, as SQLite holds it: its inode cannot be reused.
        let _open = std::fs::File::open(&path).unwrap();
        let mut db = DbFile::of(&path).unwrap();
        db.check().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(db.check().is_err());
        std::fs::write(&path, b"x").unwrap();
        assert!(db.check().is_err(), "a new file at the path is not ours");
    }
}
