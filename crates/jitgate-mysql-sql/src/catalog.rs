//! What the masking rewrite knows of the upstream (tables and their columns, from
//! `information_schema`, loaded by the front) and asks of the masking policy.

/// A table name as a statement spells it, its database resolved (identifier values: quotes
/// removed, case kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub db: String,
    pub table: String,
}

/// What a name is on the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// A base table (also a system-versioned or sequence table).
    Base,
    /// A view: its definition may read protected columns under other names.
    View,
    /// No table or view of that name (or a temporary table, which `information_schema` does
    /// not list).
    Missing,
}

/// One column, as `information_schema.COLUMNS` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    /// `DATA_TYPE` (`varchar`, `int`, `decimal`, …).
    pub data_type: String,
    /// `COLUMN_TYPE` (`int(11) unsigned`, `varchar(40)`, …).
    pub column_type: String,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
}

/// What the catalog says of a [`TableName`]: its real spelling, kind and columns in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub db: String,
    pub table: String,
    pub kind: TableKind,
    pub columns: Vec<ColumnInfo>,
}

impl TableInfo {
    /// A name the upstream does not know.
    pub fn missing(name: &TableName) -> TableInfo {
        TableInfo {
            db: name.db.clone(),
            table: name.table.clone(),
            kind: TableKind::Missing,
            columns: Vec::new(),
        }
    }
}

/// The tables a rewrite may ask for (all the names [`crate::tables_read`] returned).
pub trait Catalog {
    fn table(&self, name: &TableName) -> Option<&TableInfo>;
}

impl Catalog for std::collections::HashMap<TableName, TableInfo> {
    fn table(&self, name: &TableName) -> Option<&TableInfo> {
        self.get(name)
    }
}

/// A column's masked form, as the policy gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskSql {
    /// In clear for this subject.
    Clear,
    /// An expression computing the masked value from the column.
    Expr(String),
    /// Masked, but with no exact MySQL form (`tokenize`, `scan`, a type the mask does not
    /// keep): the column reads as NULL, which over-masks.
    Withheld,
}

/// The seam to the masking policy.
pub trait ColumnMasks {
    /// Whether any column of `db.table` may be masked for this subject.
    fn may_protect(&self, db: &str, table: &str) -> bool;
    /// The masked form of `column` of `db.table`; `column_sql` is the qualified column
    /// reference to build on.
    fn mask_sql(&self, db: &str, table: &str, column: &ColumnInfo, column_sql: &str) -> MaskSql;
}
