//! The masked projection of a protected table, from its schema.

use jitgate_masking::{MaskedView, SparkType};

use crate::names::{mask_for, quote_ident};
use crate::{Refusal, TableRef};

/// Prefix of the lambda variables the masks' Spark expressions use; a column of that name
/// could be captured by them, so such columns (and identifiers) are refused.
pub(crate) const RESERVED_PREFIX: &str = "jgmask_";

/// A column's type as the upstream reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnType {
    /// A type masks know.
    Known(SparkType),
    /// Spark's name of another type, e.g. `struct<a:int>` or `timestamp_ntz`: such a column can
    /// be read in clear, but not masked.
    Other(String),
}

impl ColumnType {
    /// From Spark's type name (`SparkType::parse`, else `Other`).
    pub fn from_spark_name(name: &str) -> ColumnType {
        SparkType::parse(name)
            .map(ColumnType::Known)
            .unwrap_or_else(|| ColumnType::Other(name.to_string()))
    }
}

impl std::fmt::Display for ColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnType::Known(t) => t.fmt(f),
            ColumnType::Other(name) => f.write_str(name),
        }
    }
}

/// One column of a table, in table order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
}

/// One entry of a masking projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projected {
    /// The Spark SQL expression: the backtick-quoted column, or the mask's expression of it.
    pub expr_sql: String,
    /// The column's name, which the entry keeps (`expr_sql AS `name``).
    pub name: String,
    pub masked: bool,
}

impl Projected {
    /// `expr AS `name``, as the masking subquery lists it.
    pub fn select_item(&self) -> String {
        format!("{} AS {}", self.expr_sql, quote_ident(&self.name))
    }
}

/// The masked projection of one protected table: one entry per column, in table order. Clear
/// columns are just the backtick-quoted column; masked ones the mask's Spark expression of it.
///
/// Refuses a masked column whose type is not one masks know or whose mask does not apply to
/// its type (naming the column, type and mask), any column named like `jgmask_*` (the masks'
/// lambda variables), and a table without columns (a schema that could not be read).
pub fn masking_projection(
    view: &MaskedView,
    table: &TableRef,
    columns: &[Column],
) -> Result<Vec<Projected>, Refusal> {
    if columns.is_empty() {
        return Err(Refusal::new(format!(
            "jitgate cannot mask {}: its schema has no columns",
            table.identifier
        )));
    }
    columns
        .iter()
        .map(|column| {
            if column.name.to_lowercase().starts_with(RESERVED_PREFIX) {
                return Err(Refusal::new(format!(
                    "jitgate refuses to read {} to masked subjects: its column {} uses the prefix {RESERVED_PREFIX}, which jitgate reserves for masking",
                    table.identifier,
                    quote_ident(&column.name)
                )));
            }
            let quoted = quote_ident(&column.name);
            let Some(mask) = mask_for(view, table, &column.name) else {
                return Ok(Projected {
                    expr_sql: quoted,
                    name: column.name.clone(),
                    masked: false,
                });
            };
            let cannot = |why: String| {
                Refusal::new(format!(
                    "jitgate cannot mask column {quoted} of {} (type {}) with the {} mask: {why}; the statement is refused",
                    table.identifier, column.ty, mask.name()
                ))
            };
            let ColumnType::Known(ty) = &column.ty else {
                return Err(cannot("masks do not support this type".into()));
            };
            let expr_sql = mask
                .spark_expr(&quoted, ty, view.key())
                .map_err(|e| cannot(e.to_string()))?;
            Ok(Projected {
                expr_sql,
                name: column.name.clone(),
                masked: true,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve;
    use crate::tests::util::{ns, people, view};

    fn cols(list: &[(&str, &str)]) -> Vec<Column> {
        list.iter()
            .map(|(n, t)| Column {
                name: n.to_string(),
                ty: ColumnType::from_spark_name(t),
            })
            .collect()
    }

    #[test]
    fn clear_and_masked_columns() {
        let v = view();
        let p = masking_projection(
            &v,
            &people(),
            &cols(&[("id", "int"), ("SSN", "string"), ("email", "string")]),
        )
        .expect("projection");
        assert_eq!(p[0].expr_sql, "`id`");
        assert!(!p[0].masked);
        assert_eq!(p[0].select_item(), "`id` AS `id`");
        assert!(p[1].masked, "upper-case column matched lowercased");
        assert!(p[1].expr_sql.contains("(`SSN`)"), "{}", p[1].expr_sql);
        assert!(p[2].masked);
        assert!(p[2].expr_sql.contains("***@"), "{}", p[2].expr_sql);
    }

    #[test]
    fn refusals() {
        let v = view();
        let err = masking_projection(
            &v,
            &people(),
            &cols(&[("id", "int"), ("ssn", "struct<a:int>")]),
        )
        .expect_err("struct");
        assert!(err.message.contains("`ssn`"), "{err}");
        assert!(err.message.contains("struct<a:int>"), "{err}");
        assert!(err.message.contains("redact"), "{err}");
        // email mask on an int column.
        let err = masking_projection(&v, &people(), &cols(&[("email", "int")]))
            .expect_err("not applicable");
        assert!(err.message.contains("email"), "{err}");
        assert!(err.message.contains("int"), "{err}");
        let err = masking_projection(&v, &people(), &cols(&[("id", "int"), ("JGMASK_c", "int")]))
            .expect_err("reserved");
        assert!(err.message.contains("jgmask_"), "{err}");
        assert!(masking_projection(&v, &people(), &[]).is_err());
        // Clear columns of other types are fine.
        let p = masking_projection(&v, &people(), &cols(&[("tags", "array<string>")]))
            .expect("clear struct");
        assert_eq!(p[0].expr_sql, "`tags`");
    }

    #[test]
    fn backticks_in_column_names() {
        let v = view();
        let t = resolve(&["orders".to_string()], &ns()).expect("resolves");
        let p = masking_projection(&v, &t, &cols(&[("a`b", "int")])).expect("projection");
        assert_eq!(p[0].select_item(), "`a``b` AS `a``b`");
    }
}
