//! Spark SQL analysis for jitgate's Spark Connect front: pure code, no I/O.
//!
//! A masked subject's `spark.sql(...)` texts must be masked *before* Spark evaluates them: every
//! reference to a protected table is replaced by a masking subquery, so that predicates, joins,
//! aggregations and functions only ever see masked values. What cannot be analysed is refused
//! (fail closed): a refused statement costs the user a retry in another form, a wrongly accepted
//! one leaks data.
//!
//! - [`parse_identifier`], [`resolve`] and [`is_protected`]: Spark multi-part names, resolved
//!   against the session's fixed [`Namespace`], and whether the subject's view may mask them.
//! - [`masking_projection`]: the masked projection of a protected table, from its schema (which
//!   the I/O side fetches from the upstream Spark).
//! - [`analyse`] and [`Analysed::rewrite`]: the statement allowlist and the mask-before-evaluate
//!   rewrite of `spark.sql` texts. The rewrite splices masking subqueries into the *original*
//!   text (sqlparser's reserialisation would change string literals' meaning for Spark) and
//!   re-parses and verifies the result before returning it.
//! - [`check_expression`] and [`function_refused`]: SQL expression strings and function calls of
//!   DataFrame plans.
//! - [`may_set`]: the Spark configuration keys masked subjects may set; [`may_read`]: those
//!   they may read through the Config call.
//!
//! The text is parsed with sqlparser's Databricks dialect, whose tokenizer is close to Spark's
//! but not identical; a lexical pass refuses the places where the two could disagree about
//! what is code and what is a string or a comment.

mod analyse;
mod config;
mod functions;
mod lexical;
mod names;
mod projection;
mod rewrite;

pub use analyse::{analyse, Analysed};
pub use config::{may_read, may_set};
pub use functions::{check_expression, function_refused};
pub use names::{is_protected, parse_identifier, quote_ident, resolve};
pub use projection::{masking_projection, Column, ColumnType, Projected};

/// The session's current catalog and database, which the gateway keeps fixed for masked
/// subjects (they may not `USE` another), so that unqualified names resolve predictably.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace {
    pub catalog: String,
    pub database: String,
}

/// A relation name as written, resolved against the namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableRef {
    /// The multi-part identifier as Spark reads it: each part backtick-quoted (backticks inside
    /// doubled), joined with '.'. Always at least `database.table`, so that it names the table
    /// itself and not a temporary view or CTE of the same name. The I/O side sends this in a
    /// Spark Connect `Read.NamedTable` to fetch the schema, and the rewrite uses it in the
    /// masking subquery's FROM.
    pub identifier: String,
    /// The catalog when written (three-part names); `None` means the session's.
    pub catalog: Option<String>,
    pub database: String,
    pub table: String,
}

/// Why a statement, plan or expression is refused to a masked subject. The message is shown to
/// the user, so it says what was refused and, where it can, what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub message: String,
}

impl Refusal {
    pub(crate) fn new(message: impl Into<String>) -> Refusal {
        Refusal {
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests;
