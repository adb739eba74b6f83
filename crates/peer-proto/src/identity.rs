//! Session ids, aliases, topic names and session homes (SPEC §1).

use nanoid::nanoid;
use sha2::{Digest, Sha256};

/// Prefix of every session id.
pub const SID_PREFIX: &str = "sess_";
/// Number of random characters after [`SID_PREFIX`] (16 × 6 bits = 96 bits).
pub const SID_RANDOM_LEN: usize = 16;
/// Prefix of every message id minted by the daemon.
pub const MESSAGE_ID_PREFIX: &str = "msg_";
/// [ext] Prefix of every path lease id.
pub const LEASE_ID_PREFIX: &str = "lease_";
/// Longest alias, in characters (the first one included).
pub const ALIAS_MAX_LEN: usize = 64;
/// Longest topic name, in UTF-8 bytes.
pub const TOPIC_MAX_BYTES: usize = 256;
/// Longest session home, in bytes. Addresses are matched against DM filters and
/// watch globs on every message, so their length bounds that work.
pub const HOME_MAX_BYTES: usize = 1024;

/// The URL-safe alphabet of sids and message ids: `[A-Za-z0-9_-]`.
const URL_SAFE: [char; 64] = [
    'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S',
    'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l',
    'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', '0', '1', '2', '3', '4',
    '5', '6', '7', '8', '9', '_', '-',
];

fn is_url_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// `sess_` followed by exactly 16 characters of `[A-Za-z0-9_-]`.
pub fn is_valid_sid(s: &str) -> bool {
    s.strip_prefix(SID_PREFIX)
        .is_some_and(|rest| rest.len() == SID_RANDOM_LEN && rest.bytes().all(is_url_safe))
}

/// `^[a-z][a-z0-9_-]{0,63}$` and not starting with `sess_` (so an alias can never be
/// mistaken for a sid in an address).
pub fn is_valid_alias(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= ALIAS_MAX_LEN
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
        && !s.starts_with(SID_PREFIX)
}

/// Non-empty, no leading `/`, no `#`, at most 256 UTF-8 bytes.
pub fn is_valid_topic(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('/') && !s.contains('#') && s.len() <= TOPIC_MAX_BYTES
}

/// The canonical *form* of a session home: `~`, `~/clean/rel` or `/clean/abs`, with no
/// empty, `.` or `..` segment and no trailing `/` (except `/` itself), at most
/// [`HOME_MAX_BYTES`] long. The daemon
/// checks only this form; it never touches the file system.
pub fn is_valid_home(s: &str) -> bool {
    fn clean(segments: &str) -> bool {
        segments
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
    }
    // `#` separates a home from the session it names in an address, so a home
    // holding one could never be addressed (0.1 splits there too) and would
    // read queues meant for an alias of a shorter home.
    if s.len() > HOME_MAX_BYTES || s.contains('#') {
        return false;
    }
    match s {
        "~" | "/" => true,
        _ => {
            if let Some(rest) = s.strip_prefix("~/") {
                clean(rest)
            } else if let Some(rest) = s.strip_prefix('/') {
                clean(rest)
            } else {
                false
            }
        }
    }
}

/// `size` random bytes from the thread's CSPRNG. nanoid's default seeds a new
/// generator from the OS (a system call) for every id, which showed in profiles:
/// the daemon mints an id per message.
fn random_bytes(size: usize) -> Vec<u8> {
    use rand::Rng;
    let mut bytes = vec![0u8; size];
    rand::thread_rng().fill(&mut bytes[..]);
    bytes
}

/// [ext] A fresh path lease id: `lease_` and 16 random characters (96 bits),
/// from the same generator as message ids.
pub fn mint_lease_id() -> String {
    format!(
        "{LEASE_ID_PREFIX}{}",
        nanoid!(SID_RANDOM_LEN, &URL_SAFE, random_bytes)
    )
}

/// A fresh random session id (96 random bits).
pub fn mint_sid() -> String {
    format!(
        "{SID_PREFIX}{}",
        nanoid!(SID_RANDOM_LEN, &URL_SAFE, random_bytes)
    )
}

/// Separates derived sids from any other use of the same hash input.
const SID_DERIVATION_DOMAIN: &[u8] = b"blemees-peer sid v1\0";

/// A stable sid for `seed` (a harness's UUID, a host's session id): `sess_` +
/// the first 96 bits of a SHA-256, in the URL-safe alphabet of minted sids. So
/// a sidecar restarted for the same agent session keeps its address, and other
/// tools (hooks, the git guard) can tell which session they act for.
pub fn derive_sid(seed: &str) -> String {
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

/// Digits of a message id's ordered part, in ASCII order so ids compare as their
/// numbers do.
const ORDERED: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A message id for the message numbered `seq`: `msg_`, then `seq` in 8 base-62
/// digits (up to 2.1 × 10^14), then 8 random characters; 16 URL-safe characters
/// after the prefix, as 0.1 mints them. Ids of later messages sort after earlier
/// ones, so the store's index on message ids grows at one end instead of having
/// a random page rewritten on every insert.
pub fn mint_message_id(seq: u64) -> String {
    let mut digits = [b'0'; 8];
    let mut n = seq;
    for d in digits.iter_mut().rev() {
        *d = ORDERED[(n % 62) as usize];
        n /= 62;
    }
    let ordered = std::str::from_utf8(&digits).expect("ASCII digits");
    format!(
        "{MESSAGE_ID_PREFIX}{ordered}{}",
        nanoid!(8, &URL_SAFE, random_bytes)
    )
}

/// The `seq` a [`mint_message_id`] id was minted for, if `id` has that shape.
/// (Ids minted elsewhere, such as by 0.1, may decode to an unrelated number:
/// callers check the pair against what they stored.)
pub fn message_id_seq(id: &str) -> Option<u64> {
    let rest = id.strip_prefix(MESSAGE_ID_PREFIX)?;
    if rest.len() != 16 {
        return None;
    }
    rest.bytes().take(8).try_fold(0u64, |n, b| {
        let digit = ORDERED.iter().position(|&d| d == b)? as u64;
        Some(n * 62 + digit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids() {
        assert!(is_valid_sid("sess_abcdefghijklmnop"));
        assert!(is_valid_sid("sess_A-_0123456789xyz"[..21].as_ref()));
        assert!(!is_valid_sid("sess_abcdefghijklmno"));
        assert!(!is_valid_sid("sess_abcdefghijklmnopq"));
        assert!(!is_valid_sid("sess_abcdefghijklmn!p"));
        assert!(!is_valid_sid("sesx_abcdefghijklmnop"));
        for _ in 0..100 {
            assert!(is_valid_sid(&mint_sid()));
        }
        assert_ne!(mint_sid(), mint_sid());
    }

    #[test]
    fn derived_sids_are_valid_stable_and_distinct() {
        let sid = derive_sid("2d0c7d43-claude");
        assert!(is_valid_sid(&sid), "{sid}");
        assert_eq!(derive_sid("2d0c7d43-claude"), sid);
        assert_ne!(derive_sid("a"), derive_sid("b"));
    }

    #[test]
    fn message_ids_sort_by_seq() {
        let ids: Vec<String> = [0u64, 1, 61, 62, 3843, 1 << 40, 62u64.pow(8) - 1]
            .iter()
            .map(|&s| mint_message_id(s))
            .collect();
        for pair in ids.windows(2) {
            assert!(pair[0][..12] < pair[1][..12], "{pair:?}");
        }
        for id in &ids {
            let rest = id.strip_prefix(MESSAGE_ID_PREFIX).unwrap();
            assert_eq!(rest.len(), 16);
            assert!(rest.bytes().all(is_url_safe), "{id}");
        }
        assert_ne!(mint_message_id(5), mint_message_id(5));
        for seq in [0u64, 7, 62, 1 << 40, 62u64.pow(8) - 1] {
            assert_eq!(message_id_seq(&mint_message_id(seq)), Some(seq));
        }
        assert_eq!(message_id_seq("msg_pVb4ib-EyJJrY4WB"), None);
        assert_eq!(message_id_seq("msg_5"), None);
        assert_eq!(message_id_seq("sess_00000005abcdefgh"), None);
    }

    #[test]
    fn aliases() {
        assert!(is_valid_alias("a"));
        assert!(is_valid_alias("architect"));
        assert!(is_valid_alias("tester-2_b"));
        assert!(is_valid_alias(&format!("a{}", "b".repeat(63))));
        assert!(!is_valid_alias(&format!("a{}", "b".repeat(64))));
        assert!(!is_valid_alias(""));
        assert!(!is_valid_alias("Bad"));
        assert!(!is_valid_alias("1abc"));
        assert!(!is_valid_alias("-abc"));
        assert!(!is_valid_alias("sess_x"));
        assert!(!is_valid_alias("a.b"));
        assert!(!is_valid_alias("aé"));
    }

    #[test]
    fn topics() {
        assert!(is_valid_topic("build-events"));
        assert!(is_valid_topic("a/b"));
        assert!(is_valid_topic("ü"));
        assert!(is_valid_topic(&"x".repeat(256)));
        assert!(!is_valid_topic(&"x".repeat(257)));
        assert!(!is_valid_topic(&"ü".repeat(129)));
        assert!(!is_valid_topic(""));
        assert!(!is_valid_topic("/x"));
        assert!(!is_valid_topic("a#b"));
    }

    #[test]
    fn homes() {
        for ok in ["~", "/", "~/a", "~/a/b.c", "/tmp/scratch", "/a/.b/c.."] {
            assert!(is_valid_home(ok), "{ok}");
        }
        for bad in [
            "", "~/", "~a", "~/a/", "~/a//b", "~/./a", "~/a/..", "/a/", "//", "/a/./b", "relative",
            "./x", "~/",
        ] {
            assert!(!is_valid_home(bad), "{bad}");
        }
    }
}
