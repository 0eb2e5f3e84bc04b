//! Run-time settings a guarded session may change (`SET`, `SET LOCAL`, `RESET`, `set_config`).
//!
//! Settings can make the server send statements back: `debug_print_parse` with
//! `client_min_messages = log` returns the parse tree of the rewritten statement, masking keys
//! included; `log_statement`, `auto_explain.*` and `trace_*` do the same in other forms. Which
//! settings can do so grows with every release and every extension, so masked subjects may
//! change only the settings listed here, each of which shapes how values are formatted, how
//! long statements may run or how the planner works, and none of which can echo a statement,
//! a plan or a value. `client_min_messages` may not go below NOTICE, and the client encoding
//! stays UTF8 (jitgate reads the statement text as UTF-8, as the server must too).

use pg_query::protobuf::VariableSetStmt;
use pg_query::NodeEnum;

/// Settings a masked subject may change, lower-case (PostgreSQL ignores case in setting names).
const ALLOWED: &[&str] = &[
    // Formatting of values.
    "datestyle",
    "intervalstyle",
    "timezone",
    "extra_float_digits",
    "bytea_output",
    "xmlbinary",
    "xmloption",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "default_text_search_config",
    // Name resolution (jitgate pins protected names whatever the path).
    "search_path",
    // Identification and time limits.
    "application_name",
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "idle_session_timeout",
    "transaction_timeout",
    // Transactions (read-only grants check their own settings).
    "default_transaction_isolation",
    "transaction_isolation",
    "default_transaction_deferrable",
    "transaction_deferrable",
    "default_transaction_read_only",
    "transaction_read_only",
    "synchronous_commit",
    // The planner and executor's resources.
    "work_mem",
    "maintenance_work_mem",
    "hash_mem_multiplier",
    "temp_buffers",
    "effective_cache_size",
    "effective_io_concurrency",
    "random_page_cost",
    "seq_page_cost",
    "cpu_tuple_cost",
    "cpu_index_tuple_cost",
    "cpu_operator_cost",
    "parallel_setup_cost",
    "parallel_tuple_cost",
    "max_parallel_workers_per_gather",
    "plan_cache_mode",
    "from_collapse_limit",
    "join_collapse_limit",
    "geqo",
    "jit",
    "enable_bitmapscan",
    "enable_gathermerge",
    "enable_hashagg",
    "enable_hashjoin",
    "enable_incremental_sort",
    "enable_indexonlyscan",
    "enable_indexscan",
    "enable_material",
    "enable_memoize",
    "enable_mergejoin",
    "enable_nestloop",
    "enable_parallel_append",
    "enable_parallel_hash",
    "enable_partition_pruning",
    "enable_partitionwise_aggregate",
    "enable_partitionwise_join",
    "enable_seqscan",
    "enable_sort",
    "enable_tidscan",
    // Checked below.
    "client_min_messages",
    "client_encoding",
];

/// Levels of `client_min_messages` that send no LOG or DEBUG message (INFO always goes).
const QUIET_LEVELS: &[&str] = &["notice", "warning", "error"];

/// The new value a statement gives a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NewValue<'a> {
    /// A constant, as written.
    Literal(&'a str),
    /// Back to the session's start-up value (`RESET`, `SET … TO DEFAULT`), or kept as it is
    /// (`SET … FROM CURRENT`).
    Default,
    /// Computed at run time, or not one constant (a list).
    Other,
}

/// Whether a masked subject may give `name` this value; the reason when not.
pub(crate) fn masked_may_set(name: &str, value: NewValue<'_>) -> Result<(), String> {
    let name = name.to_ascii_lowercase();
    if !ALLOWED.contains(&name.as_str()) {
        return Err(format!(
            "setting {name} is not available to subjects with masked columns: only settings \
             that cannot make the server echo statements, plans or values may be changed"
        ));
    }
    if name == "client_min_messages" {
        let quiet = match value {
            NewValue::Default => true,
            NewValue::Literal(v) => QUIET_LEVELS.contains(&v.trim().to_ascii_lowercase().as_str()),
            NewValue::Other => false,
        };
        if !quiet {
            return Err(
                "client_min_messages may not go below NOTICE for subjects with masked \
                        columns: LOG and DEBUG messages can carry statement texts"
                    .into(),
            );
        }
    }
    encoding_stays_utf8(&name, value)
}

/// The client encoding stays UTF8 in every session jitgate analyses: it reads the statement
/// text as UTF-8, and in an encoding such as SJIS, GBK or BIG5 the server would read other
/// statements out of the same bytes (`81 5C` is one character there, a quote and a backslash
/// here). A RESET goes back to the start-up value, which jitgate sets to UTF8.
pub(crate) fn encoding_stays_utf8(name: &str, value: NewValue<'_>) -> Result<(), String> {
    if !name.eq_ignore_ascii_case("client_encoding") {
        return Ok(());
    }
    match value {
        NewValue::Default => Ok(()),
        NewValue::Literal(v) if is_utf8_name(v) => Ok(()),
        _ => Err(
            "the client encoding stays UTF8 in sessions jitgate analyses; convert on \
                  the client side"
                .into(),
        ),
    }
}

/// The names PostgreSQL accepts for UTF-8 (it ignores case, `-` and `_`).
fn is_utf8_name(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    folded == "utf8" || folded == "unicode"
}

/// What a SET gives its setting.
pub(crate) fn new_value(s: &VariableSetStmt) -> NewValue<'_> {
    use pg_query::protobuf::VariableSetKind as K;
    if s.kind == K::VarSetValue as i32 {
        match s.args.as_slice() {
            [value] => match value.node.as_ref() {
                Some(NodeEnum::AConst(c)) => match c.val.as_ref() {
                    Some(pg_query::protobuf::a_const::Val::Sval(v)) => NewValue::Literal(&v.sval),
                    _ => NewValue::Other,
                },
                _ => NewValue::Other,
            },
            _ => NewValue::Other,
        }
    } else if s.kind == K::VarSetDefault as i32
        || s.kind == K::VarSetCurrent as i32
        || s.kind == K::VarReset as i32
    {
        NewValue::Default
    } else {
        NewValue::Other
    }
}

#[cfg(test)]
mod tests {
    use super::NewValue::*;
    use super::*;

    #[test]
    fn only_listed_settings_and_quiet_levels() {
        assert!(masked_may_set("search_path", Other).is_ok());
        assert!(masked_may_set("DateStyle", Literal("ISO, MDY")).is_ok());
        assert!(masked_may_set("statement_timeout", Literal("5s")).is_ok());
        for name in [
            "debug_print_parse",
            "debug_print_rewritten",
            "debug_print_plan",
            "debug_pretty_print",
            "log_statement",
            "log_min_duration_statement",
            "auto_explain.log_min_duration",
            "trace_sort",
            "role",
            "session_authorization",
            "jitgate.anything",
        ] {
            assert!(masked_may_set(name, Literal("on")).is_err(), "{name}");
        }
        for level in ["notice", "WARNING", "error"] {
            assert!(masked_may_set("client_min_messages", Literal(level)).is_ok());
        }
        assert!(masked_may_set("client_min_messages", Default).is_ok());
        for level in ["log", "debug", "debug5", "info"] {
            let r = masked_may_set("client_min_messages", Literal(level));
            assert!(r.is_err(), "{level}");
        }
        assert!(masked_may_set("client_min_messages", Other).is_err());
    }

    #[test]
    fn the_client_encoding_stays_utf8() {
        for v in ["UTF8", "utf-8", "Unicode", "utf_8"] {
            assert!(
                encoding_stays_utf8("client_encoding", Literal(v)).is_ok(),
                "{v}"
            );
        }
        assert!(encoding_stays_utf8("client_encoding", Default).is_ok());
        for v in ["SJIS", "GBK", "BIG5", "LATIN1", "sql_ascii"] {
            assert!(
                encoding_stays_utf8("CLIENT_ENCODING", Literal(v)).is_err(),
                "{v}"
            );
        }
        assert!(encoding_stays_utf8("client_encoding", Other).is_err());
        assert!(encoding_stays_utf8("search_path", Literal("SJIS")).is_ok());
    }
}
