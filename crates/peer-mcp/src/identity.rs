//! Who this sidecar is at start-up (SPEC §9): the session home, sid and alias,
//! from flags, then the `BLEMEES_AGENT_*` environment a harness exports, then
//! Claude Code's environment, then the working directory.
//!
//! A sid that is not given as a valid sid but is given as something stable (a
//! harness's UUID, Claude Code's session id) is *derived* from it by hashing, so
//! a sidecar restarted for the same agent session keeps its address.

use peer_proto::home::canonical_home;
use peer_proto::identity::{is_valid_alias, is_valid_sid, mint_sid, SID_PREFIX};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Separates derived sids from any other use of the same hash input.
const SID_DERIVATION_DOMAIN: &[u8] = b"blemees-peer sid v1\0";

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
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Sources {
            flag_home: home,
            flag_sid: sid,
            flag_alias: alias,
            agent_home: var("BLEMEES_AGENT_HOME"),
            agent_sid: var("BLEMEES_AGENT_SID"),
            agent_alias: var("BLEMEES_AGENT_ALIAS"),
            project_dir: var("CLAUDE_PROJECT_DIR"),
            host_session_id: var("CLAUDE_CODE_SESSION_ID"),
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
    if let Some(given) = s.flag_sid.as_ref().or(s.agent_sid.as_ref()) {
        if is_valid_sid(given) {
            return given.clone();
        }
        tracing::info!("deriving the sid from {given:?}, which is not itself a sid");
        return derive_sid(given);
    }
    match &s.host_session_id {
        Some(id) => derive_sid(id),
        None => mint_sid(),
    }
}

/// The sid a sidecar with these sources would use, when it is not random:
/// given (flag, `BLEMEES_AGENT_SID`) or derived from the host's session id.
/// Hooks use it to find their session's sidecar.
pub(crate) fn stable_sid(s: &Sources) -> Option<String> {
    if s.flag_sid.is_some() || s.agent_sid.is_some() || s.host_session_id.is_some() {
        Some(resolve_sid(s))
    } else {
        None
    }
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

/// A stable sid for `seed`: `sess_` + the first 96 bits of a SHA-256, in the
/// URL-safe alphabet of minted sids.
pub(crate) fn derive_sid(seed: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let digest = Sha256::new()
        .chain_update(SID_DERIVATION_DOMAIN)
        .chain_update(seed.as_bytes())
        .finalize();
    let mut sid = String::from(SID_PREFIX);
    // 12 bytes = 96 bits = 16 characters of 6 bits.
    for chunk in digest[..12].chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            sid.push(ALPHABET[((n >> shift) & 63) as usize] as char);
        }
    }
    sid
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_ne!(derive_sid("a"), derive_sid("b"));
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
