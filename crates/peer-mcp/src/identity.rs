//! Who this sidecar is at start-up (SPEC §9): the session home, sid and alias,
//! from flags, then the `BLEMEES_AGENT_*` environment a harness exports, then
//! Claude Code's environment, then the working directory.
//!
//! A sid that is not given as a valid sid but is given as something stable (a
//! harness's UUID, Claude Code's session id) is *derived* from it by hashing
//! ([`peer_proto::agent_env::stable_sid`]), so a sidecar restarted for the same
//! agent session keeps its address.

use peer_proto::agent_env::{self as env, var};
use peer_proto::home::canonical_home;
use peer_proto::identity::{is_valid_alias, is_valid_sid, mint_sid};
use std::path::PathBuf;

/// The raw inputs of identity resolution, gathered once so the rules can be
/// tested without touching the process environment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    pub(crate) flag_home: Option<String>,
    pub(crate) flag_sid: Option<String>,
    pub(crate) flag_alias: Option<String>,
    /// `BLEMEES_AGENT_HOME`, `BLEMEES_AGENT_SID`, `BLEMEES_AGENT_ALIAS`.
    pub(crate) agent_home: Option<String>,
    pub(crate) agent_sid: Option<String>,
    pub(crate) agent_alias: Option<String>,
    /// `CLAUDE_PROJECT_DIR`.
    pub(crate) project_dir: Option<String>,
    /// `CLAUDE_CODE_SESSION_ID`.
    pub(crate) host_session_id: Option<String>,
    pub(crate) cwd: Option<PathBuf>,
    /// `$HOME`, the root of the `~` form.
    pub(crate) user_home: Option<PathBuf>,
}

impl Sources {
    /// The process's environment and working directory, plus the given flags.
    pub(crate) fn from_process(
        home: Option<String>,
        sid: Option<String>,
        alias: Option<String>,
    ) -> Self {
        Sources {
            flag_home: home,
            flag_sid: sid,
            flag_alias: alias,
            agent_home: var(env::AGENT_HOME_ENV),
            agent_sid: var(env::AGENT_SID_ENV),
            agent_alias: var(env::AGENT_ALIAS_ENV),
            project_dir: var(env::CLAUDE_PROJECT_DIR_ENV),
            host_session_id: var(env::CLAUDE_SESSION_ID_ENV),
            cwd: std::env::current_dir().ok(),
            user_home: peer_proto::paths::user_home(),
        }
    }
}

/// The resolved identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) home: String,
    pub(crate) sid: String,
    pub(crate) alias: Option<String>,
}

/// Applies the precedence rules; malformed values are logged and skipped.
pub(crate) fn resolve(s: &Sources) -> Identity {
    Identity {
        home: resolve_home(s),
        sid: resolve_sid(s),
        alias: resolve_alias(s),
    }
}

pub(crate) fn resolve_home(s: &Sources) -> String {
    let candidates = [
        ("--home", s.flag_home.clone()),
        ("BLEMEES_AGENT_HOME", s.agent_home.clone()),
        ("CLAUDE_PROJECT_DIR", s.project_dir.clone()),
        (
            "the working directory",
            s.cwd.as_ref().map(|p| p.to_string_lossy().into_owned()),
        ),
    ];
    for (source, value) in candidates {
        let Some(value) = value else { continue };
        match canonical_home(&value, s.user_home.as_deref()) {
            Some(home) => return home,
            None => tracing::warn!("ignoring {source}={value:?}: not a usable session home"),
        }
    }
    "/".to_string()
}

fn resolve_sid(s: &Sources) -> String {
    stable_sid(s).unwrap_or_else(mint_sid)
}

/// The sid a sidecar with these sources would use, when it is not random:
/// given (flag, `BLEMEES_AGENT_SID`) or derived from the host's session id.
/// Hooks use it to find their session's sidecar.
pub(crate) fn stable_sid(s: &Sources) -> Option<String> {
    let given = s.flag_sid.as_deref().or(s.agent_sid.as_deref());
    if let Some(seed) = given.filter(|g| !is_valid_sid(g)) {
        tracing::info!("deriving the sid from {seed:?}, which is not itself a sid");
    }
    env::stable_sid(given, s.host_session_id.as_deref())
}

fn resolve_alias(s: &Sources) -> Option<String> {
    let (source, alias) = match (&s.flag_alias, &s.agent_alias) {
        (Some(a), _) => ("--alias", a),
        (None, Some(a)) => ("BLEMEES_AGENT_ALIAS", a),
        (None, None) => return None,
    };
    if alias.is_empty() {
        return None;
    }
    if is_valid_alias(alias) {
        return Some(alias.clone());
    }
    tracing::warn!(
        "ignoring {source}={alias:?}: an alias must match [a-z][a-z0-9_-]{{0,63}} and not start with sess_"
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use peer_proto::identity::derive_sid;

    fn sources(dir: &std::path::Path) -> Sources {
        Sources {
            cwd: Some(dir.join("cwd")),
            user_home: Some(dir.join("u")),
            ..Sources::default()
        }
    }

    #[test]
    fn home_precedence() {
        let t = tempfile::tempdir().unwrap();
        let mut s = sources(t.path());
        let cwd = canonical_home(t.path().join("cwd").to_str().unwrap(), None).unwrap();
        assert_eq!(resolve(&s).home, cwd);
        s.project_dir = Some("/project".into());
        assert_eq!(resolve(&s).home, "/project");
        s.agent_home = Some("not absolute".into());
        assert_eq!(resolve(&s).home, "/project", "malformed env skipped");
        s.agent_home = Some("~/agent".into());
        assert_eq!(resolve(&s).home, "~/agent");
        s.flag_home = Some("/flag".into());
        assert_eq!(resolve(&s).home, "/flag");
    }

    #[test]
    fn sid_precedence_and_derivation() {
        let mut s = Sources::default();
        let minted = resolve(&s).sid;
        assert!(is_valid_sid(&minted));
        assert_ne!(resolve(&s).sid, minted, "fresh each time");

        s.host_session_id = Some("2d0c7d43-claude".into());
        let from_host = resolve(&s).sid;
        assert!(is_valid_sid(&from_host));
        assert_eq!(resolve(&s).sid, from_host, "deterministic");
        assert_eq!(from_host, derive_sid("2d0c7d43-claude"));

        s.agent_sid = Some("123e4567-e89b-12d3-a456-426614174000".into());
        let from_uuid = resolve(&s).sid;
        assert!(is_valid_sid(&from_uuid));
        assert_ne!(from_uuid, from_host);

        s.agent_sid = Some("sess_abcdefghijklmnop".into());
        assert_eq!(resolve(&s).sid, "sess_abcdefghijklmnop");
        s.flag_sid = Some("sess_ZYXWVUTSRQPONMLK".into());
        assert_eq!(resolve(&s).sid, "sess_ZYXWVUTSRQPONMLK");
    }

    #[test]
    fn alias_rules() {
        let mut s = Sources::default();
        assert_eq!(resolve(&s).alias, None);
        s.agent_alias = Some("Bad Alias".into());
        assert_eq!(resolve(&s).alias, None, "malformed is ignored");
        s.agent_alias = Some("architect".into());
        assert_eq!(resolve(&s).alias.as_deref(), Some("architect"));
        s.flag_alias = Some("tester".into());
        assert_eq!(resolve(&s).alias.as_deref(), Some("tester"));
        s.flag_alias = Some("sess_nope".into());
        assert_eq!(
            resolve(&s).alias,
            None,
            "a malformed flag is not replaced by the env"
        );
    }
}
