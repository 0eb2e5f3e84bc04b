//! `grants [--active]` and `revoke GRANT_ID`.

use crate::client::{segment, Client};
use crate::output::{print_json, text, time, Table};
use serde_json::{json, Value};

pub fn list(client: &Client, active: bool, as_json: bool) -> anyhow::Result<()> {
    let path = if active {
        "/grants?active=true"
    } else {
        "/grants"
    };
    let grants: Value = client.get(path)?;
    if as_json {
        print_json(&grants);
        return Ok(());
    }
    let mut table = Table::new(&[
        "ID",
        "SUBJECT",
        "RESOURCE",
        "STATUS",
        "STARTS",
        "EXPIRES",
        "GRANTED BY",
    ]);
    for g in grants.as_array().into_iter().flatten() {
        table.row(vec![
            text(g, "id"),
            text(g, "subject"),
            text(g, "resource"),
            text(g, "status"),
            time(g, "starts_at"),
            time(g, "expires_at"),
            text(g, "granted_by"),
        ]);
    }
    table.print(if active {
        "no active grants"
    } else {
        "no grants"
    });
    Ok(())
}

pub fn revoke(client: &Client, grant_id: &str) -> anyhow::Result<()> {
    let grant: Value = client.post(&format!("/grants/{}/revoke", segment(grant_id)), &json!({}))?;
    println!(
        "grant {grant_id} of {} on {} is {}; its live sessions end within a second",
        text(&grant, "subject"),
        text(&grant, "resource"),
        text(&grant, "status"),
    );
    Ok(())
}
