//! Sessions: one admitted client connection each, told the moment it must end
//! ([`Session::stopped`]), auditing its statements ([`SessionAuditor`]), and recorded from start
//! to end. [`SessionStop`] is the one place a stop becomes a reason for the record and words
//! for the client, whatever the protocol.

use crate::admission::Admission;
use crate::audit::{kind, AuditEvent};
use crate::control::ControlPlane;
use crate::model::{new_id, now_millis, GrantEnd, SessionEnd, SessionRecord, UpstreamCancel};
use crate::notifier::GrantWatch;
use crate::recorder::{SessionIds, StatementRecord};
use crate::running::RunningSlot;
use jitgate_sqlstate::SqlState;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Why a session must end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStop {
    /// Its grant expired or was revoked.
    Grant(GrantEnd),
    /// An administrator ended it ("ended by dana: …"), or the control plane did (a lost
    /// masking exemption); the text says which.
    Killed(String),
    /// The gateway is shutting down and the session's time to finish is over.
    Shutdown,
}

impl SessionStop {
    /// Why the session ended, for the record (`session.ended`, the session row).
    pub fn reason(&self) -> String {
        match self {
            SessionStop::Grant(GrantEnd::Expired) => "grant expired".to_owned(),
            SessionStop::Grant(GrantEnd::Revoked { by }) => format!("grant revoked by {by}"),
            SessionStop::Killed(why) => format!("killed: {why}"),
            SessionStop::Shutdown => "gateway shutting down".to_owned(),
        }
    }

    /// What the client is told as its session is cut.
    pub fn client_message(&self) -> String {
        let why = match self {
            SessionStop::Grant(GrantEnd::Expired) => "access grant expired".to_owned(),
            SessionStop::Grant(GrantEnd::Revoked { .. }) => "access grant revoked".to_owned(),
            SessionStop::Killed(why) => format!("session ended ({why})"),
            SessionStop::Shutdown => "the gateway is shutting down".to_owned(),
        };
        format!("terminating connection: {why}")
    }
}

/// One live client connection under a grant.
pub struct Session {
    pub record: SessionRecord,
    grant: GrantWatch,
    kill: watch::Receiver<Option<String>>,
    control: Arc<ControlPlane>,
    running: Option<RunningSlot>,
    cancels: Option<watch::Receiver<Option<String>>>,
}

impl ControlPlane {
    /// Records a new session and subscribes it to its grant's end and to kill requests.
    pub fn open_session(self: &Arc<Self>, admission: &Admission, client_addr: &str) -> Session {
        let record = SessionRecord {
            id: new_id("s"),
            subject: admission.subject.clone(),
            grant_id: admission.grant.id.clone(),
            resource: admission.grant.resource.clone(),
            client_addr: client_addr.to_owned(),
            replica: self.replica.clone(),
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
        self.metrics.session_opened(&record.resource);
        let running = self.running_alerts.opened(&record);
        let cancels = self
            .running_alerts
            .cancels()
            .then(|| self.notifier.listen_for_cancels(&record.id));
        self.recorder.session_started(record.clone());
        self.audit(
            AuditEvent::new(
                kind::SESSION_STARTED,
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
            running,
            cancels,
        }
    }

    /// Asks a session running in this process to end; false if none such runs here.
    pub(crate) fn signal_session_kill(&self, session_id: &str, reason: &str) -> bool {
        self.notifier.kill_session(session_id, reason)
    }
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

    /// Records, in the session's row, what cancels the work it starts upstream, so that the
    /// next start of the gateway can cancel it should this process die first. Written at once
    /// (a short write to jitgate's own store); never audited or shown.
    pub fn set_upstream_cancel(&self, cancel: UpstreamCancel) {
        if let Err(e) = self
            .control
            .store
            .record_upstream_cancel(&self.record, &cancel)
        {
            tracing::error!(session = %self.record.id, "recording the upstream cancel key: {e}");
        }
    }

    /// Where a rule's cancel of the running statement arrives (with what the client is told),
    /// when a `long_statement` rule cancels; the front cancels upstream when it changes.
    pub fn statement_cancels(&self) -> Option<watch::Receiver<Option<String>>> {
        self.cancels.clone()
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
            running: self.running.clone(),
        }
    }

    /// Records the end of the session.
    pub fn close(self, reason: &str, bytes_from_client: u64, bytes_to_client: u64) {
        let r = &self.record;
        let now = now_millis();
        if let Some(grant_ended_at) = self.grant.ended_at() {
            let late = Duration::from_millis((now - grant_ended_at).max(0) as u64);
            self.control.metrics.session_cut_after_grant_end(late);
        }
        let end = SessionEnd {
            at: now,
            reason: reason.to_owned(),
            bytes_from_client,
            bytes_to_client,
        };
        self.control.audit(
            AuditEvent::new(
                kind::SESSION_ENDED,
                json!({"reason": reason, "bytes_from_client": bytes_from_client, "bytes_to_client": bytes_to_client}),
            )
            .subject(&r.subject)
            .resource(&r.resource)
            .grant(&r.grant_id)
            .session(&r.id),
        );
        self.control.recorder.session_ended(r.id.clone(), end);
        self.control
            .metrics
            .session_closed(&r.resource, bytes_from_client, bytes_to_client);
        self.control.notifier.unregister_session(&r.id);
        self.control.session_alerts.closed(&r.id);
        self.control.running_alerts.closed(&r.id);
    }
}

/// Audits the statements of one session.
pub struct SessionAuditor {
    ids: Arc<SessionIds>,
    control: Arc<ControlPlane>,
    running: Option<RunningSlot>,
}

impl SessionAuditor {
    /// Notes the oldest statement the upstream has not answered yet (its text and when it was
    /// sent), or none, for `long_statement` alerts while it runs. One branch without such rules.
    pub fn running(&self, statement: Option<(&Arc<str>, Instant)>) {
        if let Some(slot) = &self.running {
            crate::running::note(slot, statement);
        }
    }

    /// Audits a statement (its text, duration, rows and SQLSTATE). The hot path: a channel send
    /// of shared pointers; the event is built and hashed on the recorder thread.
    pub fn statement(
        &self,
        text: Arc<str>,
        duration: Duration,
        rows: Option<u64>,
        sqlstate: Option<SqlState>,
    ) {
        self.control.metrics.statement(duration);
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
        self.control.metrics.refused(kind);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stop_has_a_reason_for_the_record_and_words_for_the_client() {
        let cases = [
            (
                SessionStop::Grant(GrantEnd::Expired),
                "grant expired",
                "terminating connection: access grant expired",
            ),
            (
                SessionStop::Grant(GrantEnd::Revoked { by: "dana".into() }),
                "grant revoked by dana",
                "terminating connection: access grant revoked",
            ),
            (
                SessionStop::Killed("ended by dana: INC-7".into()),
                "killed: ended by dana: INC-7",
                "terminating connection: session ended (ended by dana: INC-7)",
            ),
            (
                SessionStop::Shutdown,
                "gateway shutting down",
                "terminating connection: the gateway is shutting down",
            ),
        ];
        for (stop, reason, message) in cases {
            assert_eq!(stop.reason(), reason);
            assert_eq!(stop.client_message(), message);
        }
    }

    #[test]
    fn a_revocation_names_its_revoker_only_in_the_record() {
        let stop = SessionStop::Grant(GrantEnd::Revoked { by: "dana".into() });
        assert!(!stop.client_message().contains("dana"));
    }
}
