//! Columns a statement only returns.
//!
//! Masking in SQL makes PostgreSQL evaluate every mask for every row it reads, which costs more
//! than the read itself for keyed hashes. A column that a statement never evaluates — no
//! predicate, ordering, grouping, function or whole-row reference touches it; it is only sent
//! back as it is — can instead be read clear and masked in the result stream, where the
//! RowDescription names its table and column. The answer is the same (the masks whose stream
//! form is exact are chosen elsewhere); only who computes it changes.
//!
//! This module decides which columns qualify, and is deliberately narrow: one plain SELECT over
//! one table, columns returned by bare references or `*`. Anything else — joins, set
//! operations, DISTINCT, GROUP BY, windows, WITH, INTO, positional ORDER BY — keeps every mask
//! in SQL. The check works on a copy of the statement without its bare output columns: every
//! column reference the census still finds there is evaluated, so a reference the analysis did
//! not think of keeps its column masked in SQL rather than leaking.

use std::collections::HashSet;

use pg_query::protobuf::{a_const, Node, SelectStmt, SetOperation};
use pg_query::NodeEnum;

use super::references::RowOf;
use crate::catalog::Relation;
use crate::census::{Census, ColumnSighting};

/// A statement of the covered shape, before its table is resolved: every column reference it
/// makes, to be resolved against the table's real columns ([`Shape::evaluated_in`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The parser's location of the table's RangeVar, to be sure the rewrite applies this to
    /// the relation it was computed for.
    pub location: i32,
    /// The alias the table was given.
    alias: Option<String>,
    /// Output columns that are bare references, as written.
    outputs: Vec<Output>,
    /// Every other column reference of the statement (anywhere, sublinks included).
    evaluated: Vec<ColumnSighting>,
    /// Bare names ORDER BY sorts on: an output column's name, else an input column.
    sort_names: Vec<String>,
}

/// The statement's shape, or `None` when it is not one this analysis covers (every masked
/// column then stays masked in SQL).
pub(crate) fn evaluated_columns(select: &SelectStmt) -> Option<Shape> {
    let plain = select.op == SetOperation::SetopNone as i32
        && select.with_clause.is_none()
        && select.into_clause.is_none()
        && select.values_lists.is_empty()
        && select.distinct_clause.is_empty()
        && select.group_clause.is_empty()
        && !select.group_distinct
        && select.having_clause.is_none()
        && select.window_clause.is_empty()
        && select.from_clause.len() == 1;
    if !plain {
        return None;
    }
    let Some(NodeEnum::RangeVar(table)) = select.from_clause[0].node.as_ref() else {
        return None;
    };
    // Renamed columns (`FROM t AS x(a, b)`) would make names in the statement differ from the
    // table's: not covered.
    if table.alias.as_ref().is_some_and(|a| !a.colnames.is_empty()) {
        return None;
    }
    let mut rest = select.clone();
    let mut outputs = Vec::new();
    rest.target_list.retain(|target| match bare_output(target) {
        Some(out) => {
            outputs.push(out);
            false
        }
        None => true,
    });
    let mut sort_names = Vec::new();
    // ORDER BY resolves a bare name to an output column first (`SELECT c AS x … ORDER BY x`)
    // and a number to an output position.
    for sort in &select.sort_clause {
        let Some(NodeEnum::SortBy(by)) = sort.node.as_ref() else {
            return None;
        };
        match by.node.as_ref().and_then(|n| n.node.as_ref()) {
            Some(NodeEnum::AConst(c)) if matches!(c.val, Some(a_const::Val::Ival(_))) => {
                return None;
            }
            Some(NodeEnum::ColumnRef(r)) if r.fields.len() == 1 => {
                sort_names.extend(field_name(&r.fields[0]).map(str::to_owned));
            }
            _ => {}
        }
    }
    Some(Shape {
        location: table.location,
        alias: table.alias.as_ref().map(|a| a.aliasname.clone()),
        outputs,
        evaluated: Census::of(&rest).columns,
        sort_names,
    })
}

impl Shape {
    /// The columns of `rel` (the statement's table, as the catalog has it) that the statement
    /// evaluates somewhere; every other column is only returned. `None` when some reference
    /// reads the whole row (`t`, `t.*` in an expression, `t.f` with `f` no column of `t`: the
    /// function `f` over the row), or resolves to nothing this analysis can place.
    pub fn evaluated_in(&self, rel: &Relation) -> Option<HashSet<String>> {
        let row = RowOf::new(rel, self.alias.as_deref());
        let output_names: Vec<&str> = self.outputs.iter().map(|o| o.name.as_str()).collect();
        let mut columns = HashSet::new();
        for out in &self.outputs {
            let r = row.resolve(&out.reference);
            if out.reference.star {
                // `*` and `t.*` return every column as it is; `x.*` of nothing is unresolved.
                if out.reference.fields.is_empty() || r.whole_row {
                    continue;
                }
                return None;
            }
            if r.whole_row || r.columns.is_empty() {
                return None;
            }
            if r.selects_field || r.columns.len() > 1 {
                columns.extend(r.columns);
            }
        }
        for reference in &self.evaluated {
            let r = row.resolve(reference);
            if r.whole_row {
                return None;
            }
            if r.unrelated() {
                match reference.fields.as_slice() {
                    // Another relation's column (in a sublink): nothing of this table, but
                    // counted anyway, which only masks more.
                    [_, _, ..] => {}
                    // An output column's name, in ORDER BY.
                    [name] if output_names.contains(&name.as_str()) => {}
                    // Resolves to nothing here: not covered.
                    _ => return None,
                }
                columns.extend(reference.fields.last().cloned());
            }
            columns.extend(r.columns);
        }
        for name in &self.sort_names {
            for out in self.outputs.iter().filter(|o| &o.name == name) {
                columns.extend(row.resolve(&out.reference).columns);
            }
        }
        Some(columns)
    }
}

/// A target that is a bare column reference (`c`, `t.c`, `s.t.c`, `*`, `t.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Output {
    reference: ColumnSighting,
    /// The name the output column gets (its alias, else the reference's last name).
    name: String,
}

fn bare_output(target: &Node) -> Option<Output> {
    let Some(NodeEnum::ResTarget(t)) = target.node.as_ref() else {
        return None;
    };
    if !t.indirection.is_empty() {
        return None;
    }
    let Some(NodeEnum::ColumnRef(r)) = t.val.as_ref().and_then(|v| v.node.as_ref()) else {
        return None;
    };
    let (last, prefix) = r.fields.split_last()?;
    // Every qualifier must be a plain name.
    let mut fields: Vec<String> = prefix
        .iter()
        .map(|f| field_name(f).map(str::to_owned))
        .collect::<Option<_>>()?;
    let star = match last.node.as_ref()? {
        NodeEnum::AStar(_) => true,
        _ => {
            fields.push(field_name(last)?.to_owned());
            false
        }
    };
    let name = if !t.name.is_empty() {
        t.name.clone()
    } else {
        fields.last().cloned().filter(|_| !star).unwrap_or_default()
    };
    Some(Output {
        reference: ColumnSighting { fields, star },
        name,
    })
}

fn field_name(field: &Node) -> Option<&str> {
    match field.node.as_ref()? {
        NodeEnum::String(s) => Some(&s.sval),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Relation {
        use crate::catalog::{Column, RelKind};
        let columns = ["id", "ssn", "name", "Quoted"]
            .iter()
            .zip(1..)
            .map(|(n, i)| Column::new(n, i, 25, "text"))
            .collect();
        Relation::new(1, "public", "t", RelKind::Table, columns)
    }

    fn evaluated(sql: &str) -> Option<Vec<String>> {
        let tree = crate::parse::parse(sql, pg_query::ParserOptions::DEFAULT).expect("parses");
        let node = tree.stmts[0].stmt.as_ref().and_then(|s| s.node.as_ref());
        let Some(NodeEnum::SelectStmt(s)) = node else {
            panic!("not a SELECT: {sql}");
        };
        evaluated_columns(s)
            .and_then(|shape| shape.evaluated_in(&table()))
            .map(|columns| {
                let mut v: Vec<String> = columns.into_iter().collect();
                v.sort();
                v
            })
    }

    #[test]
    fn columns_only_returned_are_not_evaluated() {
        assert_eq!(evaluated("SELECT * FROM t"), Some(vec![]));
        assert_eq!(
            evaluated("SELECT public.t.ssn, t.\"Quoted\", x FROM public.t WHERE t.id = 1"),
            None,
            "x is no column of t"
        );
        assert_eq!(
            evaluated("SELECT public.t.ssn, t.\"Quoted\" FROM public.t WHERE t.id = 1"),
            Some(vec!["id".to_string()])
        );
        assert_eq!(evaluated("SELECT t.* FROM public.t"), Some(vec![]));
        assert_eq!(
            evaluated("SELECT ssn, x.name AS n FROM t AS x"),
            Some(vec![])
        );
        assert_eq!(
            evaluated("SELECT ssn FROM t WHERE id < 10 ORDER BY id LIMIT 5"),
            Some(vec!["id".to_string()])
        );
    }

    #[test]
    fn every_other_use_evaluates_the_column() {
        for (sql, column) in [
            ("SELECT ssn FROM t WHERE ssn LIKE '1%'", "ssn"),
            ("SELECT * FROM t ORDER BY ssn", "ssn"),
            ("SELECT ssn AS x FROM t ORDER BY x", "ssn"),
            ("SELECT id AS ssn, ssn AS id FROM t ORDER BY id", "ssn"),
            ("SELECT ssn || '' FROM t", "ssn"),
            ("SELECT ssn::int FROM t", "ssn"),
            ("SELECT max(ssn) OVER () FROM t", "ssn"),
            (
                "SELECT id FROM t LIMIT (SELECT count(*) FROM u WHERE u.ssn > '5')",
                "ssn",
            ),
            ("SELECT (SELECT ssn) FROM t", "ssn"),
            (
                "SELECT ssn FROM t WHERE EXISTS (SELECT 1 FROM t t2 WHERE t2.ssn = '1')",
                "ssn",
            ),
        ] {
            let got = evaluated(sql).unwrap_or_else(|| panic!("{sql} is covered"));
            assert!(got.contains(&column.to_string()), "{sql}: {got:?}");
        }
    }

    #[test]
    fn shapes_not_covered_keep_every_mask_in_sql() {
        for sql in [
            "SELECT t FROM t",
            "SELECT row_to_json(t) FROM t",
            "SELECT x FROM t AS x",
            "SELECT count(t.*) FROM t",
            "SELECT * FROM t ORDER BY 2",
            "SELECT DISTINCT ssn FROM t",
            "SELECT DISTINCT ON (id) ssn FROM t",
            "SELECT ssn FROM t GROUP BY ssn",
            "SELECT ssn FROM t UNION SELECT ssn FROM t",
            "WITH c AS (SELECT 1) SELECT ssn FROM t",
            "SELECT ssn INTO u FROM t",
            "SELECT ssn FROM t, u",
            "SELECT ssn FROM t JOIN u USING (id)",
            "SELECT ssn FROM t NATURAL JOIN u",
            "SELECT a FROM t AS x(a, b)",
            "SELECT ssn FROM t TABLESAMPLE bernoulli (50)",
            "SELECT ssn, count(*) OVER w FROM t WINDOW w AS ()",
            "SELECT (SELECT 1 FROM u WHERE u.x = t.*) FROM t",
        ] {
            assert_eq!(evaluated(sql), None, "{sql}");
        }
    }

    /// `t.f` is `f(t)` when `t` has no column `f`: the whole row, whatever `f` is called and
    /// wherever it appears. Only the relation's real columns are columns.
    #[test]
    fn names_that_are_no_column_are_the_whole_row() {
        for sql in [
            "SELECT t.to_jsonb FROM t",
            "SELECT t.row_to_json FROM t",
            "SELECT x.record_send FROM t AS x",
            "SELECT public.t.record_send FROM t",
            "SELECT public.t.record_send FROM public.t",
            "SELECT t.concat AS ssn FROM t",
            "SELECT ssn FROM t WHERE t.to_jsonb->>'ssn' LIKE '1%'",
            "SELECT ssn FROM t WHERE md5(t.to_jsonb::text) = ''",
            "SELECT ssn FROM t ORDER BY t.to_jsonb->>'ssn'",
            "SELECT ssn, length(x.row_to_json::text) FROM t x",
            "SELECT ssn FROM t WHERE EXISTS (SELECT 1 FROM u WHERE t.to_jsonb IS NOT NULL)",
            "SELECT t.\"Ssn\" FROM t",
            "SELECT quoted FROM t",
            "SELECT nosuch FROM t",
            "SELECT ssn FROM t WHERE nosuch = 1",
            "SELECT u.ssn FROM t",
            "SELECT x.* FROM t",
        ] {
            assert_eq!(evaluated(sql), None, "{sql}");
        }
    }
}
