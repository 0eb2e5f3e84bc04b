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

use crate::census::Census;

/// The columns of a statement's single FROM table that the statement evaluates somewhere;
/// every other column of that table is only returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evaluated {
    /// The parser's location of the table's RangeVar, to be sure the rewrite applies this to
    /// the relation it was computed for.
    pub location: i32,
    pub columns: HashSet<String>,
}

/// What `select` evaluates, or `None` when its shape is not one this analysis covers (every
/// masked column then stays masked in SQL).
pub(crate) fn evaluated_columns(select: &SelectStmt) -> Option<Evaluated> {
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
    // A bare reference to one of these is (or may be) the whole row.
    let row_names: Vec<&str> = std::iter::once(table.relname.as_str())
        .chain(table.alias.as_ref().map(|a| a.aliasname.as_str()))
        .collect();

    let mut rest = select.clone();
    let mut returned = Vec::new();
    rest.target_list.retain(|target| match bare_output(target) {
        Some(out) => {
            returned.push(out);
            false
        }
        None => true,
    });
    let mut columns = HashSet::new();
    for out in &returned {
        match &out.column {
            Column::Star => {}
            Column::Named(name) if out.fields == 1 && row_names.contains(&name.as_str()) => {
                return None;
            }
            Column::Named(_) => {}
        }
    }
    for seen in Census::of(&rest).columns {
        let last = seen.fields.last().map(String::as_str);
        let whole_row = seen.fields.len() == 1 && last.is_some_and(|n| row_names.contains(&n));
        if seen.star || whole_row {
            return None;
        }
        if let Some(name) = last {
            columns.insert(name.to_owned());
        }
    }
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
                let name = field_name(&r.fields[0]);
                for out in &returned {
                    if let (Some(name), Column::Named(column)) = (name, &out.column) {
                        if out.output_name == name {
                            columns.insert(column.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Some(Evaluated {
        location: table.location,
        columns,
    })
}

enum Column {
    Named(String),
    Star,
}

/// A target that is a bare column reference (`c`, `t.c`, `s.t.c`, `*`, `t.*`).
struct Output {
    column: Column,
    /// How many name parts the reference has.
    fields: usize,
    /// The name the output column gets (its alias, else the column's name).
    output_name: String,
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
    let last = r.fields.last()?;
    let column = match last.node.as_ref()? {
        NodeEnum::AStar(_) => Column::Star,
        _ => Column::Named(field_name(last)?.to_owned()),
    };
    // Every qualifier must be a plain name.
    let prefix = &r.fields[..r.fields.len() - 1];
    if prefix.iter().any(|f| field_name(f).is_none()) {
        return None;
    }
    let output_name = if t.name.is_empty() {
        match &column {
            Column::Named(n) => n.clone(),
            Column::Star => String::new(),
        }
    } else {
        t.name.clone()
    };
    Some(Output {
        column,
        fields: r.fields.len(),
        output_name,
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

    fn evaluated(sql: &str) -> Option<Vec<String>> {
        let tree = crate::parse::parse(sql, pg_query::ParserOptions::DEFAULT).expect("parses");
        let node = tree.stmts[0].stmt.as_ref().and_then(|s| s.node.as_ref());
        let Some(NodeEnum::SelectStmt(s)) = node else {
            panic!("not a SELECT: {sql}");
        };
        evaluated_columns(s).map(|e| {
            let mut v: Vec<String> = e.columns.into_iter().collect();
            v.sort();
            v
        })
    }

    #[test]
    fn columns_only_returned_are_not_evaluated() {
        assert_eq!(evaluated("SELECT * FROM t"), Some(vec![]));
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
}
