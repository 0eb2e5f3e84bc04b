use jitgate_masking::{
    ColumnPattern, Glob, Mask, MaskKey, MaskingPolicy, MaskingRule, PolicySettings, SubjectView,
};

use super::*;

pub(crate) fn masked() -> Masked {
    let policy = MaskingPolicy::from_config(PolicySettings {
        key: MaskKey::new(&[7u8; 32], "test").expect("key"),
        clear_groups: Vec::new(),
        rules: vec![MaskingRule {
            resource: Glob::new("*").expect("glob"),
            column: ColumnPattern::parse("default.people.ssn").expect("pattern"),
            mask: Mask::Redact,
            clear_for: Vec::new(),
        }],
        custom_detectors: Vec::new(),
        stream_detectors: None,
    })
    .expect("policy");
    let SubjectView::Masked(view) = policy.view_for("wh", "ann", &[]) else {
        panic!("expected a masked view");
    };
    Masked {
        view,
        namespace: Namespace {
            catalog: "spark_catalog".into(),
            database: "default".into(),
        },
    }
}

fn map(pairs: &[(&str, &str)]) -> Value {
    Value::Map {
        key: crate::thrift::ty::STRING,
        value: crate::thrift::ty::STRING,
        entries: pairs
            .iter()
            .map(|(k, v)| (Value::string(k), Value::string(v)))
            .collect(),
    }
}

/// Session settings could substitute text into statements (hivevar) or move the session to
/// another database; only staying in the fixed one passes.
#[test]
fn session_settings_other_than_the_fixed_database_are_refused() {
    let m = masked();
    let ok = Struct {
        fields: vec![(4, map(&[("use:database", "default")]))],
    };
    assert!(m.open_session(&ok).is_ok());
    for bad in [
        ("use:database", "hr"),
        ("set:hivevar:t", "people"),
        ("set:hiveconf:spark.sql.ansi.enabled", "false"),
    ] {
        let req = Struct {
            fields: vec![(4, map(&[bad]))],
        };
        assert!(m.open_session(&req).is_err(), "{bad:?}");
    }
    // What the Databricks SQL connector sends, with its one value only.
    let connector = Struct {
        fields: vec![(
            4,
            map(&[(
                "spark.thriftserver.arrowBasedRowSet.timestampAsString",
                "false",
            )]),
        )],
    };
    assert!(m.open_session(&connector).is_ok());
    let other = Struct {
        fields: vec![(
            4,
            map(&[(
                "spark.thriftserver.arrowBasedRowSet.timestampAsString",
                "true",
            )]),
        )],
    };
    assert!(m.open_session(&other).is_err());
    let odd = Struct {
        fields: vec![(4, Value::I32(1))],
    };
    assert!(m.open_session(&odd).is_err());
}

/// Results of masked subjects come through jitgate, row by row: direct results, Arrow, LZ4 and
/// cloud fetch are switched off; parameters and settings that change how text is read refused.
#[test]
fn statement_requests_lose_the_extensions_that_would_bypass_jitgate() {
    let m = masked();
    let mut req = Struct {
        fields: vec![
            (2, Value::string("SELECT 1")),
            (ext::GET_DIRECT_RESULTS, Value::Struct(Struct::default())),
            (ext::CAN_READ_ARROW, Value::Bool(true)),
            (ext::CAN_DECOMPRESS_LZ4, Value::Bool(true)),
        ],
    };
    m.statement_request(&mut req).expect("accepted");
    assert!(req.get(ext::GET_DIRECT_RESULTS).is_none());
    for flag in [
        ext::CAN_READ_ARROW,
        ext::CAN_DOWNLOAD,
        ext::CAN_DECOMPRESS_LZ4,
    ] {
        assert_eq!(req.get(flag), Some(&Value::Bool(false)));
    }
    // An empty parameter list (the connector sends one with every statement) binds nothing.
    let mut empty = Struct {
        fields: vec![(
            ext::PARAMETERS,
            Value::List {
                elem: 12,
                items: vec![],
            },
        )],
    };
    m.statement_request(&mut empty).expect("no parameters");
    assert!(empty.get(ext::PARAMETERS).is_none());
    let mut params = Struct {
        fields: vec![(
            ext::PARAMETERS,
            Value::List {
                elem: 12,
                items: vec![Value::Struct(Struct::default())],
            },
        )],
    };
    assert!(m.statement_request(&mut params).is_err());
    let mut conf = Struct {
        fields: vec![(3, map(&[("spark.sql.variable.substitute", "true")]))],
    };
    assert!(m.statement_request(&mut conf).is_err());
}

/// Spark substitutes `${…}` before parsing, so the analysed text would not be what runs.
#[test]
fn variable_references_are_refused_and_protected_tables_found() {
    let m = masked();
    assert!(m.analyse("SELECT '${hivevar:x}'").is_err());
    let a = m
        .analyse("SELECT ssn FROM people WHERE ssn LIKE '1%'")
        .expect("query");
    assert!(a.needs_rewrite());
    assert!(m.analyse("INSERT INTO people VALUES ('x')").is_err());
    assert!(m.analyse("DROP TABLE people").is_err());
    assert!(m.analyse("USE `default`").is_ok());
}
