//! The bodies of the Unity Catalog mask functions `jitgate databricks masks` writes, run on a
//! real Spark: for a subject outside the clear groups they give, value for value, what the Rust
//! masks give; for one inside, the clear value, of the column's type. Open-source Spark has no
//! `is_account_group_member`, so the test stands in `array_contains(array(<the subject's
//! groups>), …)` for it (and leaves `current_user()`, which Spark has, alone); the
//! `CREATE FUNCTION … RETURN` and `ALTER TABLE … SET MASK` around the bodies are Databricks
//! DDL, checked only against the emulator.

use crate::env::{drive, spark};
use crate::parity::{as_pg_text, same, text};
use jitgate_databricks::masks::{compile, Column};
use jitgate_masking::{
    ColumnPattern, Generalization, Glob, Mask, MaskKey, MaskingPolicy, MaskingRule, PgTypeInfo,
    PolicySettings, Principal, SparkType, Written,
};

/// (column, type, PostgreSQL type oid for the Rust mask, mask, values as Spark SQL).
fn cases() -> Vec<(&'static str, &'static str, u32, Mask, Vec<&'static str>)> {
    let strings = vec![
        "'alice.smith@example.com'",
        "'123-45-6789'",
        "''",
        "'Zoë Ünal'",
        r"'it\'s \\ back'",
        "'no at sign'",
        "CAST(NULL AS string)",
    ];
    vec![
        ("email", "string", 25, Mask::Email, strings.clone()),
        (
            "ssn",
            "string",
            25,
            Mask::Partial {
                keep_first: 0,
                keep_last: 4,
                pad: '*',
            },
            strings.clone(),
        ),
        ("note", "string", 25, Mask::Redact, strings),
        (
            "salary",
            "int",
            23,
            Mask::Generalize(Generalization::Bucket(1000)),
            vec![
                "0",
                "-1999",
                "2147483647",
                "-2147483648",
                "123456",
                "CAST(NULL AS int)",
            ],
        ),
        (
            "born",
            "date",
            1082,
            Mask::Generalize(Generalization::Month),
            vec![
                "DATE'1999-12-31'",
                "DATE'2024-02-29'",
                "DATE'0001-01-01'",
                "CAST(NULL AS date)",
            ],
        ),
    ]
}

fn policy(cases: &[(&str, &str, u32, Mask, Vec<&str>)]) -> MaskingPolicy {
    let rules = cases
        .iter()
        .map(|(name, _, _, mask, _)| MaskingRule {
            resource: Glob::new("dbx").expect("glob"),
            column: ColumnPattern::parse(&format!("hr.people.{name}")).expect("pattern"),
            mask: mask.clone(),
            clear_for: vec![
                Principal::Group("support".into()),
                Principal::User("alice".into()),
            ],
        })
        .collect();
    MaskingPolicy::from_config(PolicySettings {
        key: MaskKey::new(b"udf parity key, 32 bytes long!!!", "test").expect("key"),
        clear_groups: vec!["dba".into()],
        rules,
        custom_detectors: Vec::new(),
        stream_detectors: None,
    })
    .expect("policy")
}

/// The body with `is_account_group_member` answered from `groups`.
fn as_member_of(body: &str, groups: &str) -> String {
    body.replace(
        "is_account_group_member(",
        &format!("array_contains(array({groups}), "),
    )
}

#[test]
fn unity_catalog_mask_bodies_give_the_rust_masks_values_and_clear_values_to_clear_groups() {
    let Some(spark) = spark() else { return };
    let cases = cases();
    let policy = policy(&cases);
    let columns: Vec<Column> = cases
        .iter()
        .map(|(name, ty, ..)| Column {
            schema: "hr".into(),
            table: "people".into(),
            column: (*name).into(),
            data_type: (*ty).into(),
        })
        .collect();
    let identities = [(
        "alice".to_string(),
        "alice-is-not-this-session@example.com".to_string(),
    )];
    let (compiled, refused) = compile(&policy, "dbx", "main", &columns, &identities);
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(compiled.len(), cases.len());

    let mut steps = Vec::new();
    for ((_, _, _, _, values), m) in cases.iter().zip(&compiled) {
        let rows: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("({i}, {v})"))
            .collect();
        let from = format!("FROM VALUES {} AS jg(id, v) ORDER BY id", rows.join(", "));
        let masked = as_member_of(&m.body, "'nobody'");
        let clear = as_member_of(&m.body, "'support'");
        steps.push(format!(
            "sql:SELECT id, CAST(v AS string) AS c, CAST({masked} AS string) AS m, typeof({masked}) AS mt, \
             CAST({clear} AS string) AS k, typeof({clear}) AS kt {from}"
        ));
    }
    let args: Vec<&str> = steps.iter().map(String::as_str).collect();
    let results = drive(&spark.uri(), &args);
    let key = policy.key().clone();
    let mut compared = 0;
    for ((case, result), step) in cases.iter().zip(&results).zip(&steps) {
        let (name, ty, oid, mask, values) = case;
        assert_eq!(
            result["ok"], true,
            "Spark refused {step}:\n{}",
            result["error"]
        );
        let spark_ty = SparkType::parse(ty).expect("type");
        let rows = result["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), values.len());
        for row in rows {
            assert_eq!(
                row["mt"], *ty,
                "{name}: the masked value keeps the column's type"
            );
            assert_eq!(
                row["kt"], *ty,
                "{name}: the clear value keeps the column's type"
            );
            assert_eq!(
                text(&row["k"]),
                text(&row["c"]),
                "{name}: clear groups see clear values"
            );
            let Some(original) = text(&row["c"]) else {
                assert_eq!(text(&row["m"]), None, "{name}: NULL stays NULL");
                continue;
            };
            let mut out = Vec::new();
            let input = as_pg_text(original, spark_ty);
            let rust = match mask
                .apply_text(
                    input.as_bytes(),
                    &PgTypeInfo::from_oid(*oid),
                    &key,
                    &mut out,
                )
                .expect("rust mask")
            {
                Written::Value => Some(String::from_utf8(out).expect("UTF-8")),
                Written::Null => None,
            };
            let spark_out = text(&row["m"]);
            let agree = match (spark_out, rust.as_deref()) {
                (Some(s), Some(r)) => same(s, r, spark_ty),
                (None, None) => true,
                _ => false,
            };
            assert!(
                agree,
                "{mask} on {name} = {original:?}: UDF body {spark_out:?}, Rust {rust:?}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 20, "only {compared} values compared");
}
