//! Sessions: hello, aliases, DM filters, who is listed, and the presence
//! notifications that tell everyone else.

use super::{bug, fanout, frame, respond, Conn, Outcome, Router, Undo};
use crate::clock::Now;
use crate::op::{Op, ReplyId};
use crate::outbox::{ConnId, Out};
use peer_proto::address::{home_address, session_address};
use peer_proto::api::{
    feature, DmFilterResult, HelloParams, HelloResult, ListPeersResult, PeerEntry, Presence,
    SessionEntry, SetAliasResult,
};
use peer_proto::glob::GlobSet;
use peer_proto::{method, ErrorCode, RpcError, PROTOCOL, VERSION};
use std::collections::BTreeSet;

/// A connection that has said hello.
pub(super) struct Session {
    pub(super) sid: String,
    pub(super) home: String,
    /// `home:<home>`.
    pub(super) peer_id: String,
    /// `home:<home>#<sid>`, the `from` of everything it sends.
    pub(super) from: String,
    pub(super) alias: Option<String>,
    /// False for operator and CLI connections: not listed, no joined/left, no share
    /// of home broadcasts or queues.
    pub(super) presence: bool,
    pub(super) dm_filter: GlobSet,
    pub(super) subscriptions: BTreeSet<String>,
}

impl Session {
    fn alias_address(&self) -> Option<String> {
        self.alias.as_ref().map(|a| session_address(&self.home, a))
    }

    /// Presence params about this session at `now`.
    fn presence(&self, now: Now) -> Presence {
        Presence {
            alias: self.alias.clone(),
            peer_id: self.peer_id.clone(),
            previous: None,
            sid: self.sid.clone(),
            ts: now.unix,
        }
    }
}

impl Router {
    pub(super) fn session(&self, conn: ConnId) -> Result<&Session, RpcError> {
        self.conns
            .get(&conn)
            .and_then(|c| c.session.as_ref())
            .ok_or_else(|| bug("a session call before hello"))
    }

    pub(super) fn session_mut(&mut self, conn: ConnId) -> Result<&mut Session, RpcError> {
        self.conns
            .get_mut(&conn)
            .and_then(|c| c.session.as_mut())
            .ok_or_else(|| bug("a session call before hello"))
    }

    /// Frames of `method` to every session but `except`.
    fn broadcast(&self, except: Option<ConnId>, method: &str, params: &Presence) -> Option<Op> {
        let to = self
            .conns
            .iter()
            .filter(|(id, c)| Some(**id) != except && c.session.is_some())
            .map(|(id, _)| *id)
            .collect();
        fanout(to, || Out::Frame(frame(method, params)))
    }

    pub(super) fn hello(
        &mut self,
        conn: ConnId,
        id: ReplyId,
        hello: HelloParams,
        now: Now,
    ) -> Outcome {
        let (presence, ack) = (hello.has_presence(), hello.wants_ack());
        let HelloParams { sid, home, .. } = hello;
        if self.conn_mut(conn)?.session.is_some() {
            return Err(RpcError::new(
                ErrorCode::InvalidRequest,
                "peer.hello already sent on this connection",
            ));
        }
        if self.by_sid.contains_key(&sid) {
            return Err(RpcError::new(
                ErrorCode::SidInUse,
                format!("sid {sid} is already in use"),
            ));
        }
        let mut ops = Vec::new();
        if ack {
            // Before the drain below, so the DMs it hands over are held too.
            ops.push(Op::HoldForAck(conn));
        }
        let session = Session {
            peer_id: home_address(&home),
            from: session_address(&home, &sid),
            sid,
            home,
            alias: None,
            presence,
            dm_filter: GlobSet::everything(),
            subscriptions: BTreeSet::new(),
        };
        if presence {
            self.homes
                .entry(session.home.clone())
                .or_default()
                .push(conn);
            ops.push(Op::Drain {
                to: conn,
                addresses: vec![session.peer_id.clone(), session.from.clone()],
                filter: GlobSet::everything(),
            });
            let joined = session.presence(now);
            ops.extend(self.broadcast(Some(conn), method::PEER_JOINED, &joined));
        }
        self.by_sid.insert(session.sid.clone(), conn);
        self.leases_return(&session.sid, &session.home, now);
        let result = HelloResult {
            features: feature::ALL.iter().map(|f| f.to_string()).collect(),
            peer_id: session.peer_id.clone(),
            protocol: Some(PROTOCOL.to_owned()),
            server_version: VERSION.to_owned(),
            sid: session.sid.clone(),
        };
        self.conn_mut(conn)?.session = Some(session);
        self.journal.push(Undo::Hello(conn));
        ops.extend(respond(conn, id, &result));
        Ok(ops)
    }

    pub(super) fn set_alias(
        &mut self,
        conn: ConnId,
        id: ReplyId,
        alias: Option<String>,
        now: Now,
    ) -> Outcome {
        let session = self.session(conn)?;
        let previous = session.alias.clone();
        let filter = session.dm_filter.clone();
        let new_address = alias.as_ref().map(|a| session_address(&session.home, a));
        if let Some(addr) = &new_address {
            if self.aliases.get(addr).is_some_and(|holder| *holder != conn) {
                let alias = alias.as_deref().unwrap_or_default();
                return Err(RpcError::new(
                    ErrorCode::AliasTaken,
                    format!("alias {alias} is already in use in this home"),
                ));
            }
        }
        let mut ops = Vec::new();
        if let Some(addr) = new_address {
            if alias != previous {
                ops.push(Op::Drain {
                    to: conn,
                    addresses: vec![addr],
                    filter,
                });
            }
        }
        self.assign_alias(conn, alias.clone());
        let session = self.session_mut(conn)?;
        let changed = Presence {
            previous: Some(previous.clone()),
            ..session.presence(now)
        };
        self.journal.push(Undo::Alias { conn, previous });
        ops.extend(self.broadcast(None, method::ALIAS_CHANGED, &changed));
        ops.extend(respond(conn, id, &SetAliasResult { alias, ok: true }));
        Ok(ops)
    }

    /// Gives `conn`'s session the alias `alias` (or none), moving its entry
    /// in the alias index; returns the alias it had. Nothing if the session is
    /// gone (an undo after it closed in the same batch).
    pub(super) fn assign_alias(&mut self, conn: ConnId, alias: Option<String>) -> Option<String> {
        let session = self.conns.get_mut(&conn)?.session.as_mut()?;
        let previous = std::mem::replace(&mut session.alias, alias.clone());
        let home = session.home.clone();
        if let Some(old) = &previous {
            self.aliases.remove(&session_address(&home, old));
        }
        if let Some(new) = alias {
            self.aliases.insert(session_address(&home, &new), conn);
        }
        previous
    }

    pub(super) fn set_dm_filter(
        &mut self,
        conn: ConnId,
        id: ReplyId,
        patterns: GlobSet,
    ) -> Outcome {
        let result = DmFilterResult {
            ok: true,
            patterns: patterns.patterns().to_vec(),
        };
        let previous = std::mem::replace(&mut self.session_mut(conn)?.dm_filter, patterns);
        self.journal.push(Undo::DmFilter { conn, previous });
        Ok(respond(conn, id, &result).into_iter().collect())
    }

    /// `peer.list_peers`: this node's homes, then other nodes'.
    pub(super) fn list_peers(&self) -> ListPeersResult {
        let mut peers = self.local_peers();
        peers.extend(self.remote_peers.values().flatten().cloned());
        ListPeersResult { peers }
    }

    /// This node's homes with live sessions (with presence).
    pub(crate) fn local_peers(&self) -> Vec<PeerEntry> {
        self.homes
            .iter()
            .map(|(home, conns)| PeerEntry {
                peer_id: home_address(home),
                node: None,
                sessions: conns
                    .iter()
                    .filter_map(|c| self.session(*c).ok())
                    .map(|s| SessionEntry {
                        alias: s.alias.clone(),
                        sid: s.sid.clone(),
                        subscriptions: s.subscriptions.iter().cloned().collect(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Takes `session` (of `conn`, already out of its connection) out of every
    /// index: sid, alias, subscriptions, its home's list.
    pub(super) fn forget_session(&mut self, conn: ConnId, s: &Session) {
        self.by_sid.remove(&s.sid);
        if let Some(addr) = s.alias_address() {
            if self.aliases.get(&addr) == Some(&conn) {
                self.aliases.remove(&addr);
            }
        }
        for topic in &s.subscriptions {
            self.forget_subscriber(conn, topic);
        }
        if let Some(list) = self.homes.get_mut(&s.home) {
            list.retain(|c| *c != conn);
            if list.is_empty() {
                self.homes.remove(&s.home);
            }
        }
    }

    /// Forgets everything of `conn`; tells the others if it had presence; the
    /// store then re-queues what it held and the connection is closed.
    pub(super) fn closed(&mut self, conn: ConnId, now: Now) -> Vec<Op> {
        let Some(Conn { session, .. }) = self.conns.remove(&conn) else {
            return Vec::new();
        };
        self.watchers.remove(&conn);
        let mut ops = Vec::new();
        if let Some(s) = session {
            self.forget_session(conn, &s);
            self.leases_orphan(&s.sid, &s.home, now);
            if s.presence {
                ops.extend(self.broadcast(None, method::PEER_LEFT, &s.presence(now)));
            }
        }
        ops.push(Op::Release(conn));
        ops.push(Op::Push {
            to: conn,
            out: Out::Close,
        });
        ops
    }
}
