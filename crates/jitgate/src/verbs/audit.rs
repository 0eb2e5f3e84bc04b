//! `audit [--follow] [--json]` and `audit verify`.

use crate::client::{Client, Failure};
use crate::output::{emit, print_json, text, time};
use serde_json::Value;
use std::time::Duration;

/// Events asked for per call: the server's largest page.
const PAGE: usize = 1000;
/// How often `--follow` asks for new events.
const FOLLOW_POLL: Duration = Duration::from_millis(500);

/// Prints the trail from the start; with `follow`, keeps printing new events until interrupted.
/// `--json` prints one event per line (JSON lines), so that a follower's output can be piped.
pub fn show(client: &Client, follow: bool, as_json: bool) -> anyhow::Result<()> {
    let mut after: i64 = 0;
    loop {
        let page: Value = client.get(&format!("/audit?after={after}&limit={PAGE}"))?;
        let events = page.as_array().cloned().unwrap_or_default();
        for event in &events {
            if as_json {
                println!("{event}");
            } else {
                println!("{}", line(event));
            }
            if let Some(seq) = event.get("seq").and_then(Value::as_i64) {
                after = after.max(seq);
            }
        }
        if events.len() < PAGE {
            if !follow {
                return Ok(());
            }
            std::thread::sleep(FOLLOW_POLL);
        }
    }
}

/// `17  2025-01-31 14:05:09Z  grant.revoked  dana  app  g_…  {"by":"dana"}`.
fn line(event: &Value) -> String {
    let mut parts = vec![
        text(event, "seq"),
        time(event, "at"),
        text(event, "kind"),
        text(event, "subject"),
        text(event, "resource"),
    ];
    for id in ["grant_id", "session_id"] {
        if event.get(id).is_some_and(|v| !v.is_null()) {
            parts.push(text(event, id));
        }
    }
    if let Some(detail) = event.get("detail") {
        parts.push(detail.to_string());
    }
    parts.join("  ")
}

/// Asks the server to walk the whole chain; exits non-zero naming the first broken event (with
/// `--json`, after printing the server's answer).
pub fn verify(client: &Client, as_json: bool) -> anyhow::Result<()> {
    let answer: Value = client.get("/audit/verify")?;
    let verdict = verify_text(&answer);
    match &verdict {
        Ok(intact) => emit(as_json, &answer, |_| intact.clone()),
        Err(_) if as_json => print_json(&answer),
        Err(_) => {}
    }
    verdict.map(|_| ()).map_err(Into::into)
}

/// `audit trail intact: N event(s) verified`, or the failure naming the broken event.
pub fn verify_text(answer: &Value) -> Result<String, Failure> {
    let checked = text(answer, "checked");
    if answer.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(format!("audit trail intact: {checked} event(s) verified"));
    }
    let seq = text(answer, "broken_seq");
    let why = text(answer, "message");
    Err(Failure::new(
        "audit_chain_broken",
        format!("audit trail broken at event {seq}: {why} ({checked} event(s) before it verified)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_print_on_one_line() {
        let e = json!({"seq": 3, "at": "2025-01-31T14:05:09.123Z", "kind": "grant.revoked",
            "subject": "alice", "resource": "app", "grant_id": "g_1", "session_id": null,
            "detail": {"by": "dana"}});
        assert_eq!(
            line(&e),
            r#"3  2025-01-31 14:05:09Z  grant.revoked  alice  app  g_1  {"by":"dana"}"#
        );
    }
}
