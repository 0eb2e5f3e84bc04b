//! `sessions` and `sessions kill ID`.

use crate::client::{segment, Client};
use crate::output::{emit, text, time, Table};
use serde_json::{json, Value};

pub fn list(client: &Client, limit: Option<usize>, as_json: bool) -> anyhow::Result<()> {
    let sessions = Value::Array(client.get_all("/sessions", limit)?);
    emit(as_json, &sessions, list_text);
    Ok(())
}

/// The sessions as a table, one row each.
pub fn list_text(sessions: &Value) -> String {
    let mut table = Table::new(&[
        "ID", "SUBJECT", "RESOURCE", "GRANT", "CLIENT", "REPLICA", "STARTED", "ENDED", "REASON",
    ]);
    for s in sessions.as_array().into_iter().flatten() {
        table.row(vec![
            text(s, "id"),
            text(s, "subject"),
            text(s, "resource"),
            text(s, "grant_id"),
            text(s, "client_addr"),
            text(s, "replica"),
            time(s, "started_at"),
            time(s, "ended_at"),
            text(s, "end_reason"),
        ]);
    }
    table.text("no sessions")
}

pub fn kill(client: &Client, id: &str, as_json: bool) -> anyhow::Result<()> {
    let answer: Value = client.post(&format!("/sessions/{}/kill", segment(id)), &json!({}))?;
    emit(as_json, &answer, |_| format!("session {id} is being ended"));
    Ok(())
}
