//! The seam between the rewriter and the masking policy.
//!
//! The rewriter knows SQL and the catalog; it does not know who may see what. It asks a
//! [`ColumnMasks`] — in jitgate, a subject's view of the masking policy plus the mask key —
//! for the expression that replaces each column. Wiring it to `jitgate-masking` is a few lines:
//!
//! ```ignore
//! impl ColumnMasks for SubjectMasks<'_> {
//!     fn mask_sql(&self, column: &ProtectedColumn<'_>) -> MaskSql {
//!         match self.view.mask_for(column.schema, column.table, column.column) {
//!             None => MaskSql::Clear,
//!             Some(mask) => {
//!                 let ty = PgTypeInfo::new(column.base_type_oid, column.base_type_name);
//!                 match mask.sql_expr(column.column_sql, &ty, self.key) {
//!                     Ok(sql) => MaskSql::Expr(sql),
//!                     Err(e) => MaskSql::Unavailable(e.to_string()),
//!                 }
//!             }
//!         }
//!     }
//!
//!     fn may_protect(&self, schema: Option<&str>, table: &str) -> bool {
//!         schema.is_none_or(|s| self.view.may_protect(s, table))
//!     }
//! }
//! ```

/// A column of a relation the rewriter is about to read, as the masking policy needs it.
#[derive(Debug, Clone, Copy)]
pub struct ProtectedColumn<'a> {
    pub schema: &'a str,
    pub table: &'a str,
    pub column: &'a str,
    /// The column's declared type (a domain stays a domain here).
    pub type_oid: u32,
    /// `format_type(atttypid, atttypmod)`, for messages.
    pub type_name: &'a str,
    /// The type masks must produce: the base type when the column's type is a domain.
    pub base_type_oid: u32,
    /// `format_type(base type, NULL)`, what `jitgate_masking::PgTypeInfo::new` takes.
    pub base_type_name: &'a str,
    /// The column as SQL (a quoted identifier) to embed in the mask expression.
    pub column_sql: &'a str,
}

/// What the subject sees of one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskSql {
    /// The clear value.
    Clear,
    /// This expression instead of the column. It must be a scalar expression over the column
    /// (and, if need be, the row's other columns), whose functions, operators and types are all
    /// schema-qualified: the rewriter checks, and refuses the statement otherwise, because an
    /// unqualified name resolves through the session's `search_path`, which the subject controls.
    Expr(String),
    /// The column is masked but no expression can be produced (a keyed mask without a key, a
    /// mask that does not apply to the type): statements reading it are refused, with this reason.
    Unavailable(String),
}

/// How a subject may write to relations that have masked columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtectedWrites {
    /// Refuse INSERT, UPDATE, DELETE, MERGE, COPY FROM and TRUNCATE on protected relations.
    /// A write can reveal what it does not return: a unique-violation error says the value it
    /// tried to insert exists; an UPDATE's row count says how many rows its WHERE matched.
    #[default]
    Refuse,
    /// Allow writes that never evaluate a masked column: plain INSERT (no ON CONFLICT) and COPY
    /// FROM, UPDATE and DELETE whose SET, WHERE, FROM and RETURNING name no masked column and no
    /// whole row of the target, and TRUNCATE. Unique constraints on masked columns still answer
    /// "does this value exist?" through errors; choose this only where that is acceptable.
    AllowBlind,
}

/// A subject's masking policy, as the rewriter consults it.
///
/// Implementations must be deterministic: the rewrite cache assumes that the same subject view id
/// always gives the same answers.
pub trait ColumnMasks {
    /// The expression that replaces `column` for this subject.
    fn mask_sql(&self, column: &ProtectedColumn<'_>) -> MaskSql;

    /// Whether the result stream can apply `column`'s mask to its clear value and get exactly
    /// what the expression of [`ColumnMasks::mask_sql`] gives, in text and binary format alike.
    /// For such columns, a plain SELECT (simple query or Parse) that only returns the column
    /// (never filters, orders, groups or computes with it) reads it clear from the table and
    /// leaves the masking to the result stream, which knows the column from the RowDescription
    /// of the statement or portal the rows come from; everything else is masked in SQL.
    fn exact_in_results(&self, column: &ProtectedColumn<'_>) -> bool {
        let _ = column;
        false
    }

    /// Whether `column`'s mask judges each value by its content alone (`scan`: detectors find
    /// and mask what they recognise). A value split across rows passes such a mask piece by
    /// piece, so aggregates that join values of several rows (`string_agg`, `array_agg`, …)
    /// may not read the column.
    fn masks_by_content(&self, column: &ProtectedColumn<'_>) -> bool {
        let _ = column;
        false
    }

    /// Writes to relations with masked columns.
    fn protected_writes(&self) -> ProtectedWrites {
        ProtectedWrites::Refuse
    }

    /// Whether the policy may mask columns of a relation called `table`, in `schema` or, for an
    /// unqualified name, in whatever schema the upstream resolves it to (`None`). Asked only
    /// about names missing from the catalog snapshot: a relation created since the last refresh
    /// is refused rather than read unmasked. (`jitgate-masking`'s `MaskedView::may_protect`
    /// answers for a schema; for `None`, answering `true` refuses every unknown unqualified
    /// name, temporary tables included.)
    fn may_protect(&self, schema: Option<&str>, table: &str) -> bool {
        let _ = (schema, table);
        false
    }
}
