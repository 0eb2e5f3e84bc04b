//! Every mask, on every MySQL type it applies to, computed by a real MariaDB from
//! `Mask::mysql_expr` and by Rust from `Mask::apply_mysql_text` on the value's text form, must
//! give the same value, and the MariaDB result must keep the column's type family. Masks without
//! an exact MariaDB form must be refused (`MaskError::NotInMySql`), never approximated.
//!
//! The session runs with settings chosen to break careless SQL: `NO_BACKSLASH_ESCAPES`,
//! `ANSI_QUOTES` and `PIPES_AS_CONCAT` in `sql_mode`, a latin1 connection character set, a
//! time zone that is not UTC. Needs `mariadb-server` (`scripts/install-deps test`); without it
//! the test prints why and passes.

use jitgate_masking::{Generalization, Mask, MaskError, MaskKey, MySqlType, Written};
use jitgate_testkit::MariaDb;

/// Settings every statement runs under.
const SESSION: &str = "SET NAMES latin1; \
    SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES,ANSI_QUOTES,PIPES_AS_CONCAT'); \
    SET time_zone = '+05:30';";

/// Settings a masked subject could choose to make the SQL forms and the stream differ: char(n)
/// blank-padded, zero dates refused, strict and Oracle modes, `''` read as NULL, fractions
/// rounded, another connection character set and collation.
const STRICT_SESSION: &str = "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci; \
    SET sql_mode = 'TRADITIONAL,PAD_CHAR_TO_FULL_LENGTH,NO_ZERO_IN_DATE,NO_ZERO_DATE,ORACLE,EMPTY_STRING_IS_NULL,TIME_ROUND_FRACTIONAL,IGNORE_SPACE,HIGH_NOT_PRECEDENCE'; \
    SET time_zone = '-03:00';";

/// A utf8mb4 string value, written so that nothing in it needs escaping.
fn text(s: &str) -> String {
    format!("CONVERT(X'{}' USING utf8mb4)", hex(s.as_bytes()))
}

fn raw(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

/// (table, DDL type, MySQL type, values as SQL; NULL included).
fn columns() -> Vec<(&'static str, &'static str, MySqlType, Vec<String>)> {
    let mut strings: Vec<String> = [
        "alice.smith@example.com",
        "123-45-6789",
        "",
        "Zoë Ünal",
        "x",
        "ab",
        "abc",
        "abcd",
        &"Ab9-".repeat(20),
        "it's \\ back",
        "\"a@b\"@x.org",
        "no at sign",
        "x@",
        "@",
        "a＠b.example",
        "4111-1111-1111-1111 Ab",
        "clef 𝄞 at@ünï.example",
        "tab\there\nnewline",
    ]
    .iter()
    .map(|s| text(s))
    .collect();
    strings.push("NULL".into());
    let dec = |precision, scale| MySqlType::Decimal { precision, scale };
    vec![
        (
            "t_text",
            "varchar(200) CHARACTER SET utf8mb4",
            MySqlType::Text,
            strings,
        ),
        (
            "t_latin1",
            "varchar(50) CHARACTER SET latin1",
            MySqlType::Text,
            vec![
                text("Zoë Ünal"),
                text("bob@example.org"),
                text("ÿ@é"),
                text(""),
                "NULL".into(),
            ],
        ),
        (
            "t_char",
            "char(10) CHARACTER SET utf8mb4",
            MySqlType::Text,
            vec![text("ab  "), text("ü@x  "), text(""), "NULL".into()],
        ),
        (
            "t_tinyint",
            "tinyint",
            MySqlType::TinyInt,
            raw(&["0", "-128", "127", "-99", "55", "NULL"]),
        ),
        (
            "t_mediumint",
            "mediumint",
            MySqlType::MediumInt,
            raw(&["0", "-8388608", "8388607", "123456", "NULL"]),
        ),
        (
            "t_smallint",
            "smallint",
            MySqlType::SmallInt,
            raw(&["0", "-32768", "32767", "1234", "-7", "NULL"]),
        ),
        (
            "t_int",
            "int",
            MySqlType::Int,
            raw(&["0", "-1999", "2147483647", "-2147483648", "123456", "NULL"]),
        ),
        (
            "t_bigint",
            "bigint",
            MySqlType::BigInt,
            raw(&[
                "0",
                "-9223372036854775808",
                "9223372036854775807",
                "4111111111111111",
                "-12345",
                "NULL",
            ]),
        ),
        (
            "t_dec20",
            "decimal(20,0)",
            dec(20, 0),
            raw(&["4111111111111111", "-9223372036854775808", "0", "NULL"]),
        ),
        (
            "t_dec",
            "decimal(12,4)",
            dec(12, 4),
            raw(&[
                "1234.56",
                "-0.5",
                "0",
                "-1999.99",
                "99999999.9999",
                "-123456",
                "NULL",
            ]),
        ),
        (
            "t_date",
            "date",
            MySqlType::Date,
            raw(&[
                "'2024-02-29'",
                "'1999-12-31'",
                "'0001-01-01'",
                "'9999-12-31'",
                // Zero dates and zero parts, which MariaDB's default sql_mode accepts.
                "'0000-00-00'",
                "'2020-05-00'",
                "'2020-00-00'",
                "NULL",
            ]),
        ),
        (
            "t_datetime",
            "datetime(6)",
            MySqlType::DateTime,
            raw(&[
                "'2024-02-29 23:59:59.999999'",
                "'1970-01-01 00:00:00'",
                "'2020-06-15 12:00:00.5'",
                "'0001-01-01 00:00:00'",
                "'0000-00-00 00:00:00'",
                "'2020-05-00 10:00:00'",
                "NULL",
            ]),
        ),
        (
            "t_timestamp",
            "timestamp NULL",
            MySqlType::Timestamp,
            raw(&[
                "'2024-03-31 01:02:03'",
                "'2038-01-19 03:14:07'",
                "'1970-01-02 00:00:00'",
                "'0000-00-00 00:00:00'",
                "NULL",
            ]),
        ),
    ]
}

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
        Mask::Partial {
            keep_first: 1,
            keep_last: 0,
            pad: '\\',
        },
        Mask::Email,
        Mask::Hash,
        Mask::Tokenize,
        Mask::Generalize(Generalization::Month),
        Mask::Generalize(Generalization::Year),
        Mask::Generalize(Generalization::Bucket(10)),
        Mask::Generalize(Generalization::Bucket(1000)),
        Mask::Generalize(Generalization::Bucket(40_000)),
        Mask::Generalize(Generalization::Bucket(u64::MAX)),
        Mask::Scan,
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex from mariadb"))
        .collect()
}

/// `expr` over the table's rows, each as `Some(text bytes)` or `None` for NULL, by `id`.
fn shown(db: &MariaDb, session: &str, table: &str, expr: &str) -> Vec<Option<Vec<u8>>> {
    let out = db
        .sql(&format!(
            "{session} SELECT CASE WHEN m IS NULL THEN 'NULL' \
             ELSE HEX(CAST(m AS CHAR CHARACTER SET utf8mb4)) END \
             FROM (SELECT t.id, {expr} AS m FROM app.{table} AS t) AS s ORDER BY id"
        ))
        .unwrap_or_else(|e| panic!("{expr}: {e:#}"));
    out.lines()
        .map(|l| (l != "NULL").then(|| unhex(l)))
        .collect()
}

/// The type MariaDB gives `expr`, from a table created from it.
fn result_type(db: &MariaDb, table: &str, expr: &str) -> String {
    let out = db
        .sql(&format!(
            "{SESSION} CREATE TABLE app.r AS SELECT {expr} AS m FROM app.{table} AS t; \
             SELECT DATA_TYPE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 'r'; DROP TABLE app.r;"
        ))
        .unwrap_or_else(|e| panic!("{expr}: {e:#}"));
    out.trim().to_string()
}

fn same_family(ty: &MySqlType, data_type: &str) -> bool {
    match ty {
        MySqlType::Text => {
            ["varchar", "char", "text", "mediumtext", "longtext"].contains(&data_type)
        }
        MySqlType::TinyInt
        | MySqlType::SmallInt
        | MySqlType::MediumInt
        | MySqlType::Int
        | MySqlType::BigInt => {
            ["tinyint", "smallint", "mediumint", "int", "bigint"].contains(&data_type)
        }
        MySqlType::Decimal { .. } => data_type == "decimal",
        MySqlType::Date => data_type == "date",
        MySqlType::DateTime | MySqlType::Timestamp => data_type == "datetime",
    }
}

/// The Rust mask of one clear value, as the result stream would show it.
fn rust_mask(
    mask: &Mask,
    ty: &MySqlType,
    key: &MaskKey,
    clear: &Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let clear = clear.as_ref()?;
    let mut out = Vec::new();
    match mask.apply_mysql_text(clear, ty, key, &mut out) {
        Ok(Written::Value) => Some(out),
        Ok(Written::Null) => None,
        Err(e) => panic!(
            "{mask} declined {:?} ({ty}): {e}",
            String::from_utf8_lossy(clear)
        ),
    }
}

/// MariaDB's `mysql_expr` results equal the Rust masks', value for value, with the column's
/// type kept; tokenize and scan are refused.
#[test]
fn mysql_masks_match_rust_masks_in_mariadb() {
    if !MariaDb::available() {
        eprintln!("skipped: no MariaDB server here (scripts/install-deps test)");
        return;
    }
    let db = MariaDb::start().expect("start MariaDB");
    let key = MaskKey::new(b"parity test key, 32 bytes long!!", "test").expect("key");
    let mut compared = 0;
    for (table, ddl, ty, values) in columns() {
        let rows: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("({i}, {v})"))
            .collect();
        db.sql(&format!(
            "{SESSION} CREATE TABLE app.{table} (id int PRIMARY KEY, c {ddl}) \
             DEFAULT CHARSET = utf8mb4; INSERT INTO app.{table} VALUES {};",
            rows.join(", ")
        ))
        .unwrap_or_else(|e| panic!("{table}: {e:#}"));
        for session in [SESSION, STRICT_SESSION] {
            compared += compare(&db, session, table, &ty, &key, values.len());
        }
    }
    eprintln!("{compared} values compared");
    assert!(compared > 600, "{compared}");
}

/// Compares every mask on one table's column under one session's settings; returns how many
/// values were compared.
fn compare(
    db: &MariaDb,
    session: &str,
    table: &str,
    ty: &MySqlType,
    key: &MaskKey,
    rows: usize,
) -> usize {
    let ty = *ty;
    let mut compared = 0;
    let clear = shown(db, session, table, "t.c");
    assert_eq!(clear.len(), rows, "{table}");
    for mask in masks() {
        let expr = match mask.mysql_expr("t.c", &ty, key) {
            Ok(expr) => expr,
            Err(MaskError::NotApplicable { .. }) => {
                let mut out = Vec::new();
                assert!(mask.apply_mysql_text(b"0", &ty, key, &mut out).is_err());
                continue;
            }
            Err(MaskError::NotInMySql { .. }) => {
                assert!(
                    matches!(mask, Mask::Tokenize | Mask::Scan),
                    "{mask} refused"
                );
                continue;
            }
            Err(e) => panic!("{mask} on {ty}: {e}"),
        };
        let got = shown(db, session, table, &expr);
        assert_eq!(got.len(), rows, "{mask} on {table}: {expr}");
        for (i, (clear, got)) in clear.iter().zip(&got).enumerate() {
            let want = rust_mask(&mask, &ty, key, clear);
            // Under NO_ZERO_IN_DATE a month truncation with a zero month is no date MariaDB
            // will make: the SQL form gives NULL, which shows less (documented on mysql_expr).
            let refused_zero_month = session == STRICT_SESSION
                && mask == Mask::Generalize(Generalization::Month)
                && got.is_none()
                && want
                    .as_deref()
                    .is_some_and(|w| w.get(4..8) == Some(b"-00-"));
            assert!(
                got.as_deref() == want.as_deref() || refused_zero_month,
                "{mask} on {table} row {i} ({:?}): MariaDB {:?}, Rust {:?}: {expr}",
                clear.as_deref().map(String::from_utf8_lossy),
                got.as_deref().map(String::from_utf8_lossy),
                want.as_deref().map(String::from_utf8_lossy),
            );
            compared += 1;
        }
        let data_type = result_type(db, table, &expr);
        assert!(
            mask == Mask::Null || same_family(&ty, &data_type),
            "{mask} on {table} gives {data_type}"
        );
    }
    compared
}
