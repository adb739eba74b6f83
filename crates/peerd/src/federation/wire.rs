//! What daemons exchange through JetStream (SPEC §16): the subjects, which
//! name the sending node, and the envelope of each message, which must agree
//! with them.
//!
//! Subjects (`<p>` is the prefix, `--nats-prefix`):
//! * `<p>.dm.<dest>.<origin>`: a DM from node `origin` to a session of `dest`;
//! * `<p>.topic.<origin>`: a publish on node `origin`, for every node;
//! * `<p>.presence.<origin>`: node `origin`'s sessions, over core NATS;
//! * `<p>.inbox.<node>.…`: replies to node `node` (JetStream's answers and the
//!   messages its consumers pull), for it alone.
//!
//! Putting the origin in the subject lets the NATS account decide who may
//! publish what (each node only subjects ending in its own name), and lets the
//! receiver refuse an envelope that claims another origin.

use crate::op::Kind;
use peer_proto::address::{is_valid_node, qualify, Address, Target};
use peer_proto::Message;
use serde::{Deserialize, Serialize};

/// The envelope format's version; a receiver refuses others.
const VERSION: u32 = 1;

/// This node's subjects, and how it reads others'.
#[derive(Debug, Clone)]
pub(crate) struct Subjects {
    prefix: String,
    node: String,
}

/// Whether `prefix` can start a NATS subject: dot-separated tokens of
/// `[A-Za-z0-9_-]`.
pub(crate) fn is_valid_prefix(prefix: &str) -> bool {
    prefix.split('.').all(is_valid_node)
}

impl Subjects {
    /// `prefix` must pass [`is_valid_prefix`] and `node` [`is_valid_node`].
    pub(crate) fn new(prefix: &str, node: &str) -> Subjects {
        Subjects {
            prefix: prefix.to_owned(),
            node: node.to_owned(),
        }
    }

    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// Where this node sends a DM for node `dest`.
    pub(crate) fn dm_to(&self, dest: &str) -> String {
        format!("{}.dm.{dest}.{}", self.prefix, self.node)
    }

    /// Where this node sends its publishes.
    pub(crate) fn my_topics(&self) -> String {
        format!("{}.topic.{}", self.prefix, self.node)
    }

    /// DMs for this node, from any node.
    pub(crate) fn dms_for_me(&self) -> String {
        format!("{}.dm.{}.*", self.prefix, self.node)
    }

    /// Every node's publishes (this node's own are skipped on arrival).
    pub(crate) fn all_topics(&self) -> String {
        format!("{}.topic.*", self.prefix)
    }

    /// Where this node publishes its sessions (core NATS, not the stream).
    pub(crate) fn my_presence(&self) -> String {
        format!("{}.presence.{}", self.prefix, self.node)
    }

    /// Every node's sessions.
    pub(crate) fn all_presence(&self) -> String {
        format!("{}.presence.*", self.prefix)
    }

    /// The node a presence message on `subject` claims to come from.
    pub(crate) fn presence_origin<'s>(&self, subject: &'s str) -> Option<&'s str> {
        let rest = subject
            .strip_prefix(&self.prefix)?
            .strip_prefix(".presence.")?;
        is_valid_node(rest).then_some(rest)
    }

    /// The prefix of this node's reply subjects. NATS clients reply to
    /// `_INBOX.…` by default, and JetStream delivers what a consumer pulls
    /// there too: an account that let every node subscribe to `_INBOX.>` would
    /// let each read the DMs pulled by all. Under its own prefix, a node's
    /// user may be allowed to subscribe to its own replies alone.
    pub(crate) fn inboxes(&self) -> String {
        format!("{}.inbox.{}", self.prefix, self.node)
    }

    /// What the stream keeps.
    pub(crate) fn stream_subjects(&self) -> Vec<String> {
        vec![
            format!("{}.dm.>", self.prefix),
            format!("{}.topic.>", self.prefix),
        ]
    }

    /// The stream's name: the prefix in capitals, dots as `_` (stream names
    /// may hold no dot).
    pub(crate) fn stream_name(&self) -> String {
        self.prefix.to_ascii_uppercase().replace('.', "_")
    }

    /// The kind and origin node a message on `subject` claims, if the subject
    /// is one this node reads (a DM for another node is not).
    pub(crate) fn origin_of<'s>(&self, subject: &'s str) -> Option<(Kind, &'s str)> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix('.')?;
        let (kind, origin) = match rest.split_once('.')? {
            ("topic", origin) => (Kind::Topic, origin),
            ("dm", tail) => {
                let (dest, origin) = tail.split_once('.')?;
                if dest != self.node {
                    return None;
                }
                (Kind::Dm, origin)
            }
            _ => return None,
        };
        is_valid_node(origin).then_some((kind, origin))
    }
}

/// Messages as they cross between nodes, in order: `from` as the origin
/// knows it, `to` as the destination does (`home:…` or `topic:…`), no
/// `seq`. One envelope holds a run of the outbox for one subject, so that a
/// backlog goes out in a few publishes and each is stored whole or not at all.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Envelope {
    pub(crate) v: u32,
    /// The sending node.
    pub(crate) origin: String,
    /// The messages, oldest first.
    pub(crate) messages: Vec<Message>,
}

/// The largest body a message may have to cross between nodes, in bytes, so
/// that it fits, with its envelope, in one NATS message (1 MiB by default;
/// see `max_payload` in federation.md).
pub(crate) const MAX_BODY_BYTES: usize = 512 * 1024;

/// `message` as the outbox keeps it: its JSON, without `seq`.
pub(crate) fn outboxed(message: &Message) -> Vec<u8> {
    let mut message = message.clone();
    message.seq = None;
    serde_json::to_vec(&message).expect("a message always serializes")
}

/// The envelope of outbox payloads ([`outboxed`]) from node `origin`, written
/// around them without parsing them again.
pub(crate) fn seal<'a>(origin: &str, outboxed: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let head = serde_json::to_vec(&serde_json::json!({ "v": VERSION, "origin": origin }))
        .expect("a string serializes");
    let mut out = head[..head.len() - 1].to_vec();
    out.extend_from_slice(br#","messages":["#);
    for (i, m) in outboxed.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(m);
    }
    out.extend_from_slice(b"]}");
    out
}

/// Why an arriving message was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    #[error("not an envelope of version {VERSION}")]
    Malformed,
    #[error("origin {claimed:?} is not the node {subject:?} of its subject")]
    ForgedOrigin { claimed: String, subject: String },
    #[error("sent by this node itself")]
    Own,
    #[error("'from' is not a session address")]
    From,
    #[error("'to' does not fit the subject")]
    To,
}

/// Opens what arrived on `subject` (of `kind`, claiming `origin`): the
/// messages as this node stores them, `from` qualified with the origin node.
/// One bad message refuses the envelope: a daemon never seals one.
pub(crate) fn open(
    me: &Subjects,
    kind: Kind,
    origin: &str,
    payload: &[u8],
) -> Result<Vec<Message>, Refused> {
    let envelope: Envelope = serde_json::from_slice(payload).map_err(|_| Refused::Malformed)?;
    if envelope.v != VERSION {
        return Err(Refused::Malformed);
    }
    if envelope.origin != origin {
        return Err(Refused::ForgedOrigin {
            claimed: envelope.origin,
            subject: origin.to_owned(),
        });
    }
    if origin == me.node {
        return Err(Refused::Own);
    }
    envelope
        .messages
        .into_iter()
        .map(|m| arrived(m, kind, origin))
        .collect()
}

/// One message of an envelope from `origin`, checked and made this node's.
fn arrived(mut m: Message, kind: Kind, origin: &str) -> Result<Message, Refused> {
    match Address::parse(&m.from) {
        Ok(Address::Home(h)) if matches!(h.target, Some(Target::Sid(_))) => {}
        _ => return Err(Refused::From),
    }
    let fits = matches!(
        (Address::parse(&m.to), kind),
        (Ok(Address::Home(_)), Kind::Dm) | (Ok(Address::Topic(_)), Kind::Topic)
    );
    if !fits || !m.ts.is_finite() {
        return Err(Refused::To);
    }
    m.from = qualify(&m.from, origin);
    m.seq = None;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn message(to: &str) -> Message {
        Message {
            message_id: "msg_0000000Aabcdefgh".into(),
            from: "home:~/a#sess_abcdefghijklmnop".into(),
            from_alias: Some("alice".into()),
            to: to.into(),
            body: RawValue::from_string("\"hi\"".into()).unwrap(),
            reply_to: None,
            ts: 1.5,
            seq: Some(9),
        }
    }

    #[test]
    fn subjects_name_both_ends() {
        let a = Subjects::new("team.peer", "laptop");
        let b = Subjects::new("team.peer", "gpu");
        assert_eq!(a.dm_to("gpu"), "team.peer.dm.gpu.laptop");
        assert_eq!(b.origin_of(&a.dm_to("gpu")), Some((Kind::Dm, "laptop")));
        assert_eq!(a.origin_of(&a.dm_to("gpu")), None, "not for me");
        assert_eq!(b.origin_of(&a.my_topics()), Some((Kind::Topic, "laptop")));
        assert_eq!(b.origin_of("team.peer.topic.a.b"), None);
        assert_eq!(b.origin_of("other.topic.laptop"), None);
        assert_eq!(a.stream_name(), "TEAM_PEER");
        assert_eq!(b.presence_origin(&a.my_presence()), Some("laptop"));
        assert_eq!(b.presence_origin("team.peer.presence.a.b"), None);
        assert_eq!(a.inboxes(), "team.peer.inbox.laptop");
        assert_eq!(b.origin_of(&format!("{}.x", a.inboxes())), None);
        assert!(is_valid_prefix("team.peer") && !is_valid_prefix("a..b") && !is_valid_prefix("a*"));
    }

    #[test]
    fn opens_what_agrees_with_its_subject() {
        let gpu = Subjects::new("p", "gpu");
        let one = outboxed(&message("home:~/b#tester"));
        let sealed = seal("laptop", [one.as_slice(), one.as_slice()]);
        let opened = open(&gpu, Kind::Dm, "laptop", &sealed).unwrap();
        assert_eq!(opened.len(), 2);
        let m = &opened[0];
        assert_eq!(m.from, "home@laptop:~/a#sess_abcdefghijklmnop");
        assert_eq!(m.to, "home:~/b#tester");
        assert_eq!(m.seq, None);
        assert_eq!(
            open(&gpu, Kind::Dm, "mallory", &sealed).unwrap_err(),
            Refused::ForgedOrigin {
                claimed: "laptop".into(),
                subject: "mallory".into()
            }
        );
        assert_eq!(
            open(&gpu, Kind::Topic, "laptop", &sealed).unwrap_err(),
            Refused::To
        );
        let own = seal("gpu", [outboxed(&message("topic:t")).as_slice()]);
        assert_eq!(
            open(&gpu, Kind::Topic, "gpu", &own).unwrap_err(),
            Refused::Own
        );
        let mut forged = message("topic:t");
        forged.from = "home@x:~/a#sess_abcdefghijklmnop".into();
        let forged = seal("laptop", [outboxed(&forged).as_slice()]);
        assert_eq!(
            open(&gpu, Kind::Topic, "laptop", &forged).unwrap_err(),
            Refused::From
        );
        assert_eq!(
            open(&gpu, Kind::Dm, "laptop", b"{}").unwrap_err(),
            Refused::Malformed
        );
    }
}
