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
//!
//! # What the rewrite covers
//! Every relation read in a FROM clause, wherever it is — CTEs (plain and recursive, with
//! PostgreSQL's scoping), subqueries, LATERAL, joins, set operations, `TABLE t`, `ONLY`,
//! TABLESAMPLE, INSERT … SELECT, UPDATE … FROM, DELETE … USING, MERGE … USING, RETURNING,
//! sublinks in any expression — is replaced by `(SELECT <masks> FROM [ONLY] schema.t) AS t`,
//! all columns in order under their names. Views (and materialized views) over protected data
//! are inlined, keeping `security_barrier` with `OFFSET 0`; partitions and inheritance children
//! take their parents' masks. `COPY t TO` becomes `COPY (SELECT …) TO`; cursors, PREPARE and
//! CREATE TABLE AS keep the rewritten query. Quoted and Unicode-escaped names are decoded by
//! the grammar; unqualified names are resolved along the search path and pinned to their schema
//! when a protected relation of the same name exists. A text with a backslash is always sent as
//! printed from the analysed tree, so `standard_conforming_strings` cannot change its meaning.
//!
//! Column references are resolved against the relation's real columns: `t.f` with `f` no
//! column of `t` is `f(t)`, the whole row (`rewrite/references.rs`).
//!
//! # What no analysed session may call (42501), masked or read-only
//! Functions known, by their implementation in the catalog (`pg_proc.prosrc`) or by name, to
//! run SQL text or read by name (`query_to_xml`, `table_to_xml`, `ts_stat`, `ts_rewrite` with a
//! query, `crosstab`, `connectby`, `dblink*`, …), to reach other sessions (`pg_cancel_backend`,
//! `pg_terminate_backend`, `pg_stat_get_backend_*`, `pg_stat_get_activity`, …), functions in a
//! query-capable language outside `pg_catalog`, functions the snapshot lacks; views of other
//! sessions (`pg_stat_activity`, `pg_locks`, …) and views calling any of these (`guarded.rs`).
//! The client encoding stays UTF8.
//!
//! # What is refused (42501), for masked subjects only
//! DO, CALL, CREATE FUNCTION/PROCEDURE/TRIGGER/RULE/EXTENSION/… (an allowlist of statement
//! types); settings outside an allowlist of those that cannot echo statements, and
//! `client_min_messages` below NOTICE (`settings.rs`); aggregates that join rows over columns
//! masked with `scan`; functions that read outside the masking policy (`lo_*`, `pg_read_file`,
//! `current_query`, …); `pg_statistic`,
//! `pg_stats*`, `pg_stat_activity`, `pg_stat_statements`, `pg_prepared_statements`, `pg_cursors`,
//! `pg_largeobject`, and views that read any of these (by their definitions: dependencies on
//! bootstrap catalogs are not recorded); writes whose foreign keys make the server compare keys with masked columns
//! of another relation (their success is an oracle of the masked values); EXPLAIN of anything that reads protected data, and EXPLAIN EXECUTE; SET
//! ROLE / SESSION AUTHORIZATION and `set_config('role', …)`; foreign tables; views or
//! materialized views created over protected data; DDL naming a protected relation (indexes,
//! constraints, LIKE, INHERITS, renames); COPY to or from server files and programs; writes to
//! protected relations unless the policy allows blind writes; a protected relation anywhere the
//! rewriter does not rewrite (the census backstop); a name the policy may protect that the
//! snapshot lacks. A text that does not parse is refused with 42601.

mod cache;
mod catalog;
mod census;
mod classify;
mod error;
mod guarded;
mod masks;
mod parse;
mod rewrite;
mod search_path;
mod settings;

pub use cache::{CachedRewrite, RewriteCache, MAX_CACHED_STATEMENT};
pub use catalog::{
    Catalog, CatalogError, CatalogRows, Column, ForeignKey, FunctionEntry, RelKind, Relation, Row,
    ViewDefinition,
};
pub use classify::{classify, classify_with_catalog, StatementKind};
pub use error::{ParseError, Refusal};
pub use jitgate_sqlstate::SqlState;
pub use masks::{ColumnMasks, MaskSql, ProtectedColumn, ProtectedWrites};
pub use rewrite::{rewrite, Protocol, Rewritten, SearchPathChange};
pub use search_path::SearchPath;
