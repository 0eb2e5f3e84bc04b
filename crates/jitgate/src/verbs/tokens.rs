//! `tokens list|delete|prune`: the database credentials `connect` minted (the "tokens" a client
//! presents as its password).

use crate::client::{segment, Client};
use crate::output::{print_json, text, time, Table};
use serde_json::{json, Value};

pub fn list(client: &Client, expired: bool, as_json: bool) -> anyhow::Result<()> {
    let path = if expired {
        "/credentials?expired=true"
    } else {
        "/credentials"
    };
    let credentials: Value = client.get(path)?;
    if as_json {
        print_json(&credentials);
        return Ok(());
    }
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
    table.print(if expired {
        "no expired tokens"
    } else {
        "no tokens"
    });
    Ok(())
}

pub fn delete(client: &Client, id: &str) -> anyhow::Result<()> {
    let _: Value = client.delete(&format!("/credentials/{}", segment(id)))?;
    println!("token {id} deleted; it no longer opens new sessions");
    Ok(())
}

pub fn prune(client: &Client) -> anyhow::Result<()> {
    let answer: Value = client.post("/credentials/prune", &json!({}))?;
    println!("pruned {} expired token(s)", text(&answer, "pruned"));
    Ok(())
}
