//! Path leases: advisory claims on globs of paths with a TTL, so that agents
//! sharing a repository can see who is editing what (SPEC §13).
//!
//! The router owns the live leases (loaded from the store at start-up) and
//! decides grants and conflicts; the store only persists them. Two leases
//! conflict when their holders differ, some path matches a glob of each
//! ([`peer_proto::glob::Glob::overlaps`], exact) and at least one of them is
//! exclusive. Every change is announced as a message on `topic:leases`.
//!
//! A lease ends at its `expires`, or `grace` seconds after its holder's
//! session ended unless a session with the same sid and home says hello
//! before then. A lease that has ended stops counting at once; the
//! [`Event::Tick`](super::Event::Tick) the event loop sends every
//! `LEASE_TICK` deletes and announces it.

use super::{fanout, frame, respond, Outcome, Router, Undo};
use crate::call::LeaseCall;
use crate::clock::Now;
use crate::op::{Kind, Op, ReplyId, StoredLease};
use crate::outbox::{ConnId, Out};
use peer_proto::address::topic_address;
use peer_proto::api::{
    LeaseEvent, LeaseInfo, LeaseReleaseResult, LeaseRenewParams, LeaseRenewResult, LeaseResult,
    LeasesResult,
};
use peer_proto::glob::GlobSet;
use peer_proto::identity::{mint_lease_id, mint_message_id};
use peer_proto::limits::{LEASES_PER_SESSION, LEASE_TOPIC};
use peer_proto::{method, Message, RpcError};

/// A live lease.
#[derive(Debug, Clone)]
pub(super) struct Held {
    pub(super) stored: StoredLease,
    globs: GlobSet,
    /// When its holder's session ended; `None` while it is connected.
    pub(super) orphaned: Option<f64>,
}

impl Held {
    fn new(stored: StoredLease, orphaned: Option<f64>) -> Self {
        let globs = GlobSet::new(stored.info.paths.clone());
        Held {
            stored,
            globs,
            orphaned,
        }
    }

    fn is_of(&self, sid: &str, home: &str) -> bool {
        self.stored.sid == sid && self.stored.home == home
    }
}

impl Router {
    /// Leases read back from the store at start-up. Their holders' sessions
    /// are gone with the last run: each has the grace period from `now` to
    /// come back.
    pub(crate) fn restore_leases(&mut self, leases: Vec<StoredLease>, now: Now) {
        for stored in leases {
            let id = stored.info.lease_id.clone();
            self.leases.insert(id, Held::new(stored, Some(now.unix)));
        }
    }

    /// Seconds a lease outlives its holder's session.
    pub(crate) fn set_lease_grace(&mut self, secs: f64) {
        self.lease_grace_s = secs;
    }

    fn lease_alive(&self, h: &Held, now: f64) -> bool {
        h.stored.info.expires > now && h.orphaned.is_none_or(|t| t + self.lease_grace_s > now)
    }

    /// The message on `topic:leases` saying `event` of `info`, from its holder.
    fn announce(&mut self, event: &str, info: &LeaseInfo, now: Now) -> Vec<Op> {
        let body = LeaseEvent {
            event: event.to_owned(),
            lease: info.clone(),
        };
        let Ok(body) = serde_json::value::to_raw_value(&body) else {
            return Vec::new();
        };
        let message = Message {
            message_id: mint_message_id(self.next_seq as u64),
            from: info.holder.clone(),
            from_alias: info.alias.clone(),
            to: topic_address(LEASE_TOPIC),
            body,
            reply_to: None,
            ts: now.unix,
            seq: Some(self.next_seq),
        };
        self.next_seq += 1;
        let recipients: Vec<ConnId> = self
            .subscribers
            .get(LEASE_TOPIC)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        let deliveries = fanout(recipients, || Out::Frame(frame(method::MESSAGE, &message)));
        let mut ops = vec![Op::Insert {
            message,
            kind: Kind::Topic,
            queued: false,
        }];
        ops.extend(deliveries);
        ops
    }

    pub(super) fn lease(&mut self, conn: ConnId, id: ReplyId, p: LeaseCall, now: Now) -> Outcome {
        let s = self.session(conn)?;
        let (sid, home, from, alias) = (
            s.sid.clone(),
            s.home.clone(),
            s.from.clone(),
            s.alias.clone(),
        );
        let mut mine = 0;
        let mut conflicts = Vec::new();
        for h in self.leases.values() {
            if !self.lease_alive(h, now.unix) {
                continue;
            }
            if h.is_of(&sid, &home) {
                mine += 1;
            } else if (p.exclusive || h.stored.info.exclusive) && h.globs.overlaps(&p.paths) {
                conflicts.push(h.stored.info.clone());
            }
        }
        if mine >= LEASES_PER_SESSION {
            return Err(RpcError::invalid_params(format!(
                "a session holds at most {LEASES_PER_SESSION} leases; release some first"
            )));
        }
        conflicts.sort_by(|a, b| a.since.total_cmp(&b.since));
        if p.exclusive && !conflicts.is_empty() {
            let result = LeaseResult {
                conflicts,
                granted: false,
                lease: None,
            };
            return Ok(respond(conn, id, &result).into_iter().collect());
        }
        let info = LeaseInfo {
            alias,
            exclusive: p.exclusive,
            expires: now.unix + p.ttl_s as f64,
            holder: from,
            lease_id: mint_lease_id(),
            paths: p.paths.patterns().to_vec(),
            reason: p.reason,
            since: now.unix,
        };
        let stored = StoredLease {
            info: info.clone(),
            sid,
            home,
        };
        self.leases
            .insert(info.lease_id.clone(), Held::new(stored.clone(), None));
        self.journal.push(Undo::LeasePut {
            id: info.lease_id.clone(),
            previous: None,
        });
        let mut ops = vec![Op::LeaseSave(stored)];
        ops.extend(self.announce("granted", &info, now));
        let result = LeaseResult {
            conflicts,
            granted: true,
            lease: Some(info),
        };
        ops.extend(respond(conn, id, &result));
        Ok(ops)
    }

    pub(super) fn lease_renew(
        &mut self,
        conn: ConnId,
        id: ReplyId,
        p: LeaseRenewParams,
        now: Now,
    ) -> Outcome {
        let s = self.session(conn)?;
        let (sid, home) = (s.sid.clone(), s.home.clone());
        let held = self
            .leases
            .get(&p.lease_id)
            .filter(|h| h.is_of(&sid, &home) && self.lease_alive(h, now.unix))
            .cloned()
            .ok_or_else(|| {
                RpcError::invalid_params(format!(
                    "no live lease {} held by this session",
                    p.lease_id
                ))
            })?;
        let mut renewed = held.clone();
        renewed.stored.info.expires = now.unix + p.ttl_s.unwrap_or_default() as f64;
        let info = renewed.stored.info.clone();
        let stored = renewed.stored.clone();
        self.leases.insert(p.lease_id.clone(), renewed);
        self.journal.push(Undo::LeasePut {
            id: p.lease_id,
            previous: Some(held),
        });
        let mut ops = vec![Op::LeaseSave(stored)];
        ops.extend(self.announce("renewed", &info, now));
        ops.extend(respond(conn, id, &LeaseRenewResult { lease: info }));
        Ok(ops)
    }

    /// Ends lease `id` (which exists), announcing it as `event`.
    fn end_lease(&mut self, id: &str, event: &str, now: Now) -> Vec<Op> {
        let Some(held) = self.leases.remove(id) else {
            return Vec::new();
        };
        let info = held.stored.info.clone();
        self.journal.push(Undo::LeaseGone(held));
        let mut ops = vec![Op::LeaseDelete(id.to_owned())];
        ops.extend(self.announce(event, &info, now));
        ops
    }

    pub(super) fn lease_release(
        &mut self,
        conn: ConnId,
        id: ReplyId,
        ids: Option<Vec<String>>,
        now: Now,
    ) -> Outcome {
        let s = self.session(conn)?;
        let (sid, home) = (s.sid.clone(), s.home.clone());
        let released: Vec<String> = self
            .leases
            .iter()
            .filter(|(_, h)| h.is_of(&sid, &home))
            .filter(|(lid, _)| ids.as_ref().is_none_or(|ids| ids.contains(lid)))
            .map(|(lid, _)| lid.clone())
            .collect();
        let mut ops = Vec::new();
        for lid in &released {
            ops.extend(self.end_lease(lid, "released", now));
        }
        ops.extend(respond(conn, id, &LeaseReleaseResult { released }));
        Ok(ops)
    }

    pub(super) fn list_leases(
        &self,
        conn: ConnId,
        id: ReplyId,
        path: Option<GlobSet>,
        now: Now,
    ) -> Outcome {
        let mut leases: Vec<LeaseInfo> = self
            .leases
            .values()
            .filter(|h| self.lease_alive(h, now.unix))
            .filter(|h| path.as_ref().is_none_or(|p| h.globs.overlaps(p)))
            .map(|h| h.stored.info.clone())
            .collect();
        leases.sort_by(|a, b| a.since.total_cmp(&b.since));
        Ok(respond(conn, id, &LeasesResult { leases })
            .into_iter()
            .collect())
    }

    /// The session `sid` in `home` said hello: its leases are no longer
    /// waiting for it.
    pub(super) fn leases_return(&mut self, sid: &str, home: &str, now: Now) {
        let back: Vec<String> = self
            .leases
            .iter()
            .filter(|(_, h)| h.is_of(sid, home) && h.orphaned.is_some())
            .filter(|(_, h)| self.lease_alive(h, now.unix))
            .map(|(id, _)| id.clone())
            .collect();
        for id in back {
            if let Some(h) = self.leases.get_mut(&id) {
                let previous = h.orphaned.take();
                self.journal.push(Undo::LeaseOrphan { id, previous });
            }
        }
    }

    /// The session `sid` in `home` ended: its leases wait `grace` for it.
    pub(super) fn leases_orphan(&mut self, sid: &str, home: &str, now: Now) {
        for h in self.leases.values_mut() {
            if h.is_of(sid, home) && h.orphaned.is_none() {
                h.orphaned = Some(now.unix);
            }
        }
    }

    /// Ends and announces every lease whose time is up.
    pub(super) fn expire_leases(&mut self, now: Now) -> Vec<Op> {
        let ended: Vec<String> = self
            .leases
            .iter()
            .filter(|(_, h)| !self.lease_alive(h, now.unix))
            .map(|(id, _)| id.clone())
            .collect();
        let mut ops = Vec::new();
        for id in ended {
            ops.extend(self.end_lease(&id, "expired", now));
        }
        ops
    }

    /// Puts a lease back as it was (undo).
    pub(super) fn restore_lease(&mut self, held: Held) {
        self.leases.insert(held.stored.info.lease_id.clone(), held);
    }
}
