//! The Statement Execution API over a small catalog: just the statements
//! `jitgate databricks masks` sends. Every statement is PENDING on submission and SUCCEEDED
//! (or FAILED) when polled; results come inline in chunks of two rows.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::http::Response;
use super::{error, ok};

const CHUNK_ROWS: usize = 2;

/// A table column of the emulated catalog.
#[derive(Debug, Clone)]
pub struct EmulatedColumn {
    pub catalog: String,
    pub schema: String,
    pub table: String,
    pub column: String,
    pub data_type: String,
}

/// A function made by `CREATE OR REPLACE FUNCTION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatedFunction {
    pub comment: String,
    pub sql: String,
}

#[derive(Default)]
pub(super) struct Catalog {
    warehouse: String,
    pub columns: Vec<EmulatedColumn>,
    /// `catalog.schema.table.column` → `catalog.schema.function`.
    pub masks: BTreeMap<String, String>,
    /// `catalog.schema.function` → the function.
    pub functions: BTreeMap<String, EmulatedFunction>,
    pub submitted: Vec<String>,
    /// Finished statements by id: their final answer.
    done: BTreeMap<String, (Value, Vec<Vec<Value>>)>,
    next: u64,
}

impl Catalog {
    pub fn new(warehouse: &str) -> Catalog {
        Catalog {
            warehouse: warehouse.to_string(),
            ..Catalog::default()
        }
    }
}

pub(super) fn route(c: &mut Catalog, method: &str, path: &str, body: &Value) -> Response {
    let path = super::http::decode(path);
    let rest = path.trim_start_matches("/api/2.0/sql/statements");
    match (method, rest) {
        ("POST", "" | "/") => submit(c, body),
        ("GET", id) if id.contains("/result/chunks/") => {
            let (id, index) = id
                .trim_start_matches('/')
                .split_once("/result/chunks/")
                .unwrap_or(("", ""));
            chunk(c, id, index.parse().unwrap_or(usize::MAX))
        }
        ("GET", id) => poll(c, id.trim_start_matches('/')),
        _ => error(404, "ENDPOINT_NOT_FOUND", "no such statement endpoint"),
    }
}

fn submit(c: &mut Catalog, body: &Value) -> Response {
    if body["warehouse_id"].as_str() != Some(c.warehouse.as_str()) {
        return error(404, "RESOURCE_DOES_NOT_EXIST", "No warehouse with that id.");
    }
    let Some(statement) = body["statement"].as_str() else {
        return error(400, "INVALID_PARAMETER_VALUE", "statement is required");
    };
    c.submitted.push(statement.to_string());
    c.next += 1;
    let id = format!("01ef-{:04}", c.next);
    let outcome = run(c, statement);
    c.done.insert(id.clone(), outcome);
    ok(json!({"statement_id": id, "status": {"state": "PENDING"}}))
}

fn poll(c: &Catalog, id: &str) -> Response {
    let Some((status, rows)) = c.done.get(id) else {
        return error(404, "RESOURCE_DOES_NOT_EXIST", "No statement with that id.");
    };
    let mut answer = json!({"statement_id": id, "status": status});
    if status["state"] == "SUCCEEDED" {
        answer["manifest"] = json!({"total_row_count": rows.len(),
            "total_chunk_count": rows.len().div_ceil(CHUNK_ROWS).max(1)});
        answer["result"] = chunk_value(rows, 0);
    }
    ok(answer)
}

fn chunk(c: &Catalog, id: &str, index: usize) -> Response {
    match c.done.get(id) {
        Some((_, rows)) if index * CHUNK_ROWS < rows.len() => ok(chunk_value(rows, index)),
        _ => error(404, "RESOURCE_DOES_NOT_EXIST", "No such chunk."),
    }
}

fn chunk_value(rows: &[Vec<Value>], index: usize) -> Value {
    let part: Vec<&Vec<Value>> = rows
        .iter()
        .skip(index * CHUNK_ROWS)
        .take(CHUNK_ROWS)
        .collect();
    let mut v = json!({"chunk_index": index, "row_count": part.len(), "data_array": part});
    if (index + 1) * CHUNK_ROWS < rows.len() {
        v["next_chunk_index"] = json!(index + 1);
    }
    v
}

fn failed(code: &str, message: &str) -> (Value, Vec<Vec<Value>>) {
    (
        json!({"state": "FAILED", "error": {"error_code": code, "message": message}}),
        Vec::new(),
    )
}

fn succeeded(rows: Vec<Vec<Value>>) -> (Value, Vec<Vec<Value>>) {
    (json!({"state": "SUCCEEDED"}), rows)
}

fn run(c: &mut Catalog, sql: &str) -> (Value, Vec<Vec<Value>>) {
    if sql.contains("information_schema.columns") {
        return succeeded(
            c.columns
                .iter()
                .map(|x| {
                    vec![
                        json!(x.schema),
                        json!(x.table),
                        json!(x.column),
                        json!(x.data_type),
                    ]
                })
                .collect(),
        );
    }
    if sql.contains("information_schema.column_masks") {
        return succeeded(
            c.masks
                .iter()
                .map(|(col, f)| {
                    let col: Vec<&str> = col.split('.').collect();
                    let f: Vec<&str> = f.split('.').collect();
                    vec![
                        json!(col[1]),
                        json!(col[2]),
                        json!(col[3]),
                        json!(f[0]),
                        json!(f[1]),
                        json!(f[2]),
                    ]
                })
                .collect(),
        );
    }
    if sql.contains("information_schema.routines") {
        return succeeded(
            c.functions
                .iter()
                .map(|(name, f)| {
                    let n: Vec<&str> = name.split('.').collect();
                    vec![json!(n[0]), json!(n[1]), json!(n[2]), json!(f.comment)]
                })
                .collect(),
        );
    }
    if let Some(rest) = sql.strip_prefix("CREATE OR REPLACE FUNCTION ") {
        return create_function(c, sql, rest);
    }
    if let Some(rest) = sql.strip_prefix("ALTER TABLE ") {
        return alter_table(c, rest);
    }
    failed(
        "PARSE_SYNTAX_ERROR",
        "statement not supported by the emulator",
    )
}

fn create_function(c: &mut Catalog, sql: &str, rest: &str) -> (Value, Vec<Vec<Value>>) {
    let Some((name, rest)) = qualified(rest) else {
        return failed("PARSE_SYNTAX_ERROR", "a function name is expected");
    };
    let Some(comment) = rest.split_once(" COMMENT '").and_then(|(_, r)| literal(r)) else {
        return failed("PARSE_SYNTAX_ERROR", "COMMENT is expected");
    };
    if name.len() != 3 || !rest.contains(" RETURN ") {
        return failed(
            "PARSE_SYNTAX_ERROR",
            "catalog.schema.function and RETURN are expected",
        );
    }
    c.functions.insert(
        name.join("."),
        EmulatedFunction {
            comment,
            sql: sql.to_string(),
        },
    );
    succeeded(Vec::new())
}

fn alter_table(c: &mut Catalog, rest: &str) -> (Value, Vec<Vec<Value>>) {
    let Some((table, rest)) = qualified(rest) else {
        return failed("PARSE_SYNTAX_ERROR", "a table name is expected");
    };
    let Some((column, rest)) = rest.strip_prefix(" ALTER COLUMN ").and_then(qualified) else {
        return failed("PARSE_SYNTAX_ERROR", "ALTER COLUMN is expected");
    };
    let exists = table.len() == 3
        && c.columns.iter().any(|x| {
            [&x.catalog, &x.schema, &x.table] == [&table[0], &table[1], &table[2]]
                && x.column == column[0]
        });
    if !exists {
        return failed("TABLE_OR_VIEW_NOT_FOUND", "no such table or column");
    }
    let key = format!("{}.{}", table.join("."), column[0]);
    if rest == " DROP MASK" {
        c.masks.remove(&key);
        return succeeded(Vec::new());
    }
    let Some((function, "")) = rest.strip_prefix(" SET MASK ").and_then(qualified) else {
        return failed("PARSE_SYNTAX_ERROR", "SET MASK or DROP MASK is expected");
    };
    let function = function.join(".");
    if !c.functions.contains_key(&function) {
        return failed(
            "ROUTINE_NOT_FOUND",
            &format!("The routine {function} cannot be found."),
        );
    }
    c.masks.insert(key, function);
    succeeded(Vec::new())
}

/// `` `a`.`b`.`c` `` at the start of `text`: the parts and what follows.
fn qualified(text: &str) -> Option<(Vec<String>, &str)> {
    let mut parts = Vec::new();
    let mut rest = text;
    loop {
        let body = rest.strip_prefix('`')?;
        let mut part = String::new();
        let mut chars = body.char_indices();
        let end = loop {
            let (i, ch) = chars.next()?;
            if ch == '`' {
                if body[i + 1..].starts_with('`') {
                    part.push('`');
                    chars.next();
                    continue;
                }
                break i + 1;
            }
            part.push(ch);
        };
        parts.push(part);
        rest = &body[end..];
        match rest.strip_prefix('.') {
            Some(r) => rest = r,
            None => return Some((parts, rest)),
        }
    }
}

/// The body of a backslash-escaped string literal whose opening quote is already read.
fn literal(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '\'' => return Some(out),
            c => out.push(c),
        }
    }
    None
}
