//! `grants [--active]` and `revoke GRANT_ID`.

use crate::client::{segment, Client};
use crate::output::{emit, text, time, Table};
use serde_json::{json, Value};

pub fn list(
    client: &Client,
    active: bool,
    limit: Option<usize>,
    as_json: bool,
) -> anyhow::Result<()> {
    let path = if active {
        "/grants?active=true"
    } else {
        "/grants"
    };
    let grants = Value::Array(client.get_all(path, limit)?);
    emit(as_json, &grants, |g| list_text(g, active));
    Ok(())
}

/// The grants as a table, one row each.
pub fn list_text(grants: &Value, active: bool) -> String {
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
    table.text(if active {
        "no active grants"
    } else {
        "no grants"
    })
}

pub fn revoke(client: &Client, grant_id: &str, as_json: bool) -> anyhow::Result<()> {
    let grant: Value = client.post(&format!("/grants/{}/revoke", segment(grant_id)), &json!({}))?;
    emit(as_json, &grant, revoke_text);
    Ok(())
}

/// `grant g_… of alice on app is revoked; …`.
pub fn revoke_text(grant: &Value) -> String {
    format!(
        "grant {} of {} on {} is {}; its live sessions end within a second",
        text(grant, "id"),
        text(grant, "subject"),
        text(grant, "resource"),
        text(grant, "status"),
    )
}

/// `platform-token GRANT_ID`: a workspace token for the caller's live grant, printed once.
pub fn platform_token(client: &Client, grant_id: &str, as_json: bool) -> anyhow::Result<()> {
    let path = format!("/grants/{}/platform-token", segment(grant_id));
    let token: Value = client.post(&path, &json!({}))?;
    emit(as_json, &token, platform_token_text);
    Ok(())
}

/// The token's value on the first line (for `| head -1`), then what it is.
pub fn platform_token_text(token: &Value) -> String {
    format!(
        "{}\ntoken {} of service principal {} for grant {}, expires {}; shown once: \
         jitgate keeps no copy, and deletes the token when the grant ends",
        text(token, "token"),
        text(token, "token_id"),
        text(token, "on_behalf_of"),
        text(token, "grant_id"),
        text(token, "expires_at"),
    )
}
