//! What no session jitgate analyses (masked or read-only) may call or read, decided by what a
//! function *is* rather than what it is called.
//!
//! A function is known by its implementation: for `internal` and `c` functions the catalog's
//! `prosrc` names the C function that runs, so `CREATE FUNCTION innocent(text, text) … AS
//! '$libdir/dblink', 'dblink_exec' LANGUAGE c` is `dblink_exec` here, and so is
//! `pg_catalog.dblink_exec` or `"dblink_exec"`. One catalogue lists the implementations that
//! run SQL text or read relations by name (the statement analysis cannot see what they run:
//! `query_to_xml('select set_config(…)', …)` leaves read-only mode, reads masked tables
//! unmasked), that run statements on another connection, and that reach other sessions (every
//! upstream session logs in as the same service role, and PostgreSQL lets a role signal and
//! inspect its own backends). Functions written in a language that can run queries (SQL,
//! PL/pgSQL, …) outside the system schemas are refused for the same reason; a function the
//! catalog snapshot does not list (created since it was loaded) is refused until it does.
//! The catalogue is also matched against the name as written, as a backstop where there is no
//! catalog to ask.

use crate::catalog::Catalog;
use crate::census::FunctionSighting;

const RUNS_SQL: &str = "it runs SQL given as text, which jitgate cannot analyse";
const READS_BY_NAME: &str = "it reads relations named in text, which jitgate cannot analyse";
const OTHER_CONNECTION: &str = "it runs statements on another connection, unchecked";
const SIGNALS: &str = "it signals server processes, which may belong to other subjects' sessions \
                       (they all log in as the same service role)";
const OTHER_SESSIONS: &str = "it shows other subjects' sessions (they all log in as the same \
                              service role)";

/// Implementations (and names), exactly or by a prefix ending in `*`, and why they are refused.
const CATALOGUE: &[(&str, &str)] = &[
    ("query_to_xml", RUNS_SQL),
    ("query_to_xmlschema", RUNS_SQL),
    ("query_to_xml_and_xmlschema", RUNS_SQL),
    ("cursor_to_xml*", READS_BY_NAME),
    ("table_to_xml*", READS_BY_NAME),
    ("schema_to_xml*", READS_BY_NAME),
    ("database_to_xml*", READS_BY_NAME),
    // ts_stat(query): `ts_stat1`, `ts_stat2`; ts_rewrite(tsquery, query): the other form,
    // ts_rewrite(tsquery, tsquery, tsquery), runs no SQL.
    ("ts_stat*", RUNS_SQL),
    ("tsquery_rewrite_query", RUNS_SQL),
    // contrib: tablefunc, xml2, dblink, and the pg_background extension.
    ("crosstab*", RUNS_SQL),
    ("connectby*", READS_BY_NAME),
    ("xpath_table", READS_BY_NAME),
    ("dblink*", OTHER_CONNECTION),
    ("pg_background*", OTHER_CONNECTION),
    // Other sessions.
    ("pg_cancel_backend", SIGNALS),
    ("pg_terminate_backend", SIGNALS),
    ("pg_log_backend_memory_contexts", SIGNALS),
    ("pg_stat_get_activity", OTHER_SESSIONS),
    ("pg_stat_get_backend_*", OTHER_SESSIONS),
    ("pg_stat_get_progress_info", OTHER_SESSIONS),
    ("pg_blocking_pids", OTHER_SESSIONS),
    ("pg_safe_snapshot_blocking_pids", OTHER_SESSIONS),
    ("pg_isolation_test_session_is_blocked", OTHER_SESSIONS),
    ("pg_lock_status", OTHER_SESSIONS),
    ("pg_stat_get_wal_senders", OTHER_SESSIONS),
];

/// Views over other sessions (by name, in any schema: a same-named user relation is refused
/// too, which is cheaper than being wrong about which one a name means).
const OTHER_SESSION_VIEWS: &[&str] = &[
    "pg_stat_activity",
    "pg_stat_ssl",
    "pg_stat_gssapi",
    "pg_stat_replication",
    "pg_locks",
    "pg_stat_progress_*",
];

/// Schemas of PostgreSQL's own functions: their code is trusted to run no user queries (the
/// catalogue aside).
const SYSTEM_SCHEMAS: &[&str] = &["pg_catalog", "information_schema"];

/// A call refused, and why (for the person at the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Denied {
    /// The function as the statement named it, or as the catalog names the one refused.
    pub function: String,
    pub why: String,
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

fn in_catalogue(name: &str) -> Option<&'static str> {
    CATALOGUE
        .iter()
        .find(|(pattern, _)| matches(pattern, name))
        .map(|(_, why)| *why)
}

/// Refuses a call no guarded session may make: by the implementations of every function the
/// name can mean (all overloads; for an unqualified name, in every schema), by the name as
/// written, by language, or because the snapshot does not know the function.
pub(crate) fn check_function(call: &FunctionSighting, catalog: &Catalog) -> Result<(), Denied> {
    let name = call.base_name();
    let shown = call.name.join(".");
    let denied = |function: String, why: &str| {
        Err(Denied {
            function,
            why: why.to_string(),
        })
    };
    if let Some(why) = in_catalogue(name) {
        return denied(shown, why);
    }
    // ts_rewrite by name: only its two-argument form runs a query.
    if name == "ts_rewrite" && call.arg_count != 3 {
        return denied(shown, RUNS_SQL);
    }
    let schema = call.schema();
    let candidates = catalog
        .functions_named(name)
        .iter()
        .filter(|f| schema.is_none_or(|s| f.schema == s));
    let mut known = false;
    for f in candidates {
        known = true;
        let qualified = format!("{}.{}", f.schema, f.name);
        if let Some(why) = f.symbols.iter().find_map(|s| in_catalogue(s)) {
            return denied(qualified, why);
        }
        if f.runs_queries && !SYSTEM_SCHEMAS.contains(&f.schema.as_str()) {
            return denied(
                qualified,
                "it is written in a language that can run queries, which jitgate cannot analyse",
            );
        }
    }
    let system = schema.is_some_and(|s| SYSTEM_SCHEMAS.contains(&s));
    if !known && !system && catalog.functions_complete() {
        return denied(
            shown,
            "it is not in jitgate's catalog snapshot; it may have just been created (the \
             snapshot is refreshed after DDL)",
        );
    }
    Ok(())
}

/// Refuses reading a view of other sessions.
pub(crate) fn check_relation(name: &str) -> Result<(), Denied> {
    if OTHER_SESSION_VIEWS.iter().any(|p| matches(p, name)) {
        return Err(Denied {
            function: name.to_string(),
            why: OTHER_SESSIONS.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::FunctionEntry;

    fn call(name: &[&str], args: usize) -> FunctionSighting {
        FunctionSighting {
            name: name.iter().map(|s| s.to_string()).collect(),
            first_arg: None,
            second_arg: None,
            arg_count: args,
            arg_columns: Vec::new(),
        }
    }

    fn catalog() -> Catalog {
        Catalog::new(
            1,
            vec![],
            vec![
                FunctionEntry::new("pg_catalog", "lower", false).with_symbols(&["lower"]),
                FunctionEntry::new("pg_catalog", "query_to_xml", false)
                    .with_symbols(&["query_to_xml"]),
                FunctionEntry::new("pg_catalog", "ts_stat", false)
                    .with_symbols(&["ts_stat1", "ts_stat2"]),
                FunctionEntry::new("pg_catalog", "pg_cancel_backend", false)
                    .with_symbols(&["pg_cancel_backend"]),
                FunctionEntry::new("public", "innocent", false).with_symbols(&["dblink_exec"]),
                FunctionEntry::new("public", "who", false)
                    .with_symbols(&["pg_stat_get_backend_pid"]),
                FunctionEntry::new("public", "report", true),
                FunctionEntry::new("pg_catalog", "to_char", true),
                FunctionEntry::new("ext", "distance", false).with_symbols(&["distance"]),
            ],
            true,
        )
    }

    #[test]
    fn functions_are_known_by_their_implementation() {
        let c = catalog();
        for name in [
            &["innocent"][..],
            &["public", "innocent"],
            &["who"],
            &["query_to_xml"],
            &["pg_catalog", "query_to_xml"],
            &["pg_catalog", "ts_stat"],
            &["pg_cancel_backend"],
        ] {
            assert!(check_function(&call(name, 1), &c).is_err(), "{name:?}");
        }
        let denied = check_function(&call(&["innocent"], 2), &c).expect_err("dblink_exec");
        assert_eq!(denied.function, "public.innocent");
        assert_eq!(denied.why, OTHER_CONNECTION);
    }

    #[test]
    fn names_are_a_backstop_without_a_catalog() {
        let empty = Catalog::default();
        for name in [
            "query_to_xml",
            "table_to_xml_and_xmlschema",
            "cursor_to_xml",
            "database_to_xmlschema",
            "ts_stat",
            "crosstab2",
            "connectby",
            "dblink_exec",
            "pg_terminate_backend",
            "pg_stat_get_backend_idset",
            "pg_stat_get_activity",
            "pg_blocking_pids",
        ] {
            assert!(check_function(&call(&[name], 1), &empty).is_err(), "{name}");
        }
        assert!(check_function(&call(&["ts_rewrite"], 2), &empty).is_err());
        assert!(check_function(&call(&["ts_rewrite"], 3), &empty).is_ok());
        assert!(check_function(&call(&["lower"], 1), &empty).is_ok());
    }

    #[test]
    fn user_code_and_unknown_functions_are_refused_system_code_is_not() {
        let c = catalog();
        assert!(check_function(&call(&["report"], 0), &c).is_err());
        assert!(check_function(&call(&["brand_new"], 0), &c).is_err());
        assert!(check_function(&call(&["lower"], 1), &c).is_ok());
        assert!(check_function(&call(&["pg_catalog", "to_char"], 2), &c).is_ok());
        assert!(check_function(&call(&["ext", "distance"], 2), &c).is_ok());
        assert!(check_function(&call(&["pg_catalog", "not_loaded"], 2), &c).is_ok());
    }

    #[test]
    fn views_of_other_sessions() {
        for name in ["pg_stat_activity", "pg_locks", "pg_stat_progress_vacuum"] {
            assert!(check_relation(name).is_err(), "{name}");
        }
        assert!(check_relation("customers").is_ok());
    }
}
