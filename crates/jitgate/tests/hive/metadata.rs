//! The metadata calls (GetCatalogs, GetSchemas, GetTables, GetTableTypes, GetColumns,
//! GetTypeInfo, GetFunctions, GetPrimaryKeys, GetCrossReference) through jitgate with PyHive's
//! Thrift client. A clear subject gets exactly what a direct connection gets. A masked subject
//! gets the catalog's names, types and structure as well (what DESCRIBE shows it too), but
//! every text passes the content detectors, so a value written into a comment does not get
//! through; no metadata call returns table rows. A grant's end ends metadata calls like any
//! other, with the reason.

use crate::connect::{audit, gateway, of_kind, url};
use crate::env::{direct, drive, driver, lines, server};
use jitgate_testkit::free_port;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

fn rules(table: &str) -> String {
    format!(
        r#"
[masking]
key_env = "MASK_KEY"

[[masking.rules]]
resource = "wh"
column = "default.{table}.ssn"
mask = "redact"
clear_for = ["user:bob"]
"#
    )
}

/// Every metadata call, on `table` where it names one.
fn calls(table: &str) -> Vec<String> {
    [
        "meta:catalogs".to_string(),
        "meta:schemas".to_string(),
        format!("meta:tables:{table}"),
        "meta:tabletypes".to_string(),
        format!("meta:columns:{table}"),
        "meta:typeinfo".to_string(),
        "meta:functions:sha%".to_string(),
        format!("meta:primarykeys:{table}"),
        format!("meta:crossref:{table}:{table}"),
    ]
    .into()
}

/// Clear values written into the table's and a column's comment.
const IN_COMMENTS: [&str; 2] = ["078-05-1120", "219-09-9999"];

/// Column `name` of each data row (the first row names the columns).
fn column(rows: &Value, name: &str) -> Vec<Value> {
    let rows = rows.as_array().cloned().unwrap_or_default();
    let Some(header) = rows.first().and_then(Value::as_array) else {
        return Vec::new();
    };
    let Some(at) = header.iter().position(|h| h == name) else {
        return Vec::new();
    };
    rows[1..].iter().map(|r| r[at].clone()).collect()
}

#[test]
fn metadata_calls_answer_clear_subjects_as_is_and_masked_ones_without_hidden_values() {
    let Some(server) = server() else { return };
    let t = format!("meta_{}", free_port());
    direct(
        server,
        &[&format!(
            "sql:create table {t} (id int, ssn string comment 'like 078-05-1120', email string) \
             using parquet comment 'owner ssn 219-09-9999'"
        )],
    );
    let gw = gateway(server, &rules(&t));
    let steps = calls(&t);
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let own = drive(&server.url(), "admin", "x", &steps);
    let bob = gw.grant("bob", "wh", "5m").expect("grant");
    let clear = drive(&url(&gw), &bob.login, &bob.password, &steps);
    let alice = gw.grant("alice", "wh", "5m").expect("grant");
    let masked = drive(&url(&gw), &alice.login, &alice.password, &steps);
    assert_eq!(clear[0]["open"], true, "{clear:?}");
    assert_eq!(masked[0]["open"], true, "{masked:?}");
    // The comments do hold the values upstream, so the masked answers below are scrubbed.
    let own_text: String = own.iter().map(|s| s["rows"].to_string()).collect();
    assert!(IN_COMMENTS.iter().all(|v| own_text.contains(v)), "{own:?}");

    for (i, step) in steps.iter().enumerate() {
        let (o, c, m) = (&own[i + 1], &clear[i + 1], &masked[i + 1]);
        assert_eq!(o["ok"], true, "{step}: {o}");
        assert_eq!(
            c["rows"], o["rows"],
            "{step}: a clear subject's answer differs"
        );
        assert_eq!(m["ok"], true, "{step}: {m}");
        // Same shape: the column names, as many rows.
        let (mr, or) = (m["rows"].as_array(), o["rows"].as_array());
        assert_eq!(mr.map(Vec::len), or.map(Vec::len), "{step}: {m}");
        assert_eq!(m["rows"][0], o["rows"][0], "{step}");
        for value in IN_COMMENTS {
            assert!(
                !m["rows"].to_string().contains(value),
                "{step} leaked {value}: {m}"
            );
        }
    }
    // Names and types are visible to the masked subject, as in DESCRIBE.
    let columns = &masked[5]["rows"];
    assert_eq!(
        column(columns, "COLUMN_NAME"),
        ["id", "ssn", "email"].map(Value::from)
    );
    assert_eq!(
        column(columns, "TYPE_NAME"),
        column(&own[5]["rows"], "TYPE_NAME")
    );
    assert_eq!(
        column(&masked[3]["rows"], "TABLE_NAME"),
        [Value::from(t.as_str())]
    );
    assert!(
        column(&masked[3]["rows"], "REMARKS")[0]
            .as_str()
            .unwrap_or_default()
            .contains("[ssn]"),
        "{masked:?}"
    );

    // Each call is audited with its arguments.
    let events = audit(&gw, |e| {
        of_kind(e, "statement")
            .iter()
            .filter(|d| {
                d["text"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("GetColumns(")
            })
            .count()
            >= 2
    });
    let texts: Vec<String> = of_kind(&events, "statement")
        .iter()
        .filter_map(|d| d["text"].as_str().map(str::to_owned))
        .collect();
    for call in [
        "GetCatalogs(",
        "GetTypeInfo(",
        "GetPrimaryKeys(",
        "GetCrossReference(",
    ] {
        assert!(
            texts.iter().any(|t| t.starts_with(call)),
            "{call} in {texts:?}"
        );
    }
}

/// Metadata calls end with the grant: after a revocation the next one is refused, saying why.
#[test]
fn metadata_calls_end_with_the_grant() {
    let Some(server) = server() else { return };
    let gw = gateway(server, &rules("nothing_here"));
    let grant = gw.grant("alice", "wh", "5m").expect("grant");
    let mut child = driver(
        &url(&gw),
        &grant.login,
        &grant.password,
        &["meta:schemas", "sleep:4", "meta:tables", "meta:columns:x"],
    )
    .stdout(Stdio::piped())
    .spawn()
    .expect("driver");
    let stdout = child.stdout.take().expect("stdout");
    let mut out = BufReader::new(stdout).lines();
    let opened = out.next().and_then(Result::ok).unwrap_or_default();
    assert!(opened.contains("\"open\": true"), "{opened}");
    let first = out.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.contains("\"ok\": true"), "{first}");
    gw.revoke(&grant.grant_id).expect("revoke");
    let rest: Vec<String> = out.map_while(Result::ok).collect();
    let _ = child.wait();
    let steps = lines(&rest.join("\n"));
    for step in &steps[1..] {
        assert_eq!(step["ok"], false, "{steps:?}");
        assert!(
            step["error"]
                .as_str()
                .unwrap_or_default()
                .contains("revoked"),
            "{steps:?}"
        );
    }
}
