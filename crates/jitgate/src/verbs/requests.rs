//! `request`, `requests`, `approve`, `deny`, `cancel`: asking for access and deciding on it.

use crate::client::{segment, Client};
use crate::output::{self, print_json, text, time, Table};
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
    if as_json {
        print_json(&request);
        return Ok(());
    }
    match text(&request, "status").as_str() {
        "approved" => println!(
            "request {} approved at once: grant {}; run `jitgate connect {}`",
            text(&request, "id"),
            text(&request, "grant_id"),
            text(&request, "resource"),
        ),
        status => println!(
            "request {} for {} is {status}; it needs {} approval(s) before {}",
            text(&request, "id"),
            text(&request, "resource"),
            text(&request, "approvals_required"),
            time(&request, "expires_at"),
        ),
    }
    Ok(())
}

pub fn list(client: &Client, pending: bool, as_json: bool) -> anyhow::Result<()> {
    let path = if pending {
        "/requests?pending=true"
    } else {
        "/requests"
    };
    let requests: Value = client.get(path)?;
    if as_json {
        print_json(&requests);
        return Ok(());
    }
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
    table.print(if pending {
        "no pending requests"
    } else {
        "no requests"
    });
    Ok(())
}

/// `approve` and `deny`.
pub fn decide(
    client: &Client,
    id: &str,
    approve: bool,
    comment: Option<&str>,
) -> anyhow::Result<()> {
    let verb = if approve { "approve" } else { "deny" };
    let request: Value = client.post(
        &format!("/requests/{}/{verb}", segment(id)),
        &json!({ "comment": comment }),
    )?;
    match text(&request, "status").as_str() {
        "approved" => println!(
            "request {id} approved: grant {} for {} on {}",
            text(&request, "grant_id"),
            text(&request, "subject"),
            text(&request, "resource"),
        ),
        "pending" => println!(
            "approval of {id} recorded; it still needs {} more",
            remaining(&request)
        ),
        status => println!("request {id} is {status}"),
    }
    Ok(())
}

pub fn cancel(client: &Client, id: &str) -> anyhow::Result<()> {
    let request: Value = client.post(&format!("/requests/{}/cancel", segment(id)), &json!({}))?;
    println!("request {id} is {}", text(&request, "status"));
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
