//! The git guard (SPEC §13): `blemees-peerd guard install` writes a pre-commit
//! hook that runs `blemees-peerd guard check`, which refuses a commit touching
//! paths under another agent session's exclusive path lease. Leases are
//! advisory; the guard is where they meet the one write every agent makes.
//!
//! It refuses only what it can show: when it cannot ask (no daemon, git
//! failing) it warns and lets the commit through, so that the peer channel
//! being down never stops anybody's work.

mod blocks;
mod check;
mod git;
mod install;

use clap::Subcommand;
use peer_proto::paths::{self, Env};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The environment variable that turns the guard off for one command:
/// `BLEMEES_PEER_GUARD=off git commit …`.
const BYPASS_ENV: &str = "BLEMEES_PEER_GUARD";
/// The value of [`BYPASS_ENV`] that turns the guard off.
const BYPASS_VALUE: &str = "off";

/// How everything the guard prints starts, so that a line in git's output says
/// where it comes from.
const PREFIX: &str = "blemees-peer guard";

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Install the pre-commit hook (an existing hook is kept and runs first)
    ///
    /// The hook runs this blemees-peerd, with the --socket given here, if any.
    /// Installing again updates it.
    Install {
        /// Any directory of the repository (a linked worktree will do)
        #[arg(long, value_name = "DIR", default_value = ".")]
        repo: PathBuf,
    },
    /// Remove the hook and put back the one it kept
    Uninstall {
        /// Any directory of the repository (a linked worktree will do)
        #[arg(long, value_name = "DIR", default_value = ".")]
        repo: PathBuf,
    },
    /// What the hook runs: exit 1 if the staged changes touch paths under
    /// another session's exclusive lease, else 0
    Check,
}

/// Runs a guard command. `socket` is the `--socket` flag as given: the hook
/// keeps it, and without it resolves the socket as every client does when it
/// runs.
pub(crate) fn run(command: Command, socket: Option<&Path>) -> ExitCode {
    let done = match command {
        Command::Install { repo } => install::install(&repo, socket),
        Command::Uninstall { repo } => install::uninstall(&repo),
        Command::Check => {
            return check::check(&paths::socket_path(socket, &Env::from_process()));
        }
    };
    match done {
        Ok(said) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{PREFIX}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
