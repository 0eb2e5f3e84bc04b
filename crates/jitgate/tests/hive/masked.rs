//! Masked subjects through the front: mask before evaluate for statement texts (the same Spark
//! SQL analysis as the Spark Connect front), detectors over every reply, and the red team's
//! attempts to get around them. alice is masked; the tables are seeded directly.

use crate::connect::{audit, gateway, of_kind, url};
use crate::env::{direct, drive, server};
use jitgate_testkit::free_port;
use serde_json::Value;

fn rules(table: &str) -> String {
    format!(
        r#"
[masking]
key_env = "MASK_KEY"

[[masking.rules]]
resource = "wh"
column = "default.{table}.ssn"
mask = "redact"

[[masking.rules]]
resource = "wh"
column = "default.{table}.email"
mask = "email"

[[masking.rules]]
resource = "wh"
column = "default.{table}.name"
mask = "partial"
keep_first = 1
"#
    )
}

/// Clear values: none may reach alice, in any spelling.
const CLEAR: &[&str] = &[
    "078-05-1120",
    "078051120",
    "219-09-9999",
    "219099999",
    "ada@example.com",
    "grace@navy.mil",
    "Ada Lovelace",
    "Grace Hopper",
    "Lovelace",
];

/// No clear value in a step's rows, nor in its error unless the step's own text wrote it (an
/// error may quote the statement).
fn assert_no_leak(what: &str, v: &Value) {
    let own = v["step"].as_str().unwrap_or_default();
    let rows = v["rows"].to_string();
    let error = v["error"].to_string();
    for clear in CLEAR {
        assert!(!rows.contains(clear), "{what} leaked {clear}: {v}");
        assert!(
            own.contains(clear) || !error.contains(clear),
            "{what} leaked {clear}: {v}"
        );
    }
}

#[test]
fn masked_reads_are_masked_before_evaluation_and_the_red_team_gets_nothing() {
    let Some(server) = server() else { return };
    let t = format!("people_{}", free_port());
    let other = format!("orders_{}", free_port());
    direct(
        server,
        &[
            &format!("sql:create table {t} (id int, name string, ssn string, email string) using parquet"),
            &format!("sql:insert into {t} values (1, 'Ada Lovelace', '078-05-1120', 'ada@example.com'), (2, 'Grace Hopper', '219-09-9999', 'grace@navy.mil')"),
            &format!("sql:create table {other} (id int, note string) using parquet"),
            &format!("sql:insert into {other} values (1, 'ssn 078-05-1120 in a note'), (2, 'plain')"),
        ],
    );
    let gw = gateway(server, &rules(&t));
    let grant = gw.grant("alice", "wh", "5m").expect("grant");
    let cred = format!("{}.{}", grant.login, grant.password);
    let attacks: Vec<String> = vec![
        // 1: plain read — masked values
        format!("sql:select id, name, ssn, email from {t} order by id"),
        // 2: WHERE inference on the clear value
        format!("sql:select id from {t} where ssn like '078%' or ssn = '219-09-9999'"),
        // 3: ORDER BY inference
        format!("sql:select id from {t} order by ssn desc"),
        // 4: JOIN on the clear value
        format!("sql:select a.id from {t} a join {t} b on a.ssn = substr(b.ssn, 1, 11) and b.name like 'Ada%'"),
        // 5: functions over whole rows
        format!("sql:select to_json(struct(*)) from {t}"),
        // 6: an error quoting a value
        format!("sql:select cast(ssn as int) + assert_true(false, ssn) from {t}"),
        // 7: detectors on a computed, unprotected column
        format!("sql:select note, upper(note) from {other} order by id"),
        // 8: writes refused
        format!("sql:insert into {t} values (3, 'x', 'y', 'z')"),
        // 9: EXPLAIN refused (plans show masking expressions)
        format!("sql:explain select ssn from {t}"),
        // 10: variable substitution refused
        "sql:select '${hivevar:x}'".to_string(),
        // 11: reading the table through another database name
        format!("sql:use other_db"),
        // 12: DESCRIBE shows names and types only
        format!("sql:describe table {t}"),
        // 13: CTAS refused
        format!("sql:create table copy_{t} as select * from {t}"),
        // 14: aggregates see masked values
        format!("sql:select count(distinct ssn), max(email), min(name) from {t}"),
    ];
    let steps: Vec<&str> = attacks.iter().map(String::as_str).collect();
    let s = drive(&url(&gw), "token", &cred, &steps);
    assert_eq!(s[0]["open"], true, "{s:?}");
    for (i, step) in s.iter().enumerate().skip(1) {
        assert_no_leak(&format!("step {i} {}", step["step"]), step);
    }
    let rows = &s[1]["rows"];
    assert_eq!(rows.as_array().map(Vec::len), Some(2), "{s:?}");
    assert_eq!(rows[0][0], 1);
    assert!(
        rows[0][1].as_str().unwrap_or_default().starts_with('A'),
        "{rows}"
    );
    assert_eq!(
        s[2]["rows"],
        serde_json::json!([]),
        "WHERE saw masked values: {s:?}"
    );
    assert!(s[5]["ok"] == true, "{s:?}");
    for refused in [8, 9, 10, 11, 13] {
        assert_eq!(s[refused]["ok"], false, "step {refused}: {:?}", s[refused]);
        assert!(
            s[refused]["error"]
                .as_str()
                .unwrap_or_default()
                .contains("42501"),
            "step {refused}: {:?}",
            s[refused]
        );
    }
    assert_eq!(s[12]["ok"], true, "{:?}", s[12]);
    assert!(s[7]["rows"].to_string().contains("[ssn]"), "{:?}", s[7]);

    let events = audit(&gw, |e| !of_kind(e, "masking.refused").is_empty());
    let refusals = of_kind(&events, "masking.refused");
    assert!(refusals.len() >= 5, "{refusals:?}");
}
