//! Mask before evaluate: in a masked subject's statements, every protected table read becomes a
//! masking derived table `(SELECT <masked columns> FROM `db`.`t`) AS t`, so the server evaluates
//! predicates, ordering, grouping, joins and functions over masked values only.
//!
//! Two passes over the parse tree: [`tables_read`] names the tables a text reads (the front
//! loads them from `information_schema`), and [`rewrite`] replaces each protected table's name
//! by its derived table *by source span* (the rest of the text stays the bytes the client sent),
//! parses the result again and verifies that no protected table is read outside a masking
//! derived table of its own making. What it cannot verify it refuses.
//!
//! Names are resolved as the server resolves them: a one-part name is a CTE when a `WITH` in
//! scope defines it (the exact spelling, earlier CTEs of the same `WITH` only, itself when
//! `RECURSIVE`), otherwise a table of the current database. Every doubt falls on the side of
//! "a table", which the rewrite reads through the masks by its qualified name.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Ident, ObjectName, ObjectNamePart, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, Spanned, Statement, TableFactor, Use, Visit, Visitor,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use crate::analyse::{masked_use, Refusal, StatementUse};
use crate::builtins;
use crate::catalog::{Catalog, ColumnMasks, MaskSql, TableInfo, TableKind, TableName};
use crate::lexical::{blank_diagnostics, LineStarts};

/// A masked subject's text, rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub sql: String,
    /// Whether any table was replaced.
    pub changed: bool,
    /// The current database after the text's `USE` statements (if they all succeed).
    pub current_db: Option<String>,
}

/// Tables of `information_schema` a masked subject may read: names and types of objects, no
/// values, statistics or statement texts.
const SCHEMA_TABLES: &[&str] = &[
    "schemata",
    "tables",
    "columns",
    "views",
    "key_column_usage",
    "table_constraints",
    "referential_constraints",
    "character_sets",
    "collations",
    "collation_character_set_applicability",
    "engines",
];

/// Databases a masked subject may not read at all: statement history, statistics, privileges.
const CLOSED_DATABASES: &[&str] = &["mysql", "performance_schema", "sys"];

/// One table named by a statement.
#[derive(Debug, Clone)]
struct Ref {
    name: TableName,
    /// Byte range of the name in the text.
    span: (usize, usize),
    alias: bool,
    /// Partitions, index hints, `FOR SYSTEM_TIME`, an alias column list, …: what a derived
    /// table cannot carry.
    extras: bool,
    /// Named where rows are written or a statement other than a query reads.
    target: bool,
    /// Inside a masking derived table (verification only).
    in_mask: bool,
}

/// The names of the tables `sql` reads or writes, resolved against `current_db`, for the
/// catalog to load before [`rewrite`]. Refuses what a masked subject may not run at all.
pub fn tables_read(sql: &str, current_db: Option<&str>) -> Result<Vec<TableName>, Refusal> {
    let sql = blank_diagnostics(sql)?.text;
    let statements = parse(&sql)?;
    let surveys = survey(&sql, &statements, current_db, None)?;
    let mut names: Vec<TableName> = surveys
        .into_iter()
        .flat_map(|s| s.refs.into_iter().map(|r| r.name))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Rewrites `sql` so that every protected table is read through its masks; `catalog` holds
/// every name [`tables_read`] returned.
pub fn rewrite(
    sql: &str,
    current_db: Option<&str>,
    catalog: &dyn Catalog,
    masks: &dyn ColumnMasks,
) -> Result<Rewritten, Refusal> {
    // Diagnostics statements are blanked in place: every other statement keeps its offsets, so
    // the edits found on the blanked text apply to the text itself.
    let blanked = blank_diagnostics(sql)?.text;
    let statements = parse(&blanked)?;
    let surveys = survey(&blanked, &statements, current_db, None)?;
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut generated = HashSet::new();
    for s in &surveys {
        // Protected tables that become derived tables named after them.
        let mut renamed: Vec<&TableName> = Vec::new();
        for r in &s.refs {
            let info = catalog
                .table(&r.name)
                .ok_or_else(|| Refusal::Masked("a table jitgate did not look up".into()))?;
            if let Some(subquery) = decide(info, r, s.used, masks)? {
                generated.insert(canonical(&subquery)?);
                let text = if r.alias {
                    format!("({subquery})")
                } else {
                    renamed.push(&r.name);
                    format!("({subquery}) AS {}", quote(&r.name.table))
                };
                edits.push((r.span.0, r.span.1, text));
            }
        }
        qualifiers(s, &renamed, &mut edits)?;
    }
    let after = final_db(&statements, current_db);
    if edits.is_empty() {
        return Ok(Rewritten {
            sql: sql.to_owned(),
            changed: false,
            current_db: after,
        });
    }
    let out = apply(sql, edits)?;
    verify(
        &out,
        current_db,
        catalog,
        masks,
        &generated,
        statements.len(),
    )?;
    Ok(Rewritten {
        sql: out,
        changed: true,
        current_db: after,
    })
}

fn parse(sql: &str) -> Result<Vec<Statement>, Refusal> {
    Parser::parse_sql(&MySqlDialect {}, sql).map_err(|e| Refusal::Unparsable(e.to_string()))
}

/// The rewritten text parsed again: the same number of statements, and every protected table
/// read only inside a masking derived table this rewrite made.
fn verify(
    sql: &str,
    current_db: Option<&str>,
    catalog: &dyn Catalog,
    masks: &dyn ColumnMasks,
    generated: &HashSet<String>,
    statements: usize,
) -> Result<(), Refusal> {
    let failed = || Refusal::Masked("a statement whose masking jitgate cannot verify".into());
    let sql = blank_diagnostics(sql).map_err(|_| failed())?.text;
    let reparsed = parse(&sql).map_err(|_| failed())?;
    if reparsed.len() != statements {
        return Err(failed());
    }
    let surveys = survey(&sql, &reparsed, current_db, Some(generated)).map_err(|_| failed())?;
    for s in &surveys {
        for r in s.refs.iter().filter(|r| !r.in_mask) {
            let info = catalog.table(&r.name).ok_or_else(failed)?;
            if decide(info, r, s.used, masks)
                .map_err(|_| failed())?
                .is_some()
            {
                return Err(failed());
            }
        }
    }
    Ok(())
}

/// The masking subquery for a reference to `info`, `None` when it reads nothing protected.
fn decide(
    info: &TableInfo,
    r: &Ref,
    used: StatementUse,
    masks: &dyn ColumnMasks,
) -> Result<Option<String>, Refusal> {
    let protected = match info.kind {
        TableKind::View => {
            return Err(Refusal::Masked(
                "reading a view (jitgate cannot see which columns it reads)".into(),
            ))
        }
        TableKind::Missing if masks.may_protect(&r.name.db, &r.name.table) => {
            return Err(Refusal::Masked(
                "a protected table name the catalog does not list".into(),
            ))
        }
        TableKind::Missing => false,
        TableKind::Base => masks.may_protect(&info.db, &info.table),
    };
    if !protected {
        return Ok(None);
    }
    if used != StatementUse::Reads || r.target {
        return Err(Refusal::Masked(
            "a statement other than a query naming a protected table".into(),
        ));
    }
    if r.extras {
        return Err(Refusal::Masked(
            "partitions, index hints, history or column aliases on a protected table".into(),
        ));
    }
    if info.columns.is_empty() {
        return Err(Refusal::Masked("a protected table without columns".into()));
    }
    let table_sql = format!("{}.{}", quote(&info.db), quote(&info.table));
    let columns: Vec<String> = info
        .columns
        .iter()
        .map(|c| {
            let column_sql = format!("{table_sql}.{}", quote(&c.name));
            let expr = match masks.mask_sql(&info.db, &info.table, c, &column_sql) {
                MaskSql::Clear => column_sql,
                MaskSql::Expr(e) => e,
                MaskSql::Withheld => "NULL".to_owned(),
            };
            format!("{expr} AS {}", quote(&c.name))
        })
        .collect();
    Ok(Some(format!(
        "SELECT {} FROM {table_sql}",
        columns.join(", ")
    )))
}

/// A subquery as the parser prints it, to recognise it in the rewritten text.
fn canonical(subquery: &str) -> Result<String, Refusal> {
    let failed = || Refusal::Masked("a masking subquery jitgate cannot parse".into());
    match parse(subquery).map_err(|_| failed())?.as_slice() {
        [Statement::Query(q)] => Ok(q.to_string()),
        _ => Err(failed()),
    }
}

/// A backtick-quoted identifier.
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn apply(sql: &str, mut edits: Vec<(usize, usize, String)>) -> Result<String, Refusal> {
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = sql.to_owned();
    let mut limit = sql.len();
    for (start, end, text) in edits {
        if end > limit || start >= end {
            return Err(Refusal::Masked(
                "overlapping table names jitgate cannot rewrite".into(),
            ));
        }
        out.replace_range(start..end, &text);
        limit = start;
    }
    Ok(out)
}

/// The current database after the text's `USE` statements.
fn final_db(statements: &[Statement], current_db: Option<&str>) -> Option<String> {
    let mut db = current_db.map(str::to_owned);
    for s in statements {
        if let Some(d) = used_db(s) {
            db = Some(d);
        }
    }
    db
}

fn used_db(s: &Statement) -> Option<String> {
    match s {
        Statement::Use(Use::Object(name) | Use::Database(name) | Use::Schema(name)) => {
            match name.0.as_slice() {
                [ObjectNamePart::Identifier(i)] => Some(i.value.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// What one statement names.
struct StatementSurvey {
    used: StatementUse,
    refs: Vec<Ref>,
    /// `db.t` qualifiers of columns (`db.t.c`) and wildcards (`db.t.*`).
    qualified: Vec<Qualifier>,
    /// The name each table expression goes by in the statement (its alias, or its own last
    /// part), with its `SELECT` (a number per statement) and the table when it is a table
    /// without alias.
    names: Vec<(usize, String, Option<TableName>)>,
}

type Survey = Vec<StatementSurvey>;

/// A database-qualified table name in front of a column (`db.t.c`) or a wildcard (`db.t.*`).
#[derive(Debug, Clone)]
struct Qualifier {
    name: TableName,
    /// Byte range of `db.t` in the text.
    span: (usize, usize),
}

/// The edits that keep `db.t.c` working where `db.t` became the derived table `t`: the
/// qualifier is replaced by `t` (by span), where `db.t` is one of the `renamed` tables and no
/// other table expression of the statement goes by `t` (else `t` could name another one in a
/// subquery: refused). A renamed table next to another table expression of the same name in
/// one `SELECT` (the same name from another database, a CTE, an alias) would give two table
/// expressions one name: refused, the client can give them aliases.
fn qualifiers(
    s: &StatementSurvey,
    renamed: &[&TableName],
    edits: &mut Vec<(usize, usize, String)>,
) -> Result<(), Refusal> {
    // The SELECTs of the other table expressions going by `name`'s name.
    let others = |name: &TableName| -> Vec<usize> {
        s.names
            .iter()
            .filter(|(_, n, table)| {
                n.eq_ignore_ascii_case(&name.table) && table.as_ref() != Some(name)
            })
            .map(|(scope, ..)| *scope)
            .collect()
    };
    for name in renamed {
        let scopes: Vec<usize> = s
            .names
            .iter()
            .filter(|(_, _, t)| t.as_ref() == Some(*name))
            .map(|(scope, ..)| *scope)
            .collect();
        if others(name).iter().any(|scope| scopes.contains(scope)) {
            return Err(Refusal::Masked(
                "a protected table without alias next to another table or alias of the same \
                 name (give them aliases)"
                    .into(),
            ));
        }
    }
    for q in &s.qualified {
        if let Some(name) = renamed.iter().find(|n| ***n == q.name) {
            if !others(name).is_empty() {
                return Err(Refusal::Masked(
                    "a three-part column name of a protected table whose name another table \
                     or alias of the statement also has (give them aliases)"
                        .into(),
                ));
            }
            edits.push((q.span.0, q.span.1, quote(&name.table)));
        }
    }
    Ok(())
}

/// Each statement's use and the tables it names.
fn survey(
    sql: &str,
    statements: &[Statement],
    current_db: Option<&str>,
    generated: Option<&HashSet<String>>,
) -> Result<Survey, Refusal> {
    let lines = LineStarts::new(sql);
    let mut db = current_db.map(str::to_owned);
    let mut out = Vec::with_capacity(statements.len());
    for statement in statements {
        let used = masked_use(statement)?;
        if let Statement::Use(_) = statement {
            db = Some(used_db(statement).ok_or_else(|| Refusal::Masked("this USE".into()))?);
        }
        if used == StatementUse::NoTables {
            out.push(StatementSurvey {
                used,
                refs: Vec::new(),
                qualified: Vec::new(),
                names: Vec::new(),
            });
            continue;
        }
        let mut walker = Walker {
            sql,
            lines: &lines,
            db: db.as_deref(),
            generated,
            frames: Vec::new(),
            cte_queries: Vec::new(),
            marks: Vec::new(),
            derived: Vec::new(),
            in_table: 0,
            mask_depth: 0,
            refs: Vec::new(),
            qualified: Vec::new(),
            names: Vec::new(),
            selects: Vec::new(),
            next_select: 1,
            refusal: None,
        };
        if statement.visit(&mut walker).is_break() {
            return Err(walker
                .refusal
                .unwrap_or_else(|| Refusal::Masked("this statement".into())));
        }
        out.push(StatementSurvey {
            used,
            refs: walker.refs,
            qualified: walker.qualified,
            names: walker.names,
        });
    }
    Ok(out)
}

/// A `WITH` scope: the CTE names visible.
struct Frame {
    names: Vec<String>,
}

/// What `pre_visit_query` did, undone by `post_visit_query`.
struct Mark {
    restored: Option<(usize, Vec<String>)>,
    pushed: bool,
}

struct Walker<'a> {
    sql: &'a str,
    lines: &'a LineStarts,
    db: Option<&'a str>,
    generated: Option<&'a HashSet<String>>,
    frames: Vec<Frame>,
    /// A CTE's query → (its WITH's frame, the names visible inside it).
    cte_queries: Vec<(*const Query, usize, Vec<String>)>,
    marks: Vec<Mark>,
    /// Per derived table being visited: whether it is a masking derived table.
    derived: Vec<bool>,
    in_table: usize,
    mask_depth: usize,
    refs: Vec<Ref>,
    qualified: Vec<Qualifier>,
    names: Vec<(usize, String, Option<TableName>)>,
    /// The `SELECT`s being visited (numbers), and the next number.
    selects: Vec<usize>,
    next_select: usize,
    refusal: Option<Refusal>,
}

impl Walker<'_> {
    fn refuse(&mut self, why: impl Into<String>) -> ControlFlow<()> {
        self.refusal = Some(Refusal::Masked(why.into()));
        ControlFlow::Break(())
    }

    fn is_cte(&self, name: &str) -> bool {
        self.frames
            .iter()
            .any(|f| f.names.iter().any(|n| n == name))
    }

    /// Records a table reference; refuses what a masked subject may not read by name.
    fn table(&mut self, name: &ObjectName, alias: bool, extras: bool) -> ControlFlow<()> {
        let parts: Option<Vec<&str>> = name
            .0
            .iter()
            .map(|p| match p {
                ObjectNamePart::Identifier(i) => Some(i.value.as_str()),
                ObjectNamePart::Function(_) => None,
            })
            .collect();
        let resolved = match parts.as_deref() {
            Some([table]) if self.mask_depth == 0 && self.is_cte(table) => {
                if self.in_table > 0 && !alias {
                    self.name((*table).to_owned(), None);
                }
                return ControlFlow::Continue(());
            }
            Some([table]) => match self.db {
                Some(db) => TableName {
                    db: db.to_owned(),
                    table: (*table).to_owned(),
                },
                None => return self.refuse("a table name while no database is selected"),
            },
            Some([db, table]) => TableName {
                db: (*db).to_owned(),
                table: (*table).to_owned(),
            },
            _ => return self.refuse("this table name"),
        };
        if resolved.db.eq_ignore_ascii_case("information_schema") {
            if SCHEMA_TABLES
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&resolved.table))
            {
                return ControlFlow::Continue(());
            }
            return self.refuse(format!(
                "information_schema.{} (statistics, statement texts or values)",
                resolved.table.to_ascii_uppercase()
            ));
        }
        if CLOSED_DATABASES
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&resolved.db))
        {
            return self.refuse(format!("reading the {} database", resolved.db));
        }
        let span = name.span();
        let (Some(start), Some(end)) = (
            self.lines.offset(self.sql, span.start),
            self.lines.offset(self.sql, span.end),
        ) else {
            return self.refuse("a table name jitgate cannot locate in the text");
        };
        if !spells(&self.sql[start..end], name) {
            return self.refuse("a table name jitgate cannot locate in the text");
        }
        if self.in_table > 0 && self.mask_depth == 0 && !alias {
            self.name(resolved.table.clone(), Some(resolved.clone()));
        }
        self.refs.push(Ref {
            name: resolved,
            span: (start, end),
            alias,
            extras,
            target: self.in_table == 0,
            in_mask: self.mask_depth > 0,
        });
        ControlFlow::Continue(())
    }
}

impl Walker<'_> {
    /// Records the name a table expression goes by in the `SELECT` being visited.
    fn name(&mut self, name: String, table: Option<TableName>) {
        let select = self.selects.last().copied().unwrap_or(0);
        self.names.push((select, name, table));
    }

    /// Records `db.t` of `db.t.c` or `db.t.*`.
    fn qualifier(&mut self, db: &Ident, table: &Ident) -> ControlFlow<()> {
        if self.mask_depth > 0 {
            return ControlFlow::Continue(());
        }
        let (Some(start), Some(end)) = (
            self.lines.offset(self.sql, db.span.start),
            self.lines.offset(self.sql, table.span.end),
        ) else {
            return self.refuse("a column name jitgate cannot locate in the text");
        };
        let name = ObjectName(vec![
            ObjectNamePart::Identifier(db.clone()),
            ObjectNamePart::Identifier(table.clone()),
        ]);
        if start >= end || !spells(&self.sql[start..end], &name) {
            return self.refuse("a column name jitgate cannot locate in the text");
        }
        self.qualified.push(Qualifier {
            name: TableName {
                db: db.value.clone(),
                table: table.value.clone(),
            },
            span: (start, end),
        });
        ControlFlow::Continue(())
    }
}

/// Whether `text` (a slice of the statement) is exactly the name `name`.
fn spells(text: &str, name: &ObjectName) -> bool {
    let Ok(mut parser) = Parser::new(&MySqlDialect {}).try_with_sql(text) else {
        return false;
    };
    matches!(parser.parse_object_name(false), Ok(n) if n == *name)
        && parser.peek_token().token == sqlparser::tokenizer::Token::EOF
}

impl Visitor for Walker<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        let ptr: *const Query = q;
        let restored = match self.cte_queries.iter().position(|(p, ..)| *p == ptr) {
            Some(i) => {
                let (_, frame, visible) = self.cte_queries.swap_remove(i);
                let old = std::mem::replace(&mut self.frames[frame].names, visible);
                Some((frame, old))
            }
            None => None,
        };
        let pushed = q.with.is_some();
        if let Some(with) = &q.with {
            let names: Vec<String> = with
                .cte_tables
                .iter()
                .map(|c| c.alias.name.value.clone())
                .collect();
            let frame = self.frames.len();
            for (i, cte) in with.cte_tables.iter().enumerate() {
                let visible = if with.recursive {
                    &names[..=i]
                } else {
                    &names[..i]
                };
                self.cte_queries
                    .push((&*cte.query as *const Query, frame, visible.to_vec()));
            }
            self.frames.push(Frame { names });
        }
        self.marks.push(Mark { restored, pushed });
        if self.mask_depth == 0 {
            if let Some(why) = refused_body(&q.body) {
                return self.refuse(why);
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        if let Some(mark) = self.marks.pop() {
            if mark.pushed {
                self.frames.pop();
                let live = self.frames.len();
                self.cte_queries.retain(|(_, frame, _)| *frame < live);
            }
            if let Some((frame, names)) = mark.restored {
                if let Some(f) = self.frames.get_mut(frame) {
                    f.names = names;
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, _s: &Select) -> ControlFlow<()> {
        self.selects.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<()> {
        self.selects.push(self.next_select);
        self.next_select += 1;
        if s.into.is_some() {
            return self.refuse("SELECT … INTO");
        }
        for item in &s.projection {
            if let SelectItem::QualifiedWildcard(
                SelectItemQualifiedWildcardKind::ObjectName(n),
                _,
            ) = item
            {
                match n.0.as_slice() {
                    [ObjectNamePart::Identifier(db), ObjectNamePart::Identifier(table)] => {
                        self.qualifier(db, table)?;
                    }
                    [_] => {}
                    _ if self.mask_depth > 0 => {}
                    _ => return self.refuse("this qualified wildcard"),
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, tf: &TableFactor) -> ControlFlow<()> {
        match tf {
            TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                with_ordinality,
                partitions,
                json_path,
                sample,
                index_directives,
                inheritance,
            } => {
                if args.is_some() {
                    return self.refuse("a table function");
                }
                let extras = !with_hints.is_empty()
                    || version.is_some()
                    || *with_ordinality
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || sample.is_some()
                    || !index_directives.is_empty()
                    || inheritance.is_some()
                    || alias.as_ref().is_some_and(|a| !a.columns.is_empty());
                self.in_table += 1;
                if let (Some(a), 0) = (alias, self.mask_depth) {
                    self.name(a.name.value.clone(), None);
                }
                self.table(name, alias.is_some(), extras)
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let masking = self
                    .generated
                    .is_some_and(|g| g.contains(&subquery.to_string()));
                if let (Some(a), 0) = (alias, self.mask_depth) {
                    self.name(a.name.value.clone(), None);
                }
                self.derived.push(masking);
                if masking {
                    self.mask_depth += 1;
                }
                ControlFlow::Continue(())
            }
            TableFactor::NestedJoin { .. } | TableFactor::JsonTable { .. } => {
                ControlFlow::Continue(())
            }
            _ => self.refuse("this kind of table expression"),
        }
    }

    fn post_visit_table_factor(&mut self, tf: &TableFactor) -> ControlFlow<()> {
        match tf {
            TableFactor::Table { .. } => self.in_table = self.in_table.saturating_sub(1),
            TableFactor::Derived { .. } => {
                let masking = self.derived.pop() == Some(true);
                self.mask_depth = self.mask_depth.saturating_sub(usize::from(masking));
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<()> {
        if self.in_table > 0 {
            return ControlFlow::Continue(());
        }
        self.table(name, true, false)
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if self.mask_depth > 0 {
            return ControlFlow::Continue(());
        }
        if let Expr::CompoundIdentifier(parts) = e {
            match parts.as_slice() {
                [db, table, _] => self.qualifier(db, table)?,
                [_, _, _, _, ..] => return self.refuse("a column name of more than three parts"),
                _ => {}
            }
        }
        if let Expr::Function(f) = e {
            let allowed = match f.name.0.as_slice() {
                [ObjectNamePart::Identifier(i)] => builtins::allowed(&i.value),
                _ => false,
            };
            if !allowed {
                return self.refuse(format!(
                    "calling {} (jitgate knows no such built-in function; stored functions \
                     may read protected tables)",
                    f.name
                ));
            }
        }
        ControlFlow::Continue(())
    }
}

/// Why a query body is refused for a masked subject: `TABLE t`, writes inside a query.
fn refused_body(body: &SetExpr) -> Option<&'static str> {
    match body {
        SetExpr::Table(_) => Some("TABLE …"),
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
            Some("a data-changing statement inside a query")
        }
        SetExpr::SetOperation { left, right, .. } => {
            refused_body(left).or_else(|| refused_body(right))
        }
        _ => None,
    }
}
