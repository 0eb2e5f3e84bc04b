//! Which `spark.sql` statements masked subjects may run, and where their protected relations
//! are.

use std::collections::HashMap;
use std::ops::ControlFlow;

use jitgate_masking::MaskedView;
use sqlparser::ast::{
    DescribeAlias, Expr, ObjectName, ObjectNamePart, Query, Select, SetExpr, Spanned, Statement,
    TableFactor, Visit, Visitor,
};
use sqlparser::dialect::DatabricksDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Span, Token};

use crate::functions::check_function_name;
use crate::names::{is_protected, resolve};
use crate::{config, lexical, rewrite, Column, Namespace, Refusal, TableRef};

/// A `spark.sql` text analysed for a masked subject.
#[derive(Debug, Clone)]
pub struct Analysed<'v> {
    sql: String,
    ns: Namespace,
    view: &'v MaskedView,
    kind: Kind,
    found: Vec<Found>,
    protected: Vec<TableRef>,
}

/// What kind of statement was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A query: rewritten.
    Query,
    /// `CREATE TEMP VIEW … AS <query>`: its query rewritten.
    TempView,
    /// SHOW, DESCRIBE, SET: sent as written.
    AsWritten,
}

/// A protected relation reference in the text.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// The span of the relation's name.
    pub name_span: Span,
    /// Whether the reference has an alias (kept) or needs one (the table's name).
    pub has_alias: bool,
    pub table: TableRef,
}

/// Analyses a `spark.sql` text for a masked subject: refuses what it may not run or what
/// cannot be analysed, and finds the protected relations a query reads.
///
/// Allowed: one query (SELECT, WITH, VALUES, set operations, joins, subqueries, LATERAL VIEW);
/// `CREATE [OR REPLACE] TEMP VIEW v AS <query>` unless `v` names a protected table; SHOW
/// TABLES/DATABASES/SCHEMAS/CATALOGS/COLUMNS/FUNCTIONS/VIEWS; DESCRIBE of a table (not of a
/// column: column statistics show values); `SET` of keys [`crate::may_set`] allows, and reading
/// settings. Everything else is refused, EXPLAIN in particular (plans of masked statements
/// show the masking expressions, which embed key material).
pub fn analyse<'v>(
    sql: &str,
    ns: &Namespace,
    view: &'v MaskedView,
) -> Result<Analysed<'v>, Refusal> {
    lexical::scan(sql, false)?;
    let analysed = |kind, found: Vec<Found>| {
        let mut protected: Vec<TableRef> = Vec::new();
        for f in &found {
            if !protected.contains(&f.table) {
                protected.push(f.table.clone());
            }
        }
        Analysed {
            sql: sql.to_string(),
            ns: ns.clone(),
            view,
            kind,
            found,
            protected,
        }
    };
    if let Some(set) = config::set_statement(sql) {
        set?;
        return Ok(analysed(Kind::AsWritten, Vec::new()));
    }
    if let Some(describe) = describe_statement(sql, ns) {
        describe?;
        return Ok(analysed(Kind::AsWritten, Vec::new()));
    }
    let statement = parse_one(sql)?;
    let kind = classify(sql, &statement, ns, view)?;
    let mut walker = Walker::new(ns, view, None);
    walker.walk(&statement, kind)?;
    Ok(analysed(kind, walker.found))
}

impl Analysed<'_> {
    /// Distinct protected tables the statement reads (in order of first reference): their
    /// schemas are needed for the rewrite.
    pub fn protected(&self) -> &[TableRef] {
        &self.protected
    }

    /// Whether the text must be rewritten (it references protected tables).
    pub fn needs_rewrite(&self) -> bool {
        !self.found.is_empty()
    }

    /// The text as analysed.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The text to send upstream: the original text with each protected relation reference
    /// replaced by a masking subquery `(SELECT <projection> AS `col`, … FROM <identifier>)`
    /// keeping its alias (or given the table's name as one); the unchanged text if nothing is
    /// protected. The result is re-parsed and verified before it is returned. A protected
    /// table missing from `schemas`, or a column that cannot be masked, is a refusal.
    pub fn rewrite(&self, schemas: &HashMap<TableRef, Vec<Column>>) -> Result<String, Refusal> {
        if self.found.is_empty() {
            return Ok(self.sql.clone());
        }
        rewrite::rewrite(
            &self.sql,
            self.kind,
            &self.found,
            &self.ns,
            self.view,
            schemas,
        )
    }
}

/// `DESCRIBE [TABLE] [EXTENDED | FORMATTED] <table>`, read from the text (sqlparser's
/// Databricks dialect does not parse `DESCRIBE TABLE t`): `None` when the text is not a
/// DESCRIBE, else whether it is of that form. Anything after the table name (a column, whose
/// DESCRIBE EXTENDED shows min/max statistics; a partition, `AS JSON`) and any other DESCRIBE
/// (`DESCRIBE QUERY`, `DESCRIBE HISTORY`, …) is refused.
fn describe_statement(sql: &str, ns: &Namespace) -> Option<Result<(), Refusal>> {
    let text = sql.trim_start();
    let (first, rest) = split_word(text);
    if !(first.eq_ignore_ascii_case("describe") || first.eq_ignore_ascii_case("desc")) {
        return None;
    }
    let mut rest = rest;
    for keyword in ["table", "extended", "formatted"] {
        let (word, after) = split_word(rest);
        if word.eq_ignore_ascii_case(keyword)
            || (keyword == "extended" && word.eq_ignore_ascii_case("formatted"))
        {
            rest = after;
        }
    }
    let name = rest
        .trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    let refusal = || {
        Refusal::new(
            "jitgate refuses this DESCRIBE to masked subjects: only DESCRIBE [TABLE] [EXTENDED] <table> is allowed (a column's DESCRIBE shows statistics of its values)",
        )
    };
    Some(
        crate::parse_identifier(name)
            .map_err(|_| refusal())
            .and_then(|parts| resolve(&parts, ns).map(|_| ())),
    )
}

/// The first word (ASCII letters, digits, underscores) of the text and the text after it.
fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (&text[..end], &text[end..])
}

/// Parses exactly one statement.
pub(crate) fn parse_one(sql: &str) -> Result<Statement, Refusal> {
    let text = lexical::for_parsing(sql);
    let mut statements = Parser::parse_sql(&DatabricksDialect, &text).map_err(|e| {
        Refusal::new(format!(
            "jitgate cannot analyse this statement for masking: {e}"
        ))
    })?;
    match statements.len() {
        1 => Ok(statements.remove(0)),
        0 => Err(Refusal::new("jitgate received an empty statement")),
        _ => Err(Refusal::new(
            "jitgate refuses several statements in one text to masked subjects: send them one at a time",
        )),
    }
}

/// The first words of the text, upper-cased, for naming refused statements.
fn first_words(sql: &str, n: usize) -> Vec<String> {
    lexical::tokens(sql)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| match t {
            Token::Word(w) => Some(w.value.to_ascii_uppercase()),
            _ => None,
        })
        .take(n)
        .collect()
}

fn statement_kind_name(sql: &str) -> String {
    const MODIFIERS: &[&str] = &[
        "OR",
        "REPLACE",
        "TEMP",
        "TEMPORARY",
        "GLOBAL",
        "EXTERNAL",
        "LAZY",
        "IF",
        "NOT",
        "EXISTS",
    ];
    let words = first_words(sql, 8);
    let Some(first) = words.first() else {
        return "this statement".into();
    };
    let mut name = first.clone();
    if matches!(
        first.as_str(),
        "CREATE" | "DROP" | "ALTER" | "SHOW" | "ADD" | "LIST" | "CACHE" | "UNCACHE" | "CLEAR"
    ) {
        if let Some(next) = words[1..].iter().find(|w| !MODIFIERS.contains(&w.as_str())) {
            name.push(' ');
            name.push_str(next);
        }
    }
    name
}

/// Decides whether the statement's kind is allowed at all.
fn classify(
    sql: &str,
    statement: &Statement,
    ns: &Namespace,
    view: &MaskedView,
) -> Result<Kind, Refusal> {
    let refuse_kind = || {
        Refusal::new(format!(
            "jitgate refuses {} statements to masked subjects: only queries, temporary views, SHOW, DESCRIBE of tables and SET of presentation settings are allowed",
            statement_kind_name(sql)
        ))
    };
    match statement {
        Statement::Query(_) => Ok(Kind::Query),
        Statement::CreateView(cv) => {
            let global = first_words(sql, 6).iter().any(|w| w == "GLOBAL");
            if !cv.temporary || global {
                return Err(Refusal::new(
                    "jitgate refuses persistent and global views to masked subjects: use CREATE TEMPORARY VIEW",
                ));
            }
            if cv.materialized || cv.or_alter || cv.secure || cv.to.is_some() || cv.params.is_some() {
                return Err(refuse_kind());
            }
            let parts = object_name_parts(&cv.name)?;
            let name = resolve(&parts, ns)?;
            if is_protected(view, &name) {
                return Err(Refusal::new(format!(
                    "jitgate refuses the temporary view {} to masked subjects: it would shadow the protected table {}",
                    cv.name, name.identifier
                )));
            }
            Ok(Kind::TempView)
        }
        Statement::ExplainTable {
            describe_alias,
            table_name,
            ..
        } => {
            if *describe_alias == DescribeAlias::Explain {
                return Err(explain());
            }
            resolve(&object_name_parts(table_name)?, ns)?;
            Ok(Kind::AsWritten)
        }
        Statement::Explain { .. } => Err(explain()),
        Statement::ShowTables {
            history, extended, ..
        } => {
            if *history || *extended {
                Err(refuse_kind())
            } else {
                Ok(Kind::AsWritten)
            }
        }
        Statement::ShowDatabases { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ShowViews { .. } => Ok(Kind::AsWritten),
        Statement::Use(u) => use_of_namespace(u, ns),
        Statement::Set(_) => Err(Refusal::new(
            "jitgate refuses this SET statement to masked subjects: write SET key = value at the very start of the text, without comments",
        )),
        _ => Err(refuse_kind()),
    }
}

/// `USE db` (or `USE catalog.db`) of the session's fixed namespace: a no-op that clients send on
/// connecting (PyHive sends ``USE `default` ``). Any other `USE` would make unqualified names
/// resolve elsewhere than the masking rules expect, and is refused.
fn use_of_namespace(u: &sqlparser::ast::Use, ns: &Namespace) -> Result<Kind, Refusal> {
    use sqlparser::ast::Use;
    let refused = || {
        Refusal::new(format!(
            "jitgate keeps masked subjects in the database {}: USE of another is refused; qualify table names instead",
            ns.database
        ))
    };
    let (Use::Object(name) | Use::Database(name) | Use::Schema(name)) = u else {
        return Err(refused());
    };
    let parts = object_name_parts(name)?;
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    match parts.as_slice() {
        [db] if same(db, &ns.database) => Ok(Kind::AsWritten),
        [catalog, db] if same(catalog, &ns.catalog) && same(db, &ns.database) => {
            Ok(Kind::AsWritten)
        }
        _ => Err(refused()),
    }
}

fn explain() -> Refusal {
    Refusal::new(
        "jitgate refuses EXPLAIN to masked subjects: plans of masked statements embed key material",
    )
}

/// A name's parts; computed parts are refused.
pub(crate) fn object_name_parts(name: &ObjectName) -> Result<Vec<String>, Refusal> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => Ok(ident.value.clone()),
            ObjectNamePart::Function(_) => Err(Refusal::new(format!(
                "jitgate refuses the computed name {name} to masked subjects"
            ))),
        })
        .collect()
}

/// What the verification of a rewritten text expects.
pub(crate) struct Expected<'a> {
    /// The masking subqueries jitgate generated, parsed.
    pub masking: &'a [Query],
}

/// Walks a statement's queries: checks every FROM item, function and set operation, and
/// collects the protected relation references (or, verifying a rewrite, checks that each sits
/// alone in one of the expected masking subqueries).
pub(crate) struct Walker<'a> {
    ns: &'a Namespace,
    view: &'a MaskedView,
    expected: Option<Expected<'a>>,
    pub found: Vec<Found>,
    relations: usize,
    table_factors: usize,
    /// Verifying: the FROM items of masking subqueries seen, and how many were used.
    sanctioned: Vec<*const TableFactor>,
    pub masking_seen: usize,
    pub sanctioned_used: usize,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(
        ns: &'a Namespace,
        view: &'a MaskedView,
        expected: Option<Expected<'a>>,
    ) -> Walker<'a> {
        Walker {
            ns,
            view,
            expected,
            found: Vec::new(),
            relations: 0,
            table_factors: 0,
            sanctioned: Vec::new(),
            masking_seen: 0,
            sanctioned_used: 0,
        }
    }

    /// Walks the part of the statement that is a query (all of a query, the query of a view).
    pub(crate) fn walk(&mut self, statement: &Statement, kind: Kind) -> Result<(), Refusal> {
        let flow = match (kind, statement) {
            (Kind::Query, Statement::Query(q)) => q.visit(self),
            (Kind::TempView, Statement::CreateView(cv)) => cv.query.visit(self),
            (Kind::AsWritten, _) => ControlFlow::Continue(()),
            _ => ControlFlow::Break(Refusal::new(
                "jitgate could not verify its rewrite of this statement; the statement is refused",
            )),
        };
        if let ControlFlow::Break(refusal) = flow {
            return Err(refusal);
        }
        if self.relations != self.table_factors {
            return Err(Refusal::new(
                "jitgate cannot analyse this statement for masking: it references tables outside FROM clauses",
            ));
        }
        Ok(())
    }

    fn table(&mut self, factor: &TableFactor) -> Result<(), Refusal> {
        let TableFactor::Table {
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
        } = factor
        else {
            return Ok(());
        };
        self.table_factors += 1;
        if args.is_some() {
            let parts = object_name_parts(name)?;
            return match parts.as_slice() {
                [f] if f.eq_ignore_ascii_case("range") => Ok(()),
                _ => Err(function_refusal_for(name).unwrap_or_else(|| {
                    Refusal::new(format!(
                        "jitgate refuses the table-valued function {name} to masked subjects: only range() is allowed"
                    ))
                })),
            };
        }
        if !with_hints.is_empty() {
            return Err(Refusal::new(format!(
                "jitgate refuses options on the relation {name} to masked subjects"
            )));
        }
        let table = resolve(&object_name_parts(name)?, self.ns)?;
        if !is_protected(self.view, &table) {
            return Ok(());
        }
        if version.is_some() {
            return Err(Refusal::new(format!(
                "jitgate refuses time travel (VERSION/TIMESTAMP AS OF) on the protected table {name} to masked subjects"
            )));
        }
        if *with_ordinality
            || !partitions.is_empty()
            || json_path.is_some()
            || sample.is_some()
            || !index_directives.is_empty()
            || inheritance.is_some()
        {
            return Err(Refusal::new(format!(
                "jitgate refuses modifiers of the protected table {name} to masked subjects: apply them to a subquery instead"
            )));
        }
        match &self.expected {
            None => {
                let name_span = name.span();
                if name_span == Span::empty() {
                    return Err(Refusal::new(format!(
                        "jitgate cannot locate the table {name} in the statement; the statement is refused"
                    )));
                }
                self.found.push(Found {
                    name_span,
                    has_alias: alias.is_some(),
                    table,
                });
            }
            Some(_) => {
                let position = self
                    .sanctioned
                    .iter()
                    .position(|p| std::ptr::eq(*p, factor));
                match position {
                    Some(i) => {
                        self.sanctioned.swap_remove(i);
                        self.sanctioned_used += 1;
                    }
                    None => {
                        return Err(Refusal::new(format!(
                            "jitgate could not verify its rewrite: the protected table {name} is read outside a masking subquery; the statement is refused"
                        )))
                    }
                }
            }
        }
        Ok(())
    }

    fn derived(&mut self, factor: &TableFactor) {
        let (
            Some(expected),
            TableFactor::Derived {
                lateral: false,
                subquery,
                sample: None,
                ..
            },
        ) = (&self.expected, factor)
        else {
            return;
        };
        if !expected.masking.iter().any(|m| m == subquery.as_ref()) {
            return;
        }
        if let SetExpr::Select(select) = subquery.body.as_ref() {
            if let [from] = select.from.as_slice() {
                if from.joins.is_empty() {
                    self.masking_seen += 1;
                    self.sanctioned.push(&from.relation);
                }
            }
        }
    }
}

/// A refused function's refusal for a table-valued function name.
fn function_refusal_for(name: &ObjectName) -> Option<Refusal> {
    check_function_name(name).err()
}

fn check_set_expr(body: &SetExpr) -> Result<(), Refusal> {
    match body {
        SetExpr::Select(_) | SetExpr::Query(_) | SetExpr::Values(_) => Ok(()),
        SetExpr::SetOperation { left, right, .. } => {
            check_set_expr(left)?;
            check_set_expr(right)
        }
        SetExpr::Table(_) => Err(Refusal::new(
            "jitgate refuses the TABLE t form to masked subjects: write SELECT * FROM t",
        )),
        _ => Err(Refusal::new(
            "jitgate refuses statements that modify data to masked subjects",
        )),
    }
}

fn flow(result: Result<(), Refusal>) -> ControlFlow<Refusal> {
    match result {
        Ok(()) => ControlFlow::Continue(()),
        Err(refusal) => ControlFlow::Break(refusal),
    }
}

impl Visitor for Walker<'_> {
    type Break = Refusal;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Refusal> {
        if !query.pipe_operators.is_empty()
            || query.for_clause.is_some()
            || !query.locks.is_empty()
            || query.settings.is_some()
            || query.format_clause.is_some()
        {
            return ControlFlow::Break(Refusal::new(
                "jitgate cannot analyse this query for masking: pipe syntax and FOR/FORMAT/SETTINGS clauses are not supported",
            ));
        }
        flow(check_set_expr(&query.body))
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<Refusal> {
        if select.into.is_some() {
            return ControlFlow::Break(Refusal::new(
                "jitgate refuses SELECT INTO to masked subjects",
            ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, _relation: &ObjectName) -> ControlFlow<Refusal> {
        self.relations += 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Refusal> {
        match factor {
            TableFactor::Table { .. } => flow(self.table(factor)),
            TableFactor::Derived { .. } => {
                self.derived(factor);
                ControlFlow::Continue(())
            }
            TableFactor::NestedJoin { .. }
            | TableFactor::Pivot { .. }
            | TableFactor::Unpivot { .. } => ControlFlow::Continue(()),
            TableFactor::Function { name, .. } => ControlFlow::Break(
                function_refusal_for(name).unwrap_or_else(|| {
                    Refusal::new(format!(
                        "jitgate refuses the table-valued function {name} to masked subjects: only range() is allowed"
                    ))
                }),
            ),
            _ => ControlFlow::Break(Refusal::new(
                "jitgate refuses this kind of FROM item to masked subjects: only tables, subqueries, VALUES and range() are allowed",
            )),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Refusal> {
        match expr {
            Expr::Function(f) => flow(check_function_name(&f.name)),
            _ => ControlFlow::Continue(()),
        }
    }
}
