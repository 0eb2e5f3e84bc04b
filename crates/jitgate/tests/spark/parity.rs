//! Every mask, on every Spark type it applies to, computed by a real Spark (4.0) from
//! `Mask::spark_expr` and by Rust from `Mask::apply_text` on the value's text form, must give the
//! same value, and the Spark result must keep the column's type. One Spark Connect server, no
//! gateway: the expressions are what the Spark front will put in plans.
//!
//! The session runs in a time zone with summer time, so that timestamp truncation and text
//! forms are both seen to follow it. Needs `java` and `python3` with `pyspark[connect]`; without
//! java the test prints why and passes.

use crate::env::{drive, spark};
use crate::generate;
use jitgate_masking::{
    Generalization, Mask, MaskError, MaskKey, PgTypeInfo, Scanner, SparkType, Written,
};
use serde_json::Value;
use std::time::Instant;

/// (column, Spark type, the PostgreSQL type whose text form Rust masks, values as Spark SQL;
/// NULL included).
fn columns() -> Vec<(&'static str, SparkType, u32, Vec<String>)> {
    let dec = |precision, scale| SparkType::Decimal { precision, scale };
    let cast = |ty: &str, values: &[&str]| -> Vec<String> {
        values
            .iter()
            .map(|v| match *v {
                "NULL" => format!("CAST(NULL AS {ty})"),
                v => format!("CAST('{v}' AS {ty})"),
            })
            .collect()
    };
    let raw = |values: &[&str]| -> Vec<String> { values.iter().map(|v| v.to_string()).collect() };
    vec![
        (
            "c_string",
            SparkType::String,
            25,
            raw(&[
                "'alice.smith@example.com'",
                "'123-45-6789'",
                "''",
                "'Zoë Ünal'",
                "'x'",
                "repeat('Ab9-', 20)",
                r"'it\'s \\ back'",
                r#"'"a@b"@x.org'"#,
                "'no at sign'",
                "'4111-1111-1111-1111 Ab'",
                "'clef 𝄞 at@ünï.example'",
                "CAST(NULL AS string)",
            ]),
        ),
        (
            "c_tinyint",
            SparkType::TinyInt,
            21,
            cast("tinyint", &["0", "-128", "127", "-99", "NULL"]),
        ),
        (
            "c_smallint",
            SparkType::SmallInt,
            21,
            cast("smallint", &["0", "-32768", "32767", "1234", "-7", "NULL"]),
        ),
        (
            "c_int",
            SparkType::Int,
            23,
            cast(
                "int",
                &["0", "-1999", "2147483647", "-2147483648", "123456", "NULL"],
            ),
        ),
        (
            "c_bigint",
            SparkType::BigInt,
            20,
            cast(
                "bigint",
                &[
                    "0",
                    "-9223372036854775808",
                    "9223372036854775807",
                    "4111111111111111",
                    "-12345",
                    "NULL",
                ],
            ),
        ),
        (
            "c_dec20",
            dec(20, 0),
            1700,
            cast(
                "decimal(20,0)",
                &["4111111111111111", "-9223372036854775808", "0", "NULL"],
            ),
        ),
        (
            "c_dec",
            dec(12, 4),
            1700,
            cast(
                "decimal(12,4)",
                &[
                    "1234.56",
                    "-0.5",
                    "0",
                    "-1999.99",
                    "99999999.9999",
                    "-123456",
                    "NULL",
                ],
            ),
        ),
        (
            "c_float",
            SparkType::Float,
            700,
            cast(
                "float",
                &[
                    "123456.7",
                    "-0.5",
                    "0",
                    "NaN",
                    "-Infinity",
                    "-1999.25",
                    "NULL",
                ],
            ),
        ),
        (
            "c_double",
            SparkType::Double,
            701,
            cast(
                "double",
                &[
                    "123456.7",
                    "-0.5",
                    "1e20",
                    "Infinity",
                    "-0.0",
                    "-1234567.5",
                    "NULL",
                ],
            ),
        ),
        (
            "c_date",
            SparkType::Date,
            1082,
            cast(
                "date",
                &[
                    "1985-07-23",
                    "2024-02-29",
                    "0001-01-01",
                    "9999-12-31",
                    "1900-03-01",
                    "NULL",
                ],
            ),
        ),
        (
            "c_ts",
            SparkType::Timestamp,
            1114,
            cast(
                "timestamp",
                &[
                    "1985-07-23 08:09:10.123",
                    "2024-12-31 23:59:59",
                    "2024-02-29 00:00:00",
                    "2024-03-31 02:30:00.000001",
                    "NULL",
                ],
            ),
        ),
        (
            "c_bool",
            SparkType::Boolean,
            16,
            cast("boolean", &["true", "false", "NULL"]),
        ),
        (
            "c_binary",
            SparkType::Binary,
            17,
            raw(&["X'0102ff'", "X''", "CAST(NULL AS binary)"]),
        ),
    ]
}

fn masks() -> Vec<Mask> {
    let partial = |keep_first, keep_last, pad| Mask::Partial {
        keep_first,
        keep_last,
        pad,
    };
    vec![
        Mask::Redact,
        Mask::Null,
        partial(0, 4, '*'),
        partial(2, 1, '\''),
        partial(1, 1, '•'),
        partial(1, 0, '\\'),
        Mask::Email,
        Mask::Hash,
        Mask::Tokenize,
        Mask::Generalize(Generalization::Month),
        Mask::Generalize(Generalization::Year),
        Mask::Generalize(Generalization::Bucket(1000)),
        Mask::Generalize(Generalization::Bucket(7)),
        Mask::Generalize(Generalization::Bucket(100_000)),
        Mask::Generalize(Generalization::Bucket(1 << 40)),
    ]
}

/// Spark SQL showing a value as text: Spark's own cast, hex for binary.
fn shown(expr: &str, ty: SparkType) -> String {
    match ty {
        SparkType::Binary => format!("lower(hex({expr}))"),
        _ => format!("CAST({expr} AS string)"),
    }
}

/// Spark's text of a clear value, as PostgreSQL's text format would show it to the Rust mask.
pub(crate) fn as_pg_text(spark: &str, ty: SparkType) -> String {
    match (ty, spark) {
        (SparkType::Boolean, "true") => "t".into(),
        (SparkType::Boolean, "false") => "f".into(),
        (SparkType::Binary, hex) => format!("\\x{hex}"),
        _ => spark.into(),
    }
}

/// Decimal text without trailing fraction zeros, and zero unsigned: decimals compare by value
/// (Spark prints a `decimal(p,s)` with its scale, PostgreSQL's numeric `0` without).
fn decimal_value(text: &str) -> String {
    let mut t = text.to_string();
    if t.contains('.') {
        t = t.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    if t == "-0" {
        t = "0".into();
    }
    t
}

/// Whether Spark's masked text and Rust's masked PostgreSQL text are the same value of `ty`.
pub(crate) fn same(spark: &str, rust: &str, ty: SparkType) -> bool {
    match ty {
        SparkType::Float | SparkType::Double => match (spark.parse::<f64>(), rust.parse::<f64>()) {
            (Ok(a), Ok(b)) => a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            _ => false,
        },
        SparkType::Decimal { .. } => decimal_value(spark) == decimal_value(rust),
        SparkType::Boolean => spark == if rust == "t" { "true" } else { "false" },
        SparkType::Binary => Some(spark) == rust.strip_prefix("\\x"),
        _ => spark == rust,
    }
}

pub(crate) fn text(v: &Value) -> Option<&str> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => panic!("not a string: {other}"),
    }
}

#[test]
fn spark_sql_masks_match_rust_masks_in_spark() {
    let Some(spark) = spark() else { return };
    let started = Instant::now();
    let key = MaskKey::new(b"parity test key, 32 bytes long!!", "test").expect("key");
    let columns = columns();
    let masks = masks();

    let rows = columns.iter().map(|c| c.3.len()).max().unwrap_or(0);
    let mut tuples = Vec::new();
    for row in 0..rows {
        let mut values = vec![row.to_string()];
        for (_, ty, _, vals) in &columns {
            values.push(
                vals.get(row)
                    .cloned()
                    .unwrap_or_else(|| format!("CAST(NULL AS {ty})")),
            );
        }
        tuples.push(format!("({})", values.join(", ")));
    }
    let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
    let view = format!(
        "sql:CREATE OR REPLACE TEMPORARY VIEW jg_values AS SELECT * FROM VALUES {} AS v(id, {})",
        tuples.join(", "),
        names.join(", ")
    );
    let clear = format!(
        "sql:SELECT id, {} FROM jg_values ORDER BY id",
        columns
            .iter()
            .enumerate()
            .map(|(i, (name, ty, _, _))| format!("{} AS v{i}", shown(name, *ty)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut steps = vec![
        "sql:SET spark.sql.session.timeZone = Europe/Paris".to_string(),
        view,
        clear,
    ];
    // One query per mask: (mask, column) pairs it covers.
    let mut cases: Vec<Vec<usize>> = Vec::new();
    for mask in &masks {
        let mut parts = vec!["id".to_string()];
        let mut covered = Vec::new();
        for (i, (name, ty, _, _)) in columns.iter().enumerate() {
            let expr = match mask.spark_expr(&format!("jg_values.{name}"), ty, &key) {
                Ok(expr) => expr,
                Err(MaskError::NotApplicable { .. }) => {
                    assert!(!mask.applies_to_spark(ty), "{mask} on {ty}");
                    continue;
                }
                Err(e) => panic!("{mask} on {ty}: {e}"),
            };
            parts.push(format!("{} AS m{i}", shown(&expr, *ty)));
            parts.push(format!("typeof({expr}) AS t{i}"));
            covered.push(i);
        }
        steps.push(format!(
            "sql:SELECT {} FROM jg_values ORDER BY id",
            parts.join(", ")
        ));
        cases.push(covered);
    }

    let args: Vec<&str> = steps.iter().map(String::as_str).collect();
    let results = drive(&spark.uri(), &args);
    for (step, result) in steps.iter().zip(&results) {
        assert_eq!(
            result["ok"],
            true,
            "Spark refused {}:\n{}",
            &step[..step.len().min(2000)],
            result["error"]
        );
    }
    let clear = results[2]["rows"].as_array().expect("rows");
    assert_eq!(clear.len(), rows);

    let (mut compared, mut declined) = (0, 0);
    for ((mask, covered), result) in masks.iter().zip(&cases).zip(&results[3..]) {
        let masked = result["rows"].as_array().expect("rows");
        for &i in covered {
            let (name, ty, oid, values) = &columns[i];
            let pg_type = PgTypeInfo::from_oid(*oid);
            for id in 0..values.len() {
                let row = &masked[id];
                assert_eq!(row["id"], id, "rows in order");
                assert_eq!(
                    row[format!("t{i}")],
                    ty.to_string(),
                    "{mask} on {name} must keep its type"
                );
                let spark_out = text(&row[format!("m{i}")]);
                let Some(original) = text(&clear[id][format!("v{i}")]) else {
                    assert_eq!(spark_out, None, "{mask} on NULL {name} must stay NULL");
                    continue;
                };
                let input = as_pg_text(original, *ty);
                let mut out = Vec::new();
                let rust = match mask.apply_text(input.as_bytes(), &pg_type, &key, &mut out) {
                    Ok(Written::Value) => Some(String::from_utf8(out).expect("UTF-8")),
                    Ok(Written::Null) => None,
                    // Rust declines floats PostgreSQL would print with an exponent.
                    Err(MaskError::Unrecognised { .. })
                        if matches!(ty, SparkType::Float | SparkType::Double) =>
                    {
                        declined += 1;
                        continue;
                    }
                    Err(e) => panic!("{mask} on {name} = {original:?}: {e}"),
                };
                let agree = match (spark_out, rust.as_deref()) {
                    (Some(s), Some(r)) => same(s, r, *ty),
                    (None, None) => true,
                    _ => false,
                };
                assert!(
                    agree,
                    "{mask} on {name} = {original:?}: Spark {spark_out:?}, Rust {rust:?}"
                );
                compared += 1;
            }
        }
    }
    println!(
        "spark/rust parity: {compared} values equal, {declined} declined by Rust, in {:?}",
        started.elapsed()
    );
    assert!(compared > 250, "only {compared} values compared");
}

/// Letters and digits of `s`, fullwidth forms as ASCII, lower-cased: what a reader takes from a
/// value.
fn core(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Occurrences of `needle` in `hay`, overlapping ones too.
fn occurrences(hay: &str, needle: &str) -> usize {
    (0..hay.len())
        .filter(|&i| hay.is_char_boundary(i) && hay[i..].starts_with(needle))
        .count()
}

/// `scan`'s Spark form must over-mask, never under-mask: on generated text (every format the
/// detectors know, look-alikes, lines glued together), whatever a Rust detector finds must be
/// gone from what Spark returns, as `jitgate-masking`'s `tests/scan_superset.rs` checks for
/// PostgreSQL's form.
#[test]
fn spark_scan_replaces_whatever_the_detectors_find() {
    let Some(spark) = spark() else { return };
    let key = MaskKey::new(b"parity test key, 32 bytes long!!", "test").expect("key");
    let mut rng = generate::Rng::new(0x5ca9_5e75);
    let mut texts: Vec<String> = generate::positives(&mut rng, 60)
        .into_iter()
        .chain(generate::negatives(&mut rng, 30))
        .map(|(_, line)| line.replace(['«', '»'], "").replace("\\n", "\n"))
        .collect();
    let glue = ["", " ", "-", "\n", ".", ":", "x", "/", " – ", "１"];
    for _ in 0..400 {
        let a = rng.pick(&texts).clone();
        let b = rng.pick(&texts).clone();
        let g: &&str = rng.pick(&glue);
        let cut = (a.len() / 2..=a.len())
            .find(|&c| a.is_char_boundary(c))
            .unwrap_or(a.len());
        texts.push(format!("{}{g}{b}", &a[cut..]));
    }
    let hex = |s: &str| -> String { s.bytes().map(|b| format!("{b:02x}")).collect() };
    let rows: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| format!("({i}, '{}')", hex(t)))
        .collect();
    let expr = Mask::Scan
        .spark_expr("jg_scan.v", &SparkType::String, &key)
        .expect("scan has a Spark form");
    // Views of at most 100 rows each: the driver takes its statements as arguments.
    let mut steps: Vec<String> = rows
        .chunks(100)
        .enumerate()
        .map(|(i, chunk)| {
            format!(
                "sql:CREATE OR REPLACE TEMPORARY VIEW jg_scan{i} AS \
                 SELECT id, decode(unhex(h), 'UTF-8') AS v FROM VALUES {} AS t(id, h)",
                chunk.join(", ")
            )
        })
        .collect();
    let parts: Vec<String> = (0..steps.len())
        .map(|i| format!("SELECT * FROM jg_scan{i}"))
        .collect();
    steps.push(format!(
        "sql:CREATE OR REPLACE TEMPORARY VIEW jg_scan AS {}",
        parts.join(" UNION ALL ")
    ));
    steps.push(format!(
        "sql:SELECT id, {expr} AS m, typeof({expr}) AS t FROM jg_scan ORDER BY id"
    ));
    let args: Vec<&str> = steps.iter().map(String::as_str).collect();
    let started = Instant::now();
    let results = drive(&spark.uri(), &args);
    for result in &results {
        assert_eq!(result["ok"], true, "Spark refused: {}", result["error"]);
    }
    let masked = results.last().expect("results")["rows"]
        .as_array()
        .expect("rows");
    assert_eq!(masked.len(), texts.len());
    let scanner = Scanner::builtin();
    let (mut findings, mut leaks) = (0, Vec::new());
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(masked[i]["t"], "string");
        let out = masked[i]["m"].as_str().expect("a string for a string");
        let mut by_core = std::collections::BTreeMap::<String, usize>::new();
        for f in scanner.scan(text) {
            findings += 1;
            *by_core.entry(core(&text[f.range])).or_default() += 1;
        }
        for (value, n) in by_core {
            if occurrences(&core(out), &value) + n > occurrences(&core(text), &value) {
                leaks.push(format!("{value:?} in {text:?} -> {out:?}"));
            }
        }
    }
    println!(
        "spark scan: {} texts, {findings} findings checked, in {:?}",
        texts.len(),
        started.elapsed()
    );
    assert!(
        leaks.is_empty(),
        "{} findings survive Spark's form:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    assert!(findings > 300, "only {findings} findings");
}
