//! PostgreSQL statement analysis for jitgate, with PostgreSQL's own grammar (libpg_query).
//! Pure code: no I/O; the PostgreSQL front loads the catalog and sends the statements.
//!
//! - [`classify`]: what each statement of a text does, for read-only grants (writes, DDL, code
//!   the gateway cannot see into, attempts to leave read-only mode).
//! - [`rewrite`]: *mask before evaluate* for subjects with masked columns: protected relations
//!   are read through masking subqueries, and what could read protected data around them is
//!   refused. [`RewriteCache`] keeps the results per statement text.
//! - [`Catalog`] and [`SearchPath`]: what the rewriter knows of the upstream.
//! - [`ColumnMasks`]: the seam to the masking policy (`jitgate-masking`).

mod cache;
mod catalog;
mod census;
mod classify;
mod error;
mod masks;
mod rewrite;
mod search_path;

pub use cache::{CachedRewrite, RewriteCache, MAX_CACHED_STATEMENT};
pub use catalog::{
    Catalog, CatalogError, CatalogRows, Column, FunctionEntry, RelKind, Relation, Row,
    ViewDefinition,
};
pub use classify::{classify, StatementKind};
pub use error::{
    ParseError, Refusal, INSUFFICIENT_PRIVILEGE, READ_ONLY_SQL_TRANSACTION, SYNTAX_ERROR,
};
pub use masks::{ColumnMasks, MaskSql, ProtectedColumn, ProtectedWrites};
pub use rewrite::{rewrite, Rewritten};
pub use search_path::SearchPath;
