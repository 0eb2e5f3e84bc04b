//! Loading a [`Catalog`] from the upstream: the SQL the front runs, and building the snapshot from
//! the text rows it gets back (simple query protocol: every value is text or NULL).

use std::collections::HashMap;

use super::{Catalog, Column, ForeignKey, FunctionEntry, RelKind, Relation, ViewDefinition};

/// One result row: column values in text format, `None` for NULL.
pub type Row = Vec<Option<String>>;

/// The rows of [`Catalog::LOAD_QUERIES`], one field per query, in the same order.
#[derive(Debug, Clone, Default)]
pub struct CatalogRows {
    pub relations: Vec<Row>,
    pub columns: Vec<Row>,
    pub view_dependencies: Vec<Row>,
    pub functions: Vec<Row>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("catalog row {row} of {query}: {problem}")]
pub struct CatalogError {
    pub query: &'static str,
    pub row: usize,
    pub problem: String,
}

const RELATIONS_SQL: &str = "\
SELECT c.oid::pg_catalog.text, n.nspname, c.relname, c.relkind::pg_catalog.text,
       CASE WHEN c.relkind IN ('v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            THEN pg_catalog.pg_get_viewdef(c.oid) END,
       pg_catalog.array_to_string(c.reloptions, ','),
       (SELECT pg_catalog.string_agg(i.inhparent::pg_catalog.text, ',' ORDER BY i.inhseqno)
          FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid),
       (SELECT pg_catalog.string_agg(k.side || ' ' || k.other::pg_catalog.text || ' '
                 || pg_catalog.array_to_string(k.other_columns, ':'), ',')
          FROM (SELECT 'r' AS side, f.confrelid AS other, f.confkey AS other_columns
                  FROM pg_catalog.pg_constraint f
                 WHERE f.contype = 'f' AND f.conrelid = c.oid
                UNION ALL
                SELECT 'd', f.conrelid, f.conkey
                  FROM pg_catalog.pg_constraint f
                 WHERE f.contype = 'f' AND f.confrelid = c.oid) k),
       COALESCE(
         (SELECT 'trigger ' || t.tgname FROM pg_catalog.pg_trigger t
           WHERE t.tgrelid = c.oid AND NOT t.tgisinternal ORDER BY t.tgname LIMIT 1),
         (SELECT 'rule ' || r.rulename FROM pg_catalog.pg_rewrite r
           WHERE r.ev_class = c.oid AND r.ev_type OPERATOR(pg_catalog.<>) '1'
           ORDER BY r.rulename LIMIT 1),
         (SELECT 'user function ' || pn.nspname || '.' || p.proname
            FROM pg_catalog.pg_depend d
            JOIN pg_catalog.pg_proc p ON p.oid = d.refobjid
            JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
            JOIN pg_catalog.pg_language l ON l.oid = p.prolang
           WHERE d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
             AND l.lanname NOT IN ('internal', 'c')
             AND pn.nspname NOT IN ('pg_catalog', 'information_schema')
             AND ((d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass
                   AND d.objid IN (SELECT ad.oid FROM pg_catalog.pg_attrdef ad
                                    WHERE ad.adrelid = c.oid))
               OR (d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass
                   AND d.objid IN (SELECT co.oid FROM pg_catalog.pg_constraint co
                                    WHERE co.conrelid = c.oid
                                       OR co.contypid IN (SELECT a.atttypid
                                                            FROM pg_catalog.pg_attribute a
                                                           WHERE a.attrelid = c.oid)))
               OR (d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                   AND d.objid IN (SELECT i.indexrelid FROM pg_catalog.pg_index i
                                    WHERE i.indrelid = c.oid)))
           ORDER BY 1 LIMIT 1))
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
   AND n.nspname OPERATOR(pg_catalog.!~) '^pg_(toast|temp_)'";

const COLUMNS_SQL: &str = "\
WITH RECURSIVE domain_base(domain_oid, base_oid) AS (
    SELECT t.oid, t.typbasetype FROM pg_catalog.pg_type t WHERE t.typtype = 'd'
  UNION ALL
    SELECT d.domain_oid, t.typbasetype
      FROM domain_base d JOIN pg_catalog.pg_type t ON t.oid = d.base_oid
     WHERE t.typtype = 'd'
)
SELECT a.attrelid::pg_catalog.text, a.attnum::pg_catalog.text, a.attname,
       a.atttypid::pg_catalog.text, pg_catalog.format_type(a.atttypid, a.atttypmod),
       COALESCE(b.base_oid, a.atttypid)::pg_catalog.text,
       pg_catalog.format_type(COALESCE(b.base_oid, a.atttypid), NULL)
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN domain_base b ON b.domain_oid = a.atttypid
        AND NOT EXISTS (SELECT FROM pg_catalog.pg_type bt WHERE bt.oid = b.base_oid AND bt.typtype = 'd')
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND a.attnum > 0 AND NOT a.attisdropped
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname OPERATOR(pg_catalog.!~) '^pg_(toast|temp_)'
 ORDER BY a.attrelid, a.attnum";

/// For each user view: the relations its SELECT rule reads ('r'), and the functions in a
/// procedural language outside the system schemas that it calls ('f').
const VIEW_DEPENDENCIES_SQL: &str = "\
SELECT DISTINCT r.ev_class::pg_catalog.text, 'r', d.refobjid::pg_catalog.text
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_depend d
    ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
  JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
  JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace
 WHERE r.ev_type = '1'
   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
   AND d.refobjid OPERATOR(pg_catalog.<>) r.ev_class
   AND vn.nspname NOT IN ('pg_catalog', 'information_schema')
UNION
SELECT DISTINCT r.ev_class::pg_catalog.text, 'f', p.oid::pg_catalog.text
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_depend d
    ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
  JOIN pg_catalog.pg_proc p ON p.oid = d.refobjid
  JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
 WHERE r.ev_type = '1'
   AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
   AND l.lanname NOT IN ('internal', 'c')
   AND pn.nspname NOT IN ('pg_catalog', 'information_schema')";

/// Per schema and name: whether an overload is written in a query-capable language, and the C
/// functions (`prosrc` of `internal` and `c` code) the others run. An aggregate runs its
/// transition and final functions: their languages and implementations count as its own.
const FUNCTIONS_SQL: &str = "\
SELECT n.nspname, p.proname,
       COALESCE(pg_catalog.bool_or(c.lanname NOT IN ('internal', 'c')), false)::pg_catalog.text,
       pg_catalog.string_agg(DISTINCT c.prosrc, ',') FILTER (WHERE c.lanname IN ('internal', 'c'))
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  LEFT JOIN pg_catalog.pg_aggregate a ON a.aggfnoid = p.oid
  JOIN LATERAL (
        SELECT l.lanname, q.prosrc
          FROM pg_catalog.pg_proc q
          JOIN pg_catalog.pg_language l ON l.oid = q.prolang
         WHERE q.oid IN (p.oid, a.aggtransfn, a.aggfinalfn)
       ) c ON true
 GROUP BY n.nspname, p.proname";

impl Catalog {
    /// Run first: the four queries must see one snapshot of the catalog.
    pub const LOAD_BEGIN: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    /// Run second: with only `pg_catalog` on the path, `pg_get_viewdef` schema-qualifies every
    /// relation a view reads, so an inlined view means the same whatever the subject's path.
    pub const LOAD_SEARCH_PATH: &'static str = "SET LOCAL search_path TO pg_catalog";
    /// Then these, in order; their rows go to [`CatalogRows`] in the same order.
    pub const LOAD_QUERIES: [&'static str; 4] = [
        RELATIONS_SQL,
        COLUMNS_SQL,
        VIEW_DEPENDENCIES_SQL,
        FUNCTIONS_SQL,
    ];
    /// Run last.
    pub const LOAD_END: &'static str = "COMMIT";

    /// Builds a snapshot from the rows of [`Catalog::LOAD_QUERIES`]. `version` must differ from
    /// every earlier snapshot's (a counter will do): it keys the rewrite cache.
    pub fn from_rows(version: u64, rows: &CatalogRows) -> Result<Catalog, CatalogError> {
        let mut relations = Vec::with_capacity(rows.relations.len());
        let mut index = HashMap::new();
        for (i, row) in rows.relations.iter().enumerate() {
            let at = Cursor::new("relations", i, row);
            let oid = at.oid(0)?;
            let kind = RelKind::from_relkind(at.text(3)?.chars().next().unwrap_or('?'));
            let mut rel = Relation::new(oid, at.text(1)?, at.text(2)?, kind, Vec::new());
            if let Some(sql) = at.opt(4) {
                rel.view = Some(ViewDefinition {
                    sql: sql.to_string(),
                    security_barrier: at.opt(5).is_some_and(has_security_barrier),
                    depends_on: Vec::new(),
                    calls_user_code: false,
                });
            }
            if let Some(parents) = at.opt(6) {
                rel.parents = parents
                    .split(',')
                    .map(|p| at.parse_oid(p))
                    .collect::<Result<_, _>>()?;
            }
            if let Some(keys) = at.opt(7) {
                rel.foreign_keys = keys
                    .split(',')
                    .map(|k| parse_foreign_key(&at, k))
                    .collect::<Result<_, _>>()?;
            }
            rel.write_hook = at.opt(8).map(str::to_string);
            index.insert(oid, relations.len());
            relations.push(rel);
        }

        for (i, row) in rows.columns.iter().enumerate() {
            let at = Cursor::new("columns", i, row);
            let Some(&rel) = index.get(&at.oid(0)?) else {
                continue; // A relation created between the two queries' snapshots cannot happen
                          // in one transaction; a missing one is a system relation we skipped.
            };
            let attnum = at
                .text(1)?
                .parse::<i16>()
                .map_err(|e| at.problem(format!("attnum: {e}")))?;
            relations[rel].columns.push(Column {
                name: at.text(2)?.to_string(),
                attnum,
                type_oid: at.oid(3)?,
                type_name: at.text(4)?.to_string(),
                base_type_oid: at.oid(5)?,
                base_type_name: at.text(6)?.to_string(),
            });
        }
        for rel in &mut relations {
            rel.columns.sort_by_key(|c| c.attnum);
        }

        for (i, row) in rows.view_dependencies.iter().enumerate() {
            let at = Cursor::new("view_dependencies", i, row);
            let Some(&view) = index.get(&at.oid(0)?) else {
                continue;
            };
            let target = at.oid(2)?;
            let Some(def) = relations[view].view.as_mut() else {
                continue;
            };
            match at.text(1)? {
                "r" => def.depends_on.push(target),
                "f" => def.calls_user_code = true,
                other => return Err(at.problem(format!("unknown dependency kind {other:?}"))),
            }
        }

        let mut functions = Vec::with_capacity(rows.functions.len());
        for (i, row) in rows.functions.iter().enumerate() {
            let at = Cursor::new("functions", i, row);
            let symbols = at.opt(3).unwrap_or("");
            functions.push(FunctionEntry {
                schema: at.text(0)?.to_string(),
                name: at.text(1)?.to_string(),
                runs_queries: at.text(2)? == "true",
                symbols: symbols
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            });
        }
        mark_views_calling_unseen_code(&mut relations, &functions);
        Ok(Catalog::new(version, relations, functions, true))
    }
}

/// `r|d <other oid> <attnum>:<attnum>…`, as the relations query prints a foreign key.
fn parse_foreign_key(at: &Cursor<'_>, text: &str) -> Result<ForeignKey, CatalogError> {
    let mut parts = text.split(' ');
    let referencing = match parts.next() {
        Some("r") => true,
        Some("d") => false,
        other => return Err(at.problem(format!("foreign key side {other:?}"))),
    };
    let other = at.parse_oid(parts.next().unwrap_or(""))?;
    let other_columns = parts
        .next()
        .unwrap_or("")
        .split(':')
        .map(|n| {
            n.parse::<i16>()
                .map_err(|e| at.problem(format!("foreign key column {n:?}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(ForeignKey {
        referencing,
        other,
        other_columns,
    })
}

/// Views whose definitions call functions no analysed session may call (`crate::guarded`):
/// built-in ones such as `query_to_xml` leave no trace in `pg_depend` (system objects are
/// pinned), so each definition is parsed and its calls judged like a statement's. A definition
/// that does not parse counts as calling them.
fn mark_views_calling_unseen_code(relations: &mut [Relation], functions: &[FunctionEntry]) {
    let known = Catalog::new(0, Vec::new(), functions.to_vec(), true);
    for rel in relations {
        let Some(def) = rel.view.as_mut() else {
            continue;
        };
        if def.calls_user_code {
            continue;
        }
        def.calls_user_code = match crate::parse::parse(&def.sql, pg_query::ParserOptions::DEFAULT)
        {
            Ok(tree) => crate::census::Census::of(&tree)
                .functions
                .iter()
                .any(|call| crate::guarded::check_function(call, &known).is_err()),
            Err(_) => true,
        };
    }
}

/// `security_barrier` among `reloptions` (`security_barrier=true`, `=on`, `=1`, `=yes`).
fn has_security_barrier(options: &str) -> bool {
    options.split(',').any(|opt| {
        let (key, value) = opt.split_once('=').unwrap_or((opt, "true"));
        key.trim().eq_ignore_ascii_case("security_barrier")
            && matches!(
                value.trim().to_ascii_lowercase().as_str(),
                "true" | "on" | "1" | "yes"
            )
    })
}

/// Reads the fields of one row, with errors that say where.
struct Cursor<'a> {
    query: &'static str,
    row: usize,
    values: &'a Row,
}

impl<'a> Cursor<'a> {
    fn new(query: &'static str, row: usize, values: &'a Row) -> Self {
        Cursor { query, row, values }
    }

    fn problem(&self, problem: String) -> CatalogError {
        CatalogError {
            query: self.query,
            row: self.row,
            problem,
        }
    }

    fn opt(&self, i: usize) -> Option<&'a str> {
        self.values.get(i).and_then(|v| v.as_deref())
    }

    fn text(&self, i: usize) -> Result<&'a str, CatalogError> {
        self.opt(i)
            .ok_or_else(|| self.problem(format!("column {i} is missing or NULL")))
    }

    fn oid(&self, i: usize) -> Result<u32, CatalogError> {
        self.parse_oid(self.text(i)?)
    }

    fn parse_oid(&self, s: &str) -> Result<u32, CatalogError> {
        s.trim()
            .parse()
            .map_err(|e| self.problem(format!("oid {s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[Option<&str>]) -> Row {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn builds_from_text_rows() {
        let rows = CatalogRows {
            relations: vec![
                row(&[
                    Some("100"),
                    Some("public"),
                    Some("customers"),
                    Some("r"),
                    None,
                    None,
                    None,
                ]),
                row(&[
                    Some("200"),
                    Some("public"),
                    Some("v"),
                    Some("v"),
                    Some(" SELECT customers.id\n   FROM public.customers;"),
                    Some("security_barrier=true"),
                    None,
                ]),
                row(&[
                    Some("300"),
                    Some("public"),
                    Some("c_2024"),
                    Some("r"),
                    None,
                    None,
                    Some("100"),
                ]),
            ],
            columns: vec![
                row(&[
                    Some("100"),
                    Some("2"),
                    Some("ssn"),
                    Some("25"),
                    Some("text"),
                    Some("25"),
                    Some("text"),
                ]),
                row(&[
                    Some("100"),
                    Some("1"),
                    Some("id"),
                    Some("23"),
                    Some("integer"),
                    Some("23"),
                    Some("integer"),
                ]),
                row(&[
                    Some("200"),
                    Some("1"),
                    Some("id"),
                    Some("23"),
                    Some("integer"),
                    Some("23"),
                    Some("integer"),
                ]),
            ],
            view_dependencies: vec![row(&[Some("200"), Some("r"), Some("100")])],
            functions: vec![
                row(&[Some("public"), Some("leak"), Some("true"), None]),
                row(&[
                    Some("public"),
                    Some("innocent"),
                    Some("false"),
                    Some("dblink_exec,dblink_open"),
                ]),
            ],
        };
        let catalog = Catalog::from_rows(7, &rows).expect("rows are well formed");
        assert_eq!(catalog.version(), 7);
        let customers = catalog.relation("public", "customers").expect("loaded");
        let names: Vec<_> = customers.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "ssn"], "columns are in attnum order");
        let view = catalog
            .relation("public", "v")
            .and_then(|v| v.view.as_ref());
        let view = view.expect("view definition");
        assert!(view.security_barrier);
        assert_eq!(view.depends_on, [100]);
        assert_eq!(
            catalog
                .relation("public", "c_2024")
                .map(|r| r.parents.clone()),
            Some(vec![100])
        );
        assert!(catalog.functions_named("leak")[0].runs_queries);
        assert_eq!(
            catalog.functions_named("innocent")[0].symbols,
            ["dblink_exec", "dblink_open"]
        );
        assert!(catalog.functions_complete());
    }

    #[test]
    fn bad_rows_say_where() {
        let rows = CatalogRows {
            relations: vec![row(&[Some("x"), Some("public"), Some("t"), Some("r")])],
            ..CatalogRows::default()
        };
        let err = Catalog::from_rows(1, &rows).expect_err("oid is not a number");
        assert_eq!((err.query, err.row), ("relations", 0));
    }
}
