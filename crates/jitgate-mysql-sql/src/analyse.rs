//! The analysis of one COM_QUERY text (or prepared statement text), statement by statement.

use std::ops::ControlFlow;

use sqlparser::ast::{
    ContextModifier, Expr, FunctionArguments, KillType, ObjectName, Query, Set, SetExpr, Statement,
    TransactionAccessMode, TransactionMode, Visit, Visitor,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use crate::lexical::{
    blank_diagnostics, has_executable_comment, has_unicode_space_comment, safe_charset,
};

/// What a session's statements are checked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Guard {
    /// The grant is read-only: statements that may write are refused.
    pub read_only: bool,
    /// The subject's data is masked: statements are limited to what [`crate::rewrite`] can
    /// read through masking derived tables, and everything that reads around masks is refused.
    pub masked: bool,
}

impl Guard {
    /// Whether every statement must be analysed (otherwise only texts naming `KILL`).
    pub fn guarded(self) -> bool {
        self.read_only || self.masked
    }
}

/// A `KILL [QUERY | CONNECTION] id` statement; the id is a jitgate connection id the front maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kill {
    pub query_only: bool,
    pub id: u64,
}

/// What an accepted text holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// How many statements the text holds.
    pub statements: usize,
    /// The text is one `KILL` statement.
    pub kill: Option<Kill>,
    /// The text holds `SHOW WARNINGS` or `SHOW ERRORS` (in any form, alone or among other
    /// statements), whose rows quote server messages.
    pub warnings: bool,
}

/// Why a text is refused. The messages name statement kinds, never values from the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("jitgate cannot analyse this statement, so it refuses it: {0}")]
    Unparsable(String),
    #[error("executable comments (/*! … */, /*M! … */) are refused in this session")]
    ExecutableComment,
    #[error("the access grant is read-only: {0} is refused")]
    ReadOnly(String),
    #[error("your data on this resource is masked: {0} is refused")]
    Masked(String),
    #[error("KILL must be the only statement of its text")]
    KillNotAlone,
}

/// Analyses `sql` for a session under `guard`.
pub fn analyse(sql: &str, guard: Guard) -> Result<Analysis, Refusal> {
    if guard.guarded() && has_executable_comment(sql) {
        return Err(Refusal::ExecutableComment);
    }
    if has_unicode_space_comment(sql) {
        return Err(Refusal::Unparsable(
            "`--` before a space outside ASCII (a comment to jitgate's parser, not to the server)"
                .into(),
        ));
    }
    let blanked = blank_diagnostics(sql)?;
    let statements = Parser::parse_sql(&MySqlDialect {}, &blanked.text)
        .map_err(|e| Refusal::Unparsable(e.to_string()))?;
    let mut analysis = Analysis {
        statements: statements.len() + blanked.diagnostics,
        kill: None,
        warnings: blanked.diagnostics > 0,
    };
    for statement in &statements {
        if let Statement::Kill { modifier, id } = statement {
            if analysis.statements > 1 {
                return Err(Refusal::KillNotAlone);
            }
            let query_only = match modifier {
                None | Some(KillType::Connection) => false,
                Some(KillType::Query) => true,
                Some(KillType::Mutation) => {
                    return Err(Refusal::Unparsable("KILL MUTATION".into()))
                }
            };
            analysis.kill = Some(Kill {
                query_only,
                id: *id,
            });
            continue;
        }
        if guard.masked {
            masked_use(statement)?;
        }
        if guard.read_only {
            read_only(statement)?;
        }
    }
    Ok(analysis)
}

/// The statement's kind for messages: its first words, up to the first name or value.
fn kind_of(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text
        .split_whitespace()
        .take_while(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .take(3)
        .collect();
    if words.is_empty() {
        "this statement".to_owned()
    } else {
        words.join(" ")
    }
}

/// Whether a read-only session may run the statement: reads, session settings that do not
/// undo read-only, transactions that do not ask for writes.
fn read_only(statement: &Statement) -> Result<(), Refusal> {
    let refuse = || Err(Refusal::ReadOnly(kind_of(statement)));
    match statement {
        Statement::Query(q) => {
            reads_only(q).map_or_else(|| Ok(()), |why| Err(Refusal::ReadOnly(why)))
        }
        Statement::Explain {
            statement, analyze, ..
        } => {
            if *analyze {
                read_only(statement)
            } else {
                read_only(statement).or(Ok(()))
            }
        }
        Statement::ExplainTable { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowCreate { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowCharset(_)
        | Statement::ShowObjects(_)
        | Statement::ShowTables { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowCollation { .. }
        | Statement::Use(_)
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => Ok(()),
        Statement::StartTransaction {
            modes,
            statements,
            exception: None,
            has_end_keyword: false,
            ..
        } if !asks_write(modes) && statements.is_empty() => Ok(()),
        Statement::Set(set) if session_setting(set, false) => Ok(()),
        _ => refuse(),
    }
}

fn asks_write(modes: &[TransactionMode]) -> bool {
    modes.iter().any(|m| {
        matches!(
            m,
            TransactionMode::AccessMode(TransactionAccessMode::ReadWrite)
        )
    })
}

/// Session variables a guarded session may set: the results' character set, time zone, timeouts
/// and limits; never `sql_mode` or the client's character set (they change how the server
/// lexes; `SET NAMES` is checked on its own), the transaction's access mode, or anything
/// `GLOBAL`.
const SETTABLE: &[&str] = &[
    "autocommit",
    "character_set_results",
    "time_zone",
    "sql_select_limit",
    "max_execution_time",
    "max_statement_time",
    "net_read_timeout",
    "net_write_timeout",
    "wait_timeout",
    "interactive_timeout",
    "group_concat_max_len",
    "transaction_isolation",
    "tx_isolation",
];

/// Whether `set` only changes settings of [`SETTABLE`] (and user variables, when
/// `masked` is false), with values that read nothing.
fn session_setting(set: &Set, masked: bool) -> bool {
    let one = |scope: &Option<ContextModifier>, name: &ObjectName, value: &Expr| {
        !matches!(scope, Some(ContextModifier::Global))
            && settable(name, masked)
            && (!masked || set_value(value))
    };
    match set {
        Set::SetNames { charset_name, .. } => safe_charset(&charset_name.value),
        Set::SetNamesDefault {} | Set::SetTimeZone { .. } => true,
        Set::SingleAssignment {
            scope,
            hivevar: false,
            variable,
            values,
        } => values.len() == 1 && one(scope, variable, &values[0]),
        Set::MultipleAssignments { assignments } => {
            assignments.iter().all(|a| one(&a.scope, &a.name, &a.value))
        }
        Set::SetTransaction { modes, .. } => !masked && !asks_write(modes),
        _ => false,
    }
}

fn settable(name: &ObjectName, masked: bool) -> bool {
    let text = name.to_string().to_ascii_lowercase();
    if text.starts_with('@') && !text.starts_with("@@") {
        return !masked;
    }
    let text = text.trim_start_matches("@@");
    let text = text
        .strip_prefix("session.")
        .or_else(|| text.strip_prefix("local."))
        .unwrap_or(text);
    SETTABLE.contains(&text)
}

/// Why a query may write or read around the server's access checks, if it may.
fn reads_only(query: &Query) -> Option<String> {
    struct Writes(Option<String>);
    impl Visitor for Writes {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            let why = match q.body.as_ref() {
                SetExpr::Insert(_)
                | SetExpr::Update(_)
                | SetExpr::Delete(_)
                | SetExpr::Merge(_) => Some("a data-changing statement inside a query".to_owned()),
                SetExpr::Select(s) if s.into.is_some() => Some("SELECT … INTO".to_owned()),
                _ => None,
            };
            match why {
                Some(w) => {
                    self.0 = Some(w);
                    ControlFlow::Break(())
                }
                None => ControlFlow::Continue(()),
            }
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e {
                let name = f.name.to_string().to_ascii_lowercase();
                if FILE_FUNCTIONS.contains(&name.as_str()) {
                    self.0 = Some(format!("{} (reads server files)", name.to_uppercase()));
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = Writes(None);
    let _ = query.visit(&mut v);
    v.0
}

const FILE_FUNCTIONS: &[&str] = &["load_file"];

/// What a masked subject's statement does with tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementUse {
    /// Reads no table: session settings, transaction control, `SHOW` of names.
    NoTables,
    /// A query: protected tables are read through masking derived tables.
    Reads,
    /// A data-changing statement: allowed only when it names no protected table.
    Writes,
}

/// What a masked subject may run, and how it uses tables; everything else is refused: DDL
/// (views, routines, triggers, events), `SHOW CREATE`, `SHOW PROCESSLIST`, `HANDLER`,
/// `EXPLAIN` (plans quote the rewritten text), SQL `PREPARE`/`EXECUTE`, `LOAD DATA`,
/// `sql_mode`, user variables and other settings outside the allowlist.
pub(crate) fn masked_use(statement: &Statement) -> Result<StatementUse, Refusal> {
    let refuse = || Err(Refusal::Masked(kind_of(statement)));
    match statement {
        Statement::Query(_) => Ok(StatementUse::Reads),
        Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => {
            Ok(StatementUse::Writes)
        }
        Statement::StartTransaction {
            statements,
            exception: None,
            has_end_keyword: false,
            ..
        } if statements.is_empty() => Ok(StatementUse::NoTables),
        Statement::Use(_)
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => Ok(StatementUse::NoTables),
        Statement::Set(set) if session_setting(set, true) => Ok(StatementUse::NoTables),
        Statement::ShowTables { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowCollation { .. }
        | Statement::ShowCharset(_)
        | Statement::ExplainTable { .. }
            if !holds_query(statement) =>
        {
            Ok(StatementUse::NoTables)
        }
        _ => refuse(),
    }
}

/// Whether a statement holds a subquery anywhere (a `SHOW … WHERE` filter could read a table).
fn holds_query(statement: &Statement) -> bool {
    struct Queries;
    impl Visitor for Queries {
        type Break = ();
        fn pre_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
            ControlFlow::Break(())
        }
    }
    statement.visit(&mut Queries).is_break()
}

/// Functions of no table data a masked subject's client may ask for.
const CONSTANT_FUNCTIONS: &[&str] = &["database", "schema", "version", "connection_id"];

/// Whether `e` is built of literals, system variables (`@@name`) and a few argument-less
/// functions only.
fn constant(e: &Expr) -> bool {
    match e {
        Expr::Value(_) => true,
        Expr::Identifier(i) => i.value.starts_with("@@"),
        Expr::CompoundIdentifier(parts) => parts.first().is_some_and(|p| p.value.starts_with("@@")),
        Expr::UnaryOp { expr, .. } | Expr::Nested(expr) => constant(expr),
        Expr::BinaryOp { left, right, .. } => constant(left) && constant(right),
        Expr::Function(f) => {
            let name = f.name.to_string().to_ascii_lowercase();
            CONSTANT_FUNCTIONS.contains(&name.as_str())
                && match &f.args {
                    FunctionArguments::None => true,
                    FunctionArguments::List(l) => l.args.is_empty(),
                    FunctionArguments::Subquery(_) => false,
                }
        }
        _ => false,
    }
}

/// A value a guarded SET may give: a constant, or a bare word such as `utf8mb4` or `ON`.
fn set_value(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(i) if i.quote_style.is_none()) || constant(e)
}
