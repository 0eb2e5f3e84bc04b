//! The two Spark fronts agree: the same masking rules and the same statements, sent by a masked
//! subject through the Databricks SQL front (PyHive) and through the Spark Connect front
//! (PySpark), give the same rows. Both fronts reach one Spark: the test server serves HiveServer2
//! and Spark Connect from one JVM (Spark Connect's plugin), so they read one catalog and one
//! copy of the data.

use crate::connect::MASK_KEY;
use crate::env::{direct, drive, drive_spark, server, ThriftServer};
use jitgate_testkit::{free_port, Gateway};

/// jitgate with `wh` (databricks-sql) and `lake` (spark-connect) in front of the same Spark,
/// one set of masking rules for both; and the URL of `wh`.
fn gateway(server: &ThriftServer, table: &str) -> (Gateway, String) {
    let wh = free_port();
    let config = format!(
        r#"
[server]
store = "jitgate.sqlite"

[resources.wh]
kind = "databricks-sql"
listen = "127.0.0.1:{wh}"

[resources.wh.upstream]
host = "127.0.0.1"
port = {hs2}
tls = false
user = "jitgate"
password = "unused-by-nosasl"

[resources.lake]
kind = "spark-connect"
listen = "127.0.0.1:{lake}"

[resources.lake.upstream]
host = "127.0.0.1"
port = {connect}

[masking]
key_env = "MASK_KEY"

[[masking.rules]]
resource = "*"
column = "default.{table}.ssn"
mask = "hash"

[[masking.rules]]
resource = "*"
column = "default.{table}.email"
mask = "email"

[[masking.rules]]
resource = "*"
column = "default.{table}.name"
mask = "partial"
keep_first = 1

[[masking.rules]]
resource = "*"
column = "default.{table}.salary"
mask = "generalize"
bucket = 10000
"#,
        lake = free_port(),
        hs2 = server.port,
        connect = server.connect_port,
    );
    let gw = Gateway::start_with_env(
        env!("CARGO_BIN_EXE_jitgate").as_ref(),
        &config,
        &[("MASK_KEY", MASK_KEY)],
    )
    .expect("starting jitgate");
    (gw, format!("http://127.0.0.1:{wh}/cliservice"))
}

/// Reads, filters, joins, aggregates and functions over protected columns.
fn statements(t: &str) -> Vec<String> {
    vec![
        format!("select id, name, ssn, email, salary from {t} order by id"),
        format!("select id from {t} where ssn like '078%' or name = 'Ada Lovelace' order by id"),
        format!("select count(distinct ssn) as n, max(email) as e, min(name) as m, sum(salary) as s from {t}"),
        format!("select a.id as a_id, b.id as b_id from {t} a join {t} b on a.email = b.email order by a_id, b_id"),
        format!("select upper(name) as u, length(ssn) as l, concat(email, '!') as c from {t} order by id"),
        format!("select salary, count(*) as n from {t} group by salary order by salary"),
        format!("with x as (select * from {t}) select id, name from x where name like 'A%' order by id"),
        format!("select id, sha2(ssn, 256) as h from {t} order by id"),
    ]
}

#[test]
fn masked_reads_agree_with_the_spark_connect_front() {
    let Some(server) = server() else { return };
    let t = format!("parity_{}", free_port());
    direct(
        server,
        &[
            &format!("sql:create table {t} (id int, name string, ssn string, email string, salary int) using parquet"),
            &format!("sql:insert into {t} values (1, 'Ada Lovelace', '078-05-1120', 'ada@example.com', 123456), (2, 'Grace Hopper', '219-09-9999', 'grace@navy.mil', 98765), (3, 'Alan Turing', '078-05-1121', 'ada@example.com', 123999)"),
        ],
    );
    let (gw, wh_url) = gateway(server, &t);
    let wh = gw.grant("alice", "wh", "5m").expect("grant wh");
    let lake = gw.grant("alice", "lake", "5m").expect("grant lake");

    let texts = statements(&t);
    let hive_steps: Vec<String> = texts.iter().map(|s| format!("sql:{s}")).collect();
    let hive_steps: Vec<&str> = hive_steps.iter().map(String::as_str).collect();
    let via_hive = drive(
        &wh_url,
        "token",
        &format!("{}.{}", wh.login, wh.password),
        &hive_steps,
    );
    assert_eq!(via_hive[0]["open"], true, "{via_hive:?}");
    // Rows as lists of values in column order, as PyHive gives them.
    let spark_steps: Vec<String> = texts
        .iter()
        .map(|s| format!("py:out = [list(r) for r in spark.sql(\"\"\"{s}\"\"\").collect()]"))
        .collect();
    let spark_steps: Vec<&str> = spark_steps.iter().map(String::as_str).collect();
    let via_connect = drive_spark(&lake.uri, &spark_steps);
    let clear = drive(&server.url(), "admin", "x", &hive_steps);

    for (i, text) in texts.iter().enumerate() {
        let (h, c) = (&via_hive[i + 1], &via_connect[i]);
        assert_eq!(h["ok"], true, "{text}: {h}");
        assert_eq!(c["ok"], true, "{text}: {c}");
        assert_eq!(h["rows"], c["rows"], "the fronts disagree on {text}");
    }
    // The agreement is on masked values: the plain read differs from the clear one, and no
    // clear value of a protected column is in any answer.
    assert_ne!(via_hive[1]["rows"], clear[1]["rows"]);
    let all: String = via_hive
        .iter()
        .chain(&via_connect)
        .map(|step| step["rows"].to_string())
        .collect();
    for value in [
        "078-05-1120",
        "219-09-9999",
        "ada@example.com",
        "Ada Lovelace",
        "123456",
    ] {
        assert!(
            !all.contains(value),
            "{value} reached a masked subject: {all}"
        );
    }
    // WHERE on a protected column compares masked values: the clear literals match nothing.
    assert_eq!(via_hive[2]["rows"], serde_json::json!([]), "{via_hive:?}");
}
