//! Slack messages: the sentence as `text`, and for a request waiting for approval Block Kit
//! buttons — Approve and Deny, whose clicks Slack sends to jitgate's interactivity endpoint
//! (`POST /api/v1/slack/actions`), and a link to the request's page in the web console.

use super::text::sentence;
use crate::audit::{kind, AuditEvent};
use serde_json::{json, Value};

/// `action_id` of the Approve button.
pub const APPROVE_ACTION: &str = "jitgate_approve";
/// `action_id` of the Deny button.
pub const DENY_ACTION: &str = "jitgate_deny";

/// The message for event `seq`; `console_url` is the console's address, for the link.
pub fn slack_message(seq: i64, event: &AuditEvent, console_url: Option<&str>) -> Value {
    let text = sentence(seq, event);
    let detail = event.detail_value();
    let waiting = event.kind == kind::REQUEST_CREATED
        && detail.get("auto_approved") != Some(&Value::Bool(true));
    let Some(id) = detail
        .get("request_id")
        .and_then(Value::as_str)
        .filter(|_| waiting)
    else {
        return json!({ "text": text });
    };
    let mut buttons = vec![
        button(APPROVE_ACTION, "Approve", id, Some("primary")),
        button(DENY_ACTION, "Deny", id, Some("danger")),
    ];
    if let Some(console) = console_url {
        buttons.push(json!({
            "type": "button",
            "action_id": "jitgate_open",
            "text": {"type": "plain_text", "text": "Open in jitgate"},
            "url": format!("{console}/requests/{id}"),
        }));
    }
    json!({
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "block_id": "jitgate_decision", "elements": buttons},
        ],
    })
}

fn button(action: &str, label: &str, request_id: &str, style: Option<&str>) -> Value {
    let mut b = json!({
        "type": "button",
        "action_id": action,
        "text": {"type": "plain_text", "text": label},
        "value": request_id,
    });
    if let Some(style) = style {
        b["style"] = json!(style);
    }
    b
}
