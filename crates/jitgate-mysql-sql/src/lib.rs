//! What a MySQL/MariaDB statement text does, decided on sqlparser's parse tree (MySQL dialect):
//! whether a read-only session may run it, whether a masked subject may, and which connection a
//! `KILL` names; and, for masked subjects, the rewrite that reads protected tables through
//! masking derived tables ([`rewrite`], with the catalog the front loads for [`tables_read`]).
//! Pure: no I/O, nothing about the wire.
//!
//! The parser is not MySQL's: executable comments (`/*! … */`, `/*M! … */`) are comments to it
//! but statements to the server, and `sql_mode` changes how the server lexes. So a guarded
//! session refuses executable comments and `sql_mode` changes, and the front checks the
//! session's `sql_mode` before it trusts this analysis (see [`lexing_modes_ok`]).

mod analyse;
mod builtins;
mod catalog;
mod lexical;
mod masking;

pub use analyse::{analyse, Analysis, Guard, Kill, Refusal, StatementUse};
pub use catalog::{Catalog, ColumnInfo, ColumnMasks, MaskSql, TableInfo, TableKind, TableName};
pub use lexical::{
    has_executable_comment, lexing_modes_ok, mentions_kill, safe_charset, safe_collation_id,
};
pub use masking::{quote, rewrite, tables_read, Rewritten};

#[cfg(test)]
mod tests;
