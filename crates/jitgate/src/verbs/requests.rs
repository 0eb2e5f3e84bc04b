//! `request`, `requests`, `approve`, `deny`, `cancel`: asking for access and deciding on it.

use crate::client::{segment, Client};
use crate::output::{self, emit, text, time, Table};
use serde_json::{json, Value};
use std::time::Duration;

pub fn request(
    client: &Client,
    resource: &str,
    duration: Duration,
    reason: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let body = json!({
        "resource": resource,
        "duration_seconds": duration.as_secs(),
        "reason": reason,
    });
    let request: Value = client.post("/requests", &body)?;
    emit(as_json, &request, request_text);
    Ok(())
}

/// What became of a new request.
pub fn request_text(request: &Value) -> String {
    match text(request, "status").as_str() {
        "approved" => format!(
            "request {} approved at once: grant {}; run `jitgate connect {}`",
            text(request, "id"),
            text(request, "grant_id"),
            text(request, "resource"),
        ),
        status => format!(
            "request {} for {} is {status}; it needs {} approval(s) before {}",
            text(request, "id"),
            text(request, "resource"),
            text(request, "approvals_required"),
            time(request, "expires_at"),
        ),
    }
}

pub fn list(
    client: &Client,
    pending: bool,
    limit: Option<usize>,
    as_json: bool,
) -> anyhow::Result<()> {
    let path = if pending {
        "/requests?pending=true"
    } else {
        "/requests"
    };
    let requests = Value::Array(client.get_all(path, limit)?);
    emit(as_json, &requests, |r| list_text(r, pending));
    Ok(())
}

/// The requests as a table, one row each.
pub fn list_text(requests: &Value, pending: bool) -> String {
    let mut table = Table::new(&[
        "ID",
        "SUBJECT",
        "RESOURCE",
        "DURATION",
        "STATUS",
        "APPROVALS",
        "CREATED",
        "REASON",
    ]);
    for r in requests.as_array().into_iter().flatten() {
        let approvals = format!("{}/{}", approvals(r), text(r, "approvals_required"));
        table.row(vec![
            text(r, "id"),
            text(r, "subject"),
            text(r, "resource"),
            r.get("duration_seconds")
                .and_then(Value::as_u64)
                .map_or("-".into(), output::duration),
            text(r, "status"),
            approvals,
            time(r, "created_at"),
            text(r, "reason"),
        ]);
    }
    table.text(if pending {
        "no pending requests"
    } else {
        "no requests"
    })
}

/// `approve` and `deny`.
pub fn decide(
    client: &Client,
    id: &str,
    approve: bool,
    comment: Option<&str>,
    as_json: bool,
) -> anyhow::Result<()> {
    let verb = if approve { "approve" } else { "deny" };
    let request: Value = client.post(
        &format!("/requests/{}/{verb}", segment(id)),
        &json!({ "comment": comment }),
    )?;
    emit(as_json, &request, decide_text);
    Ok(())
}

/// Where a request stands after a vote.
pub fn decide_text(request: &Value) -> String {
    let id = text(request, "id");
    match text(request, "status").as_str() {
        "approved" => format!(
            "request {id} approved: grant {} for {} on {}",
            text(request, "grant_id"),
            text(request, "subject"),
            text(request, "resource"),
        ),
        "pending" => format!(
            "approval of {id} recorded; it still needs {} more",
            remaining(request)
        ),
        status => format!("request {id} is {status}"),
    }
}

pub fn cancel(client: &Client, id: &str, as_json: bool) -> anyhow::Result<()> {
    let request: Value = client.post(&format!("/requests/{}/cancel", segment(id)), &json!({}))?;
    emit(as_json, &request, |r| {
        format!("request {} is {}", text(r, "id"), text(r, "status"))
    });
    Ok(())
}

fn remaining(request: &Value) -> u64 {
    let required = request
        .get("approvals_required")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    required.saturating_sub(approvals(request))
}

/// Approving votes cast on a request (a deny ends it, so only approvals accumulate).
fn approvals(request: &Value) -> u64 {
    request
        .get("approvals")
        .and_then(Value::as_array)
        .map_or(0, |votes| {
            votes
                .iter()
                .filter(|v| v.get("decision").and_then(Value::as_str) == Some("approve"))
                .count() as u64
        })
}
