//! The analysis and rewrite of `spark.sql` texts for a masked subject, over arbitrary text: no
//! panic; a rewrite returned is accepted when analysed again (it parses as one statement of an
//! allowed kind), and equals the text when nothing is protected. The expression check and the
//! configuration and identifier readers take the same text.

#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use jitgate_masking::{
    ColumnPattern, Glob, Mask, MaskKey, MaskedView, MaskingPolicy, MaskingRule, PolicySettings,
    SubjectView,
};
use jitgate_spark_sql::{
    analyse, check_expression, may_set, parse_identifier, resolve, Column, ColumnType, Namespace,
    TableRef,
};
use libfuzzer_sys::fuzz_target;

fn rule(column: &str, mask: Mask) -> MaskingRule {
    MaskingRule {
        resource: Glob::new("*").expect("glob"),
        column: ColumnPattern::parse(column).expect("pattern"),
        mask,
        clear_for: Vec::new(),
    }
}

/// The policy of the crate's tests: `default.people` (ssn redacted, email with the email mask,
/// phone hashed, name partly kept) and `hr.salaries.amount`.
fn view() -> &'static MaskedView {
    static VIEW: OnceLock<MaskedView> = OnceLock::new();
    VIEW.get_or_init(|| {
        let policy = MaskingPolicy::from_config(PolicySettings {
            key: MaskKey::new(&[7u8; 32], "fuzz").expect("key"),
            clear_groups: Vec::new(),
            rules: vec![
                rule("default.people.ssn", Mask::Redact),
                rule("default.people.email", Mask::Email),
                rule("default.people.phone", Mask::Hash),
                rule(
                    "default.people.name",
                    Mask::Partial {
                        keep_first: 1,
                        keep_last: 1,
                        pad: '*',
                    },
                ),
                rule("hr.salaries.amount", Mask::Null),
            ],
            custom_detectors: Vec::new(),
            stream_detectors: None,
        })
        .expect("policy");
        match policy.view_for("spark", "ann", &[]) {
            SubjectView::Masked(v) => v,
            SubjectView::Clear => panic!("expected a masked view"),
        }
    })
}

fn ns() -> Namespace {
    Namespace {
        catalog: "spark_catalog".into(),
        database: "default".into(),
    }
}

fn col(name: &str, ty: &str) -> Column {
    Column {
        name: name.into(),
        ty: ColumnType::from_spark_name(ty),
    }
}

/// The schema the upstream would report for a table.
fn schema_of(table: &TableRef) -> Vec<Column> {
    match (
        table.database.to_lowercase().as_str(),
        table.table.to_lowercase().as_str(),
    ) {
        ("default", "people") => vec![
            col("id", "int"),
            col("name", "string"),
            col("ssn", "string"),
            col("email", "string"),
            col("phone", "string"),
        ],
        ("hr", "salaries") => vec![col("emp", "int"), col("amount", "decimal(10,2)")],
        _ => vec![col("x", "int")],
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let ns = ns();
    let view = view();
    let _ = check_expression(sql);
    let _ = may_set(sql);
    if let Ok(parts) = parse_identifier(sql) {
        let _ = resolve(&parts, &ns);
    }

    let Ok(analysed) = analyse(sql, &ns, view) else {
        return;
    };
    let schemas: HashMap<TableRef, Vec<Column>> = analysed
        .protected()
        .iter()
        .map(|t| (t.clone(), schema_of(t)))
        .collect();
    let needs_rewrite = analysed.needs_rewrite();
    let Ok(out) = analysed.rewrite(&schemas) else {
        return;
    };
    if !needs_rewrite {
        assert_eq!(out, sql, "rewritten although nothing is protected");
        return;
    }
    // The rewritten text goes through the front's own reading again (its lexical pass, the
    // parser, the statement allowlist and function checks): what it sends must be what it
    // would accept.
    if let Err(e) = analyse(&out, &ns, view) {
        panic!("{sql}\n→ {out}\nis refused on a second reading: {e}");
    }
});
