//! Spark multi-part names and their resolution against the session's namespace.

use jitgate_masking::MaskedView;

use crate::{Namespace, Refusal, TableRef};

/// Data source formats Spark reads files with when written as `format.`path``. A two-part name
/// whose first part is one of these is a direct file read, which bypasses the catalog (and so
/// any masking of the table whose files those are).
const FILE_FORMATS: &[&str] = &[
    "parquet",
    "orc",
    "json",
    "csv",
    "text",
    "avro",
    "delta",
    "binaryfile",
    "jdbc",
    "xml",
    "iceberg",
    "hudi",
    "hive",
    "libsvm",
    "image",
    "kafka",
    "cloudfiles",
    "deltasharing",
    "noop",
    "console",
    "tfrecord",
    "excel",
    "rate",
    "socket",
    "memory",
    "wholetext",
];

/// Catalog names that Spark may take the first part of a two-part name for (a registered
/// catalog followed by a table name resolves in that catalog's current or default namespace,
/// not in a database of that name). Such names resolve as catalog + the session's database.
/// Spark's database of global temporary views (`spark.sql.globalTempDatabase`, a static setting
/// left at its default on Spark and Databricks alike).
const GLOBAL_TEMP_DATABASE: &str = "global_temp";

const CATALOG_NAMES: &[&str] = &["spark_catalog", "hive_metastore", "system", "samples"];

/// Parses a Spark multi-part identifier: `a.`b c`.`d``e`` → `["a", "b c", "d`e"]`. Unquoted
/// parts are kept as written (Spark's names are case-insensitive; see [`is_protected`]).
pub fn parse_identifier(text: &str) -> Result<Vec<String>, Refusal> {
    let bad = |why: &str| {
        Refusal::new(format!(
            "jitgate cannot read the name {text:?} as a Spark identifier: {why}"
        ))
    };
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut part = String::new();
        if chars.peek() == Some(&'`') {
            chars.next();
            loop {
                match chars.next() {
                    Some('`') if chars.peek() == Some(&'`') => {
                        chars.next();
                        part.push('`');
                    }
                    Some('`') => break,
                    Some(c) => part.push(c),
                    None => return Err(bad("unterminated backtick")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    part.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
        }
        if part.is_empty() {
            return Err(bad("empty part"));
        }
        parts.push(part);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Ok(parts),
            Some('.') => continue,
            Some(c) => return Err(bad(&format!("unexpected character {c:?}"))),
        }
    }
}

/// A name part backtick-quoted for Spark, backticks inside doubled.
pub fn quote_ident(part: &str) -> String {
    format!("`{}`", part.replace('`', "``"))
}

/// Resolves a name as written against the namespace: `t` → the session's catalog and
/// database, `d.t` → database `d`, `c.d.t` → catalog `c`. Refuses global temporary views
/// (`global_temp.v`), direct file reads
/// (`parquet.`/path``), names of more than three parts, and empty parts or parts containing a
/// dot (a backticked `` `db.t` `` is one part to Spark's parser, but a name that reads as
/// another one is not worth the doubt).
pub fn resolve(parts: &[String], ns: &Namespace) -> Result<TableRef, Refusal> {
    let shown = parts
        .iter()
        .map(|p| quote_ident(p))
        .collect::<Vec<_>>()
        .join(".");
    let file_read = || {
        Refusal::new(format!(
            "jitgate refuses direct file reads to masked subjects ({shown}): read the table through the catalog instead"
        ))
    };
    if let [d, t] = parts {
        if FILE_FORMATS.contains(&d.to_ascii_lowercase().as_str()) || t.contains(['/', ':']) {
            return Err(file_read());
        }
    }
    if parts.last().is_some_and(|t| t.contains(['/', ':'])) {
        return Err(file_read());
    }
    if parts.iter().any(|p| p.is_empty() || p.contains('.')) {
        return Err(Refusal::new(format!(
            "jitgate refuses the name {shown} to masked subjects: name parts may not be empty or contain dots"
        )));
    }
    let (catalog, database, table) = match parts {
        [t] => (None, ns.database.clone(), t.clone()),
        [d, t] => {
            let lower = d.to_ascii_lowercase();
            if CATALOG_NAMES.contains(&lower.as_str()) || lower == ns.catalog.to_ascii_lowercase()
            {
                (Some(d.clone()), ns.database.clone(), t.clone())
            } else {
                (None, d.clone(), t.clone())
            }
        }
        [c, d, t] => (Some(c.clone()), d.clone(), t.clone()),
        [] => return Err(Refusal::new("jitgate refuses an empty table name")),
        _ => {
            return Err(Refusal::new(format!(
                "jitgate refuses the name {shown} to masked subjects: names of more than three parts (nested namespaces) are not supported"
            )))
        }
    };
    // Global temporary views belong to the cluster, not to a session: any session may make one
    // under any name, a clear subject's over clear values included, and masking follows names.
    if database.eq_ignore_ascii_case(GLOBAL_TEMP_DATABASE) {
        return Err(Refusal::new(format!(
            "jitgate refuses global temporary views ({shown}) to masked subjects: any session \
             of the cluster, one with clear access included, can make or replace them; use \
             temporary views"
        )));
    }
    let mut identifier = String::new();
    if let Some(c) = &catalog {
        identifier.push_str(&quote_ident(c));
        identifier.push('.');
    }
    identifier.push_str(&quote_ident(&database));
    identifier.push('.');
    identifier.push_str(&quote_ident(&table));
    Ok(TableRef {
        identifier,
        catalog,
        database,
        table,
    })
}

/// Whether the view may mask columns of this table, asked with the names as written and
/// lowercased (Spark's names are case-insensitive, the policy's patterns need not be).
pub fn is_protected(view: &MaskedView, table: &TableRef) -> bool {
    view.may_protect(&table.database, &table.table)
        || view.may_protect(&table.database.to_lowercase(), &table.table.to_lowercase())
}

/// The mask of a column: the as-written names' answer first, else the lowercased names'.
pub(crate) fn mask_for<'v>(
    view: &'v MaskedView,
    table: &TableRef,
    column: &str,
) -> Option<&'v jitgate_masking::Mask> {
    view.mask_for(&table.database, &table.table, column)
        .or_else(|| {
            view.mask_for(
                &table.database.to_lowercase(),
                &table.table.to_lowercase(),
                &column.to_lowercase(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Namespace {
        Namespace {
            catalog: "spark_catalog".into(),
            database: "default".into(),
        }
    }

    fn parts(text: &str) -> Vec<String> {
        parse_identifier(text).expect("identifier")
    }

    #[test]
    fn identifiers() {
        assert_eq!(parts("a.`b c`.`d``e`"), vec!["a", "b c", "d`e"]);
        assert_eq!(parts(" People "), vec!["People"]);
        assert_eq!(parts("a . b"), vec!["a", "b"]);
        assert!(parse_identifier("a..b").is_err());
        assert!(parse_identifier("`a").is_err());
        assert!(parse_identifier("").is_err());
        assert!(parse_identifier("a-b").is_err());
        assert!(parse_identifier("a.").is_err());
    }

    #[test]
    fn resolution() {
        let t = resolve(&parts("people"), &ns()).expect("resolves");
        assert_eq!(t.identifier, "`default`.`people`");
        assert_eq!((t.catalog, t.database.as_str()), (None, "default"));
        let t = resolve(&parts("hr.people"), &ns()).expect("resolves");
        assert_eq!(t.identifier, "`hr`.`people`");
        let t = resolve(&parts("main.hr.`pe``ople`"), &ns()).expect("resolves");
        assert_eq!(t.identifier, "`main`.`hr`.`pe``ople`");
        assert_eq!(t.catalog.as_deref(), Some("main"));
        assert_eq!(t.table, "pe`ople");
        // A catalog name followed by a table reads the session's database.
        let t = resolve(&parts("Spark_Catalog.people"), &ns()).expect("resolves");
        assert_eq!(t.database, "default");
        assert_eq!(t.identifier, "`Spark_Catalog`.`default`.`people`");
    }

    #[test]
    fn resolution_refusals() {
        for name in [
            "parquet.`/tmp/x`",
            "Delta.`s3://b/p`",
            "db.`/tmp/x`",
            "db.`s3:x`",
            "CSV.t",
            "a.b.c.d",
            "`a.b`",
        ] {
            assert!(resolve(&parts(name), &ns()).is_err(), "{name}");
        }
        let err = resolve(&parts("parquet.`/tmp/x`"), &ns()).expect_err("file read");
        assert!(err.message.contains("direct file reads"), "{err}");
        assert!(resolve(&[], &ns()).is_err());
        assert!(resolve(&[String::new()], &ns()).is_err());
    }
}
