//! The tour itself: each step as a person would want to read it.

use super::Demo;
use crate::client::Client;
use crate::verbs;
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_postgres::SimpleQueryMessage;

/// A random secret for a demo password or key.
pub fn random_secret() -> String {
    jitgate_control::model::random_token(24)
}

const PEEK: &str = "SELECT id, full_name, ssn, email, credit_card, phone, birth_date, notes \
                    FROM customers ORDER BY id LIMIT 3";

pub fn tell(demo: &Demo) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let alice = demo.login("alice")?;
    let dana = demo.login("dana")?;
    let erin = demo.login("erin")?;

    step(
        1,
        "alice asks for access to `demo` (nobody holds standing access)",
    );
    let request: Value = alice.post(
        "/requests",
        &json!({"resource": "demo", "duration_seconds": 900, "reason": "INC-1234: refund investigation"}),
    )?;
    let request_id = text(&request, "id");
    shown(
        "jitgate request demo --duration 15m --reason 'INC-1234: refund investigation'",
        &verbs::requests::request_text(&request),
    );
    demo.check_interrupted()?;

    step(2, "dana (an approver) sees it and approves it");
    let pending: Value = dana.get("/requests?pending=true")?;
    shown(
        "jitgate requests --pending",
        &verbs::requests::list_text(&pending, true),
    );
    let approved: Value = dana.post(
        &format!("/requests/{request_id}/approve"),
        &json!({"comment": "ok for INC-1234"}),
    )?;
    let grant_id = text(&approved, "grant_id");
    shown(
        &format!("jitgate approve {request_id}"),
        &verbs::requests::decide_text(&approved),
    );
    demo.check_interrupted()?;

    step(3, "alice connects and queries: personal data is masked");
    let alice_uri = connect_uri(&alice)?;
    println!("  $ jitgate connect demo   # a credential that lives only as long as the grant");
    rt.block_on(print_query(&alice_uri, PEEK))?;
    demo.check_interrupted()?;

    step(
        4,
        "erin (admin, clear access) runs the same query: clear values",
    );
    let erin_request: Value = erin.post(
        "/requests",
        &json!({"resource": "demo", "duration_seconds": 600, "reason": "audit sample"}),
    )?;
    println!(
        "  erin's request is {} at once (admins are in auto_approve_groups)",
        text(&erin_request, "status")
    );
    let erin_uri = connect_uri(&erin)?;
    let clear_ssn = rt.block_on(async {
        print_query(&erin_uri, PEEK).await?;
        let rows = query(&erin_uri, "SELECT ssn FROM customers WHERE id = 1").await?;
        Ok::<_, anyhow::Error>(rows.first().and_then(|r| r[0].clone()).unwrap_or_default())
    })?;
    demo.check_interrupted()?;

    step(
        5,
        "alice tries to infer the clear SSN of customer 1 with a WHERE clause",
    );
    let probes = [
        format!("SELECT count(*) FROM customers WHERE ssn = '{clear_ssn}'"),
        format!(
            "SELECT count(*) FROM customers WHERE ssn LIKE '{}%'",
            &clear_ssn[..3.min(clear_ssn.len())]
        ),
    ];
    rt.block_on(async {
        for sql in &probes {
            let rows = query(&alice_uri, sql).await?;
            let n = rows.first().and_then(|r| r[0].clone()).unwrap_or_default();
            println!("  {sql}\n    → {n}: the predicate only ever saw masked values");
        }
        match query(&alice_uri, "SELECT ssn::int FROM customers WHERE id = 1").await {
            Ok(_) => println!("  SELECT ssn::int … → no error, nothing learned"),
            Err(e) => println!(
                "  SELECT ssn::int …\n    → error: {e}  (scrubbed: no value in the message)"
            ),
        }
        match query(
            &alice_uri,
            "SELECT * FROM pg_stats WHERE tablename = 'customers'",
        )
        .await
        {
            Ok(_) => bail!("pg_stats should have been refused for a masked subject"),
            Err(e) => println!("  SELECT * FROM pg_stats …\n    → refused: {e}"),
        }
        Ok(())
    })?;
    demo.check_interrupted()?;

    step(
        6,
        "dana revokes alice's grant while alice's session is busy",
    );
    let cut = rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&alice_uri, tokio_postgres::NoTls)
            .await
            .context("alice connects")?;
        tokio::spawn(connection);
        let busy = tokio::spawn(async move {
            let r = client.simple_query("SELECT pg_sleep(60)").await;
            (r, Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let dana = Client::login(&demo.api, "dana", demo.password("dana"))?;
        let revoked = tokio::task::spawn_blocking(move || {
            dana.post::<Value>(&format!("/grants/{grant_id}/revoke"), &json!({}))
        })
        .await??;
        let at = Instant::now();
        shown(
            &format!("jitgate revoke {}", text(&revoked, "id")),
            &verbs::grants::revoke_text(&revoked),
        );
        let (result, ended) = busy.await?;
        Ok::<_, anyhow::Error>((result, ended.saturating_duration_since(at)))
    })?;
    match cut {
        (Err(e), after) => println!(
            "  alice's running query ends {} ms later: {}",
            after.as_millis(),
            pg_message(&e)
        ),
        (Ok(_), _) => bail!("alice's session outlived the revocation"),
    }
    demo.check_interrupted()?;

    step(7, "alice lists her expired credentials and prunes them");
    let expired: Value = alice.get("/credentials?expired=true")?;
    shown(
        "jitgate tokens list --expired",
        &verbs::tokens::list_text(&expired, true),
    );
    let pruned: Value = alice.post("/credentials/prune", &json!({}))?;
    shown("jitgate tokens prune", &verbs::tokens::prune_text(&pruned));
    demo.check_interrupted()?;

    step(
        8,
        "erin verifies the audit trail (hash-chained, append-only)",
    );
    let verified: Value = erin.get("/audit/verify")?;
    let verdict = verbs::audit::verify_text(&verified).unwrap_or_else(|f| f.to_string());
    shown("jitgate audit verify", &verdict);
    println!("\nThat was jitgate. Everything the demo started has been stopped and removed.");
    Ok(())
}

fn step(n: u32, title: &str) {
    println!("\n[{n}/8] {title}");
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// A command as typed and what the CLI prints for it, the same words (`verbs` writes both),
/// indented under the step.
fn shown(command: &str, output: &str) {
    println!("  $ {command}");
    for line in output.lines() {
        println!("  {line}");
    }
}

fn connect_uri(client: &Client) -> anyhow::Result<String> {
    let answer: Value = client.post("/connect", &json!({"resource": "demo"}))?;
    Ok(text(&answer, "uri"))
}

async fn query(uri: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>, anyhow::Error> {
    let (client, connection) = tokio_postgres::connect(uri, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|e| anyhow::anyhow!(pg_message(&e)))?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

async fn print_query(uri: &str, sql: &str) -> anyhow::Result<()> {
    let rows = query(uri, sql).await?;
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| c.clone().unwrap_or_else(|| "NULL".into()))
            .collect();
        println!("  {}", cells.join(" | "));
    }
    Ok(())
}

fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => e.to_string(),
    }
}
