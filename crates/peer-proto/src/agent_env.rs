//! What an agent's harness tells the programs it starts about the agent
//! session (SPEC §12): the environment variables, and the rule that turns them
//! into the session's sid. The sidecar joins the daemon as that sid; the host
//! hooks and the git guard use the same rule to tell which session they act
//! for, so the three always agree.

use crate::identity::{derive_sid, is_valid_sid};

/// The session's home, as a harness sets it.
pub const AGENT_HOME_ENV: &str = "BLEMEES_AGENT_HOME";
/// The session's sid, or a stable id (a UUID) to derive it from.
pub const AGENT_SID_ENV: &str = "BLEMEES_AGENT_SID";
/// The session's alias.
pub const AGENT_ALIAS_ENV: &str = "BLEMEES_AGENT_ALIAS";
/// The project directory Claude Code gives its hooks and MCP servers.
pub const CLAUDE_PROJECT_DIR_ENV: &str = "CLAUDE_PROJECT_DIR";
/// Claude Code's id of the session, stable across its restarts.
pub const CLAUDE_SESSION_ID_ENV: &str = "CLAUDE_CODE_SESSION_ID";

/// The value of the environment variable `name`, unless unset, empty or not
/// UTF-8 (a harness that exports an empty value means "none").
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The sid an agent session has when it is not random: `given` (a flag or
/// [`AGENT_SID_ENV`]) as is when it is a valid sid, else derived from it; else
/// derived from the host's session id. `None` when neither is known: such a
/// session mints a fresh sid, which nobody else can know.
pub fn stable_sid(given: Option<&str>, host_session_id: Option<&str>) -> Option<String> {
    match (given, host_session_id) {
        (Some(sid), _) if is_valid_sid(sid) => Some(sid.to_owned()),
        (Some(seed), _) | (None, Some(seed)) => Some(derive_sid(seed)),
        (None, None) => None,
    }
}

/// [`stable_sid`] of this process's environment: the sid of the agent session
/// that started it, directly or through a tool it ran (a git hook).
pub fn sid_from_env() -> Option<String> {
    stable_sid(
        var(AGENT_SID_ENV).as_deref(),
        var(CLAUDE_SESSION_ID_ENV).as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_sid_wins_and_ids_are_derived() {
        let host = "2d0c7d43-claude";
        assert_eq!(stable_sid(None, None), None);
        assert_eq!(stable_sid(None, Some(host)), Some(derive_sid(host)));
        let uuid = "123e4567-e89b-12d3-a456-426614174000";
        assert_eq!(stable_sid(Some(uuid), Some(host)), Some(derive_sid(uuid)));
        let sid = "sess_abcdefghijklmnop";
        assert_eq!(stable_sid(Some(sid), Some(host)).as_deref(), Some(sid));
    }
}
