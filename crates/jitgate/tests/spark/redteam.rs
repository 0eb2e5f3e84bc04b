//! The red team's classes on the Spark Connect front, against a real Spark Connect server and
//! PySpark's own client: functions over whole rows, key material in every answer, detector
//! formats in Arrow batches and in the messages that are not result batches (errors, observed
//! metrics, SQL command results), `tokenize` and `scan` rules in `spark.sql`, and aggregation
//! over `scan` columns. Each case asserts that no clear value, and no fact derived from one,
//! reaches the masked subject (alice); bob is exempt and seeds the tables.
//!
//! Needs `java` and `python3` with `pyspark[connect]`; without java the tests print why and
//! pass.

use crate::connect::{gateway, MASK_KEY};
use crate::env::{drive, SparkServer};
use jitgate_masking::MaskKey;
use jitgate_testkit::Gateway;
use serde_json::Value;
use std::process::Stdio;

const RULES: &str = r#"
[masking]
key_env = "MASK_KEY"

[[masking.rules]]
resource = "lake"
column = "default.rt_customers.name"
mask = "partial"
keep_first = 1
clear_for = ["user:bob"]

[[masking.rules]]
resource = "lake"
column = "default.rt_customers.ssn"
mask = "hash"
clear_for = ["user:bob"]

[[masking.rules]]
resource = "lake"
column = "default.rt_customers.email"
mask = "email"
clear_for = ["user:bob"]

[[masking.rules]]
resource = "lake"
column = "default.rt_customers.card"
mask = "tokenize"
clear_for = ["user:bob"]

[[masking.rules]]
resource = "lake"
column = "default.rt_customers.phone"
mask = "partial"
keep_last = 2
clear_for = ["user:bob"]

[[masking.rules]]
resource = "lake"
column = "default.rt_tickets.body"
mask = "scan"
clear_for = ["user:bob"]
"#;

/// Clear values of the tables, in every spelling a leak could take (digits alone included): none
/// may reach alice.
const CLEAR: &[&str] = &[
    "Ada Lovelace",
    "Grace Hopper",
    "123-45-6789",
    "123456789",
    "987-65-4321",
    "987654321",
    "ada@example.com",
    "grace@navy.mil",
    "4111 1111 1111 1111",
    "4111111111111111",
    "5500 0000 0000 0004",
    "5500000000000004",
    "(415) 555-2671",
    "4155552671",
    "078-05-1120",
    "078051120",
    "4012888888881881",
    "4012 8888 8888 1881",
];

/// `rt_customers`: every PII column has a rule. `rt_tickets.body`: free text under `scan`.
/// `rt_free.note`: free text without a rule, left to the detectors.
fn seed(gw: &Gateway) {
    static SEEDED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    SEEDED.get_or_init(|| {
        let bob = gw.grant("bob", "lake", "5m").expect("grant for bob");
        let s = drive(
            &bob.uri,
            &[
                "sql:CREATE TABLE IF NOT EXISTS rt_customers (id int, name string, ssn string, \
                 email string, card string, phone string) USING parquet",
                "sql:INSERT OVERWRITE rt_customers VALUES \
                 (1, 'Ada Lovelace', '123-45-6789', 'ada@example.com', '4111 1111 1111 1111', '(415) 555-2671'), \
                 (2, 'Grace Hopper', '987-65-4321', 'grace@navy.mil', '5500 0000 0000 0004', '(212) 555-0199')",
                "sql:CREATE TABLE IF NOT EXISTS rt_tickets (id int, body string) USING parquet",
                "sql:INSERT OVERWRITE rt_tickets VALUES \
                 (1, 'ssn 078-05-1120, card 4012 8888 8888 1881, mail ada@example.com'), \
                 (2, 'first half 4012 8888'), (3, '8888 1881 second half'), (4, 'nothing to see')",
                "sql:CREATE TABLE IF NOT EXISTS rt_free (id int, note string) USING parquet",
                "sql:INSERT OVERWRITE rt_free VALUES \
                 (1, 'my ssn is 078-05-1120'), (2, 'card 4012 8888 8888 1881')",
                "sql:SELECT card FROM rt_customers ORDER BY id",
                "sql:CREATE TABLE IF NOT EXISTS rt_open (id int, ssn string) USING parquet",
            ],
        );
        assert!(s.iter().all(|x| x["ok"] == true), "{s:?}");
        assert_eq!(s[6]["rows"][0]["card"], "4111 1111 1111 1111", "bob reads clear");
    });
}

fn alice(spark: &SparkServer) -> (Gateway, String) {
    let gw = gateway(spark, RULES);
    seed(&gw);
    let grant = gw.grant("alice", "lake", "5m").expect("grant");
    (gw, grant.uri)
}

fn bob(gw: &Gateway) -> String {
    gw.grant("bob", "lake", "5m").expect("grant").uri
}

/// Fails if a clear value is anywhere in what a step got back (rows or error).
fn assert_clean(step: &Value) {
    let text = format!("{} {}", step["rows"], step["error"]);
    for clear in CLEAR {
        assert!(!text.contains(clear), "leaked {clear:?}: {text}");
    }
}

fn ok_and_clean(steps: &[Value], gw: &Gateway) {
    for step in steps {
        assert_eq!(step["ok"], true, "{step}\n{}", gw.log());
        assert_clean(step);
    }
}

/// `spark.sql` over a table whose rules include `tokenize` (with partial, hash and email) is
/// answered, masked, and agrees with the DataFrame read of the same table.
#[test]
fn spark_sql_over_a_tokenize_table_is_answered_masked() {
    let Some(spark) = crate::env::spark() else {
        return;
    };
    let (gw, alice) = alice(spark);
    let s = drive(
        &alice,
        &[
            "sql:SELECT * FROM rt_customers ORDER BY id",
            "sql:SELECT id, name, ssn, email, card, phone FROM rt_customers ORDER BY id",
            "py:out = spark.table('rt_customers').orderBy('id')",
            "sql:SELECT count(*) AS n FROM rt_customers WHERE card = '4111 1111 1111 1111' \
             OR card LIKE '4111%' OR substring(card, 1, 4) = '5500'",
            "sql:SELECT c.card FROM rt_customers c JOIN rt_customers d ON c.card = d.card ORDER BY c.id",
        ],
    );
    ok_and_clean(&s, &gw);
    assert_eq!(s[0]["rows"], s[2]["rows"], "SQL and DataFrame agree");
    assert_eq!(s[1]["rows"], s[2]["rows"]);
    let card = s[0]["rows"][0]["card"].as_str().expect("a token");
    assert_eq!(card.len(), "4111 1111 1111 1111".len(), "{card}");
    assert_eq!(&card[4..5], " ", "format kept: {card}");
    assert_eq!(s[0]["rows"][0]["name"], "A***********");
    assert_eq!(s[0]["rows"][0]["email"], "***@example.com");
    assert_eq!(s[0]["rows"][0]["phone"], "************71");
    assert_eq!(s[3]["rows"][0]["n"], 0, "predicates see tokens");
    assert_eq!(s[4]["rows"].as_array().map(Vec::len), Some(2));
    assert_eq!(s[4]["rows"][0]["card"], card);
}

/// Star expansion and functions over whole rows, in SQL and DataFrames, see masked values only:
/// their results equal the same functions over the (masked) columns named one by one, and
/// differ from what bob, who reads clear, gets.
#[test]
fn functions_over_whole_rows_see_only_masked_values() {
    let Some(spark) = crate::env::spark() else {
        return;
    };
    let (gw, alice) = alice(spark);
    let named = "named_struct('id', id, 'name', name, 'ssn', ssn, 'email', email, 'card', card, \
                 'phone', phone)";
    let steps: Vec<String> = vec![
        // 0..: SQL
        "sql:SELECT to_json(struct(*)) AS j FROM rt_customers ORDER BY id".into(),
        "sql:SELECT struct(*) AS s FROM rt_customers ORDER BY id".into(),
        format!("sql:SELECT to_json({named}) AS j FROM rt_customers ORDER BY id"),
        "sql:SELECT hash(*) AS h, xxhash64(*) AS x FROM rt_customers ORDER BY id".into(),
        "sql:SELECT hash(id, name, ssn, email, card, phone) AS h, \
         xxhash64(id, name, ssn, email, card, phone) AS x FROM rt_customers ORDER BY id"
            .into(),
        "sql:SELECT concat_ws('|', *) AS c FROM rt_customers ORDER BY id".into(),
        "sql:SELECT to_json(collect_list(struct(*))) AS l FROM rt_customers".into(),
        "sql:SELECT max(struct(*)) AS m, count(*) AS n FROM rt_customers".into(),
        "sql:SELECT c.* FROM rt_customers c ORDER BY id".into(),
        "sql:SELECT to_json(struct(c.*)) AS j FROM rt_customers c ORDER BY id".into(),
        "sql:SELECT to_json(struct(c.*, d.*)) AS j FROM rt_customers c JOIN rt_customers d \
         USING (id) ORDER BY c.id"
            .into(),
        "sql:SELECT rt_customers.ssn, rt_customers.card FROM rt_customers ORDER BY id"
            .into(),
        "sql:SELECT sha2(to_json(struct(*)), 256) AS h FROM rt_customers ORDER BY id".into(),
        format!("sql:SELECT sha2(to_json({named}), 256) AS h FROM rt_customers ORDER BY id"),
        "sql:SELECT from_json(to_json(struct(*)), 'ssn string, card string') AS f \
         FROM (SELECT * FROM rt_customers) x ORDER BY id"
            .into(),
        "sql:SELECT * EXCEPT (id) FROM rt_customers ORDER BY name".into(),
        "sql:SELECT inline(array(struct(*))) FROM rt_customers ORDER BY id".into(),
        // 17..: DataFrames
        "py:out = spark.table('rt_customers').orderBy('id').select(F.to_json(F.struct('*')).alias('j'))"
            .into(),
        "py:out = spark.table('rt_customers').orderBy('id').selectExpr('to_json(struct(*)) AS j')"
            .into(),
        "py:df = spark.table('rt_customers'); out = df.orderBy('id').select(F.hash(*[df[c] for c in df.columns]).alias('h'))"
            .into(),
        "py:out = spark.table('rt_customers').alias('c').orderBy('id').select(F.to_json(F.struct('c.*')).alias('j'))"
            .into(),
        "py:out = spark.table('rt_customers').agg(F.to_json(F.collect_list(F.struct('*'))).alias('l'))"
            .into(),
        "py:out = spark.table('rt_customers').orderBy('id').selectExpr('concat_ws(\"|\", *) AS c')"
            .into(),
        "py:df = spark.table('rt_customers'); out = df.orderBy('id').select(df.colRegex('`.*`'))"
            .into(),
    ];
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let s = drive(&alice, &steps);
    ok_and_clean(&s, &gw);
    let rows = |i: usize| s[i]["rows"].clone();
    assert_eq!(
        rows(0),
        rows(2),
        "struct(*) is the struct of the masked columns"
    );
    assert_eq!(rows(0), rows(9));
    assert_eq!(rows(0), rows(17), "DataFrame struct('*')");
    assert_eq!(rows(0), rows(18), "selectExpr");
    assert_eq!(rows(0), rows(20), "struct('c.*')");
    assert_eq!(rows(3), rows(4), "hash(*) over the masked columns");
    assert_eq!(
        rows(12),
        rows(13),
        "sha2 over whole rows is over masked values"
    );
    assert_eq!(
        rows(6),
        rows(21),
        "collect_list(struct(*)) in SQL and DataFrames"
    );
    assert_eq!(rows(5), rows(22));
    let json = rows(0)[0]["j"].as_str().unwrap_or_default().to_string();
    assert!(json.contains("A***********"), "{json}");
    let h: Vec<Value> = rows(3)
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["h"].clone())
        .collect();
    let df_h: Vec<Value> = rows(19)
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["h"].clone())
        .collect();
    assert_eq!(h, df_h, "F.hash over every column");

    // Bob's clear answers differ: the masked ones carry nothing of the clear rows.
    let clear = drive(&bob(&gw), &[steps[3], steps[12]]);
    assert_ne!(
        clear[0]["rows"],
        rows(3),
        "hash(*) is not over clear values"
    );
    assert_ne!(clear[1]["rows"], rows(12));
}

/// Every secret form the keyed masks' pads could take in a message: hex (as `X'…'` and `0x…`
/// write it, either case), base64, and any 16-digit window of the hex (a rendering that cuts a
/// literal short).
fn secret_forms() -> Vec<String> {
    let key = MaskKey::new(MASK_KEY.as_bytes(), "test").expect("key");
    let mut forms = Vec::new();
    for hex in key.spark_secrets() {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
            .collect();
        use base64::Engine as _;
        forms.push(base64::engine::general_purpose::STANDARD.encode(&bytes)[..20].to_string());
        // Java's Arrays.toString of the first bytes.
        let signed: Vec<String> = bytes[..8].iter().map(|b| (*b as i8).to_string()).collect();
        forms.push(signed.join(", "));
        for window in 0..=(hex.len() - 16) / 8 {
            let part = &hex[window * 8..window * 8 + 16];
            forms.push(part.to_lowercase());
            forms.push(part.to_uppercase());
        }
    }
    forms
}

/// What the driver wrote, stdout and stderr (PySpark's logging of errors included).
fn driven_output(uri: &str, args: &[&str]) -> (Vec<Value>, String) {
    let out = crate::env::driver(uri, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("driver");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let all = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    (crate::env::steps(&stdout), all)
}

/// Key material (the keyed masks' pads) reaches no answer: errors (with the JVM stack trace
/// asked for), analyses, schemas and tree strings, SQL command results (`DESCRIBE` of a view
/// over a masked table, `SET`), catalog answers, observed metrics and the result stream.
#[test]
fn key_material_reaches_no_answer() {
    let Some(spark) = crate::env::spark() else {
        return;
    };
    let (gw, alice) = alice(spark);
    let steps = [
        "py:spark.conf.set('spark.sql.pyspark.jvmStacktrace.enabled', 'true')",
        "sql:SELECT nosuchcolumn FROM rt_customers",
        "py:out = spark.table('rt_customers').select('nosuch').columns",
        "py:out = spark.table('rt_customers').schema.json()",
        "py:import io, contextlib; buf = io.StringIO()\nwith contextlib.redirect_stdout(buf): spark.table('rt_customers').printSchema()\nout = buf.getvalue()",
        "py:out = spark.table('rt_customers').semanticHash()",
        "py:df = spark.table('rt_customers'); out = df.sameSemantics(df.select('*'))",
        "sql:CREATE OR REPLACE TEMPORARY VIEW rt_v AS SELECT * FROM rt_customers",
        "sql:DESCRIBE TABLE EXTENDED rt_v",
        "py:out = [str(c) for c in spark.catalog.listColumns('rt_v')]",
        "py:out = str(spark.catalog.getTable('rt_v'))",
        "sql:SHOW CREATE TABLE rt_v",
        "sql:SET -v",
        "py:from pyspark.sql import Observation; o = Observation('m'); \
         df = spark.table('rt_customers').observe(o, F.max('card').alias('c'), F.count('*').alias('n')); \
         df.collect(); out = o.get",
        "sql:SELECT CAST(card AS int) AS x FROM rt_customers",
        "py:out = spark.table('rt_customers').select(F.col('ssn').cast('int'))",
        "sql:SELECT assert_true(ssn = 'x') FROM rt_customers",
        "sql:SELECT * FROM rt_v WHERE card = 1",
        "py:out = spark.sql('SELECT card FROM rt_customers').filter('nosuch = 1')",
        "sql:SELECT default.rt_customers.card FROM rt_customers",
        // 20: progress messages of a masked plan, as the client's handler gets them.
        "py:msgs = []; spark.registerProgressHandler(lambda *a, **k: msgs.append(repr((a, k)))); \
         spark.table('rt_customers').selectExpr('count(DISTINCT card) AS n').collect(); \
         spark.clearProgressHandlers(); out = msgs",
    ];
    let (s, all) = driven_output(&alice, &steps);
    assert_eq!(s.len(), steps.len(), "{all}");
    for form in secret_forms() {
        assert!(!all.contains(&form), "key material {form:?} in:\n{all}");
    }
    for step in &s {
        assert_clean(step);
    }
    // The answers were given (refusals aside): the test looked at real messages.
    for i in [3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 20] {
        assert_eq!(s[i]["ok"], true, "{}\n{}", s[i], gw.log());
    }
    for i in [1, 2, 14, 15, 16, 17, 18, 19] {
        assert_eq!(s[i]["ok"], false, "{}", s[i]);
    }
}

/// Data in messages other than result batches passes the detectors too: errors quoting values
/// (`raise_error`, failed casts, `assert_true`), observed metrics, SQL command results.
#[test]
fn detectors_read_errors_metrics_and_command_results() {
    let Some(spark) = crate::env::spark() else {
        return;
    };
    let (gw, alice) = alice(spark);
    let steps = [
        "py:spark.conf.set('spark.sql.pyspark.jvmStacktrace.enabled', 'true')",
        "sql:SELECT note FROM rt_free ORDER BY id",
        "sql:SELECT raise_error(note) FROM rt_free",
        "sql:SELECT CAST(note AS int) FROM rt_free",
        "sql:SELECT assert_true(false, note) FROM rt_free",
        "py:out = spark.table('rt_free').select(F.raise_error(F.col('note')))",
        "py:from pyspark.sql import Observation; o = Observation('m'); \
         df = spark.table('rt_free').observe(o, F.max('note').alias('mx'), F.min('note').alias('mn')); \
         df.collect(); out = o.get",
        "sql:SELECT to_number(note, '999') FROM rt_free",
        "sql:SELECT make_date(2020, 1, CAST(note AS int)) FROM rt_free",
    ];
    let (s, all) = driven_output(&alice, &steps);
    assert_eq!(s.len(), steps.len(), "{all}");
    for clear in ["078-05-1120", "4012 8888 8888 1881"] {
        assert!(!all.contains(clear), "leaked {clear:?}:\n{all}");
    }
    assert_eq!(s[1]["ok"], true, "{}\n{}", s[1], gw.log());
    assert_eq!(
        s[1]["rows"],
        serde_json::json!([{"note": "my ssn is [ssn]"}, {"note": "card [card]"}])
    );
    for step in &s[2..=5] {
        assert_eq!(step["ok"], false, "{step}");
    }
    assert_eq!(s[6]["ok"], true, "{}\n{}", s[6], gw.log());
    assert!(s[6]["rows"].to_string().contains("[ssn]"), "{}", s[6]);
}

/// Formats the red team found the detectors missing, in Arrow result batches: SSNs with dots,
/// en-dashes, underscores, fullwidth digits, after "Social-Security no."; cards with dots, double
/// spaces, slashes, broken by a newline; phones with slashes; fullwidth `＠`; dotted IBANs.
#[test]
fn arrow_batches_blot_the_formats_the_red_team_found() {
    let Some(spark) = crate::env::spark() else {
        return;
    };
    let (gw, alice) = alice(spark);
    let values = [
        "078.05.1120",
        "078–05–1120",
        "078_05_1120",
        "０７８－０５－１１２０",
        "Social-Security no. 078051120",
        "4012.8888.8888.1881",
        "4012  8888  8888  1881",
        "4012/8888/8888/1881",
        "4012 8888\\n8888 1881",
        "call 394/757/5964",
        "ada＠example.com",
        "DE89.3704.0044.0532.0130.00",
    ];
    let select = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("'{v}' AS v{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("sql:SELECT {select}");
    let array = format!("sql:SELECT array({}) AS a", {
        values
            .iter()
            .map(|v| format!("'{v}'"))
            .collect::<Vec<_>>()
            .join(", ")
    });
    let s = drive(&alice, &[&sql, &array]);
    for step in &s {
        assert_eq!(step["ok"], true, "{step}\n{}", gw.log());
        let text = step["rows"].to_string();
        let digits: String = text
            .chars()
            .filter_map(|c| match c {
                '0'..='9' => Some(c),
                '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
                _ => None,
            })
            .collect();
        for clear in [
            "078051120",
            "4012888888881881",
            "3947575964",
            "89370400440532013000",
        ] {
            assert!(!digits.contains(clear), "{clear} in {text}");
        }
        assert!(!text.contains("example.com"), "{text}");
    }
}

/// A `scan` column is masked before Spark evaluates anything: plain reads are answered, with
/// what the detectors recognise replaced where it stands, and no function over the column (nor
/// an aggregation of its values) sees the clear text. Aggregations combine values masked one by
/// one (jitgate masks per value before aggregation rather than refusing aggregation). A value
/// split across rows is out of reach of masking per value: put together again by a join, a
/// window or an aggregation it is caught by the result detectors when it comes out whole (as
/// here), not when it is transformed further (`reverse` of the joined halves shows the card
/// reversed) — a limit the README states.
#[test]
fn scan_columns_are_masked_before_evaluation() {
    let Some(spark) = crate::env::spark() else {
        return;
    };
    let (gw, alice) = alice(spark);
    let s = drive(
        &alice,
        &[
            "sql:SELECT * FROM rt_tickets ORDER BY id",
            "py:out = spark.table('rt_tickets').orderBy('id')",
            "sql:SELECT regexp_replace(body, '[^0-9]', '') AS d FROM rt_tickets ORDER BY id",
            "sql:SELECT reverse(body) AS r FROM rt_tickets ORDER BY id",
            "sql:SELECT count(*) AS n FROM rt_tickets WHERE body LIKE '%078-05%' OR body RLIKE '[0-9]{3}-[0-9]{2}'",
            "sql:SELECT concat_ws(' ', collect_list(body)) AS a FROM rt_tickets",
            "sql:SELECT array_join(collect_list(body), '') AS a FROM rt_tickets",
            "sql:SELECT string_agg(body, '') AS a FROM rt_tickets",
            "py:out = spark.table('rt_tickets').select(F.regexp_replace('body', '[^0-9]', '').alias('d'))",
            "py:out = spark.table('rt_tickets').agg(F.concat_ws('', F.collect_list('body')).alias('a'))",
            "sql:SELECT to_json(struct(*)) AS j FROM rt_tickets ORDER BY id",
            // 11: a card split across two rows, put together again by a join, a window and an
            // aggregation: each half is masked alone (nothing to find), the whole one is left to
            // the result detectors, which see it when it comes out whole.
            "sql:SELECT concat(a.body, ' ', b.body) AS j FROM rt_tickets a JOIN rt_tickets b \
             ON b.id = a.id + 1 WHERE a.id = 2",
            "sql:SELECT concat(lag(body) OVER (ORDER BY id), ' ', body) AS w FROM rt_tickets \
             ORDER BY id",
            "sql:SELECT array_join(array_sort(collect_list(body), (x, y) -> \
             CASE WHEN x < y THEN 1 WHEN x > y THEN -1 ELSE 0 END), ' ') AS a FROM rt_tickets \
             WHERE id IN (2, 3)",
        ],
    );
    ok_and_clean(&s, &gw);
    assert_eq!(s[0]["rows"], s[1]["rows"], "SQL and DataFrame agree");
    let first = s[0]["rows"][0]["body"].as_str().unwrap_or_default();
    assert!(
        first.contains("[ssn]") && first.contains("[card]"),
        "{first}"
    );
    assert_eq!(s[0]["rows"][3]["body"], "nothing to see");
    assert_eq!(s[4]["rows"][0]["n"], 0);
    for step in &s[11..14] {
        let text = step["rows"].to_string();
        assert!(text.contains("first half [card] second half"), "{text}");
    }
    for i in [2, 3, 8] {
        let text = s[i]["rows"].to_string();
        assert!(
            !text.contains("078051120") && !text.contains("0211508"),
            "{text}"
        );
    }
}

/// Where rt_customers' files are, as bob (who may look) reads it from the catalog.
fn location_of_customers(gw: &Gateway) -> String {
    let s = drive(
        &bob(gw),
        &["py:out = [r.data_type for r in spark.sql('DESCRIBE TABLE EXTENDED rt_customers').collect() if r.col_name == 'Location']"],
    );
    s[0]["rows"][0].as_str().expect("a location").to_string()
}

/// Ways around the masks that are not functions over values: another table's files under an
/// unprotected table's name (read options, SQL table options), statements that run SQL text or
/// programs (`EXECUTE IMMEDIATE`, `TRANSFORM … USING`), variables and `${…}` substitution,
/// FROM-first queries, names in other cases, DataFrames passed into `spark.sql`.
#[test]
fn reads_around_the_masks_are_refused_or_masked() {
    let Some(spark) = crate::env::spark() else {
        return;
    };
    let (gw, alice) = alice(spark);
    let location = location_of_customers(&gw);
    let refused_steps = [
        format!("py:out = spark.read.option('path', '{location}').table('rt_open')"),
        format!("sql:SELECT * FROM rt_open WITH ('path' = '{location}')"),
        "sql:EXECUTE IMMEDIATE 'SELECT ssn FROM rt_customers'".into(),
        "sql:SELECT TRANSFORM(id) USING 'cat /etc/hostname' AS (s) FROM rt_free".into(),
        "sql:SELECT TRANSFORM(ssn) USING 'cat' AS (s) FROM rt_customers".into(),
        "sql:DECLARE VARIABLE v STRING DEFAULT 'x'".into(),
        format!("sql:SELECT * FROM parquet.`{location}`"),
        "sql:CACHE TABLE rt_c AS SELECT * FROM rt_customers".into(),
        "py:spark.catalog.cacheTable('rt_customers')".into(),
        "sql:SELECT * FROM IDENTIFIER('rt_customers')".into(),
        // Spark reads a parenthesised table; the analysis's parser does not: refused, not
        // passed through.
        "sql:SELECT ssn, card FROM (rt_customers)".into(),
        // Spark substitutes `${…}` in the text before it parses it, inside literals too: a value
        // set beforehand would turn the literal the analysis saw into a read of the table.
        "py:spark.conf.set('spark.sql.adaptive.jg', \"x' AS a, (SELECT max(ssn) FROM \
         rt_customers) AS b, 'y\"); out = spark.sql(\"SELECT '${spark.sql.adaptive.jg}' AS a \
         FROM rt_free\")"
            .into(),
        "py:out = spark.table('rt_free').selectExpr(\"'${spark.sql.adaptive.jg}' AS a\")".into(),
        "sql:SELECT '${env:HOME}' AS home".into(),
        // Global temporary views are the cluster's: any session makes or replaces them.
        "py:spark.table('rt_customers').createOrReplaceGlobalTempView('rt_g')".into(),
        "py:out = spark.sql('SELECT ssn, card FROM global_temp.rt_g')".into(),
    ];
    let masked_steps = [
        "sql:FROM rt_customers SELECT ssn, card",
        "py:out = spark.table('DEFAULT.RT_CUSTOMERS').select('ssn', 'card')",
        "py:out = spark.table('spark_catalog.default.rt_customers').select('ssn', 'card')",
        "sql:SELECT ssn, card FROM `default`.rt_customers",
        "sql:SELECT s FROM rt_customers LATERAL VIEW explode(array(ssn, card, name)) t AS s",
        "py:out = spark.table('rt_customers').localCheckpoint().select('ssn', 'card')",
        "py:out = spark.table('rt_customers').summary()",
        "py:out = spark.table('rt_customers').stat.freqItems(['ssn', 'card'])",
    ];
    let steps: Vec<&str> = refused_steps
        .iter()
        .map(String::as_str)
        .chain(masked_steps)
        .collect();
    let s = drive(&alice, &steps);
    for step in &s {
        assert_clean(step);
    }
    for step in &s[..refused_steps.len()] {
        assert_eq!(step["ok"], false, "{step}");
    }
    for step in &s[refused_steps.len()..] {
        assert_eq!(step["ok"], true, "{step}\n{}", gw.log());
    }
}

/// The storage credential `server.py` puts in the cluster's configuration.
const STORAGE_SECRET: &str = "jg-test-storage-secret-7f3a9c";

/// Spark answers Config reads with the cluster's values unredacted (its SQL `SET` redacts
/// them): a storage credential read so would let a masked subject read the tables' files
/// around jitgate, after the grant too. Listing every setting and reading keys that look like
/// credentials are refused, by Config call and SQL `SET` alike (Spark's redaction of `SET` covers
/// only its own key pattern); `SET -v` and ordinary keys still answer.
#[test]
fn configuration_credentials_are_not_read() {
    let Some(spark) = crate::env::spark() else {
        return;
    };
    let (gw, alice) = alice(spark);
    let refused = [
        "py:out = spark.conf.get('spark.hadoop.fs.s3a.secret.key')",
        "py:out = spark.conf.get('spark.hadoop.fs.s3a.secret.key', 'none')",
        "py:out = spark.conf.getAll",
        "py:out = str(spark.conf.getAll)",
        // Spark's SQL SET redacts only keys under its own pattern: listing every setting, and
        // reading a key that looks like a credential, are refused too.
        "sql:SET",
        "sql:SET spark.hadoop.fs.s3a.secret.key",
    ];
    let answered = [
        "py:out = spark.conf.get('spark.sql.session.timeZone')",
        "sql:SET -v",
        "sql:SET spark.sql.session.timeZone",
        "py:out = spark.table('rt_free').count()",
    ];
    let steps: Vec<&str> = refused.iter().chain(&answered).copied().collect();
    let s = drive(&alice, &steps);
    for step in &s {
        let text = format!("{} {}", step["rows"], step["error"]);
        assert!(
            !text.contains(STORAGE_SECRET),
            "leaked the credential: {step}"
        );
        assert_clean(step);
    }
    for step in &s[..refused.len()] {
        assert_eq!(step["ok"], false, "{step}");
        assert_eq!(step["grpc"], "PERMISSION_DENIED", "{step}");
    }
    for step in &s[refused.len()..] {
        assert_eq!(step["ok"], true, "{step}\n{}", gw.log());
    }
}

/// A global temporary view belongs to the whole cluster: bob (clear) makes one over the
/// protected table under a name no rule knows, and alice must not read it, by DataFrame or SQL,
/// in any spelling — nor replace it, nor make one of her own.
#[test]
fn global_temporary_views_of_clear_sessions_are_not_read() {
    let Some(spark) = crate::env::spark() else {
        return;
    };
    let (gw, alice) = alice(spark);
    let s = drive(
        &bob(&gw),
        &["py:spark.table('rt_customers').createOrReplaceGlobalTempView('shared_report')"],
    );
    assert_eq!(s[0]["ok"], true, "{s:?}");
    let s = drive(
        &alice,
        &[
            "py:out = spark.table('global_temp.shared_report').select('ssn', 'card')",
            "py:out = spark.read.table('GLOBAL_TEMP.shared_report')",
            "py:out = spark.table('spark_catalog.global_temp.shared_report')",
            "sql:SELECT ssn, card FROM global_temp.shared_report",
            "sql:SELECT * FROM `global_temp`.`shared_report`",
            "sql:SELECT count(*) FROM rt_free WHERE id IN (SELECT id FROM global_temp.shared_report WHERE ssn LIKE '1%')",
            "py:spark.table('rt_free').createOrReplaceGlobalTempView('shared_report')",
            "py:spark.table('rt_free').createGlobalTempView('alice_view')",
        ],
    );
    for step in &s {
        assert_clean(step);
        assert_eq!(step["ok"], false, "{step}");
    }
}
