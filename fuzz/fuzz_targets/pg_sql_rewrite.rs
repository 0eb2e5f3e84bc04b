//! The PostgreSQL statement analysis over arbitrary text, with the crate's test catalog and
//! policy: classification and the mask-before-evaluate rewrite never panic; a rewrite they
//! return re-parses with PostgreSQL's grammar into as many statements as it reports; and, with
//! every mask in SQL (a Parse message), no protected relation is read anywhere but as the only
//! FROM item of a masking subquery.

#![no_main]

#[allow(dead_code, clippy::all)]
#[path = "../../crates/jitgate-pg-sql/tests/fixture/mod.rs"]
mod fixture;

use std::sync::OnceLock;

use fixture::{catalog, TestMasks};
use jitgate_pg_sql::{classify, rewrite, Catalog, Protocol, Rewritten, SearchPath};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const PROTECTED: &[&str] = &["customers", "customers_2024", "Customers Archive"];
const MASKED_COLUMNS: &[&str] = &["ssn", "email", "birth_date", "SSN"];

struct Fixture {
    catalog: Catalog,
    path: SearchPath,
    in_sql: TestMasks,
    in_results: TestMasks,
    blind_writes: TestMasks,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture {
        catalog: catalog(),
        path: SearchPath::default_for("analyst"),
        in_sql: TestMasks::new(),
        in_results: TestMasks::exact_in_results(&["ssn", "email"]),
        blind_writes: TestMasks::allowing_blind_writes(),
    })
}

/// The rewritten text parses, into as many statements as the rewrite says; returns its tree.
fn reparses(sql: &str, out: &Rewritten) -> Value {
    let parsed = pg_query::parse(&out.sql, 0)
        .unwrap_or_else(|e| panic!("the rewrite of\n{sql}\ndoes not parse: {e}\n{}", out.sql));
    let stmts = parsed.protobuf.stmts.len();
    // An empty text is one statement to the front (it answers EmptyQueryResponse).
    assert!(
        stmts == out.statements || (stmts == 0 && out.statements <= 1),
        "{sql}\n→ {}\n{stmts} statements parsed, {} reported",
        out.sql,
        out.statements
    );
    serde_json::to_value(&parsed.protobuf).expect("trees serialise")
}

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixture();
    let _ = classify(sql);

    if let Ok(out) = rewrite(sql, &f.catalog, &f.path, &f.in_sql, Protocol::Extended) {
        let tree = reparses(sql, &out);
        if !out.changed {
            assert_eq!(out.sql, sql, "unchanged but not the same text");
        }
        let mut leaks = Vec::new();
        walk(&tree, &mut leaks);
        assert!(
            leaks.is_empty(),
            "{sql}\n→ {}\nreads {leaks:?} outside a masking subquery",
            out.sql
        );
    }
    if let Ok(out) = rewrite(
        sql,
        &f.catalog,
        &f.path,
        &f.in_results,
        Protocol::SimpleQuery,
    ) {
        reparses(sql, &out);
    }
    if let Ok(out) = rewrite(
        sql,
        &f.catalog,
        &f.path,
        &f.blind_writes,
        Protocol::Extended,
    ) {
        reparses(sql, &out);
    }
});

/// Statements whose `relation` is written or created, not read.
const WRITES: &[&str] = &[
    "InsertStmt",
    "UpdateStmt",
    "DeleteStmt",
    "MergeStmt",
    "CreateStmt",
];

/// Collects references to protected relations that are not the base of a masking subquery
/// (the same walk as the crate's rewrite tests).
fn walk(v: &Value, found: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(select) = map.get("SelectStmt") {
                if is_masking_select(select) {
                    return;
                }
            }
            for write in WRITES {
                if let Some(Value::Object(stmt)) = map.get(*write) {
                    stmt.iter()
                        .filter(|(k, _)| k.as_str() != "relation")
                        .for_each(|(_, v)| walk(v, found));
                    return;
                }
            }
            let range_var = map.get("RangeVar").or_else(|| {
                (map.contains_key("relname") && map.contains_key("relpersistence")).then_some(v)
            });
            if let Some(rv) = range_var {
                let name = rv["relname"].as_str().unwrap_or("");
                let schema = rv["schemaname"].as_str().unwrap_or("");
                if PROTECTED.contains(&name) && (schema.is_empty() || schema == "public") {
                    found.push(format!("{schema}.{name}"));
                }
            }
            map.values().for_each(|v| walk(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
        _ => {}
    }
}

/// `SELECT <mask> AS ssn, … FROM [ONLY] public.customers [TABLESAMPLE …]`
fn is_masking_select(select: &Value) -> bool {
    let from = select["from_clause"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let [item] = from else { return false };
    let node = &item["node"];
    let rv = node
        .get("RangeVar")
        .or_else(|| node.pointer("/RangeTableSample/relation/node/RangeVar"));
    let Some(rv) = rv else { return false };
    if !PROTECTED.contains(&rv["relname"].as_str().unwrap_or("")) {
        return false;
    }
    let targets = select["target_list"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    targets.iter().any(|t| {
        let t = &t["node"]["ResTarget"];
        MASKED_COLUMNS.contains(&t["name"].as_str().unwrap_or(""))
            && t["val"]["node"].get("ColumnRef").is_none()
    })
}
