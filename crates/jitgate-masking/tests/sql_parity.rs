//! Every mask, on every type it applies to, computed by PostgreSQL 15 from `Mask::sql_expr` and
//! by Rust from `Mask::apply_text`, must give the same text for the same value. The session runs
//! with settings chosen to break careless SQL: `standard_conforming_strings` off and a schema
//! earlier in `search_path` that redefines `||` and `left()`.
//!
//! Masks that [`Mask::exact_in_stream`] calls exact are the ones the gateway may apply in the
//! result stream instead of in SQL; they must never decline a value here.
//!
//! `scan` in SQL is a documented superset of the Rust detectors (no checksums); its test values
//! are ones both treat alike, so that its SQL is still run and compared.

use jitgate_masking::{Generalization, Mask, MaskKey, PgTypeInfo, Written};
use jitgate_pgcluster::{ClusterOptions, PgCluster};

/// (column, type OID, SQL type, values as SQL literals; NULL included).
const COLUMNS: &[(&str, u32, &str, &[&str])] = &[
    (
        "c_text",
        25,
        "text",
        &[
            "'alice.smith@example.com'",
            "'123-45-6789'",
            "''",
            "'Zoë Ünal'",
            "'x'",
            "repeat('Ab9-', 20)",
            // tokenize's SQL: the last length rewritten in one expression, the first walked.
            "repeat('a1B', 10) || 'z-'",
            "repeat('a1B', 11)",
            "'call 415-555-2671, mail a@b.io, card 4111 1111 1111 1111, ip 10.0.0.1'",
            "'it''s \\ back'",
            "NULL",
        ],
    ),
    (
        "c_varchar",
        1043,
        "varchar(80)",
        &["'bob@example.org'", "'4111-1111-1111-1111'", "NULL"],
    ),
    ("c_bpchar", 1042, "char(12)", &["'ab'", "'ABC-123'", "NULL"]),
    (
        "c_int2",
        21,
        "int2",
        &["0", "-32768", "32767", "1234", "NULL"],
    ),
    (
        "c_int4",
        23,
        "int4",
        &["0", "-1999", "2147483647", "-2147483648", "123456", "NULL"],
    ),
    (
        "c_int8",
        20,
        "int8",
        &[
            "0",
            "-9223372036854775808",
            "9223372036854775807",
            "4111111111111111",
            "NULL",
        ],
    ),
    (
        "c_numeric",
        1700,
        "numeric",
        &[
            "'1234.5600'",
            "'-0.5'",
            "'0'",
            "'NaN'",
            "'Infinity'",
            "'-123456789012345678901234567890.12'",
            "NULL",
        ],
    ),
    (
        "c_float4",
        700,
        "float4",
        &["123456.7", "'-0.5'", "0", "'NaN'", "'-Infinity'", "NULL"],
    ),
    (
        "c_float8",
        701,
        "float8",
        &["123456.7", "'-0.5'", "'1e20'", "'Infinity'", "NULL"],
    ),
    (
        "c_date",
        1082,
        "date",
        &[
            "'1985-07-23'",
            "'2024-02-29'",
            "'infinity'",
            "'0044-03-15 BC'",
            "NULL",
        ],
    ),
    (
        "c_ts",
        1114,
        "timestamp",
        &[
            "'1985-07-23 08:09:10.123'",
            "'2024-12-31 23:59:59'",
            "'-infinity'",
            "NULL",
        ],
    ),
    (
        "c_tstz",
        1184,
        "timestamptz",
        &[
            "'2024-03-15 10:20:30+00'",
            "'1999-01-01 00:00:00.5+00'",
            "NULL",
        ],
    ),
    ("c_bool", 16, "bool", &["true", "false", "NULL"]),
    (
        "c_uuid",
        2950,
        "uuid",
        &["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "NULL"],
    ),
    (
        "c_bytea",
        17,
        "bytea",
        &["'\\x0102ff'::bytea", "''::bytea", "NULL"],
    ),
    ("c_json", 114, "json", &["'{\"a\": 1}'", "NULL"]),
    (
        "c_jsonb",
        3802,
        "jsonb",
        &["'{\"a\": 1, \"b\": [true]}'", "NULL"],
    ),
];

fn masks() -> Vec<Mask> {
    vec![
        Mask::Redact,
        Mask::Null,
        Mask::Partial {
            keep_first: 0,
            keep_last: 4,
            pad: '*',
        },
        Mask::Partial {
            keep_first: 2,
            keep_last: 1,
            pad: '\'',
        },
        Mask::Partial {
            keep_first: 1,
            keep_last: 1,
            pad: '•',
        },
        Mask::Email,
        Mask::Hash,
        Mask::Tokenize,
        Mask::Generalize(Generalization::Month),
        Mask::Generalize(Generalization::Year),
        Mask::Generalize(Generalization::Bucket(1000)),
        Mask::Generalize(Generalization::Bucket(100_000)),
        Mask::Scan,
    ]
}

/// SQL showing `expr` as the hex of its text output (`format('%s')` uses the type's output
/// function, so char(n) keeps its blanks), or `NULL`; evaluated once, in a subquery.
fn shown(expr: &str) -> String {
    format!(
        "(SELECT CASE WHEN v IS NULL THEN 'NULL' ELSE pg_catalog.encode(pg_catalog.convert_to(pg_catalog.format('%s', v), 'UTF8'), 'hex') END FROM (SELECT {expr} AS v) AS s)"
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex from psql"))
        .collect()
}

#[test]
fn sql_masks_match_rust_masks_in_postgresql() {
    let cluster = PgCluster::start(ClusterOptions::default()).expect("start PostgreSQL 15");
    let key = MaskKey::new(b"parity test key, 32 bytes long!!", "test").expect("key");

    let mut setup = String::from("CREATE TABLE t (id int");
    for (name, _, ty, _) in COLUMNS {
        setup += &format!(", {name} {ty}");
    }
    setup += ");\n";
    let rows = COLUMNS.iter().map(|c| c.3.len()).max().unwrap_or(0);
    for row in 0..rows {
        let values: Vec<&str> = COLUMNS
            .iter()
            .map(|c| *c.3.get(row).unwrap_or(&"NULL"))
            .collect();
        setup += &format!("INSERT INTO t VALUES ({row}, {});\n", values.join(", "));
    }
    // A user's attempt to see clear values through objects that shadow pg_catalog's.
    setup += "CREATE SCHEMA evil;
        CREATE FUNCTION evil.cat(text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'PWNED' $$;
        CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.cat);
        CREATE FUNCTION evil.left(text, integer) RETURNS text LANGUAGE sql AS $$ SELECT 'PWNED' $$;\n";
    cluster
        .psql("postgres", &setup)
        .expect("create the test table");

    // The clear text of every value, as the wire's text format shows it.
    let mut query = String::from(
        "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET standard_conforming_strings = off;\n",
    );
    query += "SET search_path = evil, pg_catalog;\n";
    let mut parts = Vec::new();
    for (c, (name, _, _, _)) in COLUMNS.iter().enumerate() {
        parts.push(format!(
            "SELECT 'v', {c}, id, {} FROM public.t",
            shown(name)
        ));
    }
    let mut cases = Vec::new();
    for (m, mask) in masks().iter().enumerate() {
        for (c, (name, oid, _, _)) in COLUMNS.iter().enumerate() {
            let ty = PgTypeInfo::from_oid(*oid);
            if !mask.applies_to(&ty) {
                assert!(mask.sql_expr(name, &ty, &key).is_err());
                continue;
            }
            let expr = mask
                .sql_expr(&format!("t.{name}"), &ty, &key)
                .expect("SQL for an applicable mask");
            parts.push(format!(
                "SELECT 'm{m}', {c}, id, {} FROM public.t",
                shown(&expr)
            ));
            cases.push((m, c));
        }
    }
    query += &parts.join("\nUNION ALL\n");
    query += ";\n";
    let output = cluster.psql("postgres", &query).expect("run the masks");

    let mut clear = std::collections::HashMap::new();
    let mut masked = std::collections::HashMap::new();
    for line in output.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        let [tag, c, id, value] = f[..] else {
            panic!("unexpected psql line {line:?}");
        };
        let key = (
            c.parse::<usize>().expect("column"),
            id.parse::<usize>().expect("id"),
        );
        let value = (value != "NULL").then(|| unhex(value));
        if tag == "v" {
            clear.insert(key, value);
        } else {
            let m: usize = tag[1..].parse().expect("mask index");
            masked.insert((m, key.0, key.1), value);
        }
    }

    let all = masks();
    let (mut compared, mut left_to_sql) = (0, 0);
    for (m, c) in cases {
        let mask = &all[m];
        let (name, oid, _, values) = COLUMNS[c];
        let ty = PgTypeInfo::from_oid(oid);
        for id in 0..values.len() {
            let sql = &masked[&(m, c, id)];
            let original = &clear[&(c, id)];
            let Some(original) = original else {
                assert_eq!(*sql, None, "{mask} on NULL {name} must stay NULL");
                continue;
            };
            let mut out = Vec::new();
            let rust = match mask.apply_text(original, &ty, &key, &mut out) {
                Ok(Written::Value) => Some(out),
                Ok(Written::Null) => None,
                // The Rust side declines some values (floats PostgreSQL prints with exponents);
                // the row rewriter redacts those.
                Err(e) => {
                    // Masks the rewriter leaves to the result stream must never decline.
                    assert!(
                        !mask.exact_in_stream(&ty),
                        "{mask} on {name} is meant to be exact in the stream but declined: {e}"
                    );
                    left_to_sql += 1;
                    continue;
                }
            };
            compared += 1;
            let show =
                |v: &Option<Vec<u8>>| v.as_ref().map(|v| String::from_utf8_lossy(v).into_owned());
            assert_eq!(
                show(sql),
                show(&rust),
                "{mask} on {name} = {:?} (hex {})",
                String::from_utf8_lossy(original),
                hex(original)
            );
            assert!(!show(sql).unwrap_or_default().contains("PWNED"));
        }
    }
    println!("sql/rust parity: {compared} values equal, {left_to_sql} left to SQL only");
    assert!(compared > 150, "only {compared} values compared");
}
