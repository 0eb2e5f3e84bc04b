//! The statement side of masked sessions: every statement is rewritten so that protected
//! relations are read through masking subqueries (mask before evaluate), or refused. What comes
//! back is the stream filter's (see [`super::stream_filter`]), the second line.

use super::read_only::{unavailable, ReadOnly};
use super::{Protocol, StatementPolicy, Verdict};
use crate::catalog::SessionCatalog;
use crate::statements::StatementRefusal;
use jitgate_control::audit::kind;
use jitgate_masking::{MaskedView, PgTypeInfo};
use jitgate_pg_sql::{
    ColumnMasks, MaskSql, ProtectedColumn, RewriteCache, SearchPath, SearchPathChange,
};
use std::sync::Arc;

/// A subject's masks, as the rewriter asks for them.
pub(crate) struct SubjectMasks {
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

    fn masks_by_content(&self, column: &ProtectedColumn<'_>) -> bool {
        let mask = self
            .view
            .mask_for(column.schema, column.table, column.column);
        matches!(mask, Some(jitgate_masking::Mask::Scan))
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
pub(crate) struct MaskedStatements {
    pub masks: SubjectMasks,
    /// Identifies this subject's view in the shared rewrite cache.
    pub view_id: u64,
    pub catalog: Arc<SessionCatalog>,
    pub search_path: SearchPath,
    /// The path at login, for `RESET search_path`.
    pub initial_search_path: SearchPath,
    /// The upstream session user, which `"$user"` in a path stands for.
    pub upstream_user: String,
    pub cache: Arc<RewriteCache>,
    /// A read-only grant on top of masking: its check runs on the statement as sent.
    pub read_only: Option<ReadOnly>,
}

impl StatementPolicy for MaskedStatements {
    fn check(&mut self, sql: &str, protocol: Protocol) -> Verdict {
        if let Some(read_only) = &mut self.read_only {
            if let refused @ Verdict::Refuse(_) = read_only.check(sql, protocol) {
                return refused;
            }
        }
        let catalog = match self.catalog.catalog() {
            Ok(catalog) => catalog,
            Err(e) => return Verdict::Refuse(unavailable(e)),
        };
        let outcome = self.cache.rewrite(
            sql,
            &catalog,
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
            Err(refusal) => Verdict::Refuse(StatementRefusal {
                sqlstate: refusal.sqlstate,
                message: format!("jitgate: {}", refusal.message),
                kind: kind::MASKING_REFUSED,
            }),
        }
    }
}
