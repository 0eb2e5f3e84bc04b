//! What a column reference means for one relation, decided against the relation's real columns
//! (the catalog snapshot), as PostgreSQL decides it.
//!
//! PostgreSQL reads `t.f` as column `f` of `t` when `t` has such a column, and otherwise as the
//! function `f` applied to the whole row of `t`: `customers.to_jsonb`, `c.row_to_json`,
//! `public.customers.record_send` are whole rows. A bare `t` is the whole row when `t` has no
//! column of that name. So whether a name is a column can only be told from the relation's
//! columns, never from the name's shape. Where a reference could be read more than one way, every
//! reading counts (a qualifier is matched wherever it appears in the name), so the answer only
//! ever errs towards "evaluates more".

use crate::catalog::Relation;
use crate::census::ColumnSighting;

/// One relation of a statement and the names its rows go by there.
pub(crate) struct RowOf<'r> {
    rel: &'r Relation,
    /// The relation's name and the alias it was given (either may qualify a column).
    names: Vec<String>,
}

/// What one reference reads of the relation.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// Columns of the relation the reference may name.
    pub columns: Vec<String>,
    /// The reference may be the whole row: `t`, `t.*`, `*`, or a function over the row.
    pub whole_row: bool,
    /// A column is named with more after it (`t.c.field`): it is evaluated, not just returned.
    pub selects_field: bool,
}

impl Resolved {
    /// The reference names nothing of this relation (another relation's column, or an error).
    pub fn unrelated(&self) -> bool {
        self.columns.is_empty() && !self.whole_row
    }
}

impl<'r> RowOf<'r> {
    pub fn new(rel: &'r Relation, alias: Option<&str>) -> RowOf<'r> {
        let mut names = vec![rel.name.clone()];
        names.extend(alias.map(str::to_owned));
        RowOf { rel, names }
    }

    fn is_column(&self, name: &str) -> bool {
        self.rel.column(name).is_some()
    }

    /// Resolves `reference` against the relation's columns.
    pub fn resolve(&self, reference: &ColumnSighting) -> Resolved {
        let fields = &reference.fields;
        let mut out = Resolved::default();
        if fields.is_empty() {
            // `*`: every column of every FROM item.
            out.whole_row = reference.star;
            return out;
        }
        // Unqualified: `c`, or `c.field…` read as column c.
        let first = fields[0].as_str();
        if self.is_column(first) {
            out.columns.push(first.to_owned());
            out.selects_field |= fields.len() > 1;
        } else if fields.len() == 1 && !reference.star && self.names.iter().any(|n| n == first) {
            // `t` with no column t: the whole row.
            out.whole_row = true;
        }
        // Qualified: `t.…`, `schema.t.…`, `db.schema.t.…` — and a name part equal to the
        // relation's anywhere, whatever precedes it.
        for (i, part) in fields.iter().enumerate() {
            if !self.names.contains(part) {
                continue;
            }
            match fields.get(i + 1) {
                // `t.*`, or the bare `t` already dealt with above.
                None => out.whole_row |= reference.star,
                Some(next) if self.is_column(next) => {
                    out.columns.push(next.clone());
                    out.selects_field |= fields.len() > i + 2;
                }
                // `t.f`, f no column of t: f(t), a function of the whole row.
                Some(_) => out.whole_row = true,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, RelKind};

    fn customers() -> Relation {
        Relation::new(
            1,
            "public",
            "customers",
            RelKind::Table,
            vec![
                Column::new("id", 1, 23, "integer"),
                Column::new("ssn", 2, 25, "text"),
                Column::new("Mixed", 3, 25, "text"),
            ],
        )
    }

    fn reference(fields: &[&str], star: bool) -> ColumnSighting {
        ColumnSighting {
            fields: fields.iter().map(|f| f.to_string()).collect(),
            star,
        }
    }

    #[test]
    fn columns_are_columns_only_when_the_relation_has_them() {
        let rel = customers();
        let row = RowOf::new(&rel, Some("c"));
        for fields in [
            &["ssn"][..],
            &["c", "ssn"],
            &["customers", "ssn"],
            &["public", "customers", "ssn"],
            &["app", "public", "customers", "ssn"],
        ] {
            let r = row.resolve(&reference(fields, false));
            assert_eq!(r.columns, ["ssn"], "{fields:?}");
            assert!(!r.whole_row && !r.selects_field, "{fields:?}");
        }
        let r = row.resolve(&reference(&["Mixed"], false));
        assert_eq!(r.columns, ["Mixed"]);
        // Folded by the parser, so not the quoted column.
        assert!(row.resolve(&reference(&["mixed"], false)).unrelated());
    }

    #[test]
    fn a_name_that_is_no_column_after_the_relation_is_the_whole_row() {
        let rel = customers();
        let row = RowOf::new(&rel, Some("c"));
        for (fields, star) in [
            (&["c"][..], false),
            (&["customers"], false),
            (&["c"], true),
            (&[], true),
            (&["c", "to_jsonb"], false),
            (&["customers", "row_to_json"], false),
            (&["public", "customers", "record_send"], false),
            (&["app", "public", "customers", "concat"], false),
            (&["c", "SSN"], false),
        ] {
            let r = row.resolve(&reference(fields, star));
            assert!(r.whole_row, "{fields:?} {star}: {r:?}");
        }
    }

    #[test]
    fn field_selection_and_other_relations() {
        let rel = customers();
        let row = RowOf::new(&rel, None);
        let r = row.resolve(&reference(&["customers", "ssn", "x"], false));
        assert_eq!(r.columns, ["ssn"]);
        assert!(r.selects_field);
        assert!(row.resolve(&reference(&["o", "total"], false)).unrelated());
        assert!(row.resolve(&reference(&["total"], false)).unrelated());
        assert!(row.resolve(&reference(&["o"], true)).unrelated());
    }
}
