//! What the API says about the control plane's records: its own shapes, with RFC 3339 times and
//! durations in seconds, so that the wire contract (and the OpenAPI document) stays put when the
//! store's model changes. Secrets (verifiers, token hashes) have no field here to leak through.

use jitgate_control::audit::ChainedEvent;
use jitgate_control::model::{
    rfc3339, Approval, Credential, Grant, GrantEnd, Millis, Request, SessionRecord,
};
use serde::Serialize;
use serde_json::value::RawValue;

fn time(ms: Millis) -> String {
    rfc3339(ms)
}

fn maybe_time(ms: Option<Millis>) -> Option<String> {
    ms.map(rfc3339)
}

#[derive(Debug, Serialize)]
pub struct RequestView {
    pub id: String,
    pub subject: String,
    pub resource: String,
    pub reason: String,
    pub duration_seconds: i64,
    /// `pending`, `approved`, `denied`, `cancelled` or `expired`.
    pub status: &'static str,
    pub created_at: String,
    /// When a pending request expires if nobody decides.
    pub expires_at: String,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    pub approvals_required: u32,
    pub approvals: Vec<ApprovalView>,
    pub read_only: bool,
    pub grant_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ApprovalView {
    pub approver: String,
    /// `approve` or `deny`.
    pub decision: &'static str,
    pub comment: String,
    pub at: String,
}

impl From<&Approval> for ApprovalView {
    fn from(a: &Approval) -> Self {
        ApprovalView {
            approver: a.approver.clone(),
            decision: a.decision.as_str(),
            comment: a.comment.clone(),
            at: time(a.at),
        }
    }
}

impl From<&Request> for RequestView {
    fn from(r: &Request) -> Self {
        RequestView {
            id: r.id.clone(),
            subject: r.subject.clone(),
            resource: r.resource.clone(),
            reason: r.reason.clone(),
            duration_seconds: r.duration_ms / 1000,
            status: r.state.as_str(),
            created_at: time(r.created_at),
            expires_at: time(r.expires_at),
            decided_at: maybe_time(r.decided_at),
            decided_by: r.decided_by.clone(),
            approvals_required: r.approvals_required,
            approvals: r.approvals.iter().map(ApprovalView::from).collect(),
            read_only: r.read_only,
            grant_id: r.grant_id.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct GrantView {
    pub id: String,
    pub subject: String,
    pub resource: String,
    /// `active`, `expired` or `revoked`, as of the answer.
    pub status: &'static str,
    pub starts_at: String,
    pub expires_at: String,
    pub granted_by: String,
    pub ended_at: Option<String>,
    pub revoked_by: Option<String>,
    pub read_only: bool,
    pub request_id: Option<String>,
}

impl GrantView {
    pub fn new(g: &Grant, now: Millis) -> GrantView {
        let end = g.end_at(now);
        GrantView {
            id: g.id.clone(),
            subject: g.subject.clone(),
            resource: g.resource.clone(),
            status: match &end {
                None => "active",
                Some(end) => end.as_str(),
            },
            starts_at: time(g.starts_at),
            expires_at: time(g.expires_at),
            granted_by: g.granted_by.clone(),
            ended_at: maybe_time(g.ended_at),
            revoked_by: match &g.end {
                Some(GrantEnd::Revoked { by }) => Some(by.clone()),
                _ => None,
            },
            read_only: g.read_only,
            request_id: g.request_id.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CredentialView {
    pub id: String,
    pub login: String,
    pub grant_id: String,
    pub subject: String,
    pub resource: String,
    pub created_at: String,
    pub expires_at: String,
}

impl From<&Credential> for CredentialView {
    fn from(c: &Credential) -> Self {
        CredentialView {
            id: c.id.clone(),
            login: c.login.clone(),
            grant_id: c.grant_id.clone(),
            subject: c.subject.clone(),
            resource: c.resource.clone(),
            created_at: time(c.created_at),
            expires_at: time(c.expires_at),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SessionView {
    pub id: String,
    pub subject: String,
    pub grant_id: String,
    pub resource: String,
    pub client_addr: String,
    /// The gateway replica the session runs on.
    pub replica: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub end_reason: Option<String>,
    pub bytes_from_client: u64,
    pub bytes_to_client: u64,
}

impl From<&SessionRecord> for SessionView {
    fn from(s: &SessionRecord) -> Self {
        SessionView {
            id: s.id.clone(),
            subject: s.subject.clone(),
            grant_id: s.grant_id.clone(),
            resource: s.resource.clone(),
            client_addr: s.client_addr.clone(),
            replica: s.replica.clone(),
            started_at: time(s.started_at),
            ended_at: maybe_time(s.ended_at),
            end_reason: s.end_reason.clone(),
            bytes_from_client: s.bytes_from_client,
            bytes_to_client: s.bytes_to_client,
        }
    }
}

/// An audit event with its place in the hash chain.
#[derive(Debug, Serialize)]
pub struct AuditView<'a> {
    pub seq: i64,
    pub at: String,
    pub kind: &'a str,
    pub subject: Option<&'a str>,
    pub resource: Option<&'a str>,
    pub grant_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    /// Kind-specific details, exactly as stored and hashed.
    pub detail: &'a RawValue,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

impl<'a> From<&'a ChainedEvent> for AuditView<'a> {
    fn from(e: &'a ChainedEvent) -> Self {
        AuditView {
            seq: e.seq,
            at: time(e.event.at),
            kind: &e.event.kind,
            subject: e.event.subject.as_deref(),
            resource: e.event.resource.as_deref(),
            grant_id: e.event.grant_id.as_deref(),
            session_id: e.event.session_id.as_deref(),
            detail: &e.event.detail,
            prev_hash: &e.prev_hash,
            hash: &e.hash,
        }
    }
}
