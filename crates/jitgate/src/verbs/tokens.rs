//! `tokens list|delete|prune`: the database credentials `connect` minted (the "tokens" a client
//! presents as its password).

use crate::client::{segment, Client};
use crate::output::{emit, text, time, Table};
use serde_json::{json, Value};

pub fn list(
    client: &Client,
    expired: bool,
    limit: Option<usize>,
    as_json: bool,
) -> anyhow::Result<()> {
    let path = if expired {
        "/credentials?expired=true"
    } else {
        "/credentials"
    };
    let credentials = Value::Array(client.get_all(path, limit)?);
    emit(as_json, &credentials, |c| list_text(c, expired));
    Ok(())
}

/// The credentials as a table, one row each.
pub fn list_text(credentials: &Value, expired: bool) -> String {
    let mut table = Table::new(&[
        "ID", "LOGIN", "SUBJECT", "RESOURCE", "GRANT", "CREATED", "EXPIRES",
    ]);
    for c in credentials.as_array().into_iter().flatten() {
        table.row(vec![
            text(c, "id"),
            text(c, "login"),
            text(c, "subject"),
            text(c, "resource"),
            text(c, "grant_id"),
            time(c, "created_at"),
            time(c, "expires_at"),
        ]);
    }
    table.text(if expired {
        "no expired tokens"
    } else {
        "no tokens"
    })
}

pub fn delete(client: &Client, id: &str, as_json: bool) -> anyhow::Result<()> {
    let answer: Value = client.delete(&format!("/credentials/{}", segment(id)))?;
    emit(as_json, &answer, |_| {
        format!("token {id} deleted; it no longer opens new sessions")
    });
    Ok(())
}

pub fn prune(client: &Client, as_json: bool) -> anyhow::Result<()> {
    let answer: Value = client.post("/credentials/prune", &json!({}))?;
    emit(as_json, &answer, prune_text);
    Ok(())
}

/// `pruned 2 expired token(s)`.
pub fn prune_text(answer: &Value) -> String {
    format!("pruned {} expired token(s)", text(answer, "pruned"))
}
