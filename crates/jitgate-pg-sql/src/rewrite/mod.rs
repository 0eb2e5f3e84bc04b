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

mod aggregation;
mod dml;
mod nodes;
mod policy;
mod protection;
mod references;
mod returned;
mod utility;
mod walker;

use crate::catalog::Catalog;
use crate::census::Census;
use crate::error::Refusal;
use crate::masks::ColumnMasks;
use crate::parse::parse;
use crate::search_path::SearchPath;

use nodes::VETTED;
use pg_query::{NodeEnum, ParserOptions};
pub(crate) use protection::MaskPlans;
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
    /// The text changes the schema: once it succeeds, the front should load a new catalog
    /// snapshot (new relations, renamed columns, views).
    pub changes_catalog: bool,
    /// Masked columns (`schema.table.column`) this text reads clear and only returns, so the
    /// result stream must mask them (see [`Protocol`]).
    pub masked_in_results: Vec<String>,
    /// The text sets the session's `search_path` (the last such SET): the front should resolve
    /// later statements with the new path.
    pub search_path_change: Option<SearchPathChange>,
}

/// How a statement text reached the gateway.
///
/// In both, columns a plain SELECT only returns are read clear and left to the result stream
/// ([`Rewritten::masked_in_results`]) when their masks are exact there. That is sound only
/// because the front reads every row with the description of the very statement or portal it
/// comes from, which names each value's table column: a simple Query's statements each send
/// their RowDescription before their rows, and in the extended protocol the PostgreSQL front
/// describes the portal immediately before each Execute (its `portals` module), ending the
/// session on a row whose description it does not hold. A front that cannot promise this must
/// not use this rewrite for masked subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// A simple-protocol Query (possibly several statements).
    SimpleQuery,
    /// A Parse message: one statement, executed later through its portals.
    Extended,
}

/// A session-level change of `search_path` seen in a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchPathChange {
    /// The new value, in the form `SHOW search_path` prints (for [`SearchPath::parse`]).
    Set(String),
    /// Back to the session's default.
    Reset,
}

/// Rewrites `sql` for a subject whose masks are `masks`. Refuses the whole text if any of its
/// statements is refused.
pub fn rewrite(
    sql: &str,
    catalog: &Catalog,
    search_path: &SearchPath,
    masks: &dyn ColumnMasks,
    protocol: Protocol,
) -> Result<Rewritten, Refusal> {
    rewrite_planned(sql, catalog, search_path, masks, protocol, None)
}

/// [`rewrite`], reusing the masking queries of earlier statements of the same subject over the
/// same snapshot (`plans` must only ever see one subject view and one catalog version).
pub(crate) fn rewrite_planned(
    sql: &str,
    catalog: &Catalog,
    search_path: &SearchPath,
    masks: &dyn ColumnMasks,
    // Both protocols are rewritten alike (see `Protocol`); the cache still keeps them apart.
    _protocol: Protocol,
    plans: Option<&MaskPlans>,
) -> Result<Rewritten, Refusal> {
    let mut tree = parse(sql, ParserOptions::DEFAULT).map_err(Refusal::syntax_error)?;
    let mut walker = Walker::new(catalog, search_path, masks, plans);
    let mut changes_catalog = false;
    for raw in &mut tree.stmts {
        let Some(stmt) = raw.stmt.as_deref_mut() else {
            continue;
        };
        changes_catalog |= stmt
            .node
            .as_ref()
            .is_some_and(crate::classify::changes_catalog);
        // Before the walk: mask expressions are trusted, and checked on their own.
        let census = Census::of(&*stmt);
        for call in &census.functions {
            policy::check_function(call, catalog)?;
        }
        walker.check_aggregation(&census)?;
        if let Some(NodeEnum::SelectStmt(select)) = stmt.node.as_ref() {
            walker.returned_only = returned::evaluated_columns(select);
        }
        walker.statement(stmt)?;
        walker.returned_only = None;
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
            changes_catalog,
            masked_in_results: walker.masked_in_results,
            search_path_change: walker.search_path_change,
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
        changes_catalog,
        masked_in_results: walker.masked_in_results,
        search_path_change: walker.search_path_change,
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
