//! Address grammar (SPEC §4): `home:<home>`, `home:<home>#<sid|alias>`, `topic:<name>`,
//! and, with federation (SPEC §16), `home@<node>:<home>[#<sid|alias>]` for a
//! session on another node.

use crate::identity::{is_valid_alias, is_valid_home, is_valid_sid, is_valid_topic};

/// A parsed, validated address. Borrowed from the string it was parsed from, so
/// parsing costs no allocation on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Address<'a> {
    /// A session address.
    Home(HomeAddress<'a>),
    /// A topic address: the name after `topic:`.
    Topic(&'a str),
    /// [ext] A session address on node `node`: `home@<node>:<home>[#…]`.
    Remote(RemoteAddress<'a>),
}

/// `home@<node>:` and the rest of a `home:` address, as that node reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddress<'a> {
    /// The node's name.
    pub node: &'a str,
    /// What follows `home@<node>:`: `<home>[#<sid|alias>]`.
    pub rest: &'a str,
    /// `rest`, parsed.
    pub home: HomeAddress<'a>,
}

impl RemoteAddress<'_> {
    /// The address as its node knows it: `home:<rest>`.
    pub fn local(&self) -> String {
        format!("{HOME_SCHEME}{}", self.rest)
    }
}

const HOME_SCHEME: &str = "home:";

/// `home:…` as node `node`'s address for it: `home@<node>:…`. Other
/// addresses (topics are the same on every node) come back unchanged.
pub fn qualify(address: &str, node: &str) -> String {
    match address.strip_prefix(HOME_SCHEME) {
        Some(rest) => format!("home@{node}:{rest}"),
        None => address.to_owned(),
    }
}

/// A node name: 1 to 64 of `[A-Za-z0-9_-]`, so that it is one token of a NATS
/// subject and cannot be confused with the rest of an address.
pub fn is_valid_node(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `home:<home>` with an optional `#<sid|alias>` target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HomeAddress<'a> {
    /// The home directory part.
    pub home: &'a str,
    /// The part after `#`, if any.
    pub target: Option<Target<'a>>,
}

/// The part after `#`. Sids and aliases cannot be confused: an alias never starts
/// with `sess_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// A session id (`sess_…`).
    Sid(&'a str),
    /// An alias.
    Alias(&'a str),
}

/// Why an address was refused; the text goes into the -32602 error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("address must start with 'home:' or 'topic:'")]
    /// Neither `home:` nor `topic:`.
    Scheme,
    #[error("invalid topic name (non-empty, no leading '/', no '#', at most 256 bytes)")]
    /// A bad topic name.
    Topic,
    #[error("home must be {}", AddressError::HOME_RULE)]
    /// A bad home.
    Home,
    #[error("the part after '#' must be a sid (sess_ + 16 chars) or an alias")]
    /// A bad part after `#`.
    Target,
    #[error("the node of home@<node>: must be 1 to 64 of [A-Za-z0-9_-]")]
    /// [ext] A bad node name in `home@<node>:`.
    Node,
}

impl AddressError {
    /// What a valid home looks like, for error messages.
    pub const HOME_RULE: &'static str =
        "'~', '~/path' or '/path' with no empty, '.' or '..' segment, no trailing '/' and no '#'";
}

impl<'a> Address<'a> {
    /// Parses and validates `s`, borrowing from it.
    pub fn parse(s: &'a str) -> Result<Self, AddressError> {
        if let Some(name) = s.strip_prefix("topic:") {
            return if is_valid_topic(name) {
                Ok(Address::Topic(name))
            } else {
                Err(AddressError::Topic)
            };
        }
        if let Some(qualified) = s.strip_prefix("home@") {
            let (node, rest) = qualified.split_once(':').ok_or(AddressError::Scheme)?;
            if !is_valid_node(node) {
                return Err(AddressError::Node);
            }
            return Ok(Address::Remote(RemoteAddress {
                node,
                rest,
                home: HomeAddress::parse(rest)?,
            }));
        }
        let rest = s.strip_prefix(HOME_SCHEME).ok_or(AddressError::Scheme)?;
        HomeAddress::parse(rest).map(Address::Home)
    }
}

impl<'a> HomeAddress<'a> {
    /// Parses what follows `home:`.
    fn parse(rest: &'a str) -> Result<Self, AddressError> {
        let (home, target) = match rest.split_once('#') {
            Some((home, t)) if is_valid_sid(t) => (home, Some(Target::Sid(t))),
            Some((home, t)) if is_valid_alias(t) => (home, Some(Target::Alias(t))),
            Some(_) => return Err(AddressError::Target),
            None => (rest, None),
        };
        if !is_valid_home(home) {
            return Err(AddressError::Home);
        }
        Ok(HomeAddress { home, target })
    }
}

/// `home:<home>` — the peer id of every session in that home.
pub fn home_address(home: &str) -> String {
    format!("home:{home}")
}

/// `home:<home>#<sid-or-alias>`.
pub fn session_address(home: &str, target: &str) -> String {
    format!("home:{home}#{target}")
}

/// `topic:<name>`.
pub fn topic_address(topic: &str) -> String {
    format!("topic:{topic}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            Address::parse("home:~/p"),
            Ok(Address::Home(HomeAddress {
                home: "~/p",
                target: None
            }))
        );
        assert_eq!(
            Address::parse("home:/tmp#sess_abcdefghijklmnop"),
            Ok(Address::Home(HomeAddress {
                home: "/tmp",
                target: Some(Target::Sid("sess_abcdefghijklmnop"))
            }))
        );
        assert_eq!(
            Address::parse("home:~#architect"),
            Ok(Address::Home(HomeAddress {
                home: "~",
                target: Some(Target::Alias("architect"))
            }))
        );
        assert_eq!(Address::parse("topic:a/b"), Ok(Address::Topic("a/b")));
    }

    #[test]
    fn refuses_malformed() {
        assert_eq!(Address::parse("topic:"), Err(AddressError::Topic));
        assert_eq!(Address::parse("topic:/x"), Err(AddressError::Topic));
        assert_eq!(Address::parse("home:~/a/"), Err(AddressError::Home));
        assert_eq!(Address::parse("home:rel"), Err(AddressError::Home));
        assert_eq!(Address::parse("home:~#Bad"), Err(AddressError::Target));
        assert_eq!(Address::parse("home:~#"), Err(AddressError::Target));
        assert_eq!(Address::parse("home:~#a#b"), Err(AddressError::Target));
        assert_eq!(Address::parse("mailto:x"), Err(AddressError::Scheme));
        assert_eq!(Address::parse(""), Err(AddressError::Scheme));
    }

    #[test]
    fn parses_node_qualified_addresses() {
        let a = Address::parse("home@laptop:~/p#architect").unwrap();
        let Address::Remote(r) = a else {
            panic!("{a:?}")
        };
        assert_eq!((r.node, r.rest), ("laptop", "~/p#architect"));
        assert_eq!(r.home.target, Some(Target::Alias("architect")));
        assert_eq!(r.local(), "home:~/p#architect");
        assert!(matches!(
            Address::parse("home@gpu-1:/srv"),
            Ok(Address::Remote(_))
        ));
        assert_eq!(Address::parse("home@a.b:~"), Err(AddressError::Node));
        assert_eq!(Address::parse("home@:~"), Err(AddressError::Node));
        assert_eq!(Address::parse("home@x"), Err(AddressError::Scheme));
        assert_eq!(Address::parse("home@x:rel"), Err(AddressError::Home));
        assert_eq!(
            qualify("home:~/p#sess_abcdefghijklmnop", "n"),
            "home@n:~/p#sess_abcdefghijklmnop"
        );
        assert_eq!(qualify("topic:t", "n"), "topic:t");
    }

    #[test]
    fn renders() {
        assert_eq!(home_address("~"), "home:~");
        assert_eq!(session_address("/t", "sess_x"), "home:/t#sess_x");
        assert_eq!(topic_address("t"), "topic:t");
    }
}
