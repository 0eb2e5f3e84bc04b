//! One readable sentence per audit event, for chat webhooks (Slack's `{"text": …}`).

use crate::audit::{kind, AuditEvent};
use crate::model::rfc3339;
use serde_json::Value;
use std::time::Duration;

/// A sentence such as "alice requested prod-pg for 30m: INC-1234 (request r_xxx)". Text from
/// users is escaped so that it cannot mention `@channel` or forge links in Slack.
pub fn sentence(seq: i64, event: &AuditEvent) -> String {
    let d = event.detail_value();
    let field = |name: &str| field_text(&d, name);
    let who = event.subject.clone().unwrap_or_else(|| "someone".into());
    let resource = event.resource.clone().unwrap_or_default();
    let request = field("request_id");
    let grant = event.grant_id.clone().unwrap_or_default();
    let by = field("by");
    let text = match event.kind.as_str() {
        kind::REQUEST_CREATED => request_created(&d, &who, &resource, &request),
        kind::APPROVAL_ADDED => format!(
            "{by} approved {who}'s request {request} for {resource} ({} of {})",
            field("approvals"),
            field("needed")
        ),
        kind::REQUEST_APPROVED => {
            format!("{who}'s request {request} for {resource} was approved by {by} (grant {grant})")
        }
        kind::REQUEST_DENIED => format!(
            "{by} denied {who}'s request {request} for {resource}: {}",
            field("comment")
        ),
        kind::REQUEST_CANCELLED => format!("{who} cancelled request {request} for {resource}"),
        kind::REQUEST_EXPIRED => {
            format!("{who}'s request {request} for {resource} expired without a decision")
        }
        kind::GRANT_CREATED => {
            let until = d.get("expires_at").and_then(Value::as_i64).map(rfc3339);
            let until = until.unwrap_or_default();
            format!("{who} has access to {resource} until {until} (grant {grant})")
        }
        kind::GRANT_REVOKED => format!("{by} revoked {who}'s grant {grant} on {resource}"),
        kind::GRANT_ENDED => format!("{who} ended their grant {grant} on {resource}"),
        kind::GRANT_EXPIRED => format!("{who}'s grant {grant} on {resource} expired"),
        other if other.starts_with(kind::ALERT_PREFIX) => {
            format!(
                "ALERT {}: {}",
                &other[kind::ALERT_PREFIX.len()..],
                field("message")
            )
        }
        other => plain(other, event.subject.as_deref(), &resource),
    };
    format!("{} [#{seq}]", escape(&text))
}

/// A detail field as text: strings as they are, nothing for null or absent.
fn field_text(d: &Value, name: &str) -> String {
    match d.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// "alice requested prod-pg for 30m: INC-1234 (request r_1; needs 1 approval(s))".
fn request_created(d: &Value, who: &str, resource: &str, request: &str) -> String {
    let duration = d
        .get("duration_ms")
        .and_then(Value::as_u64)
        .map(|ms| humantime::format_duration(Duration::from_secs(ms / 1000)).to_string())
        .unwrap_or_default();
    let next = if d.get("auto_approved") == Some(&Value::Bool(true)) {
        "approved automatically".to_string()
    } else {
        format!("needs {} approval(s)", field_text(d, "approvals_required"))
    };
    let reason = field_text(d, "reason");
    format!("{who} requested {resource} for {duration}: {reason} (request {request}; {next})")
}

/// Any other kind: the kind, by whom, on what.
fn plain(kind: &str, subject: Option<&str>, resource: &str) -> String {
    let mut s = kind.to_string();
    if let Some(subject) = subject {
        s.push_str(&format!(" by {subject}"));
    }
    if !resource.is_empty() {
        s.push_str(&format!(" on {resource}"));
    }
    s
}

/// Slack's three control characters, escaped as its documentation asks.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
