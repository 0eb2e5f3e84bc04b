//! The statement side of a masked subject's session: each text is rewritten so that protected
//! tables are read through masking derived tables (`jitgate_mysql_sql::rewrite`), with the
//! tables' columns from the upstream's `information_schema`, read on the session's own upstream
//! connection; protected tables' are kept a few seconds per session. What the rewrite refuses is refused.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jitgate_masking::{mysql_text_literal, MaskedView, MySqlType};
use jitgate_mysql_sql::{
    rewrite, tables_read, Catalog, ColumnInfo, ColumnMasks, MaskSql, Refusal, Rewritten, TableInfo,
    TableKind, TableName,
};

use crate::upstream::{message_of, UpstreamConn};
use crate::wire::{self, com};

/// How many tables a session's catalog keeps.
const MAX_CACHED: usize = 256;
/// How long a protected table's description is trusted (a table altered meanwhile only loses
/// columns from the derived table, or makes the statement fail). Other tables are not kept.
const CACHE_TTL: Duration = Duration::from_secs(5);
/// Most catalog rows one lookup reads.
const MAX_ROWS: usize = 65_536;

/// A masked subject's masks, as the rewrite asks for them.
pub struct SubjectMasks(pub MaskedView);

impl ColumnMasks for SubjectMasks {
    fn may_protect(&self, db: &str, table: &str) -> bool {
        self.0.may_protect(db, table)
    }

    /// The mask's MySQL form; masks without one (`tokenize`, `scan`), types no mask keeps
    /// and a missing key withhold the column (NULL), which shows less, never more.
    fn mask_sql(&self, db: &str, table: &str, column: &ColumnInfo, column_sql: &str) -> MaskSql {
        let Some(mask) = self.0.mask_for(db, table, &column.name) else {
            return MaskSql::Clear;
        };
        let Some(ty) = mysql_type(column) else {
            return MaskSql::Withheld;
        };
        match mask.mysql_expr(column_sql, &ty, self.0.key()) {
            Ok(sql) => MaskSql::Expr(sql),
            Err(_) => MaskSql::Withheld,
        }
    }
}

/// The masking type of a column, `None` for types no mask has a MySQL form for.
pub fn mysql_type(c: &ColumnInfo) -> Option<MySqlType> {
    let unsigned = c.column_type.to_ascii_lowercase().contains("unsigned");
    Some(match c.data_type.to_ascii_lowercase().as_str() {
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => MySqlType::Text,
        _ if unsigned => return None,
        "tinyint" => MySqlType::TinyInt,
        "smallint" => MySqlType::SmallInt,
        "mediumint" => MySqlType::MediumInt,
        "int" | "integer" => MySqlType::Int,
        "bigint" => MySqlType::BigInt,
        "decimal" | "numeric" => MySqlType::Decimal {
            precision: u8::try_from(c.precision?).ok()?,
            scale: u8::try_from(c.scale?).ok()?,
        },
        "date" => MySqlType::Date,
        "datetime" => MySqlType::DateTime,
        "timestamp" => MySqlType::Timestamp,
        _ => return None,
    })
}

/// What a masked session knows beyond its masks.
pub struct MaskedState {
    pub masks: SubjectMasks,
    /// The upstream session's current database; `None` until read.
    current_db: Option<Option<String>>,
    lower_case_names: Option<bool>,
    tables: HashMap<TableName, (TableInfo, Instant)>,
}

/// Why a text cannot run: refused, or the upstream failed jitgate's own lookup.
pub enum MaskFailure {
    Refused(Refusal),
    Lookup(String),
}

impl From<Refusal> for MaskFailure {
    fn from(r: Refusal) -> Self {
        MaskFailure::Refused(r)
    }
}

impl MaskedState {
    pub fn new(view: MaskedView) -> MaskedState {
        MaskedState {
            masks: SubjectMasks(view),
            current_db: None,
            lower_case_names: None,
            tables: HashMap::new(),
        }
    }

    /// The current database may have changed (`USE`, COM_INIT_DB, a reset): read it again
    /// before the next rewrite.
    pub fn forget_database(&mut self) {
        self.current_db = None;
    }

    /// `sql` rewritten for this subject.
    pub async fn rewrite(
        &mut self,
        up: &mut UpstreamConn,
        sql: &str,
    ) -> Result<Rewritten, MaskFailure> {
        let db = self.current_db(up).await?;
        let names = tables_read(sql, db.as_deref())?;
        let now = Instant::now();
        self.tables
            .retain(|_, (_, at)| now.duration_since(*at) < CACHE_TTL);
        let mut catalog: HashMap<TableName, TableInfo> = HashMap::new();
        let mut missing: Vec<TableName> = Vec::new();
        for name in names {
            match self.tables.get(&name) {
                Some((info, _)) => {
                    catalog.insert(name, info.clone());
                }
                None => missing.push(name),
            }
        }
        if !missing.is_empty() {
            let lower = self.lower_case_names(up).await?;
            let found = lookup(up, &missing, lower).await?;
            if self.tables.len() + found.len() > MAX_CACHED {
                self.tables.clear();
            }
            for (name, info) in found {
                // Only protected tables are kept: a stale entry of one can only mask more (its
                // derived table names the columns it knew). Any other name is looked up at each
                // statement, so a table replaced meanwhile by a view over protected data is
                // seen as the view it now is (and refused), not read through a stale entry.
                if self.masks.may_protect(&name.db, &name.table) {
                    self.tables.insert(name.clone(), (info.clone(), now));
                }
                catalog.insert(name, info);
            }
        }
        let out = rewrite(sql, db.as_deref(), &catalog as &dyn Catalog, &self.masks)?;
        if out.current_db != db {
            self.forget_database();
        }
        Ok(out)
    }

    async fn current_db(&mut self, up: &mut UpstreamConn) -> Result<Option<String>, MaskFailure> {
        if let Some(db) = &self.current_db {
            return Ok(db.clone());
        }
        let rows = rows(up, "SELECT DATABASE()").await?;
        let db = rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten())
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        self.current_db = Some(db.clone());
        Ok(db)
    }

    async fn lower_case_names(&mut self, up: &mut UpstreamConn) -> Result<bool, MaskFailure> {
        if let Some(l) = self.lower_case_names {
            return Ok(l);
        }
        let rows = rows(up, "SELECT @@lower_case_table_names").await?;
        let value = rows.first().and_then(|r| r.first().cloned().flatten());
        let lower = value.as_deref() != Some(b"0");
        self.lower_case_names = Some(lower);
        Ok(lower)
    }
}

/// What the catalog says of `names`: each name's table as the server resolves it (the exact
/// spelling, or under `lower_case_table_names` the one table whose name differs in case only).
async fn lookup(
    up: &mut UpstreamConn,
    names: &[TableName],
    lower_case_names: bool,
) -> Result<Vec<(TableName, TableInfo)>, MaskFailure> {
    let wanted: Vec<String> = names
        .iter()
        .map(|n| {
            format!(
                "(t.TABLE_SCHEMA = {} AND t.TABLE_NAME = {})",
                mysql_text_literal(&n.db),
                mysql_text_literal(&n.table)
            )
        })
        .collect();
    let sql = format!(
        "SELECT t.TABLE_SCHEMA, t.TABLE_NAME, t.TABLE_TYPE, c.COLUMN_NAME, c.DATA_TYPE, \
         c.COLUMN_TYPE, c.NUMERIC_PRECISION, c.NUMERIC_SCALE \
         FROM information_schema.TABLES t LEFT JOIN information_schema.COLUMNS c \
         ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME \
         WHERE {} ORDER BY c.ORDINAL_POSITION LIMIT {MAX_ROWS}",
        wanted.join(" OR ")
    );
    let rows = rows(up, &sql).await?;
    let mut tables: Vec<TableInfo> = Vec::new();
    for row in rows {
        let text = |i: usize| {
            row.get(i)
                .cloned()
                .flatten()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        };
        let (Some(db), Some(table), Some(kind)) = (text(0), text(1), text(2)) else {
            return Err(MaskFailure::Lookup("a catalog row without a name".into()));
        };
        let at = match tables.iter().position(|t| t.db == db && t.table == table) {
            Some(at) => at,
            None => {
                tables.push(TableInfo {
                    db,
                    table,
                    kind: if kind.eq_ignore_ascii_case("VIEW") {
                        TableKind::View
                    } else {
                        TableKind::Base
                    },
                    columns: Vec::new(),
                });
                tables.len() - 1
            }
        };
        if let Some(name) = text(3) {
            let number = |i: usize| text(i).and_then(|v| v.parse().ok());
            tables[at].columns.push(ColumnInfo {
                name,
                data_type: text(4).unwrap_or_default(),
                column_type: text(5).unwrap_or_default(),
                precision: number(6),
                scale: number(7),
            });
        }
    }
    Ok(names
        .iter()
        .map(|n| {
            let exact = tables.iter().find(|t| t.db == n.db && t.table == n.table);
            let folded = || {
                let mut same = tables.iter().filter(|t| {
                    t.db.eq_ignore_ascii_case(&n.db) && t.table.eq_ignore_ascii_case(&n.table)
                });
                match (same.next(), same.next()) {
                    (Some(t), None) if lower_case_names => Some(t),
                    _ => None,
                }
            };
            let info = exact
                .or_else(folded)
                .cloned()
                .unwrap_or_else(|| TableInfo::missing(n));
            (n.clone(), info)
        })
        .collect())
}

type Row = Vec<Option<Vec<u8>>>;

/// Runs one of jitgate's own queries on the session's upstream connection; its rows.
async fn rows(up: &mut UpstreamConn, sql: &str) -> Result<Vec<Row>, MaskFailure> {
    let broken = |e: &dyn std::fmt::Display| MaskFailure::Lookup(e.to_string());
    let mut payload = vec![com::QUERY];
    payload.extend_from_slice(sql.as_bytes());
    up.writer.send(0, &payload).await.map_err(|e| broken(&e))?;
    up.writer.flush().await.map_err(|e| broken(&e))?;
    let first = up.reader.next().await.map_err(|e| broken(&e))?;
    match first.first() {
        0x00 => return Ok(Vec::new()),
        0xff => return Err(MaskFailure::Lookup(message_of(&first.payload))),
        _ => {}
    }
    let mut eofs = 0;
    let mut out = Vec::new();
    loop {
        let p = up.reader.next().await.map_err(|e| broken(&e))?;
        if p.first() == 0xff {
            return Err(MaskFailure::Lookup(message_of(&p.payload)));
        }
        if wire::is_eof(&p.payload) {
            eofs += 1;
            if eofs == 2 {
                return Ok(out);
            }
            continue;
        }
        if eofs == 1 {
            out.push(text_row(&p.payload).ok_or_else(|| broken(&"a malformed catalog row"))?);
        }
    }
}

fn text_row(payload: &[u8]) -> Option<Row> {
    let mut r = wire::Reader::new(payload);
    let mut row = Vec::new();
    while !r.rest().is_empty() {
        if r.rest()[0] == 0xfb {
            r.u8();
            row.push(None);
        } else {
            row.push(Some(r.lenenc_bytes()?.to_vec()));
        }
    }
    Some(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(data_type: &str, column_type: &str, precision: Option<u32>) -> ColumnInfo {
        ColumnInfo {
            name: "c".into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            precision,
            scale: Some(2),
        }
    }

    /// Catalog types map to the masks' MySQL types; unsigned integers, floating point and
    /// types no mask keeps have none (their masked columns read as NULL).
    #[test]
    fn catalog_types_map_to_mask_types_or_to_none() {
        assert_eq!(
            mysql_type(&column("VARCHAR", "varchar(40)", None)),
            Some(MySqlType::Text)
        );
        assert_eq!(
            mysql_type(&column("int", "int(11)", None)),
            Some(MySqlType::Int)
        );
        assert_eq!(mysql_type(&column("int", "int(10) unsigned", None)), None);
        assert_eq!(
            mysql_type(&column("decimal", "decimal(10,2)", Some(10))),
            Some(MySqlType::Decimal {
                precision: 10,
                scale: 2
            })
        );
        assert_eq!(mysql_type(&column("decimal", "decimal(10,2)", None)), None);
        for other in ["double", "float", "blob", "time", "json", "enum", "year"] {
            assert_eq!(mysql_type(&column(other, other, None)), None, "{other}");
        }
        assert_eq!(
            mysql_text_literal("a`'\\"),
            "CONVERT(X'6160275c' USING utf8mb4)"
        );
    }
}
