//! Which leases stand in a commit's way. Leases are daemon-wide and their globs
//! are repository-relative by convention, so a lease speaks for a repository
//! only through its holder: one working somewhere in it.

use peer_proto::address::{Address, HomeAddress, Target};
use peer_proto::api::LeaseInfo;
use peer_proto::glob::GlobSet;
use peer_proto::home::home_path;
use std::path::{Path, PathBuf};

/// The repository a commit is made in, as the guard needs to know it.
pub(super) struct Repo {
    /// The top directory of every worktree, symlinks resolved.
    worktrees: Vec<PathBuf>,
    /// What `~` in a holder's home stands for.
    user_home: Option<PathBuf>,
}

impl Repo {
    pub(super) fn new(worktrees: &[PathBuf], user_home: Option<PathBuf>) -> Repo {
        Repo {
            worktrees: worktrees.iter().map(|w| real(w)).collect(),
            user_home,
        }
    }

    /// Whether the session home `home` is at or below a worktree's top.
    fn holds(&self, home: &str) -> bool {
        home_path(home, self.user_home.as_deref())
            .map(|p| real(&p))
            .is_some_and(|p| self.worktrees.iter().any(|w| p.starts_with(w)))
    }
}

/// `path` with symlinks resolved when it exists (a home is written resolved,
/// a worktree path as it was given to git).
fn real(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A lease in the way, and the staged paths it covers.
pub(super) struct Block<'a> {
    pub(super) lease: &'a LeaseInfo,
    pub(super) paths: Vec<&'a str>,
}

/// The leases that refuse a commit of `staged` by `committer` (its sid, `None`
/// when no agent session makes it): exclusive ones of another session working
/// in `repo` whose globs match a staged path. In lease order.
pub(super) fn blocks<'a>(
    leases: &'a [LeaseInfo],
    staged: &'a [String],
    repo: &Repo,
    committer: Option<&str>,
) -> Vec<Block<'a>> {
    leases
        .iter()
        .filter(|lease| lease.exclusive)
        .filter(|lease| match Address::parse(&lease.holder) {
            Ok(Address::Home(HomeAddress {
                home,
                target: Some(Target::Sid(sid)),
            })) => Some(sid) != committer && repo.holds(home),
            // Not a session address: not a holder the guard can place.
            _ => false,
        })
        .filter_map(|lease| {
            let globs = GlobSet::new(lease.paths.clone());
            let paths: Vec<&str> = staged
                .iter()
                .map(String::as_str)
                .filter(|p| globs.matches(p))
                .collect();
            (!paths.is_empty()).then_some(Block { lease, paths })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "sess_MMMMMMMMMMMMMMMM";
    const OTHER: &str = "sess_OOOOOOOOOOOOOOOO";

    fn lease(holder: &str, paths: &[&str], exclusive: bool) -> LeaseInfo {
        LeaseInfo {
            alias: None,
            exclusive,
            expires: 2.0e9,
            holder: holder.to_owned(),
            lease_id: "lease_AAAAAAAAAAAAAAAA".to_owned(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            reason: String::new(),
            since: 1.0e9,
        }
    }

    fn staged(paths: &[&str]) -> Vec<String> {
        paths.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn only_others_exclusive_leases_from_inside_the_repo_on_staged_paths_block() {
        let t = tempfile::tempdir().unwrap();
        let user = std::fs::canonicalize(t.path()).unwrap();
        let (main, linked) = (user.join("repo"), user.join("repo-wt"));
        std::fs::create_dir_all(main.join("sub")).unwrap();
        std::fs::create_dir_all(&linked).unwrap();
        let repo = Repo::new(&[main.clone(), linked.clone()], Some(user.clone()));
        let at = |home: &str, sid: &str| format!("home:{home}#{sid}");
        let main_abs = main.to_str().unwrap().to_owned();
        let leases = vec![
            lease(&at("~/repo", OTHER), &["src/*"], true),
            lease(&at(&format!("{main_abs}/sub"), OTHER), &["*.md"], true),
            lease(&at("~/repo-wt", OTHER), &["Cargo.toml"], true),
            lease(&at("~/repo", OTHER), &["docs/*"], false),
            lease(&at("~/repo", ME), &["tests/*"], true),
            lease(&at("~/repo-other", OTHER), &["lib/*"], true),
            lease(&at("~/repo", "alice"), &["bin/*"], true),
        ];
        let staged = staged(&[
            "src/a.rs",
            "src/b/c.rs",
            "README.md",
            "Cargo.toml",
            "docs/x",
            "tests/t.rs",
            "lib/l.rs",
            "bin/b.rs",
            "other",
        ]);
        let found = blocks(&leases, &staged, &repo, Some(ME));
        let summary: Vec<(&[String], Vec<&str>)> = found
            .iter()
            .map(|b| (b.lease.paths.as_slice(), b.paths.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (leases[0].paths.as_slice(), vec!["src/a.rs", "src/b/c.rs"]),
                (leases[1].paths.as_slice(), vec!["README.md"]),
                (leases[2].paths.as_slice(), vec!["Cargo.toml"]),
            ]
        );
        let anyone = blocks(&leases, &staged, &repo, None);
        assert_eq!(anyone.len(), 4, "a person's commit meets my lease too");
        assert!(blocks(&leases, &staged[8..], &repo, None).is_empty());
    }
}
