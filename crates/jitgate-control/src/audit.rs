//! The audit trail: append-only, each event chained to the one before by a SHA-256 hash, so an
//! edited, deleted or reordered event breaks the chain at a point `verify` can name.

use crate::model::Millis;
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// The kinds of audit event jitgate writes: one name for each, wherever it is written or
/// compared (alerts, webhooks, the fronts, the API).
pub mod kind {
    use crate::model::GrantEnd;

    /// A client's credential or API login was refused.
    pub const LOGIN_FAILED: &str = "login.failed";
    /// A subject logged in through an OpenID Connect provider.
    pub const LOGIN_OIDC: &str = "login.oidc";

    pub const REQUEST_CREATED: &str = "request.created";
    pub const REQUEST_APPROVED: &str = "request.approved";
    pub const REQUEST_DENIED: &str = "request.denied";
    pub const REQUEST_CANCELLED: &str = "request.cancelled";
    pub const REQUEST_EXPIRED: &str = "request.expired";
    /// An approving vote that did not yet decide its request.
    pub const APPROVAL_ADDED: &str = "approval.added";

    pub const GRANT_CREATED: &str = "grant.created";
    pub const GRANT_EXPIRED: &str = "grant.expired";
    pub const GRANT_REVOKED: &str = "grant.revoked";
    /// The holder gave their grant up.
    pub const GRANT_ENDED: &str = "grant.ended";

    pub const CREDENTIAL_ISSUED: &str = "credential.issued";
    pub const CREDENTIAL_DELETED: &str = "credential.deleted";
    pub const CREDENTIALS_PRUNED: &str = "credentials.pruned";

    pub const TOKEN_ISSUED: &str = "token.issued";
    pub const TOKEN_REVOKED: &str = "token.revoked";

    pub const SUBJECT_GROUPS_CHANGED: &str = "subject.groups_changed";
    pub const SUBJECT_DISOWNED: &str = "subject.disowned";

    pub const SESSION_STARTED: &str = "session.started";
    pub const SESSION_ENDED: &str = "session.ended";
    pub const SESSION_KILLED: &str = "session.killed";

    /// A statement a session ran (its text, duration, rows, outcome).
    pub const STATEMENT: &str = "statement";
    /// A statement jitgate refused outright (the guard could not judge it).
    pub const STATEMENT_REFUSED: &str = "statement.refused";
    /// A statement refused because it would read masked data in the clear.
    pub const MASKING_REFUSED: &str = "masking.refused";
    /// A masked session refused because its masking could not be prepared.
    pub const MASKING_UNAVAILABLE: &str = "masking.unavailable";
    /// A write refused under a read-only grant.
    pub const READ_ONLY_REFUSED: &str = "read_only.refused";

    /// jitgate could not log in to a resource's upstream.
    pub const UPSTREAM_FAILED: &str = "upstream.failed";
    /// jitgate asked the upstream to cancel what a session left running (a session a previous
    /// run of the gateway could not end itself).
    pub const UPSTREAM_CANCELLED: &str = "upstream.cancelled";
    /// A running statement cancelled upstream because a `long_statement` rule with
    /// `cancel = true` says it ran too long.
    pub const STATEMENT_CANCELLED: &str = "statement.cancelled";

    /// A change jitgate made in a Databricks workspace (native provisioning, tokens, masks),
    /// with the API's answer.
    pub const DATABRICKS_CHANGED: &str = "databricks.changed";
    /// A workspace change that failed after its retries, with the API's answer.
    pub const DATABRICKS_FAILED: &str = "databricks.failed";
    /// A grant whose subject has no workspace identity: nothing provisioned for it.
    pub const DATABRICKS_NO_IDENTITY: &str = "databricks.no_identity";

    /// Prefix of every alert kind.
    pub const ALERT_PREFIX: &str = "alert.";
    pub const ALERT_LONG_STATEMENT: &str = "alert.long_statement";
    pub const ALERT_MASKED_REFUSALS: &str = "alert.masked_refusals";
    pub const ALERT_FAILED_LOGINS: &str = "alert.failed_logins";
    pub const ALERT_SESSION_NEAR_EXPIRY: &str = "alert.session_near_expiry";
    /// A member or privilege on a governed Databricks group or securable that jitgate did not make.
    pub const ALERT_DATABRICKS_FOREIGN: &str = "alert.databricks_foreign";

    /// The kind recorded when a grant ends this way.
    pub fn grant_end(end: &GrantEnd) -> &'static str {
        match end {
            GrantEnd::Expired => GRANT_EXPIRED,
            GrantEnd::Revoked { .. } => GRANT_REVOKED,
        }
    }
}

/// An event to be recorded. The store assigns its sequence number and hashes.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub at: Millis,
    /// Dotted kind, e.g. `grant.created`, `login.failed`, `session.started`, `statement`.
    pub kind: String,
    pub subject: Option<String>,
    pub resource: Option<String>,
    pub grant_id: Option<String>,
    pub session_id: Option<String>,
    /// Kind-specific details: a JSON object, kept as the exact text that is stored and hashed.
    pub detail: Box<RawValue>,
}

impl AuditEvent {
    pub fn new(kind: &str, detail: serde_json::Value) -> AuditEvent {
        AuditEvent::with_detail(kind, &detail)
    }

    /// An event whose detail is any serialisable value, written straight to JSON text.
    pub fn with_detail<T: Serialize>(kind: &str, detail: &T) -> AuditEvent {
        let detail = serde_json::value::to_raw_value(detail)
            .unwrap_or_else(|e| raw(&serde_json::json!({ "unserialisable": e.to_string() })));
        AuditEvent {
            at: crate::model::now_millis(),
            kind: kind.to_owned(),
            subject: None,
            resource: None,
            grant_id: None,
            session_id: None,
            detail,
        }
    }
    /// The detail parsed back into a JSON value.
    pub fn detail_value(&self) -> serde_json::Value {
        serde_json::from_str(self.detail.get()).unwrap_or(serde_json::Value::Null)
    }

    /// Adds the fields of `extra` (a JSON object) to the detail, which must be an object too.
    pub fn merge(mut self, extra: serde_json::Value) -> Self {
        let mut detail = self.detail_value();
        if let (serde_json::Value::Object(d), serde_json::Value::Object(e)) = (&mut detail, extra) {
            d.extend(e);
            self.detail = raw(&detail);
        }
        self
    }

    pub fn subject(mut self, s: &str) -> Self {
        self.subject = Some(s.to_owned());
        self
    }
    pub fn resource(mut self, r: &str) -> Self {
        self.resource = Some(r.to_owned());
        self
    }
    pub fn grant(mut self, g: &str) -> Self {
        self.grant_id = Some(g.to_owned());
        self
    }
    pub fn session(mut self, s: &str) -> Self {
        self.session_id = Some(s.to_owned());
        self
    }
}

/// An event as stored, with its place in the chain.
#[derive(Debug, Clone, Serialize)]
pub struct ChainedEvent {
    pub seq: i64,
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// JSON text of a value that is known to serialise.
fn raw(value: &serde_json::Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// Stored detail text as a raw value; text that is not JSON (an edited row) is kept as a JSON
/// string of itself, so that it still shows and its hash no longer matches.
pub fn stored_detail(text: String) -> Box<RawValue> {
    RawValue::from_string(text.clone()).unwrap_or_else(|_| raw(&serde_json::Value::String(text)))
}

/// The hash before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of an event at `seq` following `prev_hash`. Every field takes part, each
/// length-prefixed so that no two different events share an encoding.
pub fn chain_hash(prev_hash: &str, seq: i64, event: &AuditEvent) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(prev_hash.as_bytes());
    field(&seq.to_be_bytes());
    field(&event.at.to_be_bytes());
    field(event.kind.as_bytes());
    for opt in [
        &event.subject,
        &event.resource,
        &event.grant_id,
        &event.session_id,
    ] {
        field(opt.as_deref().unwrap_or("\u{0}").as_bytes());
    }
    field(event.detail.get().as_bytes());
    hex(&h.finalize())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Where and how a chain was found broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("event {seq}: content does not match its hash (edited)")]
    Edited { seq: i64 },
    #[error("event {seq}: does not follow event {prev_seq} (an event was deleted or reordered)")]
    Unlinked { seq: i64, prev_seq: i64 },
    #[error("event {seq}: sequence number out of order (expected {expected})")]
    Sequence { seq: i64, expected: i64 },
}

/// Walks events in sequence order, checking each against the one before.
/// `events` must be in stored order; pass the last verified event's hash and seq to resume.
pub struct ChainVerifier {
    prev_hash: String,
    prev_seq: i64,
    pub checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            prev_hash: GENESIS.to_owned(),
            prev_seq: 0,
            checked: 0,
        }
    }
}

impl ChainVerifier {
    pub fn check(&mut self, e: &ChainedEvent) -> Result<(), ChainBreak> {
        if chain_hash(&e.prev_hash, e.seq, &e.event) != e.hash {
            return Err(ChainBreak::Edited { seq: e.seq });
        }
        if e.prev_hash != self.prev_hash {
            return Err(ChainBreak::Unlinked {
                seq: e.seq,
                prev_seq: self.prev_seq,
            });
        }
        if e.seq != self.prev_seq + 1 {
            return Err(ChainBreak::Sequence {
                seq: e.seq,
                expected: self.prev_seq + 1,
            });
        }
        self.prev_hash = e.hash.clone();
        self.prev_seq = e.seq;
        self.checked += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: i64) -> Vec<ChainedEvent> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let event =
                    AuditEvent::new(kind::STATEMENT, json!({"text": format!("select {seq}")}))
                        .subject("alice");
                let hash = chain_hash(&prev, seq, &event);
                let e = ChainedEvent {
                    seq,
                    event,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    fn verify(events: &[ChainedEvent]) -> Result<(), ChainBreak> {
        let mut v = ChainVerifier::default();
        events.iter().try_for_each(|e| v.check(e))
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(()));
    }

    #[test]
    fn an_edited_event_is_named() {
        let mut events = chain(5);
        events[2].event.subject = Some("mallory".into());
        assert_eq!(verify(&events), Err(ChainBreak::Edited { seq: 3 }));
    }

    #[test]
    fn a_deleted_event_is_named() {
        let mut events = chain(5);
        events.remove(2);
        assert_eq!(
            verify(&events),
            Err(ChainBreak::Unlinked {
                seq: 4,
                prev_seq: 2
            })
        );
    }

    #[test]
    fn reordered_events_are_named() {
        let mut events = chain(5);
        events.swap(1, 2);
        assert_eq!(
            verify(&events),
            Err(ChainBreak::Unlinked {
                seq: 3,
                prev_seq: 1
            })
        );
    }
}
