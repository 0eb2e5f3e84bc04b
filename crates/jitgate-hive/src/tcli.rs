//! What jitgate knows of HiveServer2's `TCLIService` (and the Databricks extensions to it):
//! which calls name a session and which an operation, where handles, statuses, statements and
//! rows sit in the messages, and how to build the error replies and the calls jitgate makes on
//! its own. Pure code over the [`thrift`] tree.

use bytes::Bytes;
use jitgate_sqlstate::SqlState;

use crate::thrift::{self, ty, Message, Struct, Value};

/// `TStatusCode`.
pub const SUCCESS: i32 = 0;
pub const SUCCESS_WITH_INFO: i32 = 1;
pub const ERROR: i32 = 3;

/// `TOperationState`.
pub mod op_state {
    pub const INITIALIZED: i32 = 0;
    pub const RUNNING: i32 = 1;
    pub const FINISHED: i32 = 2;
    pub const CANCELED: i32 = 3;
    pub const CLOSED: i32 = 4;
    pub const ERROR: i32 = 5;
    pub const PENDING: i32 = 7;
}

/// The protocol version jitgate answers with when it refuses an OpenSession (the client's own,
/// else Hive's V10).
const DEFAULT_PROTOCOL: i32 = 9;

/// Databricks `TExecuteStatementReq` / metadata request extensions.
pub mod ext {
    pub const GET_DIRECT_RESULTS: i16 = 0x501;
    pub const CAN_READ_ARROW: i16 = 0x502;
    pub const CAN_DOWNLOAD: i16 = 0x503;
    pub const CAN_DECOMPRESS_LZ4: i16 = 0x504;
    pub const PARAMETERS: i16 = 0x508;
    pub const STATEMENT_CONF: i16 = 0x510;
    /// `TRowSet` fields that carry rows jitgate cannot read column by column.
    pub const ARROW_BATCHES: i16 = 0x501;
    pub const RESULT_LINKS: i16 = 0x502;
    pub const BINARY_COLUMNS: i16 = 4;
    /// `TOpenSessionReq.initialNamespace`.
    pub const INITIAL_NAMESPACE: i16 = 0x504;
}

/// What a call names, by its first request field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// OpenSession: nothing yet.
    Open,
    /// `1: TSessionHandle`.
    Session,
    /// `1: TOperationHandle`.
    Operation,
}

/// The calls jitgate relays, with what they name. Calls not listed are refused: they could
/// carry what jitgate never looked at (delegation tokens would even hand out upstream
/// credentials).
pub fn scope(method: &str) -> Option<Scope> {
    Some(match method {
        "OpenSession" => Scope::Open,
        "CloseSession" | "GetInfo" | "ExecuteStatement" | "GetTypeInfo" | "GetCatalogs"
        | "GetSchemas" | "GetTables" | "GetTableTypes" | "GetColumns" | "GetFunctions"
        | "GetPrimaryKeys" | "GetCrossReference" => Scope::Session,
        "GetOperationStatus"
        | "CancelOperation"
        | "CloseOperation"
        | "GetResultSetMetadata"
        | "FetchResults"
        | "GetQueryId" => Scope::Operation,
        _ => return None,
    })
}

/// Metadata calls: they list names and types from the catalog, never table data.
pub fn is_metadata(method: &str) -> bool {
    matches!(
        method,
        "GetTypeInfo"
            | "GetCatalogs"
            | "GetSchemas"
            | "GetTables"
            | "GetTableTypes"
            | "GetColumns"
            | "GetFunctions"
            | "GetPrimaryKeys"
            | "GetCrossReference"
    )
}

/// The request struct of a call (`args.1`).
pub fn request(m: &Message) -> Option<&Struct> {
    m.body.get_struct(1)
}

pub fn request_mut(m: &mut Message) -> Option<&mut Struct> {
    m.body.get_struct_mut(1)
}

/// The result struct of a reply (`result.0`); `None` for an exception.
pub fn response(m: &Message) -> Option<&Struct> {
    m.body.get_struct(0)
}

pub fn response_mut(m: &mut Message) -> Option<&mut Struct> {
    m.body.get_struct_mut(0)
}

/// The guid of a `TSessionHandle` or `TOperationHandle` (`.1.1`).
pub fn handle_guid(handle: &Struct) -> Option<Bytes> {
    handle.get_struct(1)?.get(1)?.as_bytes().cloned()
}

/// The guid the request's first field names.
pub fn request_guid(m: &Message) -> Option<Bytes> {
    handle_guid(request(m)?.get_struct(1)?)
}

/// The operation handle a reply hands out (statement and metadata calls: `.2`).
pub fn response_operation(m: &Message) -> Option<Struct> {
    response(m)?.get_struct(2).cloned()
}

/// The session handle an OpenSession reply hands out (`.3`).
pub fn response_session(m: &Message) -> Option<Struct> {
    response(m)?.get_struct(3).cloned()
}

/// A reply's `TStatus`: code and error message.
pub fn status(m: &Message) -> Option<(i32, Option<String>)> {
    let s = response(m)?.get_struct(1)?;
    Some((s.get(1)?.as_i32()?, s.get_str(5)))
}

/// `TGetOperationStatusResp.operationState` and its error message.
pub fn operation_state(m: &Message) -> Option<(i32, Option<String>)> {
    let r = response(m)?;
    Some((r.get(2)?.as_i32()?, r.get_str(5)))
}

/// Rows in a `TFetchResultsResp` (or a direct result's): row-based or columnar.
pub fn rows_in_fetch(resp: &Struct) -> u64 {
    let Some(set) = resp.get_struct(3) else {
        return 0;
    };
    let list_len = |v: Option<&Value>| match v {
        Some(Value::List { items, .. }) => items.len() as u64,
        _ => 0,
    };
    let rows = list_len(set.get(2));
    if rows > 0 {
        return rows;
    }
    // Columnar: each column is a union of one typed column whose field 1 is the values.
    let Some(Value::List { items, .. }) = set.get(3) else {
        return 0;
    };
    items
        .first()
        .and_then(Value::as_struct)
        .and_then(|u| u.fields.first())
        .and_then(|(_, c)| c.as_struct())
        .map_or(0, |c| list_len(c.get(1)))
}

/// Rows in a FetchResults reply as it came from the upstream, read in place (no tree is built:
/// clear subjects' rows are relayed as they are, and only counted). Counts as
/// [`rows_in_fetch`] does; an exception or a reply without rows counts 0.
pub fn rows_in_fetch_reply(raw: &[u8]) -> Result<u64, thrift::DecodeError> {
    const MAX_DEPTH: usize = 64;
    let (mut w, _, _) = thrift::Walk::message(raw, MAX_DEPTH)?;
    let mut rows = 0;
    while let Some((t, id)) = w.field()? {
        if (id, t) == (0, ty::STRUCT) {
            rows = fetch_response_rows(&mut w)?;
        } else {
            w.skip(t, 1)?;
        }
    }
    w.end()?;
    Ok(rows)
}

/// `TFetchResultsResp`: its row set's rows (`.3`).
fn fetch_response_rows(w: &mut thrift::Walk<'_>) -> Result<u64, thrift::DecodeError> {
    let mut rows = 0;
    while let Some((t, id)) = w.field()? {
        if (id, t) == (3, ty::STRUCT) {
            rows = row_set_rows(w)?;
        } else {
            w.skip(t, 2)?;
        }
    }
    Ok(rows)
}

/// `TRowSet`: the length of `rows` (`.2`) if any, else of the first column's values (`.3`).
fn row_set_rows(w: &mut thrift::Walk<'_>) -> Result<u64, thrift::DecodeError> {
    const DEPTH: usize = 3;
    let (mut rows, mut columnar) = (0, 0);
    while let Some((t, id)) = w.field()? {
        match (id, t) {
            (2, ty::LIST) => {
                let (elem, n) = w.list()?;
                rows = n as u64;
                w.skip_items(elem, n, DEPTH)?;
            }
            (3, ty::LIST) => {
                let (elem, n) = w.list()?;
                if n > 0 && elem == ty::STRUCT {
                    columnar = first_column_len(w)?;
                    w.skip_items(elem, n - 1, DEPTH)?;
                } else {
                    w.skip_items(elem, n, DEPTH)?;
                }
            }
            _ => w.skip(t, DEPTH)?,
        }
    }
    Ok(if rows > 0 { rows } else { columnar })
}

/// A `TColumn` union: the length of its typed column's values (`.1`).
fn first_column_len(w: &mut thrift::Walk<'_>) -> Result<u64, thrift::DecodeError> {
    const DEPTH: usize = 5;
    let mut len = None;
    while let Some((t, _)) = w.field()? {
        if t != ty::STRUCT || len.is_some() {
            w.skip(t, DEPTH)?;
            continue;
        }
        let mut values = 0;
        while let Some((t, id)) = w.field()? {
            if (id, t) == (1, ty::LIST) {
                let (elem, n) = w.list()?;
                values = n as u64;
                w.skip_items(elem, n, DEPTH + 1)?;
            } else {
                w.skip(t, DEPTH + 1)?;
            }
        }
        len = Some(values);
    }
    Ok(len.unwrap_or(0))
}

/// A `TStatus` with an error.
pub fn error_status(state: SqlState, message: &str) -> Value {
    Value::Struct(Struct {
        fields: vec![
            (1, Value::I32(ERROR)),
            (3, Value::string(state.as_str())),
            (4, Value::I32(0)),
            (5, Value::string(message)),
        ],
    })
}

/// The reply to `call` that fails it with `message`: the call's result struct with the error
/// status and whatever else the struct requires (OpenSession a protocol version, GetInfo a
/// value), so that every client reads it as the server's error.
pub fn error_reply(call: &Message, state: SqlState, message: &str) -> Message {
    let mut resp = Struct {
        fields: vec![(1, error_status(state, message))],
    };
    match call.name.as_str() {
        "OpenSession" => {
            let protocol = request(call)
                .and_then(|r| r.get(1))
                .and_then(Value::as_i32)
                .unwrap_or(DEFAULT_PROTOCOL);
            resp.fields.push((2, Value::I32(protocol)));
        }
        "GetInfo" => {
            let value = Struct {
                fields: vec![(1, Value::string(""))],
            };
            resp.fields.push((2, Value::Struct(value)));
        }
        _ => {}
    }
    Message {
        name: call.name.clone(),
        kind: thrift::REPLY,
        seq: call.seq,
        body: Struct {
            fields: vec![(0, Value::Struct(resp))],
        },
    }
}

/// A call jitgate makes itself: `name` with request `req`.
pub fn call(name: &str, req: Struct) -> Message {
    Message {
        name: name.to_owned(),
        kind: thrift::CALL,
        seq: 0,
        body: Struct {
            fields: vec![(1, Value::Struct(req))],
        },
    }
}

/// A request naming one handle: `{1: handle}` (CloseSession, CancelOperation, …).
pub fn handle_request(handle: &Struct) -> Struct {
    Struct {
        fields: vec![(1, Value::Struct(handle.clone()))],
    }
}

/// `TFetchResultsReq`: the next `max_rows` rows of `op`.
pub fn fetch_request(op: &Struct, max_rows: i64) -> Struct {
    Struct {
        fields: vec![
            (1, Value::Struct(op.clone())),
            (2, Value::I32(0)),
            (3, Value::I64(max_rows)),
        ],
    }
}

/// The string column `index` of a fetched row set, row by row (row-based or columnar).
pub fn string_column(resp: &Struct, index: usize) -> Vec<Option<String>> {
    let Some(set) = resp.get_struct(3) else {
        return Vec::new();
    };
    let text = |v: &Value| {
        v.as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    if let Some(Value::List { items, .. }) = set.get(3) {
        let column = items
            .get(index)
            .and_then(Value::as_struct)
            .and_then(|u| u.get_struct(7));
        let Some(Value::List { items, .. }) = column.and_then(|c| c.get(1)) else {
            return Vec::new();
        };
        return items.iter().map(text).collect();
    }
    let Some(Value::List { items: rows, .. }) = set.get(2) else {
        return Vec::new();
    };
    rows.iter()
        .map(|row| {
            let Some(Value::List { items: cells, .. }) = row.as_struct().and_then(|r| r.get(1))
            else {
                return None;
            };
            let cell = cells.get(index)?.as_struct()?.get_struct(7)?;
            cell.get(1).and_then(text)
        })
        .collect()
}

/// Sets `field` of a struct to a boolean (Databricks capability flags).
pub fn set_flag(s: &mut Struct, field: i16, value: bool) {
    s.set(field, Value::Bool(value));
}

/// A string-to-string map field's entries (OpenSession configuration, confOverlay).
pub fn string_map(s: &Struct, field: i16) -> Vec<(String, String)> {
    let Some(Value::Map {
        key: ty::STRING,
        value: ty::STRING,
        entries,
    }) = s.get(field)
    else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|(k, v)| {
            let k = String::from_utf8_lossy(k.as_bytes()?).into_owned();
            let v = String::from_utf8_lossy(v.as_bytes()?).into_owned();
            Some((k, v))
        })
        .collect()
}

#[cfg(test)]
mod tests;
