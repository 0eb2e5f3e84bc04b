//! Helpers every table of the SQLite store shares: limits, JSON columns, and corrupt rows
//! told apart from SQL errors.

use crate::store::StoreError;
use rusqlite::types::Type;

/// SQLite's "no limit" is -1.
pub(super) fn sql_limit(limit: usize) -> i64 {
    if limit == 0 {
        -1
    } else {
        i64::try_from(limit).unwrap_or(i64::MAX)
    }
}

pub(super) fn bad_column(column: usize, why: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, Type::Text, why.into())
}

pub(super) fn groups_from(column: usize, text: &str) -> rusqlite::Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| bad_column(column, format!("groups: {e}")))
}

pub(super) fn groups_json(groups: &[String]) -> String {
    // A list of strings always serialises; the fallback only keeps this free of panics.
    serde_json::to_string(groups).unwrap_or_else(|_| "[]".into())
}

/// Conversion failures are corrupt rows, not SQL errors: say so, with the table.
pub(super) fn corrupt(table: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e {
        rusqlite::Error::FromSqlConversionFailure(_, _, why) => StoreError::Corrupt {
            table,
            why: why.to_string(),
        },
        other => StoreError::Sqlite(other),
    }
}
