//! Aggregates that join values of several rows, over columns masked by content.
//!
//! A `scan` mask judges each value on its own: a card number split across two rows passes it
//! as two harmless halves, and `string_agg(notes, '')` puts them back together after the mask.
//! For masked subjects, an aggregate that concatenates (known by its transition function in the
//! catalog — `string_agg_transfn`, `array_agg_transfn`, `json_agg_transfn`, `xmlconcat2`,
//! `textcat` for a home-made `CREATE AGGREGATE … (sfunc = textcat)`, … — and, as a backstop,
//! by name) is refused when its arguments may read such a column: they name it, use a whole
//! row, or use a name that is no column of the relations read, and in any statement whose
//! columns can be renamed before they reach the aggregate (subqueries and WITH queries in FROM,
//! functions in FROM, views over such columns).
//!
//! What remains out of reach: a client can always read the rows and join the halves itself.
//! `scan` protects values that are whole in one row.

use std::collections::HashSet;

use super::protection::Protection;
use super::walker::Walker;
use crate::catalog::{Catalog, Relation};
use crate::census::{Census, ColumnSighting, FunctionSighting};
use crate::error::Refusal;

/// Transition functions (and aggregate names) that join values, exactly or by a prefix
/// ending in `*`.
const CONCATENATING: &[&str] = &[
    "string_agg*",
    "bytea_string_agg*",
    "array_agg*",
    "json_agg*",
    "jsonb_agg*",
    "json_object_agg*",
    "jsonb_object_agg*",
    "xmlagg",
    "xmlconcat*",
    "textcat",
    "byteacat",
    "anytextcat",
    "textanycat",
    "array_append",
    "array_prepend",
    "array_cat",
    "tsvector_concat",
];

fn listed(name: &str) -> bool {
    CONCATENATING.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == *p,
    })
}

/// Whether a call can join values of several rows: by its name, or by the implementation of
/// any function (aggregate transition function included) the name can mean.
fn concatenating(call: &FunctionSighting, catalog: &Catalog) -> bool {
    let name = call.base_name();
    if listed(name) {
        return true;
    }
    let schema = call.schema();
    catalog
        .functions_named(name)
        .iter()
        .filter(|f| schema.is_none_or(|s| f.schema == s))
        .any(|f| f.symbols.iter().any(|s| listed(s)))
}

/// What the statement reads that matters here.
#[derive(Default)]
struct Read {
    /// Columns masked by content, of any relation the statement may read.
    by_content: HashSet<String>,
    /// Every column of the relations it may read.
    columns: HashSet<String>,
    /// A view reads columns masked by content (its own names may differ).
    through_views: bool,
}

impl Walker<'_> {
    /// Refuses concatenating aggregates that may read columns masked by content.
    pub(super) fn check_aggregation(&mut self, census: &Census) -> Result<(), Refusal> {
        let catalog = self.catalog;
        let calls: Vec<&[ColumnSighting]> = census
            .functions
            .iter()
            .filter(|f| concatenating(f, catalog))
            .map(|f| f.arg_columns.as_slice())
            .chain(census.json_aggregates.iter().map(Vec::as_slice))
            .collect();
        if calls.is_empty() {
            return Ok(());
        }
        let read = self.read_by(census);
        if read.by_content.is_empty() {
            return Ok(());
        }
        let renames = read.through_views
            || census.saw("RangeSubselect")
            || census.saw("CommonTableExpr")
            || census.saw("RangeFunction");
        for column in calls.into_iter().flatten() {
            let names_one = column.fields.iter().any(|f| read.by_content.contains(f));
            let no_column = column
                .fields
                .last()
                .is_none_or(|last| !read.columns.contains(last));
            if renames || names_one || no_column || column.star {
                return Err(Refusal::insufficient_privilege(format!(
                    "an aggregate that joins values of several rows may read a column masked \
                     with scan ({}): a value split across rows would pass the mask piece by \
                     piece; aggregate that column's masked values on the client instead",
                    sorted(&read.by_content)
                )));
            }
        }
        Ok(())
    }

    fn read_by(&mut self, census: &Census) -> Read {
        let mut read = Read::default();
        let catalog = self.catalog;
        for r in &census.relations {
            let candidates: Vec<&Relation> = if r.schema.is_empty() {
                catalog.relations_named(&r.name).collect()
            } else {
                catalog.relation(&r.schema, &r.name).into_iter().collect()
            };
            for rel in candidates {
                self.note_read(rel, &mut read, 0);
            }
        }
        read
    }

    fn note_read(&mut self, rel: &Relation, read: &mut Read, depth: usize) {
        read.columns
            .extend(rel.columns.iter().map(|c| c.name.clone()));
        match self.protection_of(rel) {
            Protection::Masked(m) => read.by_content.extend(m.by_content.iter().cloned()),
            Protection::Inline if depth < 16 => {
                let before = read.by_content.len();
                let bases = rel.view.as_ref().map(|v| v.depends_on.clone());
                for oid in bases.unwrap_or_default() {
                    if let Some(base) = self.catalog.relation_by_oid(oid) {
                        self.note_read(base, read, depth + 1);
                    }
                }
                read.through_views |= read.by_content.len() > before;
            }
            Protection::Inline => read.through_views = true,
            Protection::Clear | Protection::Refused(_) => {}
        }
    }
}

fn sorted(columns: &HashSet<String>) -> String {
    let mut v: Vec<&str> = columns.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::FunctionEntry;

    fn call(name: &[&str]) -> FunctionSighting {
        FunctionSighting {
            name: name.iter().map(|s| s.to_string()).collect(),
            first_arg: None,
            second_arg: None,
            arg_count: 1,
            arg_columns: Vec::new(),
        }
    }

    #[test]
    fn concatenating_aggregates_are_known_by_name_and_transition_function() {
        let catalog = Catalog::new(
            1,
            vec![],
            vec![
                FunctionEntry::new("public", "glue", false).with_symbols(&["textcat"]),
                FunctionEntry::new("pg_catalog", "max", false).with_symbols(&["text_larger"]),
            ],
            true,
        );
        for name in [
            &["string_agg"][..],
            &["pg_catalog", "array_agg"],
            &["json_agg"],
            &["jsonb_object_agg"],
            &["xmlagg"],
            &["glue"],
            &["public", "glue"],
        ] {
            assert!(concatenating(&call(name), &catalog), "{name:?}");
        }
        assert!(!concatenating(&call(&["max"]), &catalog));
        assert!(!concatenating(&call(&["count"]), &catalog));
    }
}
