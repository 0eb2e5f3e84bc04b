//! What a masked subject may not touch at all, because it reads data (or statement texts) around
//! the masking rewrite.

use crate::catalog::Catalog;
use crate::census::FunctionSighting;
use crate::error::Refusal;
use crate::guarded;
use crate::settings::{self, NewValue};

/// Relations refused by name, in any schema (a same-named user table is refused too: cheaper than
/// being wrong about which one the name means).
const DENIED_RELATIONS: &[(&str, &str)] = &[
    (
        "pg_statistic",
        "it holds the most common values and histograms of every column",
    ),
    (
        "pg_stats",
        "it shows the most common values and histograms of every column",
    ),
    (
        "pg_statistic_ext_data",
        "it holds the most common values of column combinations",
    ),
    (
        "pg_stats_ext",
        "it shows the most common values of column combinations",
    ),
    (
        "pg_stats_ext_exprs",
        "it shows the most common values of expressions",
    ),
    (
        "pg_stat_activity",
        "it shows the statement texts of other sessions",
    ),
    (
        "pg_stat_statements",
        "it shows statement texts, with their constants",
    ),
    (
        "pg_stat_statements_info",
        "it belongs to pg_stat_statements",
    ),
    (
        "pg_prepared_statements",
        "it shows the rewritten texts, which embed mask keys",
    ),
    (
        "pg_cursors",
        "it shows the rewritten texts, which embed mask keys",
    ),
    (
        "pg_backend_memory_contexts",
        "it shows the texts of cached plans",
    ),
    (
        "pg_largeobject",
        "large objects are outside the masking policy",
    ),
];

/// Functions refused by exact name, in any schema, for masked subjects; what no analysed session
/// may call (functions that run SQL text, reach other sessions, user code) is `crate::guarded`.
const DENIED_FUNCTIONS: &[(&str, &str)] = &[
    ("ts_rewrite", "it can run a query given as text"),
    (
        "current_query",
        "it returns the rewritten text, which embeds mask keys",
    ),
    (
        "pg_stat_statements",
        "it returns statement texts, with their constants",
    ),
    (
        "pg_get_backend_memory_contexts",
        "it shows the texts of cached plans",
    ),
    ("pg_read_file", "it reads server files"),
    ("pg_read_binary_file", "it reads server files"),
    ("pg_ls_dir", "it lists server directories"),
    ("pg_stat_file", "it inspects server files"),
    (
        "pg_mcv_list_items",
        "it lists the most common values of column combinations",
    ),
    ("loread", "large objects are outside the masking policy"),
    ("lowrite", "large objects are outside the masking policy"),
];

/// Functions refused by prefix, in any schema.
const DENIED_FUNCTION_PREFIXES: &[(&str, &str)] = &[
    ("lo_", "large objects are outside the masking policy"),
    ("pg_file_", "it reads or writes server files"),
    (
        "pg_logical_slot_",
        "logical decoding streams changed rows unmasked",
    ),
    (
        "pg_logical_emit",
        "logical decoding is outside the masking policy",
    ),
    ("pg_get_wal_", "WAL records carry row images"),
    ("pg_walinspect", "WAL records carry row images"),
    // pageinspect: raw pages carry every value of the table or index.
    ("heap_page", "it decodes raw table pages"),
    ("heap_tuple", "it decodes raw tuples"),
    ("tuple_data_split", "it decodes raw tuples"),
    ("get_raw_page", "it returns raw table pages"),
    ("bt_page_items", "it decodes raw index pages, keys included"),
    ("bt_multi_page_stats", "it reads raw index pages"),
    ("brin_page_items", "it decodes raw index pages"),
    ("gin_leafpage_items", "it decodes raw index pages"),
    ("gist_page_items", "it decodes raw index pages"),
    ("hash_page_items", "it decodes raw index pages"),
];

/// Relations a masked subject may read but not write: an UPDATE of `pg_settings` is a SET.
const WRITE_DENIED_RELATIONS: &[&str] = &["pg_settings"];

fn refuse(what: &str, why: &str) -> Refusal {
    Refusal::insufficient_privilege(format!(
        "{what} is not available to subjects with masked columns: {why}"
    ))
}

/// Refuses a relation name a masked subject may not read.
pub(crate) fn check_relation_name(name: &str) -> Result<(), Refusal> {
    if let Some((n, why)) = DENIED_RELATIONS.iter().find(|(n, _)| *n == name) {
        return Err(refuse(n, why));
    }
    guarded::check_relation(name).map_err(|d| refuse(&d.function, &d.why))
}

/// Refuses a write to a relation that stands for something else than data.
pub(crate) fn check_write_target(name: &str) -> Result<(), Refusal> {
    if WRITE_DENIED_RELATIONS.contains(&name) {
        return Err(refuse(
            &format!("writing to {name}"),
            "it changes settings, including the role",
        ));
    }
    Ok(())
}

/// Refuses a function call a masked subject may not make.
pub(crate) fn check_function(call: &FunctionSighting, catalog: &Catalog) -> Result<(), Refusal> {
    let name = call.base_name();
    let shown = call.name.join(".");
    if let Some((_, why)) = DENIED_FUNCTIONS.iter().find(|(n, _)| *n == name) {
        return Err(refuse(&format!("function {shown}"), why));
    }
    if let Some((_, why)) = DENIED_FUNCTION_PREFIXES
        .iter()
        .find(|(p, _)| name.starts_with(p))
    {
        return Err(refuse(&format!("function {shown}"), why));
    }
    if name == "set_config" {
        let Some(setting) = call.first_arg.as_deref().map(str::to_ascii_lowercase) else {
            return Err(refuse(
                "set_config with a computed setting name",
                "only settings that cannot echo statements may be changed, so the name must \
                 be written out",
            ));
        };
        if setting == "role" || setting == "session_authorization" {
            return Err(refuse(
                &format!("set_config('{setting}', …)"),
                "changing roles is not allowed",
            ));
        }
        let value = match call.second_arg.as_deref() {
            Some(v) => NewValue::Literal(v),
            None => NewValue::Other,
        };
        settings::masked_may_set(&setting, value).map_err(Refusal::insufficient_privilege)?;
    }
    guarded::check_function(call, catalog)
        .map_err(|d| refuse(&format!("function {}", d.function), &d.why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::FunctionEntry;

    fn call(name: &[&str], first: Option<&str>) -> FunctionSighting {
        FunctionSighting {
            name: name.iter().map(|s| s.to_string()).collect(),
            first_arg: first.map(str::to_string),
            second_arg: None,
            arg_count: 1,
            arg_columns: Vec::new(),
        }
    }

    fn catalog() -> Catalog {
        let f =
            |schema: &str, name: &str, runs_queries| FunctionEntry::new(schema, name, runs_queries);
        Catalog::new(
            1,
            vec![],
            vec![
                f("pg_catalog", "lower", false),
                f("pg_catalog", "set_config", false),
                f("pg_catalog", "to_char", true),
                f("public", "report", true),
                f("ext", "distance", false),
            ],
            true,
        )
    }

    #[test]
    fn system_functions_pass_and_denylisted_ones_do_not() {
        let c = catalog();
        assert!(check_function(&call(&["lower"], None), &c).is_ok());
        assert!(check_function(&call(&["pg_catalog", "to_char"], None), &c).is_ok());
        assert!(check_function(&call(&["ext", "distance"], None), &c).is_ok());
        assert!(check_function(&call(&["pg_catalog", "query_to_xml"], None), &c).is_err());
        assert!(check_function(&call(&["dblink_exec"], None), &c).is_err());
        assert!(check_function(&call(&["lo_get"], None), &c).is_err());
    }

    #[test]
    fn user_code_and_unknown_functions_are_refused() {
        let c = catalog();
        assert!(check_function(&call(&["report"], None), &c).is_err());
        assert!(check_function(&call(&["public", "report"], None), &c).is_err());
        assert!(check_function(&call(&["brand_new"], None), &c).is_err());
    }

    #[test]
    fn set_config_only_for_harmless_settings() {
        let c = catalog();
        assert!(check_function(&call(&["set_config"], Some("search_path")), &c).is_ok());
        assert!(check_function(&call(&["set_config"], Some("ROLE")), &c).is_err());
        assert!(check_function(&call(&["set_config"], None), &c).is_err());
    }
}
