//! The columns of protected tables, which the masking rewrite needs: read with a `DESCRIBE
//! TABLE` jitgate runs itself in the client's upstream session (so names resolve as the
//! client's statement will), and kept a few seconds per session so that a dashboard's burst of
//! statements over one table costs one DESCRIBE, not one each.
//!
//! A schema that went stale within that time (another session altered the table) cannot
//! unmask anything: the masking subquery names the cached columns one by one, so a column added
//! since stays out of the result, a dropped or renamed one makes the statement fail, and a
//! masked column's values still go through its mask expression (built for the old type; Spark
//! casts or fails). The cache is emptied whenever the session runs a statement that reads no
//! protected table (SET, SHOW, DESCRIBE, temporary views, anything that could change how names
//! resolve), and whenever a statement fails, so that a retry reads the table afresh.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jitgate_spark_sql::{Column, ColumnType, Refusal, TableRef};

use crate::tcli;
use crate::thrift::{Struct, Value};
use crate::upstream::Upstream;

/// How long a table's columns are reused.
pub const TTL: Duration = Duration::from_secs(5);
/// Tables remembered per session at most.
pub const CAPACITY: usize = 64;
/// Rows jitgate reads of a table's description at most.
const COLUMN_FETCH: i64 = 10_000;

/// One session's recently read table schemas.
pub struct SchemaCache {
    ttl: Duration,
    tables: Mutex<HashMap<TableRef, (Instant, Vec<Column>)>>,
}

impl Default for SchemaCache {
    fn default() -> SchemaCache {
        SchemaCache::new(TTL)
    }
}

impl SchemaCache {
    pub fn new(ttl: Duration) -> SchemaCache {
        SchemaCache {
            ttl,
            tables: Mutex::default(),
        }
    }

    /// The columns of `table` if read less than the TTL ago.
    pub fn get(&self, table: &TableRef) -> Option<Vec<Column>> {
        let tables = self.tables.lock().ok()?;
        let (at, columns) = tables.get(table)?;
        (at.elapsed() < self.ttl).then(|| columns.clone())
    }

    /// Remembers `columns`, making room by dropping expired entries, then the oldest.
    pub fn put(&self, table: TableRef, columns: Vec<Column>) {
        let Ok(mut tables) = self.tables.lock() else {
            return;
        };
        if tables.len() >= CAPACITY && !tables.contains_key(&table) {
            let ttl = self.ttl;
            tables.retain(|_, (at, _)| at.elapsed() < ttl);
            let oldest = tables
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(t, _)| t.clone());
            if let (true, Some(oldest)) = (tables.len() >= CAPACITY, oldest) {
                tables.remove(&oldest);
            }
        }
        tables.insert(table, (Instant::now(), columns));
    }

    pub fn clear(&self) {
        if let Ok(mut tables) = self.tables.lock() {
            tables.clear();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.tables.lock().map(|t| t.len()).unwrap_or(0)
    }
}

/// The columns of `table` as the upstream resolves its name in `session`: a `DESCRIBE TABLE`
/// (the metadata calls need a Hive metastore, which not every HiveServer2 has). Its rows are
/// the columns, then, for partitioned tables, sections starting with a `#` row that repeat some
/// of them.
pub async fn describe(
    upstream: &Upstream,
    session: &Struct,
    table: &TableRef,
) -> Result<Vec<Column>, Refusal> {
    let cannot = |why: String| Refusal {
        message: format!(
            "jitgate cannot read the columns of {} to mask them: {why}",
            table.identifier
        ),
    };
    let req = Struct {
        fields: vec![
            (1, Value::Struct(session.clone())),
            (
                2,
                Value::string(&format!("DESCRIBE TABLE {}", table.identifier)),
            ),
        ],
    };
    let reply = upstream
        .own_call(&tcli::call("ExecuteStatement", req))
        .await
        .map_err(|e| cannot(e.to_string()))?;
    let op = tcli::response_operation(&reply).ok_or_else(|| {
        cannot(
            tcli::status(&reply)
                .and_then(|(_, m)| m)
                .unwrap_or_default(),
        )
    })?;
    let fetched = upstream
        .own_call(&tcli::call(
            "FetchResults",
            tcli::fetch_request(&op, COLUMN_FETCH),
        ))
        .await;
    let _ = upstream
        .own_call(&tcli::call("CloseOperation", tcli::handle_request(&op)))
        .await;
    let fetched = fetched.map_err(|e| cannot(e.to_string()))?;
    let resp = tcli::response(&fetched).ok_or_else(|| cannot("no rows".into()))?;
    if matches!(resp.get(2), Some(Value::Bool(true))) {
        return Err(cannot(format!("more than {COLUMN_FETCH} columns")));
    }
    columns_of(resp).map_err(cannot)
}

/// The columns in a fetched DESCRIBE result, up to its first `#` section.
fn columns_of(resp: &Struct) -> Result<Vec<Column>, String> {
    let names = tcli::string_column(resp, 0);
    let types = tcli::string_column(resp, 1);
    let mut out = Vec::new();
    for (name, ty) in names.iter().zip(types.iter()) {
        let Some(name) = name else {
            return Err("a column without a name".into());
        };
        if name.is_empty() || name.starts_with('#') {
            break;
        }
        let Some(ty) = ty else {
            return Err(format!("column {name} has no type"));
        };
        out.push(Column {
            name: name.clone(),
            ty: ColumnType::from_spark_name(ty),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
