//! Mask before evaluate: the statement rewrite for subjects with masked columns.
//!
//! Every reference to a protected relation is replaced by a masking subquery
//! (`(SELECT <masked columns> FROM t) AS t`, the technique of PostgreSQL Anonymizer's transparent
//! dynamic masking), so predicates, joins, ordering, grouping, functions, whole-row references,
//! casts and their error messages only ever see masked values. What cannot be rewritten or could
//! read protected data around the rewrite is refused (SQLSTATE 42501). Subjects without masked
//! columns should not be passed through here at all: there is nothing to rewrite.
//!
//! Each statement goes through three steps:
//! 1. the function calls the subject wrote are checked against a denylist and the catalog
//!    (functions that read data by name or by query text, or run code the rewriter cannot see);
//! 2. the walker resolves relation names, puts masking subqueries in place and marks every
//!    relation it vetted;
//! 3. the census finds any relation the walker did not vet; if it could be protected, the
//!    statement is refused. The walker need not be complete; together they fail closed.

mod dml;
mod nodes;
mod policy;
mod protection;
mod utility;
mod walker;

use crate::catalog::Catalog;
use crate::census::Census;
use crate::error::{ParseError, Refusal};
use crate::masks::ColumnMasks;
use crate::search_path::SearchPath;

use nodes::VETTED;
use walker::Walker;

/// A statement ready to send upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The statement text: the original when nothing changed, else the rewritten tree printed
    /// back (comments dropped, statements joined with `; `). A text with a backslash is always
    /// printed back, so that `standard_conforming_strings` cannot change what it means.
    pub sql: String,
    /// Whether `sql` differs from the input.
    pub changed: bool,
    /// How many statements the text holds (a simple query may hold several).
    pub statements: usize,
    /// Whether a protected relation is read (through masks) or written.
    pub protected_touched: bool,
}

/// Rewrites `sql` for a subject whose masks are `masks`. Refuses the whole text if any of its
/// statements is refused.
pub fn rewrite(
    sql: &str,
    catalog: &Catalog,
    search_path: &SearchPath,
    masks: &dyn ColumnMasks,
) -> Result<Rewritten, Refusal> {
    let parsed =
        pg_query::parse(sql, 0).map_err(|e| Refusal::syntax_error(ParseError::from_pg_query(e)))?;
    let mut tree = parsed.protobuf;
    let mut walker = Walker::new(catalog, search_path, masks);
    for raw in &mut tree.stmts {
        let Some(stmt) = raw.stmt.as_deref_mut() else {
            continue;
        };
        // Before the walk: mask expressions are trusted, and checked on their own.
        for call in &Census::of(&*stmt).functions {
            policy::check_function(call, catalog)?;
        }
        walker.statement(stmt)?;
        check_unvetted(&mut walker, &Census::of(&*stmt))?;
    }
    let statements = tree.stmts.len();
    let protected_touched = walker.protected_touched;
    // With standard_conforming_strings off, a backslash in a '…' literal escapes the next
    // character, and the upstream would read another statement than the one analysed here
    // (`'a\'' , (SELECT ssn FROM t) --'` is one literal to this parser, code to that one).
    // Printed from the tree, literals with backslashes are E'…' strings, which read the same
    // either way: send the analysed tree, never the original text, when it has one.
    if !walker.changed && !sql.contains('\\') {
        return Ok(Rewritten {
            sql: sql.to_string(),
            changed: false,
            statements,
            protected_touched,
        });
    }
    let sql = pg_query::deparse(&tree, Default::default()).map_err(|e| {
        Refusal::insufficient_privilege(format!(
            "the rewritten statement could not be printed: {e}"
        ))
    })?;
    Ok(Rewritten {
        sql,
        changed: true,
        statements,
        protected_touched,
    })
}

/// The backstop: a relation the walker did not vet sits where it does not rewrite. Refused
/// when it is a denied catalog or could be a protected relation.
fn check_unvetted(walker: &mut Walker<'_>, census: &Census) -> Result<(), Refusal> {
    for rel in census.relations.iter().filter(|r| r.location != VETTED) {
        policy::check_relation_name(&rel.name)?;
        let shown = if rel.schema.is_empty() {
            rel.name.clone()
        } else {
            format!("{}.{}", rel.schema, rel.name)
        };
        if walker.possibly_protected(&rel.schema, &rel.name) {
            return Err(Refusal::insufficient_privilege(format!(
                "{shown} has masked columns and appears where jitgate cannot mask it"
            )));
        }
        walker.check_not_stale(&rel.schema, &rel.name)?;
    }
    Ok(())
}
