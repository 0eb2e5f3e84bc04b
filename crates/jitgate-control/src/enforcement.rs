//! Enforcement: grants end on time, and what a previous run left behind is settled at start.
//!
//! The scheduler ([`ControlPlane::enforce`]) expires grants and pending requests when they are
//! due and relays ends made by other processes (an admin command) to this process's sessions.
//! [`ControlPlane::recover`] runs once at start: it ends what expired while jitgate was down and
//! closes the sessions a dead process left open, each with its `session.ended` event, returning
//! what cancels their upstream work.

use crate::audit::{kind, AuditEvent};
use crate::control::{ControlError, ControlPlane};
use crate::model::{now_millis, GrantEnd, OrphanedSession, UpstreamCancel};
use crate::notifier::GrantState;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How often the scheduler looks at the store for grants ended by another process (an admin
/// command, another replica). Within the same process, ends are signalled at once.
const STORE_POLL: Duration = Duration::from_millis(250);

/// Why sessions closed at start ended.
pub const RESTART_REASON: &str = "gateway restarted";

/// Why sessions end when the store has been out of reach longer than the grace.
pub const STORE_LOST_REASON: &str = "the control plane cannot be reached";

/// Work a session left open by a previous run may still have running upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanedUpstream {
    pub session_id: String,
    pub subject: String,
    pub grant_id: String,
    pub resource: String,
    pub cancel: UpstreamCancel,
}

impl OrphanedUpstream {
    /// An audit event about the orphaned session (the cancel key stays out of it).
    pub fn event(&self, kind: &str, detail: serde_json::Value) -> AuditEvent {
        AuditEvent::new(kind, detail)
            .subject(&self.subject)
            .resource(&self.resource)
            .grant(&self.grant_id)
            .session(&self.session_id)
    }
}

/// What [`ControlPlane::recover`] found and did.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Sessions left open by a previous run, now closed.
    pub closed_sessions: usize,
    /// Their upstream work, for the fronts to cancel.
    pub upstream_cancels: Vec<OrphanedUpstream>,
}

impl ControlPlane {
    /// Ends grants that expired while nobody was looking (including while jitgate was down) and
    /// closes the session records a previous run left open, each with a `session.ended` event.
    /// Called once at start, before any front accepts.
    pub fn recover(&self) -> Result<Recovered, ControlError> {
        self.claim_replica_name()?;
        let now = self.now();
        let orphans = self
            .store
            .end_orphaned_sessions(&self.replica, now, RESTART_REASON)?;
        if !orphans.is_empty() {
            tracing::warn!(
                "{} session(s) left open by a previous run were closed",
                orphans.len()
            );
        }
        let recovered = Recovered {
            closed_sessions: orphans.len(),
            upstream_cancels: orphans.iter().filter_map(orphaned_upstream).collect(),
        };
        for orphan in &orphans {
            self.audit_orphan_ended(orphan);
        }
        self.store.delete_expired_tokens(now)?;
        self.enforce_once()?;
        // Ready from the start: the store has just answered.
        self.store_seen.store(now_millis(), Ordering::Relaxed);
        Ok(recovered)
    }

    /// The end of a session whose process died: how many bytes it moved is not known.
    fn audit_orphan_ended(&self, orphan: &OrphanedSession) {
        let r = &orphan.record;
        self.audit(
            AuditEvent::new(
                kind::SESSION_ENDED,
                json!({"reason": RESTART_REASON, "bytes_from_client": 0, "bytes_to_client": 0,
                       "bytes_unknown": true}),
            )
            .subject(&r.subject)
            .resource(&r.resource)
            .grant(&r.grant_id)
            .session(&r.id),
        );
    }

    /// Runs the scheduler until the process ends: expires grants on time and relays ends and
    /// kills made by other processes (other replicas, admin commands) to this process's
    /// sessions, at once when the store's change feed says so and at the latest every
    /// [`STORE_POLL`]. While the store cannot be reached, sessions go on for the grace and are
    /// then ended (fail closed).
    pub async fn enforce(self: Arc<Self>) {
        let changes = self.store.changes();
        loop {
            let control = self.clone();
            let result = tokio::task::spawn_blocking(move || control.enforce_once()).await;
            match result {
                Ok(Err(e)) => {
                    tracing::error!("grant enforcement: {e}");
                    self.metrics.store_round(None);
                    self.store_unreachable();
                }
                Err(e) => tracing::error!("grant enforcement task failed: {e}"),
                Ok(Ok(())) => self.store_seen.store(now_millis(), Ordering::Relaxed),
            }
            let tick = tokio::time::sleep(self.next_tick());
            match &changes {
                Some(feed) => {
                    tokio::select! {
                        _ = tick => {}
                        _ = feed.notified() => {}
                    }
                }
                None => tick.await,
            }
        }
    }

    /// True while the scheduler reached the store in the last `within`.
    pub fn store_reachable(&self, within: Duration) -> bool {
        let seen = self.store_seen.load(Ordering::Relaxed);
        seen > 0 && now_millis() - seen <= within.as_millis() as i64
    }

    /// The store did not answer: past the grace, every session here ends (none can be checked).
    fn store_unreachable(&self) {
        let seen = self.store_seen.load(Ordering::Relaxed);
        if now_millis() - seen <= self.store_grace.as_millis() as i64 {
            return;
        }
        let ended = self.notifier.kill_all(STORE_LOST_REASON);
        if ended > 0 {
            tracing::error!(
                "the store has not answered for over {:?}: {ended} session(s) ended",
                self.store_grace
            );
        }
    }

    fn next_tick(&self) -> Duration {
        let now = now_millis();
        self.notifier
            .watched()
            .iter()
            .filter_map(|(_, s)| match s {
                GrantState::Live { expires_at } => Some((*expires_at - now).max(0) as u64),
                GrantState::Ended(..) => None,
            })
            .map(Duration::from_millis)
            .fold(STORE_POLL, Duration::min)
    }

    /// One round of the scheduler: expire grants and pending requests that are due, relay ends
    /// made elsewhere, raise session-near-expiry alerts; and, now and then, the replica's
    /// heartbeat and what goes with it ([`crate::liveness`]).
    pub fn enforce_once(&self) -> Result<(), ControlError> {
        self.housekeeping()?;
        let now = self.now();
        self.expire_requests_due(now)?;
        for alert in self.session_alerts.due(now) {
            self.audit(alert);
        }
        let (alerts, cancels) = self.running_alerts.due();
        for alert in alerts {
            self.audit(alert);
        }
        for cancel in cancels {
            self.notifier
                .cancel_statement(&cancel.session_id, &cancel.message);
        }
        let unended = self.store.unended_grants()?;
        self.metrics.store_round(Some(unended.len()));
        for grant in unended.iter().filter(|g| g.expires_at <= now) {
            self.end_grant(&grant.id, GrantEnd::Expired)?;
        }
        for (session, reason) in self.store.session_kills(&self.replica)? {
            self.signal_session_kill(&session, &reason);
        }
        // Watched grants that are no longer unended were ended elsewhere.
        for (id, state) in self.notifier.watched() {
            if matches!(state, GrantState::Ended(..)) || unended.iter().any(|g| g.id == id) {
                continue;
            }
            let Some(grant) = self.store.grant(&id)? else {
                continue;
            };
            if let Some(end) = grant.end_at(now) {
                let at = grant.ended_at.unwrap_or(grant.expires_at);
                self.notifier.grant_ended(&id, &end, at);
            }
        }
        Ok(())
    }
}

pub(crate) fn orphaned_upstream(orphan: &OrphanedSession) -> Option<OrphanedUpstream> {
    let r = &orphan.record;
    Some(OrphanedUpstream {
        session_id: r.id.clone(),
        subject: r.subject.clone(),
        grant_id: r.grant_id.clone(),
        resource: r.resource.clone(),
        cancel: orphan.upstream_cancel.clone()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Admission;
    use crate::model::SessionRecord;
    use crate::store::{SqliteStore, Store};

    fn cancel(process_id: i32) -> UpstreamCancel {
        UpstreamCancel::Postgres {
            addr: "127.0.0.1:5432".parse().expect("address"),
            process_id,
            secret_key: 0x5ec7e7,
        }
    }

    #[test]
    fn sessions_a_dead_process_left_open_end_in_the_audit_trail_and_yield_their_cancels() {
        let dir = tempfile::tempdir().expect("folder");
        let path = dir.path().join("store.sqlite");
        let (killed, quiet, finished) = {
            let store = Arc::new(SqliteStore::open(&path).expect("store"));
            let control = ControlPlane::new(store);
            let grant = control
                .issue_grant("alice", "prod-pg", Duration::from_secs(600), "dana")
                .expect("grant");
            let admission = Admission {
                subject: "alice".into(),
                grant,
                credential_id: "c1".into(),
            };
            let killed = control.open_session(&admission, "192.0.2.7:50000");
            killed.set_upstream_cancel(cancel(4242));
            // A session that never recorded a cancel (one of a front without upstream keys).
            let quiet = control.open_session(&admission, "192.0.2.7:50001");
            let finished = control.open_session(&admission, "192.0.2.7:50002");
            finished.set_upstream_cancel(cancel(7));
            let finished_id = finished.id().to_owned();
            finished.close("client disconnected", 1, 2);
            control.flush();
            // The process dies here: `killed` and `quiet` are never closed.
            (killed.id().to_owned(), quiet.id().to_owned(), finished_id)
        };

        let store = Arc::new(SqliteStore::open(&path).expect("store"));
        let control = ControlPlane::new(store.clone());
        let recovered = control.recover().expect("recover");
        control.flush();

        assert_eq!(recovered.closed_sessions, 2);
        assert_eq!(recovered.upstream_cancels.len(), 1);
        let orphan = &recovered.upstream_cancels[0];
        assert_eq!(orphan.session_id, killed);
        assert_eq!(orphan.resource, "prod-pg");
        assert_eq!(orphan.cancel, cancel(4242));

        let events = control.audit_page(0, 100).expect("audit");
        let ended: Vec<_> = events
            .iter()
            .filter(|e| e.event.kind == kind::SESSION_ENDED)
            .collect();
        for id in [&killed, &quiet] {
            let event = ended
                .iter()
                .find(|e| e.event.session_id.as_deref() == Some(id.as_str()))
                .unwrap_or_else(|| panic!("no session.ended for {id}"));
            let detail = event.event.detail_value();
            assert_eq!(detail["reason"], RESTART_REASON);
            assert_eq!(detail["bytes_unknown"], true);
            assert_eq!(event.event.subject.as_deref(), Some("alice"));
        }
        // The session that ended itself has its one end event, not a second.
        let finished_ends = ended
            .iter()
            .filter(|e| e.event.session_id.as_deref() == Some(finished.as_str()))
            .count();
        assert_eq!(finished_ends, 1);
        // The cancel key is a credential to the upstream: never in the audit trail.
        assert!(events
            .iter()
            .all(|e| !e.event.detail.get().contains(&0x5ec7e7.to_string())));

        let rows: Vec<SessionRecord> = store.sessions(false).expect("sessions");
        assert!(rows.iter().all(|r| r.ended_at.is_some()));
        // A second start finds nothing left to settle.
        let again = control.recover().expect("recover again");
        assert_eq!(again.closed_sessions, 0);
        assert!(again.upstream_cancels.is_empty());
    }
}
