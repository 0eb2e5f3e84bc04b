//! `sessions` and `sessions kill ID`.

use crate::client::{segment, Client};
use crate::output::{print_json, text, time, Table};
use serde_json::{json, Value};

pub fn list(client: &Client, as_json: bool) -> anyhow::Result<()> {
    let sessions: Value = client.get("/sessions")?;
    if as_json {
        print_json(&sessions);
        return Ok(());
    }
    let mut table = Table::new(&[
        "ID", "SUBJECT", "RESOURCE", "GRANT", "CLIENT", "STARTED", "ENDED", "REASON",
    ]);
    for s in sessions.as_array().into_iter().flatten() {
        table.row(vec![
            text(s, "id"),
            text(s, "subject"),
            text(s, "resource"),
            text(s, "grant_id"),
            text(s, "client_addr"),
            time(s, "started_at"),
            time(s, "ended_at"),
            text(s, "end_reason"),
        ]);
    }
    table.print("no sessions");
    Ok(())
}

pub fn kill(client: &Client, id: &str) -> anyhow::Result<()> {
    let _: Value = client.post(&format!("/sessions/{}/kill", segment(id)), &json!({}))?;
    println!("session {id} is being ended");
    Ok(())
}
