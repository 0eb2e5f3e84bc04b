//! Sessions of masked subjects: every statement is rewritten so that protected relations are
//! read through masking subqueries (mask before evaluate), or refused; every result row, error
//! and notice then passes the content detectors (the second line).

use crate::guard::{Protocol, StatementPolicy, Verdict};
use crate::results::ResultFilter;
use crate::statements::Refusal;
use bytes::BytesMut;
use jitgate_masking::{
    rewrite_data_row, scrub_error_fields, ColumnAction, ColumnPlan, MaskedView, PgTypeInfo,
};
use jitgate_pg_sql::{
    Catalog, ColumnMasks, MaskSql, ProtectedColumn, RewriteCache, SearchPath, SearchPathChange,
};
use std::sync::Arc;

/// A subject's masks, as the rewriter asks for them.
pub struct SubjectMasks {
    pub view: MaskedView,
}

impl ColumnMasks for SubjectMasks {
    fn mask_sql(&self, column: &ProtectedColumn<'_>) -> MaskSql {
        match self
            .view
            .mask_for(column.schema, column.table, column.column)
        {
            None => MaskSql::Clear,
            Some(mask) => {
                let ty = PgTypeInfo::new(column.base_type_oid, column.base_type_name);
                match mask.sql_expr(column.column_sql, &ty, self.view.key()) {
                    Ok(sql) => MaskSql::Expr(sql),
                    Err(e) => MaskSql::Unavailable(e.to_string()),
                }
            }
        }
    }

    /// The rewriter's question, answered by [`jitgate_masking::Mask::may_mask_in_stream`]:
    /// masks whose stream form is exact, and `scan`, whose stream form is the detectors
    /// themselves (its SQL form over-masks, for columns that are evaluated).
    fn exact_in_results(&self, column: &ProtectedColumn<'_>) -> bool {
        let ty = PgTypeInfo::new(column.base_type_oid, column.base_type_name);
        self.view
            .mask_for(column.schema, column.table, column.column)
            .is_some_and(|mask| mask.may_mask_in_stream(&ty))
    }

    fn may_protect(&self, schema: Option<&str>, table: &str) -> bool {
        match schema {
            Some(schema) => self.view.may_protect(schema, table),
            // A name unknown to the catalog snapshot, in no particular schema: it could resolve,
            // upstream, to a protected relation in any schema on the session's path. Fail closed.
            None => true,
        }
    }
}

/// The statement side of a masked session.
pub struct MaskedStatements {
    pub masks: SubjectMasks,
    /// Identifies this subject's view in the shared rewrite cache.
    pub view_id: u64,
    pub catalog: Arc<Catalog>,
    pub search_path: SearchPath,
    /// The path at login, for `RESET search_path`.
    pub initial_search_path: SearchPath,
    /// The upstream session user, which `"$user"` in a path stands for.
    pub upstream_user: String,
    pub cache: Arc<RewriteCache>,
    /// A read-only grant on top of masking: its check runs on the statement as sent.
    pub read_only: Option<crate::checks::ReadOnly>,
}

impl StatementPolicy for MaskedStatements {
    fn check(&mut self, sql: &str, protocol: Protocol) -> Verdict {
        if let Some(read_only) = &mut self.read_only {
            if let refused @ Verdict::Refuse(_) = read_only.check(sql, protocol) {
                return refused;
            }
        }
        let outcome = self.cache.rewrite(
            sql,
            &self.catalog,
            &self.search_path,
            &self.masks,
            self.view_id,
            protocol,
        );
        if let Ok(r) = &*outcome {
            // Followed as sent (a SET that then fails upstream is rare, and a stale path only
            // ever refuses or masks too much: resolved names are schema-qualified).
            match &r.search_path_change {
                Some(SearchPathChange::Set(path)) => {
                    self.search_path = SearchPath::parse(path, &self.upstream_user)
                }
                Some(SearchPathChange::Reset) => {
                    self.search_path = self.initial_search_path.clone()
                }
                None => {}
            }
        }
        match &*outcome {
            Ok(r) if r.changed => Verdict::Rewrite(r.sql.clone()),
            Ok(_) => Verdict::Pass,
            Err(refusal) => Verdict::Refuse(Refusal {
                sqlstate: sqlstate_bytes(refusal.sqlstate),
                message: format!("jitgate: {}", refusal.message),
                kind: "masking.refused",
            }),
        }
    }
}

/// SQLSTATE text as the five bytes of the wire format.
pub fn sqlstate_bytes(code: &str) -> [u8; 5] {
    let mut out = [b'0'; 5];
    for (slot, b) in out.iter_mut().zip(code.bytes()) {
        *slot = b;
    }
    out
}

/// The result side of a masked session: computed columns are scanned by the detectors, columns
/// that still come straight from a protected table column are masked here, errors and notices
/// are scrubbed.
pub struct StreamFilter {
    pub view: MaskedView,
    pub catalog: Arc<Catalog>,
    /// The plan for the rows that follow the last RowDescription; `None` before any, when every
    /// column is scanned.
    plan: Option<Vec<ColumnPlan>>,
    scratch: Vec<u8>,
}

impl StreamFilter {
    pub fn new(view: MaskedView, catalog: Arc<Catalog>) -> StreamFilter {
        StreamFilter {
            view,
            catalog,
            plan: None,
            scratch: Vec::new(),
        }
    }

    fn column_action(&self, table_oid: u32, attnum: i16, ty: &PgTypeInfo) -> ColumnAction {
        if table_oid != 0 {
            let origin = self.catalog.relation_by_oid(table_oid).and_then(|rel| {
                let column = rel.columns.iter().find(|c| c.attnum == attnum)?;
                self.view
                    .mask_for(&rel.schema, &rel.name, &column.name)
                    .cloned()
            });
            if let Some(mask) = origin {
                return ColumnAction::Mask(mask);
            }
            // A clear column of a table: its values are what the policy lets this subject see.
            if !ty.is_textual() {
                return ColumnAction::Pass;
            }
        }
        ColumnAction::Scan
    }

    /// Plans every column as scanned, for rows whose description jitgate did not see.
    fn scan_all(count: usize) -> Vec<ColumnPlan> {
        (0..count)
            .map(|_| ColumnPlan {
                action: ColumnAction::Scan,
                ty: PgTypeInfo::from_oid(25),
                binary: false,
            })
            .collect()
    }
}

impl ResultFilter for StreamFilter {
    fn row_description(&mut self, msg: &[u8]) {
        self.plan = parse_row_description(&msg[5..]).map(|fields| {
            fields
                .into_iter()
                .map(|f| {
                    let ty = PgTypeInfo::from_oid(f.type_oid);
                    ColumnPlan {
                        action: self.column_action(f.table_oid, f.attnum, &ty),
                        ty,
                        binary: f.format == 1,
                    }
                })
                .collect()
        });
    }

    fn data_row(&mut self, msg: &[u8], out: &mut BytesMut) -> bool {
        let body = &msg[5..];
        let count = body
            .get(..2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]).max(0) as usize)
            .unwrap_or(0);
        if self.plan.as_ref().is_none_or(|p| p.len() != count) {
            self.plan = Some(Self::scan_all(count));
        }
        let plan = self.plan.as_deref().unwrap_or(&[]);
        self.scratch.clear();
        match rewrite_data_row(
            body,
            plan,
            self.view.key(),
            self.view.scanner(),
            &mut self.scratch,
        ) {
            Ok(()) => {
                out.extend_from_slice(&self.scratch);
                true
            }
            Err(e) => {
                tracing::warn!("ending a masked session: {e}");
                false
            }
        }
    }

    fn error_or_notice(&mut self, msg: &[u8], out: &mut BytesMut) {
        self.scratch.clear();
        scrub_error_fields(&msg[5..], self.view.scanner(), &mut self.scratch);
        out.extend_from_slice(&[msg[0]]);
        out.extend_from_slice(&((self.scratch.len() + 4) as u32).to_be_bytes());
        out.extend_from_slice(&self.scratch);
    }
}

struct Field {
    table_oid: u32,
    attnum: i16,
    type_oid: u32,
    format: i16,
}

fn parse_row_description(body: &[u8]) -> Option<Vec<Field>> {
    let count = i16::from_be_bytes(body.get(..2)?.try_into().ok()?).max(0) as usize;
    let mut at = 2;
    let mut fields = Vec::with_capacity(count);
    for _ in 0..count {
        let name_len = body.get(at..)?.iter().position(|&b| b == 0)?;
        at += name_len + 1;
        let f = body.get(at..at + 18)?;
        fields.push(Field {
            table_oid: u32::from_be_bytes(f[0..4].try_into().ok()?),
            attnum: i16::from_be_bytes(f[4..6].try_into().ok()?),
            type_oid: u32::from_be_bytes(f[6..10].try_into().ok()?),
            format: i16::from_be_bytes(f[16..18].try_into().ok()?),
        });
        at += 18;
    }
    Some(fields)
}
