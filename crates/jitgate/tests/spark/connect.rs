//! The Spark Connect front against a real Spark Connect server (from the pyspark package) and
//! PySpark's own Connect client: credentials, grants ending mid-query, audit, and masking — the
//! bypass attempts of the PostgreSQL red-team suite translated to Spark. One Spark server
//! serves every test of this binary.
//!
//! Needs `java` and `python3` with `pyspark[connect]` (`scripts/install-deps test` installs
//! them); without java the tests print why and pass.

use crate::env::{drive, drive_with, driver, spark, SparkServer};
use jitgate_control::audit::ChainedEvent;
use jitgate_control::store::{SqliteStore, Store};
use jitgate_masking::MaskKey;
use jitgate_testkit::{free_port, write_certificates, Gateway};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub(crate) const MASK_KEY: &str = "a-masking-key-of-enough-length-0123456789";

/// jitgate with resource `lake` in front of the shared Spark server.
pub(crate) fn gateway(spark: &SparkServer, sections: &str) -> Gateway {
    gateway_with(spark, "", sections)
}

/// Like [`gateway`], with extra `[server]` lines.
fn gateway_with(spark: &SparkServer, server_extra: &str, sections: &str) -> Gateway {
    let config = format!(
        r#"
[server]
store = "jitgate.sqlite"
{server_extra}

[resources.lake]
kind = "spark-connect"
listen = "127.0.0.1:{listen}"

[resources.lake.upstream]
host = "127.0.0.1"
port = {port}

{sections}
"#,
        listen = free_port(),
        port = spark.port,
    );
    Gateway::start_with_env(
        env!("CARGO_BIN_EXE_jitgate").as_ref(),
        &config,
        &[
            ("MASK_KEY", MASK_KEY),
            ("ALICE_PASSWORD", "alice-pw-123"),
            ("DANA_PASSWORD", "dana-pw-123"),
        ],
    )
    .expect("starting jitgate")
}

fn audit(gw: &Gateway, until: impl Fn(&[ChainedEvent]) -> bool) -> Vec<ChainedEvent> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let store = SqliteStore::open(&gw.dir().join("jitgate.sqlite")).expect("store");
        let events = store.audit_after(0, 100_000).expect("reading audit");
        if until(&events) || Instant::now() > deadline {
            return events;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn detail(e: &ChainedEvent) -> Value {
    serde_json::from_str(e.event.detail.get()).expect("detail JSON")
}

fn statements(events: &[ChainedEvent]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.event.kind == "statement")
        .map(detail)
        .collect()
}

#[test]
fn calls_without_a_valid_credential_are_unauthenticated() {
    let Some(spark) = spark() else { return };
    let gw = gateway(spark, "");
    let grant = gw.grant("alice", "lake", "5m").expect("grant");
    let uri = grant.uri.clone();
    assert!(uri.starts_with("sc://localhost:"), "{uri}");

    let no_token = uri.split(";token=").next().expect("uri");
    let s = drive(no_token, &["sql:select 1"]);
    assert_eq!(s[0]["grpc"], "UNAUTHENTICATED", "{s:?}");
    assert!(s[0]["error"]
        .as_str()
        .unwrap_or_default()
        .contains("no jitgate credential"));

    let wrong = format!("{no_token};token={}.wrongsecret", grant.login);
    let s = drive(&wrong, &["sql:select 1"]);
    assert_eq!(s[0]["grpc"], "UNAUTHENTICATED", "{s:?}");

    let events = audit(&gw, |e| e.iter().any(|e| e.event.kind == "login.failed"));
    assert!(events.iter().any(|e| e.event.kind == "login.failed"));
    assert!(
        statements(&events).is_empty(),
        "nothing reached the upstream"
    );
}

#[test]
fn request_approve_and_connect_print_an_sc_uri_that_works() {
    let Some(spark) = spark() else { return };
    let gw = gateway(
        spark,
        r#"
[users.alice]
password_env = "ALICE_PASSWORD"
groups = ["analysts"]

[users.dana]
password_env = "DANA_PASSWORD"
groups = ["dba"]

[roles]
approver = ["dba"]

[[access]]
resources = ["lake"]
requesters = ["group:analysts"]
max_duration = "30m"
approvals = 1
approver_groups = ["dba"]
"#,
    );
    let (alice, dana) = (gw.user("alice"), gw.user("dana"));
    alice.login("alice-pw-123").expect("alice logs in");
    dana.login("dana-pw-123").expect("dana logs in");
    let request = alice
        .json(&["request", "lake", "--duration", "5m", "--reason", "INC-7"])
        .expect("request");
    let id = request["id"].as_str().expect("request id");
    dana.ok(&["approve", id]).expect("approve");

    let uri = alice.ok(&["connect", "lake", "--uri"]).expect("connect");
    let uri = uri.trim();
    assert!(
        uri.starts_with("sc://localhost:") && uri.contains(";token=alice-"),
        "{uri}"
    );
    let s = drive(uri, &["sql:select 5 as v"]);
    assert_eq!(s[0]["rows"], serde_json::json!([{"v": 5}]), "{s:?}");
}

#[test]
fn a_granted_user_runs_sql_and_reads_a_table_audited() {
    let Some(spark) = spark() else { return };
    let gw = gateway(spark, "");
    let grant = gw.grant("alice", "lake", "5m").expect("grant");
    let table = format!("people_{}", free_port());
    let s = drive(
        &grant.uri,
        &[
            "sql:select 1 as x",
            &format!("sql:create table {table} (id int, name string) using parquet"),
            &format!("sql:insert into {table} values (1, 'ann'), (2, 'bob'), (3, 'cy')"),
            &format!("table:{table}"),
            "sql:select * from no_such_table_here",
        ],
    );
    assert!(s[..4].iter().all(|s| s["ok"] == true), "{s:?}");
    // The upstream's own errors reach the client as they are.
    assert!(
        s[4]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("TABLE_OR_VIEW_NOT_FOUND"),
        "{s:?}"
    );
    assert_eq!(s[0]["rows"], serde_json::json!([{"x": 1}]));
    assert_eq!(
        s[3]["rows"],
        serde_json::json!([{"id": 2, "name": "bob"}, {"id": 3, "name": "cy"}])
    );

    let events = audit(&gw, |e| {
        statements(e)
            .iter()
            .any(|d| d["text"].as_str().unwrap_or_default().contains(&table) && d["rows"] == 2)
    });
    let all = statements(&events);
    let select = all
        .iter()
        .find(|d| d["text"] == "sql: select 1 as x" && d["rows"] == 1)
        .unwrap_or_else(|| panic!("no audited select 1 in {all:?}"));
    assert_eq!(select["outcome"], "OK");
    let read = all
        .iter()
        .find(|d| {
            d["text"]
                .as_str()
                .unwrap_or_default()
                .contains(&format!("tables: {table}"))
        })
        .unwrap_or_else(|| panic!("no audited table read in {all:?}"));
    let text = read["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Filter") && text.contains("Read") && text.contains("name"),
        "{text}"
    );
    assert_eq!(read["rows"], 2, "{read}");
    assert!(events
        .iter()
        .all(|e| e.event.kind != "statement" || e.event.subject.as_deref() == Some("alice")));
}

#[test]
fn revoking_mid_query_ends_the_call_within_a_second() {
    let Some(spark) = spark() else { return };
    let gw = gateway(spark, "");
    let grant = gw.grant("alice", "lake", "5m").expect("grant");
    let mut child = driver(&grant.uri, &["sql:select 2 as y", "long", "sql:select 3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("driver");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("first step").expect("read");
    assert!(first.contains("\"ok\": true"), "{first}");
    // The long computation is running upstream by now.
    std::thread::sleep(Duration::from_secs(2));
    gw.revoke(&grant.grant_id).expect("revoke");
    let revoked = Instant::now();
    let second: Value =
        serde_json::from_str(&lines.next().expect("second").expect("read")).expect("json");
    let cut_after = revoked.elapsed();
    let third: Value =
        serde_json::from_str(&lines.next().expect("third").expect("read")).expect("json");
    let _ = child.wait();
    assert_eq!(second["grpc"], "PERMISSION_DENIED", "{second}");
    assert!(second["error"]
        .as_str()
        .unwrap_or_default()
        .contains("access grant revoked"));
    // The client's view includes its own start-up of the error; the gateway's is checked below.
    assert!(
        cut_after < Duration::from_secs(3),
        "cut {cut_after:?} after revoke"
    );
    assert_eq!(third["grpc"], "UNAUTHENTICATED", "{third}");

    let events = audit(&gw, |e| e.iter().any(|e| e.event.kind == "session.ended"));
    let ended = events
        .iter()
        .find(|e| e.event.kind == "session.ended")
        .map(detail)
        .expect("session ended");
    // The same reason a PostgreSQL session records: the revoker is named.
    assert!(
        ended["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("grant revoked by "),
        "{ended}"
    );
    // The upstream was told to stop the Spark session's work, not left computing for nobody.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gw.log().contains("released Spark session upstream") {
        assert!(
            Instant::now() < deadline,
            "no session release:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let long = statements(&events)
        .into_iter()
        .find(|d| d["outcome"] == "PERMISSION_DENIED")
        .expect("the cut ExecutePlan is audited");
    assert!(
        long["text"].as_str().unwrap_or_default().contains("Range"),
        "{long}"
    );
    let revoked_at = event_at(&events, "grant.revoked");
    let cut_at = statement_cut_at(&events);
    assert!(
        cut_at - revoked_at < 1000,
        "the gateway cut the call {} ms after the revocation",
        cut_at - revoked_at
    );
}

#[test]
fn sigterm_aborts_a_running_call_releases_the_upstream_and_records_the_end() {
    let Some(spark) = spark() else { return };
    let mut gw = gateway_with(spark, "drain_timeout = \"1s\"", "");
    let grant = gw.grant("alice", "lake", "5m").expect("grant");
    let mut child = driver(&grant.uri, &["sql:select 2 as y", "long"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("driver");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("first step").expect("read");
    assert!(first.contains("\"ok\": true"), "{first}");
    // The long computation is running upstream by now.
    std::thread::sleep(Duration::from_secs(2));
    let status = gw.stop().expect("jitgate exits");
    assert!(status.success(), "exit status {status}");
    // PySpark retries what follows (its calls to a gateway that is gone) for minutes: what the
    // cut call ended with is read from the audit trail instead.
    let _ = child.kill();
    let _ = child.wait();

    // On record, and the upstream told to stop, before the process exited.
    let events = audit(&gw, |_| true);
    let ended = events
        .iter()
        .find(|e| e.event.kind == "session.ended")
        .map(detail)
        .expect("session ended");
    assert_eq!(ended["reason"], "gateway shutting down", "{ended}");
    // Not UNAVAILABLE: the client would retry it for minutes.
    let cut = statements(&events)
        .into_iter()
        .find(|d| d["outcome"] == "ABORTED")
        .expect("the cut ExecutePlan is audited with its status");
    assert!(
        cut["text"].as_str().unwrap_or_default().contains("Range"),
        "{cut}"
    );
    assert!(
        gw.log().contains("released Spark session upstream"),
        "no session release:\n{}",
        gw.log()
    );
}

/// When the first event of `kind` happened (Unix milliseconds).
fn event_at(events: &[ChainedEvent], kind: &str) -> i64 {
    events
        .iter()
        .find(|e| e.event.kind == kind)
        .map(|e| e.event.at)
        .unwrap_or_else(|| panic!("no {kind} event"))
}

/// When the gateway ended the ExecutePlan that a grant's end cut (Unix milliseconds).
fn statement_cut_at(events: &[ChainedEvent]) -> i64 {
    events
        .iter()
        .find(|e| e.event.kind == "statement" && detail(e)["outcome"] == "PERMISSION_DENIED")
        .map(|e| e.event.at)
        .expect("the cut ExecutePlan is audited")
}

#[test]
fn a_grant_expiring_mid_query_ends_the_call_within_a_second() {
    let Some(spark) = spark() else { return };
    let gw = gateway(spark, "");
    // Long enough for PySpark to start on a busy machine before the grant ends.
    let grant = gw.grant("alice", "lake", "10s").expect("grant");
    let expires = humantime::parse_rfc3339(&grant.expires_at).expect("RFC 3339 expiry");
    let s = drive(&grant.uri, &["long", "sql:select 3"]);
    assert_eq!(s[0]["grpc"], "PERMISSION_DENIED", "{s:?}");
    assert!(
        s[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("access grant expired"),
        "{s:?}"
    );
    assert_eq!(s[1]["grpc"], "UNAUTHENTICATED", "{s:?}");
    let events = audit(&gw, |e| {
        statements(e)
            .iter()
            .any(|d| d["outcome"] == "PERMISSION_DENIED")
    });
    let expires_ms = expires
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64;
    let late = statement_cut_at(&events) - expires_ms;
    assert!(
        late < 1000,
        "the gateway cut the call {late} ms after expiry"
    );
}

const MASKING: &str = r#"
[masking]
key_env = "MASK_KEY"

[[masking.rules]]
resource = "lake"
column = "default.jg_people.ssn"
mask = "hash"
clear_for = ["user:bob"]

[[masking.rules]]
resource = "lake"
column = "default.jg_people.email"
mask = "email"
clear_for = ["user:bob"]

[[masking.rules]]
resource = "lake"
column = "*.jg_people.name"
mask = "partial"
keep_first = 1
clear_for = ["user:bob"]

[[masking.rules]]
resource = "lake"
column = "default.jg_people.salary"
mask = "generalize"
bucket = 10000
clear_for = ["user:bob"]
"#;

/// The clear values of `jg_people`: none may reach a masked subject, however asked.
const CLEAR: [&str; 6] = [
    "123-45-6789",
    "987-65-4321",
    "ada@example.com",
    "grace@navy.mil",
    "Ada Lovelace",
    "Grace Hopper",
];

/// jitgate with the masking rules and `jg_people`, and the URI of alice, whose view is masked.
fn masked_alice(spark: &SparkServer) -> (Gateway, String) {
    let gw = gateway(spark, MASKING);
    seed_people(&gw);
    let alice = gw.grant("alice", "lake", "5m").expect("grant");
    (gw, alice.uri)
}

/// Creates `jg_people` (once per Spark server: tests run at the same time and read it) through
/// the gateway as bob, who sees it clear.
fn seed_people(gw: &Gateway) {
    static SEEDED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    SEEDED.get_or_init(|| create_people(gw));
}

fn create_people(gw: &Gateway) {
    let bob = gw.grant("bob", "lake", "5m").expect("grant for bob");
    let s = drive(
        &bob.uri,
        &[
            "sql:CREATE TABLE IF NOT EXISTS jg_people (id int, name string, ssn string, \
             email string, salary int) USING parquet",
            "sql:INSERT OVERWRITE jg_people VALUES (1, 'Ada Lovelace', '123-45-6789', \
             'ada@example.com', 123456), (2, 'Grace Hopper', '987-65-4321', 'grace@navy.mil', 98765)",
            "sql:SELECT ssn, name FROM jg_people ORDER BY id",
        ],
    );
    assert!(s.iter().all(|x| x["ok"] == true), "{s:?}");
    assert_eq!(
        s[2]["rows"][0]["ssn"], "123-45-6789",
        "bob sees clear values"
    );
}

/// Fails if a clear value is in what a step got back (its rows or its error).
fn assert_no_clear(step: &Value) {
    let text = format!("{} {}", step["rows"], step["error"]);
    for clear in CLEAR {
        assert!(!text.contains(clear), "leaked {clear:?}: {text}");
    }
}

fn refused_with(step: &Value, words: &str) {
    assert_eq!(step["grpc"], "PERMISSION_DENIED", "{step}");
    let error = step["error"].as_str().unwrap_or_default();
    assert!(error.contains(words), "{words:?} not in {error}");
}

#[test]
fn masked_subjects_read_masked_values_through_dataframes_and_sql() {
    let Some(spark) = spark() else { return };
    let (gw, alice) = masked_alice(spark);
    let s = drive(
        &alice,
        &[
            "py:out = spark.table('jg_people').orderBy('id')",
            "sql:SELECT * FROM jg_people ORDER BY id",
            // A DataFrame column named through its plan (df["ssn"]) is the masked one.
            "py:df = spark.table('default.jg_people'); out = df.select(df['ssn'], df.email).orderBy(df.id)",
            // spark.sql returns a relation the client sends back: masked once, not twice.
            "py:out = spark.sql('SELECT id, ssn FROM jg_people').filter('id = 1')",
            "py:out = spark.table('jg_people').filter(F.col('ssn') == '123-45-6789').count()",
            "sql:SELECT count(*) AS n FROM jg_people WHERE ssn LIKE '123%' OR email = 'ada@example.com'",
            "sql:SELECT concat(ssn, '') AS a, upper(name) AS b, CAST(salary AS string) AS c FROM jg_people p",
            "sql:SELECT to_json(struct(*)) AS j FROM jg_people",
            "sql:SELECT a.ssn, b.email FROM jg_people a JOIN jg_people b ON a.ssn = b.ssn",
            "sql:SELECT name, rank() OVER (ORDER BY ssn) AS r, max(ssn) OVER () AS m FROM jg_people",
            "sql:SELECT id FROM range(3) WHERE EXISTS (SELECT 1 FROM jg_people WHERE ssn = '123-45-6789')",
            "sql:WITH jg_people AS (SELECT * FROM default.jg_people) SELECT ssn FROM jg_people",
            "py:spark.table('jg_people').cache().createOrReplaceTempView('pv'); out = spark.sql('SELECT ssn, name FROM pv ORDER BY id')",
            "sql:CREATE OR REPLACE TEMPORARY VIEW pv2 AS SELECT ssn AS s FROM jg_people",
            "sql:SELECT s FROM pv2",
            "py:out = spark.table('jg_people').groupBy('salary').agg(F.collect_list('email').alias('e'))",
            // Second line: result batches go through the content detectors.
            "sql:SELECT 'card 4111 1111 1111 1111, ssn 078-05-1120' AS t, array('ada@example.com') AS a",
        ],
    );
    for step in &s {
        assert_eq!(step["ok"], true, "{step}\n{}", gw.log());
        assert_no_clear(step);
    }
    let rows = &s[0]["rows"];
    assert_eq!(rows[0]["email"], "***@example.com", "{rows}");
    assert_eq!(rows[0]["name"], "A***********", "{rows}");
    assert_eq!(rows[0]["salary"], 120000, "{rows}");
    assert_eq!(rows[1]["salary"], 90000, "{rows}");
    let ssn = rows[0]["ssn"].as_str().expect("a pseudonym");
    assert!(ssn.chars().all(|c| c.is_ascii_hexdigit()), "{ssn}");
    // The same pseudonym whichever way the value is read.
    assert_eq!(s[1]["rows"], s[0]["rows"], "SQL and DataFrame agree");
    assert_eq!(s[2]["rows"][0]["ssn"], ssn);
    assert_eq!(s[3]["rows"][0]["ssn"], ssn, "masked once: {}", s[3]);
    assert_eq!(s[4]["rows"], 0);
    assert_eq!(s[5]["rows"][0]["n"], 0);
    assert_eq!(
        s[8]["rows"].as_array().map(Vec::len),
        Some(2),
        "join on pseudonyms"
    );
    assert_eq!(s[10]["rows"], serde_json::json!([]));
    assert_eq!(
        s[11]["rows"][0]["ssn"].as_str().map(str::len),
        Some(ssn.len())
    );
    assert_eq!(s[12]["rows"][0]["ssn"], ssn);
    assert_eq!(s[14]["rows"].as_array().map(Vec::len), Some(2));

    let t = s[16]["rows"][0]["t"].as_str().unwrap_or_default();
    assert_eq!(t, "card [card], ssn [ssn]", "{}", s[16]);
    assert_eq!(s[16]["rows"][0]["a"], serde_json::json!(["[email]"]));

    let events = audit(&gw, |e| statements(e).len() >= 17);
    assert!(
        statements(&events).iter().any(|d| d["masked"] == true),
        "rewritten plans are audited as masked"
    );
    let texts: Vec<String> = statements(&events)
        .iter()
        .map(|d| d["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("WHERE ssn LIKE '123%'")),
        "the audit keeps the client's text: {texts:?}"
    );
}

#[test]
fn what_could_read_around_the_masks_is_refused() {
    let Some(spark) = spark() else { return };
    let (gw, alice) = masked_alice(spark);
    let s = drive(
        &alice,
        &[
            "py:out = spark.table('jg_people')._explain_string()",
            "sql:EXPLAIN SELECT * FROM jg_people",
            "py:out = spark.read.parquet('/tmp')",
            "sql:SELECT * FROM parquet.`/tmp/jg_people`",
            "py:f = F.udf(lambda s: s); out = spark.table('jg_people').select(f('ssn'))",
            "py:spark.conf.set('spark.sql.parser.escapedStringLiterals', 'true')",
            "py:spark.table('jg_people').createOrReplaceTempView('jg_people')",
            "sql:INSERT INTO jg_people VALUES (3, 'x', 'x', 'x', 1)",
            "py:spark.range(1).write.saveAsTable('jg_stolen')",
            "sql:USE other",
            "py:spark.catalog.setCurrentDatabase('other')",
            "py:out = spark.table('jg_people').selectExpr('(SELECT max(ssn) FROM jg_people) AS s')",
            "sql:SELECT java_method('java.lang.System', 'getenv', 'HOME')",
            "sql:CREATE TEMPORARY FUNCTION sha2 AS 'x.Y'",
        ],
    );
    let expect = [
        "EXPLAIN",
        "EXPLAIN",
        "data sources",
        "file",
        "user-defined functions",
        "spark.sql.parser.escapedStringLiterals",
        "temporary view",
        "INSERT",
        "WriteOperation",
        "USE",
        "catalog operation",
        "subquer",
        "java_method",
        "FUNCTION",
    ];
    for (step, words) in s.iter().zip(expect) {
        assert_no_clear(step);
        refused_with(step, words);
    }
    // Errors of masked plans quote the masking expressions, but not their key material.
    let s = drive(&alice, &["sql:SELECT nosuchcolumn FROM jg_people"]);
    assert_eq!(s[0]["ok"], false, "{s:?}");
    let error = s[0]["error"].as_str().unwrap_or_default();
    let key = MaskKey::new(MASK_KEY.as_bytes(), "test").expect("key");
    for secret in key.spark_secrets() {
        for text in [secret.to_lowercase(), secret.to_uppercase()] {
            assert!(!error.contains(&text), "key material in an error: {error}");
        }
    }
    assert!(error.contains("sha2(concat(0x****"), "{error}");
    let events = audit(&gw, |e| {
        e.iter()
            .filter(|e| e.event.kind == "masking.refused")
            .count()
            >= expect.len()
    });
    let refusals = events
        .iter()
        .filter(|e| e.event.kind == "masking.refused")
        .count();
    assert!(refusals >= expect.len(), "{refusals} refusals audited");
}

#[test]
fn clients_connect_over_tls_and_plaintext_is_refused_when_tls_is_required() {
    let Some(spark) = spark() else { return };
    let dir = tempfile::tempdir().expect("temporary folder");
    let [ca, cert, key] = write_certificates(dir.path());
    let gw = gateway(
        spark,
        &format!("[server.tls]\nmode = \"required\"\ncert = \"{cert}\"\nkey = \"{key}\"\n"),
    );
    let grant = gw.grant("alice", "lake", "5m").expect("grant");

    // The URI jitgate hands out asks for TLS when `[server.tls]` offers it.
    let tls_uri = grant.uri.clone();
    assert!(tls_uri.contains(";use_ssl=true;"), "{tls_uri}");
    let plain_uri = tls_uri.replace(";use_ssl=true", "");
    let mut cmd = driver(&tls_uri, &["sql:select 4 as z"]);
    cmd.env("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", &ca);
    let s = drive_with(cmd, &["sql:select 4 as z"]);
    assert_eq!(
        s[0]["rows"],
        serde_json::json!([{"z": 4}]),
        "{s:?}\n{}",
        gw.log()
    );

    let s = drive(&plain_uri, &["sql:select 1"]);
    assert_eq!(s[0]["grpc"], "UNAUTHENTICATED", "{s:?}");
    assert!(
        s[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("only over TLS"),
        "{s:?}"
    );
}
