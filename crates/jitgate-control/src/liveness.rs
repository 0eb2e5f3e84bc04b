//! Replica liveness: each `jitgate serve` holds its replica name in the store and heartbeats
//! it, so that
//! * a second live process claiming the same name refuses to start (two processes under one
//!   name would end each other's sessions at every restart);
//! * the sessions of a replica gone silent (killed with SIGKILL, its machine lost) are marked
//!   ended by the others, once fleet-wide, when it has surely ended them itself: its last
//!   heartbeat is older than its `store_grace` plus [`LOST_MARGIN`]
//!   ([`ReplicaBeat::lost_after_ms`]);
//! * `/ready` tells load balancers apart: ready, draining, store unreachable, name taken.

use crate::audit::{kind, AuditEvent};
use crate::control::{ControlError, ControlPlane};
use crate::enforcement::OrphanedUpstream;
use crate::model::{now_millis, OrphanedSession, ReplicaBeat};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often a replica renews its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// How long a starting replica watches a recent heartbeat under its name for a sign of life
/// before taking the name over.
pub const LIVE_WINDOW: Duration = Duration::from_secs(5);

/// Added to a replica's `store_grace` to bound how long its sessions may outlive its last
/// heartbeat: a heartbeat interval, a scheduler round, the forced end of its sessions, clock
/// differences between machines.
pub const LOST_MARGIN: Duration = Duration::from_secs(10);

/// Why sessions of a silent replica were ended by another.
pub const REPLICA_LOST_REASON: &str = "its replica stopped answering";

/// What `/ready` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Shutting down: sessions finish, no new ones are taken.
    Draining,
    StoreUnreachable,
    /// Another process took this replica's name over (this one was presumed dead).
    NameTaken,
}

impl Readiness {
    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Ready => "ready",
            Readiness::Draining => "draining",
            Readiness::StoreUnreachable => "store unreachable",
            Readiness::NameTaken => "replica name taken by another process",
        }
    }
}

impl ControlPlane {
    fn beat(&self, at: i64) -> ReplicaBeat {
        ReplicaBeat {
            name: self.replica.clone(),
            instance: self.instance.clone(),
            heartbeat_at: at,
            lost_after_ms: (self.store_grace + LOST_MARGIN).as_millis() as i64,
        }
    }

    /// Takes this replica's name in the store, at start. A name released at a clean stop, or
    /// whose holder is past its own bound, is taken at once; one with a recent heartbeat is
    /// watched for [`LIVE_WINDOW`]: if the heartbeat moves, another live process holds the
    /// name and this one refuses to start.
    pub(crate) fn claim_replica_name(&self) -> Result<(), ControlError> {
        let store = &self.store;
        loop {
            let held = store.replica(&self.replica)?;
            if held.as_ref().is_some_and(|h| h.instance == self.instance) {
                // Claimed already (a second recovery in the same process).
                return Ok(());
            }
            if let Some(held) = &held {
                let silent_for = now_millis() - held.heartbeat_at;
                if silent_for <= held.lost_after_ms {
                    self.watch_for_life(held)?;
                }
            }
            let previous = held.as_ref().map(|h| h.instance.as_str());
            if store.claim_replica(&self.beat(now_millis()), previous)? {
                self.name_claimed.store(true, Ordering::Relaxed);
                return Ok(());
            }
        }
    }

    /// Waits [`LIVE_WINDOW`] for the heartbeat of `held` to move; an error if it does.
    fn watch_for_life(&self, held: &ReplicaBeat) -> Result<(), ControlError> {
        tracing::info!(
            replica = %self.replica,
            "another process held this replica name until recently; checking for {LIVE_WINDOW:?} that it is gone"
        );
        let until = Instant::now() + LIVE_WINDOW;
        while Instant::now() < until {
            std::thread::sleep(HEARTBEAT_EVERY / 4);
            let now = self.store.replica(&self.replica)?;
            if now.as_ref() != Some(held) {
                return Err(ControlError::DuplicateReplica(self.replica.clone()));
            }
        }
        Ok(())
    }

    /// Gives the name up at a clean stop, so the next start takes it at once.
    pub fn release_replica_name(&self) {
        if let Err(e) = self
            .store
            .replica_heartbeat(&self.replica, &self.instance, 0)
        {
            tracing::warn!("releasing the replica name: {e}");
        }
    }

    /// What the scheduler does besides grants, at most every [`HEARTBEAT_EVERY`]: the heartbeat,
    /// the pending-requests gauge, and ending the sessions of replicas gone silent. Only in a
    /// gateway that claimed its name at start ([`ControlPlane::recover`]), not in admin
    /// commands.
    pub(crate) fn housekeeping(&self) -> Result<(), ControlError> {
        if !self.name_claimed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let now = now_millis();
        let last = self.last_heartbeat.load(Ordering::Relaxed);
        if now - last < HEARTBEAT_EVERY.as_millis() as i64 {
            return Ok(());
        }
        if !self
            .store
            .replica_heartbeat(&self.replica, &self.instance, now)?
        {
            self.name_taken();
        }
        self.last_heartbeat.store(now, Ordering::Relaxed);
        self.metrics
            .requests_pending(self.store.count_pending_requests()?);
        let lost = self
            .store
            .end_lost_replica_sessions(self.now(), REPLICA_LOST_REASON)?;
        if !lost.is_empty() {
            self.lost_sessions_ended(&lost);
        }
        Ok(())
    }

    /// Another process holds this replica's name: it has closed this one's sessions in the
    /// store already, so they end here too, and `/ready` says why.
    fn name_taken(&self) {
        if !self.name_taken.swap(true, Ordering::Relaxed) {
            tracing::error!(
                replica = %self.replica,
                "another process took this replica name over; ending this process's sessions"
            );
        }
        self.notifier
            .kill_all("another process took this replica's name over");
    }

    /// Audits the sessions of silent replicas this one ended, and hands what runs upstream for
    /// them to the fronts to cancel.
    fn lost_sessions_ended(&self, lost: &[OrphanedSession]) {
        tracing::warn!(
            "{} session(s) of replicas that stopped answering were ended",
            lost.len()
        );
        for orphan in lost {
            let r = &orphan.record;
            self.audit(
                AuditEvent::new(
                    kind::SESSION_ENDED,
                    json!({"reason": REPLICA_LOST_REASON, "replica": r.replica,
                           "bytes_from_client": 0, "bytes_to_client": 0, "bytes_unknown": true}),
                )
                .subject(&r.subject)
                .resource(&r.resource)
                .grant(&r.grant_id)
                .session(&r.id),
            );
        }
        let cancels: Vec<OrphanedUpstream> = lost
            .iter()
            .filter_map(crate::enforcement::orphaned_upstream)
            .collect();
        if !cancels.is_empty() {
            // Nobody listens in admin commands and tests without fronts.
            let _ = self.lost_upstreams.send(cancels);
        }
    }

    /// Upstream work of sessions of silent replicas this one ended, for the fronts to cancel.
    /// Only the first caller gets the receiver.
    pub fn take_lost_upstreams(
        &self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<Vec<OrphanedUpstream>>> {
        self.lost_upstreams_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Marks this replica as shutting down: `/ready` answers 503 from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// What `/ready` says: ready only while the store answered within `within`, the name is
    /// this process's, and it is not shutting down.
    pub fn readiness(&self, within: Duration) -> Readiness {
        if self.draining.load(Ordering::Relaxed) {
            Readiness::Draining
        } else if self.name_taken.load(Ordering::Relaxed) {
            Readiness::NameTaken
        } else if !self.store_reachable(within) {
            Readiness::StoreUnreachable
        } else {
            Readiness::Ready
        }
    }
}
