//! What a statement does, for read-only grants.
//!
//! The PostgreSQL front runs sessions of read-only grants in read-only transactions and refuses,
//! before they reach the upstream, statements that write, change the schema, run code it cannot
//! see into, or try to leave read-only mode (`SET default_transaction_read_only = off`,
//! `BEGIN READ WRITE`, `set_config(…)`, …). PostgreSQL would stop most writes itself; leaving
//! read-only mode it would not.

use pg_query::protobuf::{self, node::Node as N};

use crate::catalog::Catalog;
use crate::census::Census;
use crate::error::ParseError;
use crate::guarded;
use crate::settings;
use jitgate_sqlstate::SqlState;

/// One statement's effect. Variants are ordered from harmless to worst.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementKind {
    /// Reads data or the catalog: SELECT, SHOW, EXPLAIN (without ANALYZE of a write), COPY … TO
    /// STDOUT, FETCH, LOCK … IN ACCESS SHARE/ROW SHARE MODE.
    Read { command: &'static str },
    /// Session and transaction control that neither reads nor writes data: BEGIN, COMMIT,
    /// SET, PREPARE/EXECUTE/DEALLOCATE, DECLARE/CLOSE, LISTEN/NOTIFY, DISCARD.
    Session { command: &'static str },
    /// Writes data: INSERT/UPDATE/DELETE/MERGE, COPY FROM, SELECT INTO, SELECT … FOR UPDATE,
    /// data-modifying CTEs, EXPLAIN ANALYZE of those, nextval/setval, large-object writes.
    Write { command: &'static str },
    /// Changes the schema or the server: CREATE/ALTER/DROP, GRANT, VACUUM, CLUSTER, REINDEX, …
    Ddl { command: &'static str },
    /// Runs code the gateway cannot inspect (DO, CALL, LOAD).
    Opaque {
        command: &'static str,
        reason: String,
    },
    /// Tries to leave read-only mode, or to act outside this session's transaction.
    ReadOnlyEscape {
        command: &'static str,
        reason: String,
    },
}

impl StatementKind {
    /// The statement's command, roughly as PostgreSQL's command tag names it.
    pub fn command(&self) -> &'static str {
        match self {
            StatementKind::Read { command }
            | StatementKind::Session { command }
            | StatementKind::Write { command }
            | StatementKind::Ddl { command }
            | StatementKind::Opaque { command, .. }
            | StatementKind::ReadOnlyEscape { command, .. } => command,
        }
    }

    /// Whether a read-only grant may run it.
    pub fn allowed_read_only(&self) -> bool {
        matches!(
            self,
            StatementKind::Read { .. } | StatementKind::Session { .. }
        )
    }

    /// For a read-only grant: the SQLSTATE and message to refuse it with, or `None` to run it.
    pub fn read_only_refusal(&self) -> Option<(SqlState, String)> {
        match self {
            StatementKind::Read { .. } | StatementKind::Session { .. } => None,
            StatementKind::Write { command } | StatementKind::Ddl { command } => Some((
                SqlState::READ_ONLY_SQL_TRANSACTION,
                format!("cannot execute {command}: this grant is read-only"),
            )),
            StatementKind::Opaque { command, reason }
            | StatementKind::ReadOnlyEscape { command, reason } => Some((
                SqlState::INSUFFICIENT_PRIVILEGE,
                format!("cannot execute {command} under a read-only grant: {reason}"),
            )),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            StatementKind::Read { .. } => 0,
            StatementKind::Session { .. } => 1,
            StatementKind::Write { .. } => 2,
            StatementKind::Ddl { .. } => 3,
            StatementKind::Opaque { .. } => 4,
            StatementKind::ReadOnlyEscape { .. } => 5,
        }
    }

    fn worst(self, other: StatementKind) -> StatementKind {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

/// Classifies every statement of `sql` (a simple-query string may hold several), knowing
/// functions only by their names. Prefer [`classify_with_catalog`].
pub fn classify(sql: &str) -> Result<Vec<StatementKind>, ParseError> {
    classify_with_catalog(sql, &Catalog::default())
}

/// Classifies every statement of `sql`, knowing functions by what the catalog says they are
/// (`crate::guarded`: functions that run SQL text or reach other sessions, whatever their name;
/// user code in a query-capable language).
///
/// The text goes upstream as written, and with `standard_conforming_strings` off a backslash in
/// a '…' literal escapes the next character: `SELECT 'a\'' ; SET … = off; --'` is one SELECT
/// with it on, a SELECT and a SET with it off. A text with a backslash is classified both ways
/// and every statement gets the worse of the two readings.
pub fn classify_with_catalog(
    sql: &str,
    catalog: &Catalog,
) -> Result<Vec<StatementKind>, ParseError> {
    let kinds = classify_parsed(sql, catalog, pg_query::ParserOptions::DEFAULT)?;
    if !sql.contains('\\') {
        return Ok(kinds);
    }
    let off = pg_query::ParserOptions::DISABLE_STANDARD_CONFORMING_STRINGS;
    match classify_parsed(sql, catalog, off) {
        Ok(other) if other != kinds => {
            let Some(worst_other) = other.into_iter().reduce(StatementKind::worst) else {
                return Ok(kinds);
            };
            Ok(kinds
                .into_iter()
                .map(|k| k.worst(worst_other.clone()))
                .collect())
        }
        // Same reading, or none at all (the upstream would reject the text too).
        _ => Ok(kinds),
    }
}

fn classify_parsed(
    sql: &str,
    catalog: &Catalog,
    options: pg_query::ParserOptions,
) -> Result<Vec<StatementKind>, ParseError> {
    let parsed = crate::parse::parse(sql, options)?;
    Ok(parsed
        .stmts
        .iter()
        .map(|raw| {
            let node = raw.stmt.as_ref().and_then(|s| s.node.as_ref());
            match node {
                Some(node) => classify_statement(node, catalog),
                None => StatementKind::Session { command: "EMPTY" },
            }
        })
        .collect())
}

fn classify_statement(node: &N, catalog: &Catalog) -> StatementKind {
    let census = Census::of(node);
    let kind = by_statement_type(node, &census);
    let guarded = |d: guarded::Denied| StatementKind::ReadOnlyEscape {
        command: "SELECT",
        reason: format!("{} is not available: {}", d.function, d.why),
    };
    let functions = census.functions.iter().flat_map(|f| {
        let denied = guarded::check_function(f, catalog).err().map(guarded);
        classify_function(f).into_iter().chain(denied)
    });
    let relations = census.relations.iter().filter_map(|r| {
        let denied = guarded::check_relation(&r.name).err().map(guarded);
        denied.or_else(|| view_calling_unseen_code(catalog, &r.schema, &r.name))
    });
    functions.chain(relations).fold(kind, StatementKind::worst)
}

/// A view (any the name can mean) that calls code the analysis cannot see into: a function in
/// a query-capable language, or one that runs SQL text (it could leave read-only mode).
fn view_calling_unseen_code(catalog: &Catalog, schema: &str, name: &str) -> Option<StatementKind> {
    let view = catalog
        .relations_named(name)
        .filter(|r| schema.is_empty() || r.schema == schema)
        .find(|r| r.view.as_ref().is_some_and(|v| v.calls_user_code))?;
    Some(StatementKind::ReadOnlyEscape {
        command: "SELECT",
        reason: format!(
            "view {}.{} calls functions that run queries jitgate cannot see into",
            view.schema, view.name
        ),
    })
}

fn by_statement_type(node: &N, census: &Census) -> StatementKind {
    use StatementKind::*;
    let modifies = census.saw("InsertStmt")
        || census.saw("UpdateStmt")
        || census.saw("DeleteStmt")
        || census.saw("MergeStmt");
    match node {
        N::SelectStmt(s) => {
            if modifies {
                Write {
                    command: "WITH … data-modifying",
                }
            } else if s.into_clause.is_some() || census.saw("IntoClause") {
                Write {
                    command: "SELECT INTO",
                }
            } else if census.saw("LockingClause") {
                Write {
                    command: "SELECT FOR UPDATE/SHARE",
                }
            } else {
                Read { command: "SELECT" }
            }
        }
        N::InsertStmt(_) => Write { command: "INSERT" },
        N::UpdateStmt(_) => Write { command: "UPDATE" },
        N::DeleteStmt(_) => Write { command: "DELETE" },
        N::MergeStmt(_) => Write { command: "MERGE" },
        N::CopyStmt(c) => {
            if c.is_from {
                Write {
                    command: "COPY FROM",
                }
            } else if c.is_program || !c.filename.is_empty() {
                Write {
                    command: "COPY TO file or program",
                }
            } else if modifies {
                Write {
                    command: "COPY (data-modifying query)",
                }
            } else {
                Read { command: "COPY TO" }
            }
        }
        N::ExplainStmt(e) => {
            let inner = e.query.as_ref().and_then(|q| q.node.as_ref());
            match inner {
                Some(inner) if explain_executes(e) => match by_statement_type(inner, census) {
                    Read { .. } => Read {
                        command: "EXPLAIN ANALYZE",
                    },
                    other => other,
                },
                _ => Read { command: "EXPLAIN" },
            }
        }
        N::DeclareCursorStmt(d) => match inner_kind(d.query.as_deref(), census) {
            Read { .. } => Session {
                command: "DECLARE CURSOR",
            },
            other => other,
        },
        N::PrepareStmt(p) => match inner_kind(p.query.as_deref(), census) {
            Read { .. } => Session { command: "PREPARE" },
            other => other,
        },
        // The statement was classified when it was prepared (PREPARE or a Parse message).
        N::ExecuteStmt(_) => Session { command: "EXECUTE" },
        N::TransactionStmt(t) => transaction(t),
        N::VariableSetStmt(v) => variable_set(v),
        N::VariableShowStmt(_) => Read { command: "SHOW" },
        N::DiscardStmt(d) => {
            if d.target == protobuf::DiscardMode::DiscardAll as i32 {
                ReadOnlyEscape {
                    command: "DISCARD ALL",
                    reason: "it runs RESET ALL, which restores default_transaction_read_only"
                        .into(),
                }
            } else {
                Session { command: "DISCARD" }
            }
        }
        N::FetchStmt(_) => Read { command: "FETCH" },
        N::ClosePortalStmt(_) => Session { command: "CLOSE" },
        N::DeallocateStmt(_) => Session {
            command: "DEALLOCATE",
        },
        N::ListenStmt(_) => Session { command: "LISTEN" },
        N::UnlistenStmt(_) => Session {
            command: "UNLISTEN",
        },
        N::NotifyStmt(_) => Session { command: "NOTIFY" },
        N::ConstraintsSetStmt(_) => Session {
            command: "SET CONSTRAINTS",
        },
        // pg_dump takes ACCESS SHARE locks; stronger modes block writers (and can stall others).
        N::LockStmt(l) if l.mode <= pg_query::LockMode::RowShareLock as i32 => {
            Read { command: "LOCK" }
        }
        N::LockStmt(_) => Write { command: "LOCK" },
        N::DoStmt(_) => Opaque {
            command: "DO",
            reason: "an anonymous code block can do anything, including leave read-only mode"
                .into(),
        },
        N::CallStmt(_) => Opaque {
            command: "CALL",
            reason: "a procedure can commit and change settings, including leave read-only mode"
                .into(),
        },
        N::LoadStmt(_) => Opaque {
            command: "LOAD",
            reason: "it loads a shared library into the server process".into(),
        },
        N::CreateTableAsStmt(_) => Ddl {
            command: "CREATE TABLE AS",
        },
        N::VacuumStmt(_) => Ddl { command: "VACUUM" },
        N::CheckPointStmt(_) => Ddl {
            command: "CHECKPOINT",
        },
        _ => Ddl { command: "DDL" },
    }
}

/// Whether a statement may change what the catalog snapshot describes (relations, columns,
/// views, functions): everything but queries, session and transaction control.
pub(crate) fn changes_catalog(node: &N) -> bool {
    match node {
        N::SelectStmt(s) => s.into_clause.is_some(),
        N::InsertStmt(_)
        | N::UpdateStmt(_)
        | N::DeleteStmt(_)
        | N::MergeStmt(_)
        | N::CopyStmt(_)
        | N::ExplainStmt(_)
        | N::DeclareCursorStmt(_)
        | N::PrepareStmt(_)
        | N::ExecuteStmt(_)
        | N::TransactionStmt(_)
        | N::VariableSetStmt(_)
        | N::VariableShowStmt(_)
        | N::DiscardStmt(_)
        | N::FetchStmt(_)
        | N::ClosePortalStmt(_)
        | N::DeallocateStmt(_)
        | N::ListenStmt(_)
        | N::UnlistenStmt(_)
        | N::NotifyStmt(_)
        | N::ConstraintsSetStmt(_)
        | N::LockStmt(_)
        | N::VacuumStmt(_)
        | N::CheckPointStmt(_) => false,
        _ => true,
    }
}

fn inner_kind(query: Option<&protobuf::Node>, census: &Census) -> StatementKind {
    match query.and_then(|q| q.node.as_ref()) {
        Some(inner) => by_statement_type(inner, census),
        None => StatementKind::Read { command: "SELECT" },
    }
}

/// EXPLAIN runs the statement when ANALYZE is on (`ANALYZE`, `ANALYZE true`, `(ANALYZE on)`).
fn explain_executes(e: &protobuf::ExplainStmt) -> bool {
    e.options.iter().any(|opt| match opt.node.as_ref() {
        Some(N::DefElem(d)) if d.defname.eq_ignore_ascii_case("analyze") => {
            !matches!(literal(d.arg.as_deref()), Some(v) if is_false(&v))
        }
        _ => false,
    })
}

fn transaction(t: &protobuf::TransactionStmt) -> StatementKind {
    use protobuf::TransactionStmtKind as K;
    let begins = t.kind == K::TransStmtBegin as i32 || t.kind == K::TransStmtStart as i32;
    if begins && sets_read_write(&t.options) {
        return StatementKind::ReadOnlyEscape {
            command: "BEGIN",
            reason: "READ WRITE is not available".into(),
        };
    }
    StatementKind::Session {
        command: "TRANSACTION CONTROL",
    }
}

const READ_ONLY_SETTINGS: [&str; 2] = ["default_transaction_read_only", "transaction_read_only"];

fn variable_set(v: &protobuf::VariableSetStmt) -> StatementKind {
    use protobuf::VariableSetKind as K;
    let escape = |reason: &str| StatementKind::ReadOnlyEscape {
        command: "SET",
        reason: reason.to_string(),
    };
    if v.kind == K::VarResetAll as i32 {
        return StatementKind::ReadOnlyEscape {
            command: "RESET ALL",
            reason: "it restores default_transaction_read_only".into(),
        };
    }
    if v.kind == K::VarSetMulti as i32 {
        // SET TRANSACTION …, SET SESSION CHARACTERISTICS AS TRANSACTION …
        if sets_read_write(&v.args) {
            return escape("READ WRITE is not available");
        }
        return StatementKind::Session { command: "SET" };
    }
    let name = v.name.to_ascii_lowercase();
    if let Err(reason) = settings::encoding_stays_utf8(&name, settings::new_value(v)) {
        return escape(&reason);
    }
    if READ_ONLY_SETTINGS.contains(&name.as_str()) {
        let turns_on = v.kind == K::VarSetValue as i32
            && v.args.len() == 1
            && matches!(literal(v.args.first()), Some(value) if is_true(&value));
        if !turns_on {
            return escape(&format!("{name} can only be set to on"));
        }
    }
    StatementKind::Session { command: "SET" }
}

/// `transaction_read_only` set to false among transaction options (`READ WRITE`).
fn sets_read_write(options: &[protobuf::Node]) -> bool {
    options.iter().any(|opt| match opt.node.as_ref() {
        Some(N::DefElem(d)) if d.defname == "transaction_read_only" => {
            !matches!(literal(d.arg.as_deref()), Some(v) if is_true(&v))
        }
        _ => false,
    })
}

/// Functions that act outside the session's read-only transaction, or write.
fn classify_function(f: &crate::census::FunctionSighting) -> Option<StatementKind> {
    let name = f.base_name().to_ascii_lowercase();
    let escape = |reason: String| {
        Some(StatementKind::ReadOnlyEscape {
            command: "SELECT",
            reason,
        })
    };
    match name.as_str() {
        "set_config" => match f.first_arg.as_deref().map(str::to_ascii_lowercase) {
            None => escape("set_config with a computed setting name".into()),
            Some(setting) if setting == "client_encoding" => {
                let value = match f.second_arg.as_deref() {
                    Some(v) => settings::NewValue::Literal(v),
                    None => settings::NewValue::Other,
                };
                settings::encoding_stays_utf8(&setting, value)
                    .err()
                    .and_then(escape)
            }
            Some(setting) if READ_ONLY_SETTINGS.contains(&setting.as_str()) => {
                match f.second_arg.as_deref() {
                    Some(v) if is_true(v) => None,
                    _ => escape(format!("set_config('{setting}', …) can only turn it on")),
                }
            }
            Some(_) => None,
        },
        n if n.starts_with("dblink") => {
            escape(format!("{n} runs statements on another connection"))
        }
        n if n.starts_with("pg_background") => {
            escape(format!("{n} runs statements in another session"))
        }
        "nextval"
        | "setval"
        | "lo_import"
        | "lo_export"
        | "lo_create"
        | "lo_creat"
        | "lo_unlink"
        | "lo_put"
        | "lo_from_bytea"
        | "lowrite"
        | "lo_truncate"
        | "lo_truncate64"
        | "pg_create_logical_replication_slot"
        | "pg_create_physical_replication_slot"
        | "pg_drop_replication_slot" => Some(StatementKind::Write { command: "SELECT" }),
        _ => None,
    }
}

/// A constant's text: strings as written, integers as digits, booleans as true/false.
fn literal(node: Option<&protobuf::Node>) -> Option<String> {
    use protobuf::a_const::Val;
    match node?.node.as_ref()? {
        N::AConst(c) => match c.val.as_ref()? {
            Val::Sval(s) => Some(s.sval.clone()),
            Val::Ival(i) => Some(i.ival.to_string()),
            Val::Boolval(b) => Some(b.boolval.to_string()),
            Val::Fval(f) => Some(f.fval.clone()),
            Val::Bsval(_) => None,
        },
        N::String(s) => Some(s.sval.clone()),
        N::Integer(i) => Some(i.ival.to_string()),
        N::Boolean(b) => Some(b.boolval.to_string()),
        _ => None,
    }
}

/// PostgreSQL's boolean spellings (`parse_bool`): prefixes of true/false/yes/no, on/off, 1/0.
fn is_true(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    matches!(v.as_str(), "1" | "on")
        || (!v.is_empty() && ("true".starts_with(&v) || "yes".starts_with(&v)))
}

fn is_false(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    matches!(v.as_str(), "0" | "off" | "of")
        || (!v.is_empty() && ("false".starts_with(&v) || "no".starts_with(&v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<StatementKind> {
        classify(sql).expect("test SQL parses")
    }

    fn one(sql: &str) -> StatementKind {
        let mut k = kinds(sql);
        assert_eq!(k.len(), 1, "{sql}");
        k.remove(0)
    }

    fn allowed(sql: &str) -> bool {
        one(sql).allowed_read_only()
    }

    #[test]
    fn reads_are_allowed() {
        for sql in [
            "SELECT 1",
            "TABLE t",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "SHOW search_path",
            "EXPLAIN SELECT * FROM t",
            "EXPLAIN (ANALYZE) SELECT * FROM t",
            "EXPLAIN (ANALYZE false) DELETE FROM t",
            "COPY t TO STDOUT",
            "COPY (SELECT 1) TO STDOUT WITH (FORMAT csv)",
            "FETCH 10 FROM c",
            "LOCK TABLE t IN ACCESS SHARE MODE",
            "BEGIN",
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            "START TRANSACTION READ ONLY",
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY",
            "COMMIT",
            "SET search_path TO public",
            "SET default_transaction_read_only = on",
            "SET default_transaction_read_only TO true",
            "SELECT set_config('search_path', '', false)",
            "SELECT pg_catalog.set_config('default_transaction_read_only', 'on', false)",
            "DECLARE c CURSOR FOR SELECT * FROM t",
            "PREPARE p AS SELECT $1::int",
            "EXECUTE p(1)",
            "DEALLOCATE p",
            "LISTEN ch",
            "NOTIFY ch",
            "DISCARD PLANS",
            "SET client_encoding = 'UTF8'",
            "SET NAMES 'utf-8'",
            "RESET client_encoding",
        ] {
            assert!(allowed(sql), "{sql}: {:?}", one(sql));
        }
    }

    #[test]
    fn writes_and_ddl_are_refused_with_25006() {
        for sql in [
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET a = 1",
            "DELETE FROM t",
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
            "COPY t FROM STDIN",
            "COPY t TO '/tmp/x'",
            "SELECT * INTO new_t FROM t",
            "SELECT * FROM t FOR UPDATE",
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "EXPLAIN ANALYZE DELETE FROM t",
            "PREPARE p AS DELETE FROM t",
            "DECLARE c CURSOR FOR SELECT * FROM t FOR UPDATE",
            "SELECT nextval('s')",
            "SELECT lo_import('/etc/passwd')",
            "LOCK TABLE t IN ACCESS EXCLUSIVE MODE",
            "CREATE TABLE x (a int)",
            "CREATE TEMP TABLE x AS SELECT 1",
            "DROP TABLE t",
            "ALTER TABLE t ADD COLUMN b int",
            "GRANT SELECT ON t TO public",
            "VACUUM t",
            "TRUNCATE t",
        ] {
            let kind = one(sql);
            let refusal = kind.read_only_refusal();
            assert_eq!(
                refusal.as_ref().map(|r| r.0),
                Some(SqlState::READ_ONLY_SQL_TRANSACTION),
                "{sql}: {kind:?}"
            );
        }
    }

    #[test]
    fn escapes_from_read_only_mode_are_refused_with_42501() {
        for sql in [
            "SET default_transaction_read_only = off",
            "SET SESSION default_transaction_read_only TO false",
            "SET LOCAL transaction_read_only = 0",
            "SET transaction_read_only TO DEFAULT",
            "RESET default_transaction_read_only",
            "RESET transaction_read_only",
            "SET default_transaction_read_only FROM CURRENT",
            "RESET ALL",
            "DISCARD ALL",
            "BEGIN READ WRITE",
            "START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE",
            "SET TRANSACTION READ WRITE",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
            "SELECT set_config('default_transaction_read_only', 'off', false)",
            "SELECT pg_catalog.set_config('transaction_read_only', 'off', true)",
            "SELECT set_config(name, 'off', false) FROM (VALUES ('default_transaction_read_only')) v(name)",
            "SELECT * FROM dblink('dbname=app', 'DELETE FROM t') AS r(x int)",
            "SELECT dblink_exec('dbname=app', 'DROP TABLE t')",
            "DO $$BEGIN PERFORM 1; END$$",
            "CALL p()",
            "LOAD 'auto_explain'",
            // The client encoding: jitgate must read the text as the server does.
            "SET client_encoding = 'SJIS'",
            "SET client_encoding TO big5",
            "SET NAMES 'GBK'",
            "SET SESSION client_encoding = 'SJIS'",
            "SELECT set_config('client_encoding', 'SJIS', false)",
            "SELECT pg_catalog.set_config('CLIENT_ENCODING', 'gbk', true)",
            "SELECT set_config('client_encoding', current_setting('x'), false)",
        ] {
            let kind = one(sql);
            let refusal = kind.read_only_refusal();
            assert_eq!(
                refusal.as_ref().map(|r| r.0),
                Some(SqlState::INSUFFICIENT_PRIVILEGE),
                "{sql}: {kind:?}"
            );
        }
    }

    /// Functions that run SQL text (and could leave read-only mode inside it) or reach other
    /// sessions, by name and — given a catalog — by what they are, whatever they are called.
    #[test]
    fn functions_that_run_sql_text_or_reach_other_sessions_are_refused() {
        for sql in [
            "SELECT query_to_xml('select set_config(''default_transaction_read_only'',''off'',false)', true, false, '')",
            "SELECT pg_catalog.query_to_xml_and_xmlschema('select 1', true, false, '')",
            "SELECT * FROM ts_stat('select set_config(''default_transaction_read_only'',''off'',false)::tsvector')",
            "SELECT ts_rewrite('a'::tsquery, 'select ''a''::tsquery, ''b''::tsquery')",
            "SELECT cursor_to_xml('c', 1, false, false, '')",
            "SELECT table_to_xml('t', false, false, '')",
            "SELECT * FROM crosstab('select 1, 2, 3') AS t(a int, b int)",
            "SELECT * FROM connectby('t', 'id', 'parent', '1', 0) AS t(a int, b int, l int)",
            "SELECT pg_cancel_backend(1234)",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
            "SELECT pg_stat_get_backend_pid(s) FROM pg_stat_get_backend_idset() s",
            "SELECT * FROM pg_stat_get_activity(NULL)",
            "SELECT pg_log_backend_memory_contexts(1234)",
            "SELECT pg_blocking_pids(1234)",
            "SELECT query FROM pg_stat_activity",
            "SELECT * FROM pg_catalog.pg_locks",
        ] {
            let kind = one(sql);
            assert_eq!(
                kind.read_only_refusal().map(|r| r.0),
                Some(SqlState::INSUFFICIENT_PRIVILEGE),
                "{sql}: {kind:?}"
            );
        }
        assert!(allowed(
            "SELECT ts_rewrite('a'::tsquery, 'a'::tsquery, 'b'::tsquery)"
        ));
        use crate::catalog::FunctionEntry;
        let catalog = Catalog::new(
            1,
            vec![],
            vec![
                FunctionEntry::new("public", "innocent", false).with_symbols(&["dblink_exec"]),
                FunctionEntry::new("public", "xml_of", false).with_symbols(&["query_to_xml"]),
                FunctionEntry::new("public", "pids", false)
                    .with_symbols(&["pg_stat_get_backend_idset"]),
                FunctionEntry::new("public", "sql_code", true),
                FunctionEntry::new("pg_catalog", "lower", false).with_symbols(&["lower"]),
            ],
            true,
        );
        let refused = |sql: &str| {
            let kinds = classify_with_catalog(sql, &catalog).expect("parses");
            kinds.iter().any(|k| !k.allowed_read_only())
        };
        for sql in [
            "SELECT innocent('dbname=app', 'DELETE FROM t')",
            "SELECT public.xml_of('select 1', true, false, '')",
            "SELECT * FROM pids()",
            "SELECT sql_code()",
            "SELECT made_after_the_snapshot()",
        ] {
            assert!(refused(sql), "{sql}");
        }
        assert!(!refused("SELECT lower('A')"));
    }

    #[test]
    fn every_statement_of_a_batch_is_classified() {
        let k = kinds("SELECT 1; SET default_transaction_read_only = off; SELECT 2");
        assert_eq!(k.len(), 3);
        assert!(k[0].allowed_read_only());
        assert!(!k[1].allowed_read_only());
        assert!(k[2].allowed_read_only());
    }

    #[test]
    fn backslash_games_get_the_worse_reading() {
        let sneaky = "SELECT 'a\\'' ; SET default_transaction_read_only = off; --'";
        let k = kinds(sneaky);
        assert!(k.iter().all(|k| !k.allowed_read_only()), "{k:?}");
        assert!(kinds("SELECT E'a\\\\b', 'c\\d'")
            .iter()
            .all(StatementKind::allowed_read_only));
    }

    #[test]
    fn parse_errors_are_reported() {
        assert!(classify("SELEC 1").is_err());
    }
}
