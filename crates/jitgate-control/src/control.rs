//! The control plane's front door: every question a protocol front or an admin command asks.

use crate::alerts::{EventAlerts, SessionAlerts};
use crate::audit::{AuditEvent, ChainBreak, ChainVerifier, ChainedEvent};
use crate::clock::Clock;
use crate::directory::Directory;
use crate::identity::IdentityProvider;
use crate::model::{
    new_id, now_millis, random_token, Credential, Grant, GrantEnd, IssuedCredential, Millis,
    SessionEnd, SessionRecord,
};
use crate::notifier::{GrantState, GrantWatch, Notifier};
use crate::policy::{ControlSettings, Policy};
use crate::recorder::{Observers, Recorder, SessionIds, StatementRecord};
use crate::scram::{ScramVerifier, DEFAULT_ITERATIONS};
use crate::store::{Store, StoreError};
use crate::webhook::{WebhookQueues, WebhookRouter};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the scheduler looks at the store for grants ended by another process (an admin
/// command, another replica). Within the same process, ends are signalled at once.
const STORE_POLL: Duration = Duration::from_millis(250);

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
}

/// Why the audit chain could not be verified: it is broken (and where), or unreadable.
#[derive(Debug, thiserror::Error)]
pub enum AuditCheckError {
    #[error("audit chain broken: {0}")]
    Broken(#[from] ChainBreak),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a presented credential does not admit its holder now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("access grant expired")]
    Expired,
    #[error("access grant revoked")]
    Revoked,
    #[error("credential is for resource \"{0}\"")]
    OtherResource(String),
    #[error("access grant not found")]
    NoGrant,
}

impl Refusal {
    /// What to tell a client whose credential `login` was refused on `resource`, whatever the
    /// protocol.
    pub fn client_message(&self, login: &str, resource: &str) -> String {
        match self {
            Refusal::OtherResource(r) => {
                format!("credential \"{login}\" is for resource \"{r}\", not \"{resource}\"")
            }
            other => format!("{other}: credential \"{login}\" no longer admits you"),
        }
    }
}

/// A subject admitted to a resource under a live grant.
#[derive(Debug, Clone)]
pub struct Admission {
    pub subject: String,
    pub grant: Grant,
    pub credential_id: String,
}

/// Events per page when the audit chain is verified.
const VERIFY_PAGE: usize = 5000;

pub struct ControlPlane {
    store: Arc<dyn Store>,
    recorder: Recorder,
    notifier: Notifier,
    policy: Policy,
    identity: Directory,
    clock: Clock,
    session_alerts: SessionAlerts,
    webhook_queues: WebhookQueues,
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
        let (webhooks, webhook_queues) = if settings.webhooks.is_empty() {
            (None, WebhookQueues::default())
        } else {
            let (router, queues) = WebhookRouter::start(&settings.webhooks, settings.webhook_retry);
            (Some(router), queues)
        };
        let observers = Observers {
            alerts: EventAlerts::new(&settings.alerts),
            webhooks,
        };
        let (recorder, _thread) = Recorder::start(store.clone(), observers);
        Arc::new(ControlPlane {
            identity: Directory::new(settings.identity, store.clone()),
            store,
            recorder,
            notifier: Notifier::default(),
            policy: settings.policy,
            clock: settings.clock,
            session_alerts: SessionAlerts::new(&settings.alerts),
            webhook_queues,
        })
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
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

    pub fn audit(&self, event: AuditEvent) {
        self.recorder.audit(event);
    }

    /// Waits until every audit event and session record sent so far is in the store.
    pub fn flush(&self) {
        self.recorder.flush();
    }

    /// Creates a grant starting now, outside the request lifecycle: `jitgate grant`, for admins.
    pub fn issue_grant(
        &self,
        subject: &str,
        resource: &str,
        duration: Duration,
        granted_by: &str,
    ) -> Result<Grant, ControlError> {
        if subject.is_empty() || subject.len() > 128 || subject.chars().any(char::is_control) {
            return Err(ControlError::Invalid(format!(
                "subject name {subject:?} must be 1 to 128 printable characters"
            )));
        }
        let starts_at = self.now();
        let grant = Grant {
            id: new_id("g"),
            subject: subject.to_owned(),
            resource: resource.to_owned(),
            starts_at,
            expires_at: starts_at.saturating_add(duration.as_millis() as Millis),
            granted_by: granted_by.to_owned(),
            ended_at: None,
            end: None,
            read_only: false,
            request_id: None,
        };
        self.store.insert_grant(&grant)?;
        self.audit_grant_created(&grant);
        Ok(grant)
    }

    pub(crate) fn audit_grant_created(&self, grant: &Grant) {
        self.audit(
            AuditEvent::new(
                "grant.created",
                json!({"expires_at": grant.expires_at, "granted_by": grant.granted_by,
                       "read_only": grant.read_only, "request_id": grant.request_id}),
            )
            .subject(&grant.subject)
            .resource(&grant.resource)
            .grant(&grant.id),
        );
    }

    /// Mints a credential for a live grant, expiring with it. The secret is returned once and
    /// only its verifier is kept.
    pub fn issue_credential(&self, grant_id: &str) -> Result<IssuedCredential, ControlError> {
        let grant = self
            .store
            .grant(grant_id)?
            .ok_or_else(|| ControlError::NoSuchGrant(grant_id.to_owned()))?;
        let now = self.now();
        if let Some(end) = grant.end_at(now) {
            return Err(ControlError::GrantNotLive {
                id: grant.id,
                why: end.as_str(),
            });
        }
        let secret = random_token(32);
        let salt: [u8; 16] = rand::random();
        let credential = Credential {
            id: new_id("c"),
            login: format!("{}-{}", login_stem(&grant.subject), random_token(6)),
            grant_id: grant.id.clone(),
            subject: grant.subject.clone(),
            resource: grant.resource.clone(),
            verifier: ScramVerifier::derive(&secret, &salt, DEFAULT_ITERATIONS),
            created_at: now,
            expires_at: grant.expires_at,
        };
        self.store.insert_credential(&credential)?;
        self.audit(
            AuditEvent::new(
                "credential.issued",
                json!({"credential_id": credential.id, "login": credential.login}),
            )
            .subject(&grant.subject)
            .resource(&grant.resource)
            .grant(&grant.id),
        );
        Ok(IssuedCredential { credential, secret })
    }

    /// Ends a grant early: stored, audited, and every live session of it told at once.
    pub fn end_grant(&self, grant_id: &str, end: GrantEnd) -> Result<bool, ControlError> {
        let kind = format!("grant.{}", end.as_str());
        self.end_grant_as(grant_id, end, &kind)
    }

    /// [`ControlPlane::end_grant`] with the audit kind chosen by the caller (`grant.ended` when
    /// the holder gives a grant up).
    pub(crate) fn end_grant_as(
        &self,
        grant_id: &str,
        end: GrantEnd,
        kind: &str,
    ) -> Result<bool, ControlError> {
        let grant = self
            .store
            .grant(grant_id)?
            .ok_or_else(|| ControlError::NoSuchGrant(grant_id.to_owned()))?;
        let ended = self.store.end_grant(grant_id, &end, self.now())?;
        if ended {
            let by = match &end {
                GrantEnd::Revoked { by } => json!(by),
                GrantEnd::Expired => json!(null),
            };
            self.audit(
                AuditEvent::new(kind, json!({ "by": by }))
                    .subject(&grant.subject)
                    .resource(&grant.resource)
                    .grant(grant_id),
            );
        }
        self.notifier.grant_ended(grant_id, &end);
        Ok(ended)
    }

    /// The credential a client names by its login, if any.
    pub fn find_credential(&self, login: &str) -> Result<Option<Credential>, ControlError> {
        Ok(self.store.credential_by_login(login)?)
    }

    /// Whether a credential (already proven by its holder) admits them to `resource` now.
    /// Reads the store, so an end made by another process is seen.
    pub fn admit(&self, credential: &Credential, resource: &str) -> Result<Admission, Refusal> {
        if credential.resource != resource {
            return Err(Refusal::OtherResource(credential.resource.clone()));
        }
        let grant = match self.store.grant(&credential.grant_id) {
            Ok(Some(g)) => g,
            Ok(None) => return Err(Refusal::NoGrant),
            Err(e) => {
                // Fail closed: an unreadable store admits nobody.
                tracing::error!("admission: {e}");
                return Err(Refusal::NoGrant);
            }
        };
        match grant.end_at(self.now()) {
            None => Ok(Admission {
                subject: grant.subject.clone(),
                credential_id: credential.id.clone(),
                grant,
            }),
            Some(GrantEnd::Expired) => Err(Refusal::Expired),
            Some(GrantEnd::Revoked { .. }) => Err(Refusal::Revoked),
        }
    }

    /// Records a new session and subscribes it to its grant's end and to kill requests.
    pub fn open_session(self: &Arc<Self>, admission: &Admission, client_addr: &str) -> Session {
        let record = SessionRecord {
            id: new_id("s"),
            subject: admission.subject.clone(),
            grant_id: admission.grant.id.clone(),
            resource: admission.grant.resource.clone(),
            client_addr: client_addr.to_owned(),
            started_at: now_millis(),
            ended_at: None,
            end_reason: None,
            bytes_from_client: 0,
            bytes_to_client: 0,
        };
        let grant = self
            .notifier
            .watch_grant(&record.grant_id, admission.grant.expires_at);
        let kill = self.notifier.register_session(&record.id);
        self.session_alerts
            .opened(&record, admission.grant.expires_at);
        self.recorder.session_started(record.clone());
        self.audit(
            AuditEvent::new(
                "session.started",
                json!({"client_addr": client_addr, "credential_id": admission.credential_id}),
            )
            .subject(&record.subject)
            .resource(&record.resource)
            .grant(&record.grant_id)
            .session(&record.id),
        );
        Session {
            record,
            grant,
            kill,
            control: self.clone(),
        }
    }

    /// Asks a session running in this process to end; false if none such runs here.
    pub(crate) fn signal_session_kill(&self, session_id: &str, reason: &str) -> bool {
        self.notifier.kill_session(session_id, reason)
    }

    /// Ends grants that expired while nobody was looking (including while jitgate was down) and
    /// closes session records a previous run left open. Called once at start.
    pub fn recover(&self) -> Result<(), ControlError> {
        let now = self.now();
        let orphaned = self.store.end_orphaned_sessions(now, "gateway restarted")?;
        if orphaned > 0 {
            tracing::warn!("{orphaned} session(s) left open by a previous run were closed");
        }
        self.store.delete_expired_tokens(now)?;
        self.enforce_once()
    }

    /// Runs the scheduler until the process ends: expires grants on time and relays ends made by
    /// other processes to this process's sessions.
    pub async fn enforce(self: Arc<Self>) {
        loop {
            let control = self.clone();
            let result = tokio::task::spawn_blocking(move || control.enforce_once()).await;
            match result {
                Ok(Err(e)) => tracing::error!("grant enforcement: {e}"),
                Err(e) => tracing::error!("grant enforcement task failed: {e}"),
                Ok(Ok(())) => {}
            }
            tokio::time::sleep(self.next_tick()).await;
        }
    }

    fn next_tick(&self) -> Duration {
        let now = now_millis();
        self.notifier
            .watched()
            .iter()
            .filter_map(|(_, s)| match s {
                GrantState::Live { expires_at } => Some((*expires_at - now).max(0) as u64),
                GrantState::Ended(_) => None,
            })
            .map(Duration::from_millis)
            .fold(STORE_POLL, Duration::min)
    }

    /// One round of the scheduler: expire grants and pending requests that are due, relay ends
    /// made elsewhere, raise session-near-expiry alerts.
    pub fn enforce_once(&self) -> Result<(), ControlError> {
        let now = self.now();
        self.expire_requests_due(now)?;
        for alert in self.session_alerts.due(now) {
            self.audit(alert);
        }
        let unended = self.store.unended_grants()?;
        for grant in unended.iter().filter(|g| g.expires_at <= now) {
            self.end_grant(&grant.id, GrantEnd::Expired)?;
        }
        // Watched grants that are no longer unended were ended elsewhere.
        for (id, state) in self.notifier.watched() {
            if matches!(state, GrantState::Ended(_)) || unended.iter().any(|g| g.id == id) {
                continue;
            }
            if let Some(end) = self.store.grant(&id)?.and_then(|g| g.end_at(now)) {
                self.notifier.grant_ended(&id, &end);
            }
        }
        Ok(())
    }
}

/// A user name stem from a subject name: letters, digits, `.`, `_`, `-`, at most 32.
fn login_stem(subject: &str) -> String {
    let stem: String = subject
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if stem.is_empty() {
        "user".into()
    } else {
        stem
    }
}

/// Why a session ended, as recorded and told to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStop {
    Grant(GrantEnd),
    Killed(String),
}

/// One live client connection under a grant.
pub struct Session {
    pub record: SessionRecord,
    grant: GrantWatch,
    kill: watch::Receiver<Option<String>>,
    control: Arc<ControlPlane>,
}

impl Session {
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// Resolves when the session must end: its grant ended or someone killed it.
    pub async fn stopped(&mut self) -> SessionStop {
        let killed = async {
            loop {
                if let Some(reason) = self.kill.borrow_and_update().clone() {
                    return reason;
                }
                if self.kill.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            end = self.grant.ended() => SessionStop::Grant(end),
            reason = killed => SessionStop::Killed(reason),
        }
    }

    /// What records statements of this session; usable while [`Session::stopped`] is awaited.
    pub fn auditor(&self) -> SessionAuditor {
        let r = &self.record;
        SessionAuditor {
            ids: Arc::new(SessionIds {
                subject: r.subject.clone(),
                resource: r.resource.clone(),
                grant_id: r.grant_id.clone(),
                session_id: r.id.clone(),
            }),
            control: self.control.clone(),
        }
    }

    /// Records the end of the session.
    pub fn close(self, reason: &str, bytes_from_client: u64, bytes_to_client: u64) {
        let r = &self.record;
        let end = SessionEnd {
            at: now_millis(),
            reason: reason.to_owned(),
            bytes_from_client,
            bytes_to_client,
        };
        self.control.audit(
            AuditEvent::new(
                "session.ended",
                json!({"reason": reason, "bytes_from_client": bytes_from_client, "bytes_to_client": bytes_to_client}),
            )
            .subject(&r.subject)
            .resource(&r.resource)
            .grant(&r.grant_id)
            .session(&r.id),
        );
        self.control.recorder.session_ended(r.id.clone(), end);
        self.control.notifier.unregister_session(&r.id);
        self.control.session_alerts.closed(&r.id);
    }
}

/// Audits the statements of one session.
pub struct SessionAuditor {
    ids: Arc<SessionIds>,
    control: Arc<ControlPlane>,
}

impl SessionAuditor {
    /// Audits a statement (its text, duration, rows and SQLSTATE). The hot path: a channel send
    /// of shared pointers; the event is built and hashed on the recorder thread.
    pub fn statement(
        &self,
        text: Arc<str>,
        duration: Duration,
        rows: Option<u64>,
        sqlstate: Option<[u8; 5]>,
    ) {
        self.control.recorder.statement(StatementRecord {
            session: self.ids.clone(),
            at: now_millis(),
            text,
            duration_us: duration.as_micros() as u64,
            rows,
            sqlstate,
        });
    }

    /// Audits a statement jitgate refused (masking, read-only), as an event of `kind`
    /// (e.g. `masking.refused`, which the masked-refusals alert counts).
    pub fn refused(&self, kind: &str, text: &str, reason: &str) {
        let ids = &self.ids;
        self.control.audit(
            AuditEvent::new(kind, json!({ "text": text, "reason": reason }))
                .subject(&ids.subject)
                .resource(&ids.resource)
                .grant(&ids.grant_id)
                .session(&ids.session_id),
        );
    }
}
