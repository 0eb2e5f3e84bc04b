//! The `[masking]` rules compiled to Unity Catalog column masks: one SQL function per masked
//! column, `CASE WHEN <clear for the subject> THEN v ELSE <mask of v> END`, whose mask is the
//! Spark SQL form of the same mask the gateway uses ([`jitgate_masking::Mask::spark_expr`],
//! proven value for value equal to the Rust masks on a real Spark), set with
//! `ALTER TABLE … ALTER COLUMN … SET MASK`. Pure: [`compile`] and [`plan`] take what the
//! workspace's `information_schema` says and give the SQL to run.
//!
//! Keyed masks (`hash`, `tokenize`) are refused: a function's body is readable by everyone who
//! may use the function, and theirs would carry key-derived material; jitgate does not write
//! a second, secret()-based implementation of them.
//!
//! Who sees clear values: `[masking] clear_groups` and a rule's `group:` principals become
//! `is_account_group_member('…')` (account groups of the same names, e.g. synced from the same
//! identity provider); `user:` principals become `current_user() = '…'` with the workspace
//! userName the subject maps to.

use std::collections::BTreeMap;

use jitgate_masking::{Mask, MaskingPolicy, MaskingRule, Principal, SparkType};
use sha2::{Digest, Sha256};

/// Prefix of every function jitgate makes; columns masked by others are left alone.
pub const FUNCTION_PREFIX: &str = "jitgate_mask_";
/// The function comment that says which body it has.
const COMMENT_PREFIX: &str = "jitgate mask ";

/// A table column as `information_schema.columns` describes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Column {
    pub schema: String,
    pub table: String,
    pub column: String,
    /// `full_data_type`, e.g. `string`, `decimal(10,2)`.
    pub data_type: String,
}

/// A column mask the workspace has (`information_schema.column_masks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingMask {
    pub schema: String,
    pub table: String,
    pub column: String,
    /// `catalog.schema.name` of the mask function.
    pub function: String,
}

/// A jitgate function the workspace has (`information_schema.routines`), with its comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingFunction {
    /// `catalog.schema.name`.
    pub function: String,
    pub comment: String,
}

/// One masked column, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledMask {
    pub column: Column,
    /// `catalog.schema.name`, unquoted.
    pub function: String,
    /// `CREATE OR REPLACE FUNCTION …`.
    pub create: String,
    /// The comment naming the body's digest.
    pub comment: String,
    /// The function's body: what a test can run on a local Spark with `v` bound to a value.
    pub body: String,
}

/// A masked column jitgate cannot compile, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub column: Column,
    pub reason: String,
}

/// Compiles the masks of `resource`'s rules for the catalog's `columns`. `identities` maps
/// subjects to workspace userNames (a subject not in it is its own userName).
pub fn compile(
    policy: &MaskingPolicy,
    resource: &str,
    catalog: &str,
    columns: &[Column],
    identities: &[(String, String)],
) -> (Vec<CompiledMask>, Vec<Refusal>) {
    let rules: Vec<&MaskingRule> = policy
        .rules()
        .iter()
        .filter(|r| r.resource.matches(resource))
        .collect();
    let mut compiled = Vec::new();
    let mut refused = Vec::new();
    for c in columns {
        let Some(rule) = deciding_rule(&rules, c) else {
            continue;
        };
        match compile_column(policy, rule, catalog, c, identities) {
            Ok(Some(m)) => compiled.push(m),
            Ok(None) => {}
            Err(reason) => refused.push(Refusal {
                column: c.clone(),
                reason,
            }),
        }
    }
    (compiled, refused)
}

/// The most specific rule matching the column, the first in file order among equals (as the
/// gateway decides).
fn deciding_rule<'a>(rules: &[&'a MaskingRule], c: &Column) -> Option<&'a MaskingRule> {
    let mut best: Option<&MaskingRule> = None;
    for r in rules
        .iter()
        .filter(|r| r.column.matches(&c.schema, &c.table, &c.column))
    {
        if best.is_none_or(|b| r.column.specificity() > b.column.specificity()) {
            best = Some(r);
        }
    }
    best
}

fn compile_column(
    policy: &MaskingPolicy,
    rule: &MaskingRule,
    catalog: &str,
    c: &Column,
    identities: &[(String, String)],
) -> Result<Option<CompiledMask>, String> {
    if matches!(rule.mask, Mask::Hash | Mask::Tokenize) {
        return Err(format!(
            "the {} mask is keyed: a Unity Catalog function's body is readable by its users and \
             would carry key-derived material; use an unkeyed mask for this column on Databricks",
            rule.mask
        ));
    }
    let ty = SparkType::parse(&c.data_type)
        .ok_or_else(|| format!("type {} has no Spark SQL mask form", c.data_type))?;
    let masked = rule
        .mask
        .spark_expr("v", &ty, policy.key())
        .map_err(|e| e.to_string())?;
    let clear = clear_predicate(policy.clear_groups(), &rule.clear_for, identities);
    let body = match clear {
        Some(p) => format!("CASE WHEN {p} THEN v ELSE {masked} END"),
        None => masked,
    };
    let digest = digest(&format!("{ty}\n{body}"));
    let comment = format!("{COMMENT_PREFIX}{digest}");
    let name = function_name(&c.table, &c.column);
    let function = format!("{catalog}.{}.{name}", c.schema);
    let create = format!(
        "CREATE OR REPLACE FUNCTION {q}(v {ty}) RETURNS {ty} COMMENT {comment_sql} RETURN {body}",
        q = quoted(&[catalog, &c.schema, &name]),
        comment_sql = string_literal(&comment),
    );
    Ok(Some(CompiledMask {
        column: c.clone(),
        function,
        create,
        comment,
        body,
    }))
}

/// `is_account_group_member('g') OR current_user() = 'u' …`, none when nobody sees clear.
fn clear_predicate(
    clear_groups: &[String],
    clear_for: &[Principal],
    identities: &[(String, String)],
) -> Option<String> {
    let mut parts: Vec<String> = clear_groups
        .iter()
        .map(|g| format!("is_account_group_member({})", string_literal(g)))
        .collect();
    for p in clear_for {
        parts.push(match p {
            Principal::Group(g) => format!("is_account_group_member({})", string_literal(g)),
            Principal::User(u) => {
                let name = identities
                    .iter()
                    .find(|(s, _)| s == u)
                    .map_or(u.as_str(), |(_, n)| n.as_str());
                format!("current_user() = {}", string_literal(name))
            }
        });
    }
    (!parts.is_empty()).then(|| parts.join(" OR "))
}

/// `jitgate_mask_<table>_<column>_<8 hex of both>`: readable, and distinct even where
/// sanitising made two names alike.
pub fn function_name(table: &str, column: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(40)
            .collect()
    };
    let tag = &digest(&format!("{table}\0{column}"))[..8];
    format!("{FUNCTION_PREFIX}{}_{}_{tag}", clean(table), clean(column))
}

fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A backquoted multi-part name.
pub fn quoted(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| format!("`{}`", p.replace('`', "``")))
        .collect::<Vec<_>>()
        .join(".")
}

/// A string literal for Databricks SQL (backslash escapes, as Spark reads them by default).
pub fn string_literal(s: &str) -> String {
    let mut out = String::from("'");
    for ch in s.chars() {
        if matches!(ch, '\\' | '\'') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('\'');
    out
}

/// One statement of a plan, with what it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub why: String,
    pub sql: String,
}

/// The statements from what the workspace has to the compiled masks, and the columns left
/// alone (a mask jitgate did not make) with why.
pub fn plan(
    catalog: &str,
    compiled: &[CompiledMask],
    masks: &[ExistingMask],
    functions: &[ExistingFunction],
) -> (Vec<Statement>, Vec<String>) {
    let mut statements = Vec::new();
    let mut conflicts = Vec::new();
    let existing: BTreeMap<(String, String, String), &ExistingMask> = masks
        .iter()
        .map(|m| (key(&m.schema, &m.table, &m.column), m))
        .collect();
    for m in compiled {
        let c = &m.column;
        let current = existing.get(&key(&c.schema, &c.table, &c.column));
        if let Some(other) = current.filter(|x| !is_jitgate(&x.function)) {
            conflicts.push(format!(
                "{}.{}.{} has the mask {} that jitgate did not make; left alone",
                c.schema, c.table, c.column, other.function
            ));
            continue;
        }
        let up_to_date = functions
            .iter()
            .any(|f| f.function.eq_ignore_ascii_case(&m.function) && f.comment == m.comment);
        if !up_to_date {
            statements.push(Statement {
                why: format!("mask function for {}.{}.{}", c.schema, c.table, c.column),
                sql: m.create.clone(),
            });
        }
        if !current.is_some_and(|x| x.function.eq_ignore_ascii_case(&m.function)) {
            statements.push(Statement {
                why: format!("set the mask of {}.{}.{}", c.schema, c.table, c.column),
                sql: format!(
                    "ALTER TABLE {} ALTER COLUMN {} SET MASK {}",
                    quoted(&[catalog, &c.schema, &c.table]),
                    quoted(&[&c.column]),
                    quoted(&m.function.split('.').collect::<Vec<_>>()),
                ),
            });
        }
    }
    for x in masks.iter().filter(|x| is_jitgate(&x.function)) {
        let wanted = compiled.iter().any(|m| {
            key(&m.column.schema, &m.column.table, &m.column.column)
                == key(&x.schema, &x.table, &x.column)
        });
        if !wanted {
            statements.push(Statement {
                why: format!(
                    "no rule masks {}.{}.{} any more",
                    x.schema, x.table, x.column
                ),
                sql: format!(
                    "ALTER TABLE {} ALTER COLUMN {} DROP MASK",
                    quoted(&[catalog, &x.schema, &x.table]),
                    quoted(&[&x.column]),
                ),
            });
        }
    }
    (statements, conflicts)
}

fn key(schema: &str, table: &str, column: &str) -> (String, String, String) {
    (
        schema.to_ascii_lowercase(),
        table.to_ascii_lowercase(),
        column.to_ascii_lowercase(),
    )
}

fn is_jitgate(function: &str) -> bool {
    function
        .rsplit('.')
        .next()
        .is_some_and(|n| n.to_ascii_lowercase().starts_with(FUNCTION_PREFIX))
}

/// The `information_schema` queries [`plan`] needs, against the catalog (their answers are
/// read by [`crate::masks::read`] helpers in the CLI).
pub fn columns_query(catalog: &str) -> String {
    format!(
        "SELECT table_schema, table_name, column_name, full_data_type FROM {}.information_schema.columns \
         WHERE table_schema <> 'information_schema' ORDER BY table_schema, table_name, ordinal_position",
        quoted(&[catalog])
    )
}

pub fn masks_query(catalog: &str) -> String {
    format!(
        "SELECT table_schema, table_name, column_name, mask_catalog, mask_schema, mask_name \
         FROM {}.information_schema.column_masks",
        quoted(&[catalog])
    )
}

pub fn functions_query(catalog: &str) -> String {
    format!(
        "SELECT routine_catalog, routine_schema, routine_name, comment FROM {}.information_schema.routines \
         WHERE routine_name LIKE 'jitgate\\_mask\\_%'",
        quoted(&[catalog])
    )
}

#[cfg(test)]
mod tests;
