//! `blemees-peerd guard check`, what the hook runs: the staged paths against
//! the daemon's live leases. Exit 1 with the reasons when leases block the
//! commit; exit 0 otherwise, with a warning when it could not check.

use super::blocks::{blocks, Block, Repo};
use super::{git, BYPASS_ENV, BYPASS_VALUE, PREFIX};
use crate::client::{self, render};
use anyhow::bail;
use peer_client::ClientError;
use peer_proto::agent_env;
use peer_proto::api::{self, LeaseInfo, LeasesParams};
use peer_proto::text::printable;
use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// How long connecting, saying hello and asking for the leases may take
/// together: a daemon that does not answer must not hold up a commit.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(2);
/// Staged paths listed per blocking lease; the rest are counted.
const LISTED_PATHS: usize = 10;
/// Exit code of a refused commit (git aborts the commit on any non-zero).
const EXIT_REFUSED: u8 = 1;

/// Checks the commit being made in the current directory's repository against
/// the leases of the daemon at `socket`.
pub(super) fn check(socket: &Path) -> ExitCode {
    if agent_env::var(BYPASS_ENV).as_deref() == Some(BYPASS_VALUE) {
        eprintln!("{PREFIX}: off ({BYPASS_ENV}={BYPASS_VALUE}); leases not checked");
        return ExitCode::SUCCESS;
    }
    match refusal(socket) {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(text)) => {
            eprint!("{text}");
            ExitCode::from(EXIT_REFUSED)
        }
        Err(e) => {
            eprintln!("{PREFIX}: warning: leases not checked, commit allowed: {e:#}");
            ExitCode::SUCCESS
        }
    }
}

/// What to say when leases block the commit; an error when it cannot tell.
fn refusal(socket: &Path) -> anyhow::Result<Option<String>> {
    let top = git::top_level(Path::new("."))?;
    let staged = git::staged_paths(&top)?;
    if staged.is_empty() {
        return Ok(None);
    }
    let repo = Repo::new(&git::worktrees(&top)?, peer_proto::paths::user_home());
    let leases = live_leases(socket)?;
    let committer = agent_env::sid_from_env();
    let found = blocks(&leases, &staged, &repo, committer.as_deref());
    Ok((!found.is_empty()).then(|| explain(&found)))
}

/// Every live lease, asked of the daemon within [`DAEMON_TIMEOUT`].
fn live_leases(socket: &Path) -> anyhow::Result<Vec<LeaseInfo>> {
    let ask = async {
        let (conn, _notes) = client::connect(socket).await?;
        let listed = conn
            .request::<api::Leases>(&LeasesParams { path: None })
            .await?;
        Ok::<_, ClientError>(listed.leases)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(async { tokio::time::timeout(DAEMON_TIMEOUT, ask).await }) {
        Ok(Ok(leases)) => Ok(leases),
        // A ClientError says its cause itself (as an anyhow chain it would
        // say it twice).
        Ok(Err(e)) => bail!("{e}"),
        Err(_) => bail!(
            "blemees-peerd at {} did not answer within {DAEMON_TIMEOUT:?}",
            socket.display()
        ),
    }
}

/// The refusal: each lease in the way with the paths it covers, its holder,
/// until when and why, then how to go on. Peer-chosen text (alias, reason,
/// globs) is made printable.
fn explain(found: &[Block<'_>]) -> String {
    let mut out = format!(
        "{PREFIX}: commit refused: it changes paths that another agent session \
         holds an exclusive lease on.\n"
    );
    for Block { lease, paths } in found {
        let _ = writeln!(out);
        for path in paths.iter().take(LISTED_PATHS) {
            let _ = writeln!(out, "  {}", printable(path));
        }
        if paths.len() > LISTED_PATHS {
            let _ = writeln!(out, "  … and {} more", paths.len() - LISTED_PATHS);
        }
        let holder = printable(&lease.holder);
        let who = match &lease.alias {
            Some(alias) => format!("{} ({holder})", printable(alias)),
            None => holder,
        };
        let globs: Vec<String> = lease.paths.iter().map(|g| printable(g)).collect();
        let _ = writeln!(
            out,
            "    leased by {who} on {} until {}",
            globs.join(" "),
            render::local(Some(lease.expires), "%Y-%m-%d %H:%M:%S")
        );
        if !lease.reason.is_empty() {
            let _ = writeln!(out, "    reason: {}", printable(&lease.reason));
        }
    }
    let _ = writeln!(
        out,
        "\nAsk the holder (`blemees-peerd send HOLDER TEXT`), wait until the lease ends, \
         or commit anyway with\n  {BYPASS_ENV}={BYPASS_VALUE} git commit …\n\
         (git commit --no-verify skips this and every other pre-commit hook)."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_paths_holder_expiry_reason_and_the_way_around() {
        let lease = LeaseInfo {
            alias: Some("alice".to_owned()),
            exclusive: true,
            expires: 2.0e9,
            holder: "home:~/p#sess_AAAAAAAAAAAAAAAA".to_owned(),
            lease_id: "lease_AAAAAAAAAAAAAAAA".to_owned(),
            paths: vec!["src/*".to_owned()],
            reason: "refactor\x1b[2J".to_owned(),
            since: 1.0e9,
        };
        let many: Vec<String> = (0..LISTED_PATHS + 2).map(|i| format!("src/{i}")).collect();
        let found = [Block {
            lease: &lease,
            paths: many.iter().map(String::as_str).collect(),
        }];
        let text = explain(&found);
        for part in [
            "  src/0\n",
            "… and 2 more",
            "leased by alice (home:~/p#sess_AAAAAAAAAAAAAAAA) on src/* until 20",
            "reason: refactor",
            "BLEMEES_PEER_GUARD=off git commit",
            "--no-verify",
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
        assert!(!text.contains('\x1b'), "{text:?}");
    }
}
