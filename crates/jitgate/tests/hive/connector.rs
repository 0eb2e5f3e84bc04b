//! The Databricks SQL connector for Python (`databricks-sql-connector`) through jitgate, as it
//! connects to a warehouse: https to jitgate's front (TLS from `[server.tls]`), the jitgate
//! credential as bearer token. The tests' upstream is Spark's Thrift server, not a warehouse;
//! `hive/dbsql.py` says which two of the connector's client-side checks about the upstream's
//! answers its `spark` mode relaxes, and the first test shows the connector as shipped stops at
//! the first of them, after jitgate admitted it and the upstream opened the session.

use crate::connect::{audit, gateway, of_kind};
use crate::env::{direct, lines, python, server, tests_dir};
use jitgate_testkit::{free_port, write_certificates, Gateway};
use serde_json::Value;
use std::process::{Command, Stdio};

struct Front {
    gw: Gateway,
    ca: String,
    _dir: tempfile::TempDir,
}

/// jitgate serving only TLS, with `ssn` of `table` masked for everyone but bob.
fn front(table: &str) -> Front {
    let Some(server) = server() else {
        unreachable!("checked by the caller")
    };
    let dir = tempfile::tempdir().expect("temporary folder");
    let [ca, cert, key] = write_certificates(dir.path());
    let gw = gateway(
        server,
        &format!(
            r#"
[server.tls]
mode = "required"
cert = "{cert}"
key = "{key}"

[masking]
key_env = "MASK_KEY"

[[masking.rules]]
resource = "wh"
column = "default.{table}.ssn"
mask = "redact"
clear_for = ["user:bob"]
"#
        ),
    );
    Front { gw, ca, _dir: dir }
}

/// Runs the connector driver: the connection line, then one line per step.
fn connector(front: &Front, token: &str, mode: &str, steps: &[&str]) -> Vec<Value> {
    let port = front.gw.listen_addrs()[0].port().to_string();
    let out = Command::new(python())
        .arg(tests_dir().join("dbsql.py"))
        .args(["localhost", &port, "/cliservice", token, &front.ca, mode])
        .args(steps)
        .stdin(Stdio::null())
        .output()
        .expect("running the connector driver");
    let v = lines(&String::from_utf8_lossy(&out.stdout));
    assert!(
        !v.is_empty(),
        "the connector driver printed nothing:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    v
}

fn error(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

/// As shipped, the connector gets through jitgate (TLS, bearer credential, admission) and the
/// upstream opens its session; the connector itself then refuses the Spark server's protocol
/// version. A wrong credential is refused by jitgate before anything reaches the upstream.
#[test]
fn the_connector_as_shipped_is_admitted_and_stops_at_the_spark_servers_protocol_version() {
    if server().is_none() {
        return;
    }
    let f = front("nothing_here");
    let grant = f.gw.grant("alice", "wh", "5m").expect("grant");
    let token = format!("{}.{}", grant.login, grant.password);
    let s = connector(&f, &token, "as-shipped", &["sql:select 1"]);
    assert_eq!(s[0]["open"], false, "{s:?}");
    assert!(
        error(&s[0]).contains("SPARK_CLI_SERVICE_PROTOCOL_V2") && error(&s[0]).contains("got: 9"),
        "{s:?}"
    );
    let events = audit(&f.gw, |e| !of_kind(e, "session.started").is_empty());
    assert_eq!(of_kind(&events, "session.started").len(), 1);

    let wrong = connector(
        &f,
        &format!("{}.wrongsecret", grant.login),
        "as-shipped",
        &[],
    );
    assert_eq!(wrong[0]["open"], false, "{wrong:?}");
    assert!(
        error(&wrong[0]).contains("authentication failed"),
        "{wrong:?}"
    );
    let events = audit(&f.gw, |e| !of_kind(e, "login.failed").is_empty());
    assert_eq!(of_kind(&events, "session.started").len(), 1);
}

/// With the two checks about Spark's answers relaxed, the connector runs statements and its
/// metadata calls through jitgate: a clear subject gets what a direct connection gets, a masked
/// one masked values (the connector's session setting, empty parameter list, Arrow and cloud
/// fetch flags are handled as a warehouse client sends them), writes refused.
#[test]
fn the_connector_reads_through_jitgate_clear_and_masked() {
    let Some(server) = server() else { return };
    let t = format!("conn_{}", free_port());
    direct(
        server,
        &[
            &format!("sql:create table {t} (id int, ssn string) using parquet"),
            &format!("sql:insert into {t} values (1, '078-05-1120'), (2, '219-09-9999')"),
        ],
    );
    let f = front(&t);
    let steps = [
        format!("sql:select id, ssn from {t} order by id"),
        "tables".to_string(),
        format!("columns:{t}"),
        "schemas".to_string(),
        format!("sql:insert into {t} values (3, 'x')"),
    ];
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();

    let bob = f.gw.grant("bob", "wh", "5m").expect("grant");
    let clear = connector(
        &f,
        &format!("{}.{}", bob.login, bob.password),
        "spark",
        &steps[..4],
    );
    assert_eq!(clear[0]["open"], true, "{clear:?}");
    assert_eq!(
        clear[1]["rows"],
        serde_json::json!([[1, "078-05-1120"], [2, "219-09-9999"]]),
        "{clear:?}"
    );
    assert!(clear[2]["rows"].to_string().contains(&t), "{clear:?}");
    assert_eq!(
        clear[3]["rows"].as_array().map(Vec::len),
        Some(2),
        "{clear:?}"
    );

    let alice = f.gw.grant("alice", "wh", "5m").expect("grant");
    let masked = connector(
        &f,
        &format!("{}.{}", alice.login, alice.password),
        "spark",
        &steps,
    );
    assert_eq!(masked[0]["open"], true, "{masked:?}");
    assert_eq!(masked[1]["ok"], true, "{masked:?}");
    let rows = masked[1]["rows"].to_string();
    assert!(
        !rows.contains("078-05-1120") && !rows.contains("219-09-9999"),
        "{rows}"
    );
    assert_eq!(masked[1]["rows"][1][0], 2, "{masked:?}");
    // Metadata: the same names and types as the clear subject's.
    assert_eq!(masked[3]["rows"], clear[3]["rows"], "{masked:?}");
    assert_eq!(masked[5]["ok"], false, "{masked:?}");
    assert!(error(&masked[5]).contains("refuses INSERT"), "{masked:?}");
}
