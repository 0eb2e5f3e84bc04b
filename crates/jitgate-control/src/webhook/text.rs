//! One readable sentence per audit event, for chat webhooks (Slack's `{"text": …}`).

use crate::audit::AuditEvent;
use crate::model::rfc3339;
use serde_json::Value;
use std::time::Duration;

/// A sentence such as "alice requested prod-pg for 30m: INC-1234 (request r_xxx)". Text from
/// users is escaped so that it cannot mention `@channel` or forge links in Slack.
pub fn sentence(seq: i64, event: &AuditEvent) -> String {
    let d = event.detail_value();
    let field = |name: &str| -> String {
        match d.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    };
    let who = event.subject.clone().unwrap_or_else(|| "someone".into());
    let resource = event.resource.clone().unwrap_or_default();
    let request = field("request_id");
    let grant = event.grant_id.clone().unwrap_or_default();
    let by = field("by");
    let text = match event.kind.as_str() {
        "request.created" => {
            let duration = d
                .get("duration_ms")
                .and_then(Value::as_u64)
                .map(|ms| humantime::format_duration(Duration::from_secs(ms / 1000)).to_string())
                .unwrap_or_default();
            let next = if d.get("auto_approved") == Some(&Value::Bool(true)) {
                "approved automatically".to_string()
            } else {
                format!("needs {} approval(s)", field("approvals_required"))
            };
            format!(
                "{who} requested {resource} for {duration}: {} (request {request}; {next})",
                field("reason")
            )
        }
        "approval.added" => format!(
            "{by} approved {who}'s request {request} for {resource} ({} of {})",
            field("approvals"),
            field("needed")
        ),
        "request.approved" => {
            format!("{who}'s request {request} for {resource} was approved by {by} (grant {grant})")
        }
        "request.denied" => format!(
            "{by} denied {who}'s request {request} for {resource}: {}",
            field("comment")
        ),
        "request.cancelled" => format!("{who} cancelled request {request} for {resource}"),
        "request.expired" => {
            format!("{who}'s request {request} for {resource} expired without a decision")
        }
        "grant.created" => {
            let until = d
                .get("expires_at")
                .and_then(Value::as_i64)
                .map(rfc3339)
                .unwrap_or_default();
            format!("{who} has access to {resource} until {until} (grant {grant})")
        }
        "grant.revoked" => format!("{by} revoked {who}'s grant {grant} on {resource}"),
        "grant.ended" => format!("{who} ended their grant {grant} on {resource}"),
        "grant.expired" => format!("{who}'s grant {grant} on {resource} expired"),
        kind if kind.starts_with("alert.") => {
            format!("ALERT {}: {}", &kind["alert.".len()..], field("message"))
        }
        kind => {
            let mut s = kind.to_string();
            if let Some(subject) = &event.subject {
                s.push_str(&format!(" by {subject}"));
            }
            if !resource.is_empty() {
                s.push_str(&format!(" on {resource}"));
            }
            s
        }
    };
    format!("{} [#{seq}]", escape(&text))
}

/// Slack's three control characters, escaped as its documentation asks.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
