//! Session homes in canonical form (SPEC §1), as clients compute them from a path.
//! Unlike the rest of this crate this reads the file system (to resolve symlinks),
//! because the canonical form is defined on the real path.

use crate::identity::is_valid_home;
use std::path::{Component, Path, PathBuf};

/// The canonical form of a session home (SPEC §1): a `~` form is taken as is
/// (if well-formed); an absolute path is resolved (symlinks, when it exists;
/// `.`/`..` otherwise) and written as `~/…` when under the user's home. Relative
/// paths are refused: they mean nothing to the other sessions.
pub fn canonical_home(raw: &str, user_home: Option<&Path>) -> Option<String> {
    if raw.starts_with('~') {
        return is_valid_home(raw).then(|| raw.to_string());
    }
    let path = Path::new(raw);
    if !path.is_absolute() {
        return None;
    }
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| lexically_clean(path));
    let home = user_home.map(|h| std::fs::canonicalize(h).unwrap_or_else(|_| lexically_clean(h)));
    let form = match home.as_deref().and_then(|h| real.strip_prefix(h).ok()) {
        Some(rel) if rel.as_os_str().is_empty() => "~".to_string(),
        Some(rel) => format!("~/{}", rel.to_str()?),
        None => real.to_str()?.to_string(),
    };
    is_valid_home(&form).then_some(form)
}

/// The path a canonical home names, the inverse of [`canonical_home`]: `~` and
/// `~/…` under `user_home`, `/…` as written. `None` for a string that is not a
/// canonical home, or a `~` form without a user home.
pub fn home_path(home: &str, user_home: Option<&Path>) -> Option<PathBuf> {
    if !is_valid_home(home) {
        return None;
    }
    match home.strip_prefix('~') {
        Some(rest) => Some(user_home?.join(rest.trim_start_matches('/'))),
        None => Some(PathBuf::from(home)),
    }
}

/// `path` without `.`, `..` or repeated separators, without touching the disk.
fn lexically_clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(seg) => out.push(seg),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_forms() {
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(t.path()).unwrap();
        let user = root.join("u");
        std::fs::create_dir_all(user.join("proj")).unwrap();
        std::os::unix::fs::symlink(user.join("proj"), root.join("link")).unwrap();
        let h = |raw: &str| canonical_home(raw, Some(&user));
        let r = root.to_str().unwrap();
        assert_eq!(h(user.to_str().unwrap()).as_deref(), Some("~"));
        assert_eq!(h(&format!("{r}/u/proj/")).as_deref(), Some("~/proj"));
        assert_eq!(
            h(&format!("{r}/link")).as_deref(),
            Some("~/proj"),
            "symlink resolved"
        );
        assert_eq!(h(&format!("{r}/u/./x/../proj")).as_deref(), Some("~/proj"));
        assert_eq!(
            h(&format!("{r}/u/missing/../gone")).as_deref(),
            Some("~/gone")
        );
        assert_eq!(h("/").as_deref(), Some("/"));
        assert_eq!(
            h(&format!("{r}/elsewhere")).as_deref(),
            Some(format!("{r}/elsewhere").as_str())
        );
        assert_eq!(h("~/as/is").as_deref(), Some("~/as/is"));
        assert_eq!(h("~/bad/"), None);
        assert_eq!(h("relative/dir"), None);
        assert_eq!(
            canonical_home(&format!("{r}/u"), None).as_deref(),
            Some(format!("{r}/u").as_str())
        );
    }

    #[test]
    fn home_paths_invert_home_forms() {
        let user = Path::new("/home/u");
        let p = |home: &str| home_path(home, Some(user));
        assert_eq!(p("~"), Some(PathBuf::from("/home/u")));
        assert_eq!(p("~/src/p"), Some(PathBuf::from("/home/u/src/p")));
        assert_eq!(p("/srv/p"), Some(PathBuf::from("/srv/p")));
        assert_eq!(p("/"), Some(PathBuf::from("/")));
        assert_eq!(p("~/bad/"), None);
        assert_eq!(p("relative"), None);
        assert_eq!(home_path("~/p", None), None);
        assert_eq!(home_path("/p", None), Some(PathBuf::from("/p")));
    }
}
