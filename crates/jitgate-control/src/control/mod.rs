//! The control plane's front door: the [`ControlPlane`] every protocol front and admin command
//! holds, how it is built, and what it shares with its parts. Admission, sessions, enforcement
//! and the request lifecycle are in modules of their own, as methods of the same type.

mod grants;

use crate::alerts::{EventAlerts, SessionAlerts};
use crate::audit::{AuditEvent, ChainBreak, ChainVerifier, ChainedEvent};
use crate::clock::Clock;
use crate::directory::Directory;
use crate::enforcement::OrphanedUpstream;
use crate::identity::IdentityProvider;
use crate::metrics::Metrics;
use crate::model::Millis;
use crate::notifier::Notifier;
use crate::policy::{ControlSettings, Policy};
use crate::recorder::{Observers, Recorder};
use crate::running::RunningAlerts;
use crate::store::{Store, StoreError};
use crate::webhook::{WebhookQueues, WebhookRouter};
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no grant {0}")]
    NoSuchGrant(String),
    #[error("grant {id} is not live ({why})")]
    GrantNotLive { id: String, why: &'static str },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "another jitgate is running as replica \"{0}\" on this store (its heartbeat moves); \
         give every replica its own [server] replica name"
    )]
    DuplicateReplica(String),
}

/// Why the audit chain could not be verified: it is broken (and where), or unreadable.
#[derive(Debug, thiserror::Error)]
pub enum AuditCheckError {
    #[error("audit chain broken: {0}")]
    Broken(#[from] ChainBreak),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Events per page when the audit chain is verified.
const VERIFY_PAGE: usize = 5000;

pub struct ControlPlane {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) recorder: Recorder,
    pub(crate) notifier: Notifier,
    policy: Policy,
    identity: Directory,
    clock: Clock,
    pub(crate) session_alerts: SessionAlerts,
    pub(crate) running_alerts: RunningAlerts,
    webhook_queues: WebhookQueues,
    /// Bumped whenever a grant starts or ends in this process: native provisioning listens.
    grant_changes: tokio::sync::watch::Sender<u64>,
    pub(crate) replica: String,
    pub(crate) store_grace: Duration,
    /// When the scheduler last reached the store (milliseconds since the epoch, 0: never).
    pub(crate) store_seen: AtomicI64,
    pub(crate) metrics: Arc<Metrics>,
    /// A platform that carries grants out itself, once installed ([`ControlPlane::set_native`]).
    pub(crate) native: OnceLock<Arc<dyn crate::native::NativeProvisioning>>,
    /// This process among all that ever ran as `replica` (see [`crate::liveness`]).
    pub(crate) instance: String,
    /// When this process last renewed its heartbeat (milliseconds since the epoch).
    pub(crate) last_heartbeat: AtomicI64,
    /// This process holds its replica name (claimed at start).
    pub(crate) name_claimed: AtomicBool,
    pub(crate) name_taken: AtomicBool,
    pub(crate) draining: AtomicBool,
    pub(crate) lost_upstreams: UnboundedSender<Vec<OrphanedUpstream>>,
    pub(crate) lost_upstreams_rx: Mutex<Option<UnboundedReceiver<Vec<OrphanedUpstream>>>>,
}

impl ControlPlane {
    /// Starts a control plane with no policy, users, webhooks or alerts (admin commands, tests);
    /// the recorder thread runs until it is dropped.
    pub fn new(store: Arc<dyn Store>) -> Arc<ControlPlane> {
        ControlPlane::with_settings(store, ControlSettings::default())
    }

    /// Starts a control plane with the policy, users, webhooks and alerts of a configuration.
    pub fn from_config(
        store: Arc<dyn Store>,
        config: &jitgate_config::Config,
    ) -> Arc<ControlPlane> {
        ControlPlane::with_settings(store, ControlSettings::from_config(config))
    }

    /// Starts a control plane; webhook delivery threads start here too.
    pub fn with_settings(store: Arc<dyn Store>, settings: ControlSettings) -> Arc<ControlPlane> {
        let metrics = Arc::new(Metrics::new());
        let (webhooks, webhook_queues) = if settings.webhooks.is_empty() {
            (None, WebhookQueues::default())
        } else {
            let (router, queues) =
                WebhookRouter::start(&settings.webhooks, settings.webhook_retry, &metrics);
            (Some(router), queues)
        };
        let observers = Observers {
            alerts: EventAlerts::new(&settings.alerts),
            webhooks,
        };
        let (recorder, _thread) = Recorder::start(store.clone(), observers, metrics.clone());
        let (lost_upstreams, lost_upstreams_rx) = tokio::sync::mpsc::unbounded_channel();
        Arc::new(ControlPlane {
            identity: Directory::new(settings.identity, store.clone()),
            store,
            recorder,
            notifier: Notifier::default(),
            policy: settings.policy,
            clock: settings.clock,
            session_alerts: SessionAlerts::new(&settings.alerts),
            running_alerts: RunningAlerts::new(&settings.alerts),
            webhook_queues,
            grant_changes: tokio::sync::watch::Sender::new(0),
            replica: settings.replica,
            store_grace: settings.store_grace,
            store_seen: AtomicI64::new(0),
            metrics,
            native: OnceLock::new(),
            instance: crate::model::new_id("i"),
            last_heartbeat: AtomicI64::new(0),
            name_claimed: AtomicBool::new(false),
            name_taken: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            lost_upstreams,
            lost_upstreams_rx: Mutex::new(Some(lost_upstreams_rx)),
        })
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// This gateway's name among the replicas sharing the store.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// This replica's Prometheus metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The access policy this control plane enforces.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Who is who: protocol fronts look up a subject's current groups (masking exemptions).
    /// Local users, then subjects known from an OpenID Connect provider.
    pub fn identity(&self) -> &dyn IdentityProvider {
        &self.identity
    }

    pub(crate) fn directory(&self) -> &Directory {
        &self.identity
    }

    /// Now, by this control plane's clock (milliseconds since the Unix epoch).
    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Writes what is pending and waits, up to `wait`, for webhook deliveries to finish; for a
    /// clean shutdown and for short-lived admin commands. True if everything was delivered.
    pub fn shutdown(&self, wait: Duration) -> bool {
        self.flush();
        self.webhook_queues.drain(Instant::now() + wait)
    }

    /// Checks the whole audit chain, page by page; the number of events checked, or the first
    /// event found edited, missing or out of order.
    pub fn verify_audit(&self) -> Result<u64, AuditCheckError> {
        let mut verifier = ChainVerifier::default();
        let mut after = 0;
        loop {
            let page = self.store.audit_after(after, VERIFY_PAGE)?;
            let Some(last) = page.last() else {
                return Ok(verifier.checked);
            };
            after = last.seq;
            for event in &page {
                verifier.check(event)?;
            }
        }
    }

    /// Up to `limit` stored events after sequence number `after`, in order: for export (JSON
    /// lines) and for following the trail.
    pub fn audit_page(&self, after: i64, limit: usize) -> Result<Vec<ChainedEvent>, ControlError> {
        Ok(self.store.audit_after(after, limit)?)
    }

    /// Signals each grant start and end made in this process (a counter), for what carries
    /// grants out elsewhere (native provisioning); ends made by other processes are seen by
    /// polling the store.
    pub fn grant_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.grant_changes.subscribe()
    }

    pub(crate) fn grant_changed(&self) {
        self.grant_changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn audit(&self, event: AuditEvent) {
        self.recorder.audit(event);
    }

    /// Waits until every audit event and session record sent so far is in the store.
    pub fn flush(&self) {
        self.recorder.flush();
    }
}
