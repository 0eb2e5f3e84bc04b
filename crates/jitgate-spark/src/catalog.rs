//! The upstream's catalog, as masking needs it: the columns and types of a protected table,
//! read with an `AnalyzePlan` schema request in the client's own Spark session (so names
//! resolve exactly as they will in the client's plan), and kept for a few seconds per session.
//!
//! A schema that went stale within that time cannot unmask anything: the masking projection
//! lists the columns it read, so a column added since is not shown at all, and one dropped or
//! changed makes the plan fail.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jitgate_masking::SparkType;
use jitgate_spark_sql::{Column, ColumnType, TableRef};
use spark_connect_proto::analyze_plan_request::{self, Analyze};
use spark_connect_proto::analyze_plan_response::Result as AnalyzeResult;
use spark_connect_proto::data_type::Kind;
use spark_connect_proto::plan::OpType;
use spark_connect_proto::read::{NamedTable, ReadType};
use spark_connect_proto::relation::RelType;
use spark_connect_proto::{AnalyzePlanRequest, DataType, Plan, Read, Relation, UserContext};

use crate::grpc::{Code, Status};
use crate::upstream::Upstream;

/// The Spark session a client's call belongs to, for calls jitgate makes on its behalf.
#[derive(Debug, Clone, Default)]
pub struct SessionContext {
    pub session_id: String,
    pub user_context: Option<UserContext>,
}

impl SessionContext {
    /// The Spark session a request names.
    pub fn of(session_id: &str, user_context: &Option<UserContext>) -> SessionContext {
        SessionContext {
            session_id: session_id.to_owned(),
            user_context: user_context.clone(),
        }
    }
}

/// How long a table's columns are used before they are read again.
const FRESH_FOR: Duration = Duration::from_secs(10);
/// Tables remembered per connection at most (a client reading more just reads them again).
const MAX_TABLES: usize = 256;

/// Columns read recently, by Spark session and table: pyspark asks for a DataFrame's schema,
/// then runs it, and each would otherwise cost an extra round trip to the upstream.
#[derive(Default)]
pub struct SchemaCache {
    entries: Mutex<HashMap<SessionTable, (Instant, Vec<Column>)>>,
}

/// A table as one Spark session reads it (sessions may belong to users with other rights).
type SessionTable = (String, TableRef);

impl SchemaCache {
    /// The columns of `table`, from the cache while fresh, else from the upstream.
    pub async fn columns(
        &self,
        upstream: &Upstream,
        session: &SessionContext,
        table: &TableRef,
    ) -> Result<Vec<Column>, Status> {
        let key = (session.session_id.clone(), table.clone());
        if let Ok(entries) = self.entries.lock() {
            if let Some((read, columns)) = entries.get(&key) {
                if read.elapsed() < FRESH_FOR {
                    return Ok(columns.clone());
                }
            }
        }
        let columns = columns(upstream, session, table).await?;
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_TABLES {
                entries.retain(|_, (read, _)| read.elapsed() < FRESH_FOR);
            }
            if entries.len() < MAX_TABLES {
                entries.insert(key, (Instant::now(), columns.clone()));
            }
        }
        Ok(columns)
    }
}

/// The columns of `table` as the upstream resolves its name in the client's session.
pub async fn columns(
    upstream: &Upstream,
    session: &SessionContext,
    table: &TableRef,
) -> Result<Vec<Column>, Status> {
    let read = Relation {
        common: None,
        rel_type: Some(RelType::Read(Read {
            is_streaming: false,
            read_type: Some(ReadType::NamedTable(NamedTable {
                unparsed_identifier: table.identifier.clone(),
                options: Default::default(),
            })),
        })),
    };
    let request = AnalyzePlanRequest {
        session_id: session.session_id.clone(),
        user_context: session.user_context.clone(),
        client_type: Some("jitgate".into()),
        analyze: Some(Analyze::Schema(analyze_plan_request::Schema {
            plan: Some(Plan {
                op_type: Some(OpType::Root(read)),
            }),
        })),
        ..Default::default()
    };
    let response = upstream.analyze(request).await?;
    let schema = match response.result {
        Some(AnalyzeResult::Schema(s)) => s.schema,
        _ => None,
    };
    let Some(Kind::Struct(row)) = schema.and_then(|s| s.kind) else {
        return Err(Status::new(
            Code::Internal,
            format!(
                "the upstream gave no row schema for {}, so jitgate cannot mask it",
                table.identifier
            ),
        ));
    };
    Ok(row
        .fields
        .into_iter()
        .map(|f| Column {
            ty: column_type(f.data_type.as_ref()),
            name: f.name,
        })
        .collect())
}

/// What masks can work with; everything else is named for the refusal.
fn column_type(ty: Option<&DataType>) -> ColumnType {
    let Some(kind) = ty.and_then(|t| t.kind.as_ref()) else {
        return ColumnType::Other("unknown".into());
    };
    let known = match kind {
        // A collated string compares and orders differently from the masks' results.
        Kind::String(s) if s.collation.is_empty() || s.collation == "UTF8_BINARY" => {
            SparkType::String
        }
        Kind::Char(_) | Kind::VarChar(_) => SparkType::String,
        Kind::Byte(_) => SparkType::TinyInt,
        Kind::Short(_) => SparkType::SmallInt,
        Kind::Integer(_) => SparkType::Int,
        Kind::Long(_) => SparkType::BigInt,
        Kind::Float(_) => SparkType::Float,
        Kind::Double(_) => SparkType::Double,
        Kind::Date(_) => SparkType::Date,
        Kind::Timestamp(_) => SparkType::Timestamp,
        Kind::Boolean(_) => SparkType::Boolean,
        Kind::Binary(_) => SparkType::Binary,
        Kind::Decimal(d) => {
            // Spark's defaults when the message leaves them out: decimal(10,0).
            let precision = d.precision.unwrap_or(10).clamp(0, 255) as u8;
            let scale = d.scale.unwrap_or(0).clamp(0, 255) as u8;
            SparkType::Decimal { precision, scale }
        }
        Kind::String(s) => return ColumnType::Other(format!("string collate {}", s.collation)),
        other => return ColumnType::Other(crate::plan::variant_name(other).to_lowercase()),
    };
    ColumnType::Known(known)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spark_connect_proto::data_type;

    fn ty(kind: Kind) -> ColumnType {
        column_type(Some(&DataType { kind: Some(kind) }))
    }

    #[test]
    fn spark_types_map_to_what_masks_know() {
        assert!(matches!(
            ty(Kind::String(data_type::String::default())),
            ColumnType::Known(SparkType::String)
        ));
        assert!(matches!(
            ty(Kind::Decimal(data_type::Decimal {
                precision: Some(20),
                scale: Some(0),
                ..Default::default()
            })),
            ColumnType::Known(SparkType::Decimal {
                precision: 20,
                scale: 0
            })
        ));
        let collated = ty(Kind::String(data_type::String {
            collation: "UTF8_LCASE".into(),
            ..Default::default()
        }));
        assert!(matches!(collated, ColumnType::Other(ref n) if n == "string collate UTF8_LCASE"));
        assert!(matches!(
            ty(Kind::TimestampNtz(Default::default())),
            ColumnType::Other(ref n) if n == "timestampntz"
        ));
        assert!(matches!(column_type(None), ColumnType::Other(_)));
    }
}
