//! Which relations a subject may read only through masks, and the masking subqueries themselves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use pg_query::protobuf::{RangeVar, SelectStmt};
use pg_query::NodeEnum;

use super::nodes::{quote_ident, VETTED};
use crate::catalog::{Catalog, Column, RelKind, Relation};
use crate::census::Census;
use crate::masks::{ColumnMasks, MaskSql, ProtectedColumn};

/// How one relation may be read by the subject.
#[derive(Debug, Clone)]
pub(crate) enum Protection {
    /// As it is.
    Clear,
    /// Through this masking query (`SELECT <mask exprs> FROM ONLY? schema.table`).
    Masked(Arc<MaskedRelation>),
    /// A view or materialized view over protected data: read its definition instead, so the
    /// relations it reads are masked in turn.
    Inline,
    /// Not at all, for this reason.
    Refused(String),
}

impl Protection {
    pub fn is_clear(&self) -> bool {
        matches!(self, Protection::Clear)
    }
}

#[derive(Debug)]
pub(crate) struct MaskedRelation {
    /// The parsed masking query; its FROM item is the relation's RangeVar.
    pub query: SelectStmt,
    /// Columns that are masked (a subset of the relation's columns).
    pub masked_columns: Vec<String>,
    /// Masked columns whose masks the result stream applies exactly (see
    /// [`ColumnMasks::exact_in_results`]), and which the relation masks itself rather than
    /// through a parent: the stream knows a column by its own relation and number.
    pub exact_in_results: Vec<String>,
    /// Masked columns whose masks judge each value by content (see
    /// [`ColumnMasks::masks_by_content`]), own or inherited.
    pub by_content: Vec<String>,
}

/// Protections of one subject over one catalog snapshot, kept across statements: building a
/// masking query parses and checks the masks' SQL, which costs as much as parsing a statement.
#[derive(Default)]
pub(crate) struct MaskPlans {
    known: Mutex<HashMap<u32, Protection>>,
}

impl MaskPlans {
    fn get(&self, oid: u32) -> Option<Protection> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.get(&oid).cloned()
    }

    fn put(&self, oid: u32, p: &Protection) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.insert(oid, p.clone());
    }
}

/// Computes and remembers protections for one rewrite (and, given shared plans, for the next).
pub(crate) struct Protections<'a> {
    catalog: &'a Catalog,
    masks: &'a dyn ColumnMasks,
    known: HashMap<u32, Protection>,
    shared: Option<&'a MaskPlans>,
}

/// Guards against inheritance or view cycles in a damaged snapshot.
const MAX_NESTING: usize = 32;

impl<'a> Protections<'a> {
    pub fn new(
        catalog: &'a Catalog,
        masks: &'a dyn ColumnMasks,
        shared: Option<&'a MaskPlans>,
    ) -> Self {
        Protections {
            catalog,
            masks,
            known: HashMap::new(),
            shared,
        }
    }

    pub fn of(&mut self, rel: &Relation) -> Protection {
        self.of_nested(rel, 0)
    }

    fn of_nested(&mut self, rel: &Relation, depth: usize) -> Protection {
        if let Some(p) = self.known.get(&rel.oid) {
            return p.clone();
        }
        if let Some(p) = self.shared.and_then(|s| s.get(rel.oid)) {
            self.known.insert(rel.oid, p.clone());
            return p;
        }
        if depth > MAX_NESTING {
            // Depends on the way here, not on the relation alone: not shared.
            return Protection::Refused(format!(
                "{}.{} nests views or inheritance too deeply to analyse",
                rel.schema, rel.name
            ));
        }
        let p = self.compute(rel, depth);
        self.known.insert(rel.oid, p.clone());
        if let Some(shared) = self.shared {
            shared.put(rel.oid, &p);
        }
        p
    }

    fn compute(&mut self, rel: &Relation, depth: usize) -> Protection {
        // Statistics, other sessions' statements, large objects: refused under their own names,
        // and so whatever view reads them.
        if let Err(refusal) = super::policy::check_relation_name(&rel.name) {
            return Protection::Refused(refusal.message);
        }
        match rel.kind {
            RelKind::ForeignTable => Protection::Refused(format!(
                "{}.{} is a foreign table: it reads data from elsewhere, which jitgate cannot mask",
                rel.schema, rel.name
            )),
            RelKind::View | RelKind::MaterializedView => self.view(rel, depth),
            RelKind::Sequence => Protection::Clear,
            _ => self.table(rel),
        }
    }

    fn view(&mut self, rel: &Relation, depth: usize) -> Protection {
        let Some(def) = rel.view.as_ref() else {
            // System views (not loaded) read only the catalog.
            return Protection::Clear;
        };
        // Dependencies on the catalogs created by bootstrap (`pg_statistic`, …) are pinned and
        // not recorded: the definition itself says what the view reads.
        if let Some(why) = reads_denied_relation(&def.sql) {
            return Protection::Refused(format!("view {}.{} reads {why}", rel.schema, rel.name));
        }
        let mut reads_protected = false;
        for &oid in &def.depends_on {
            let Some(base) = self.catalog.relation_by_oid(oid) else {
                continue;
            };
            match self.of_nested(base, depth + 1) {
                Protection::Clear => {}
                Protection::Refused(why) => return Protection::Refused(why),
                Protection::Masked(_) | Protection::Inline => reads_protected = true,
            }
        }
        // Code the view calls can read masked tables whether or not the view's own query does.
        if def.calls_user_code {
            return Protection::Refused(format!(
                "view {}.{} calls functions that run queries jitgate cannot see (a procedural \
                 language, or SQL given as text), which could read masked columns unmasked",
                rel.schema, rel.name
            ));
        }
        if reads_protected {
            Protection::Inline
        } else {
            Protection::Clear
        }
    }

    /// A table (or partition, or inheritance child): masks of its own columns, else of its
    /// ancestors' columns of the same name, so a partition is as protected as its parent.
    fn table(&mut self, rel: &Relation) -> Protection {
        let mut items = Vec::with_capacity(rel.columns.len());
        let mut masked_columns = Vec::new();
        let mut exact_in_results = Vec::new();
        let mut by_content = Vec::new();
        for col in &rel.columns {
            let quoted = quote_ident(&col.name);
            match self.column_mask(rel, &col.name, &quoted) {
                (MaskSql::Clear, _, _) => items.push(quoted),
                (MaskSql::Expr(sql), own, content) => {
                    if content {
                        by_content.push(col.name.clone());
                    }
                    if own
                        && self
                            .masks
                            .exact_in_results(&protected_column(rel, col, &quoted))
                    {
                        exact_in_results.push(col.name.clone());
                    }
                    masked_columns.push(col.name.clone());
                    items.push(format!("{sql} AS {quoted}"));
                }
                (MaskSql::Unavailable(why), _, _) => {
                    return Protection::Refused(format!(
                        "column {}.{}.{} is masked but its mask cannot be applied: {why}",
                        rel.schema, rel.name, col.name
                    ))
                }
            }
        }
        if masked_columns.is_empty() {
            return Protection::Clear;
        }
        let sql = format!(
            "SELECT {} FROM {}.{}",
            items.join(", "),
            quote_ident(&rel.schema),
            quote_ident(&rel.name)
        );
        match masking_query(&sql) {
            Ok(query) => Protection::Masked(Arc::new(MaskedRelation {
                query,
                masked_columns,
                exact_in_results,
                by_content,
            })),
            Err(why) => Protection::Refused(format!(
                "the masks of {}.{} do not form a safe query: {why}",
                rel.schema, rel.name
            )),
        }
    }

    /// The mask of `column` in `rel`, else in its ancestors (all of them, nearest first);
    /// whether it is `rel`'s own; and whether it masks by content.
    fn column_mask(&self, rel: &Relation, column: &str, quoted: &str) -> (MaskSql, bool, bool) {
        let mut pending = vec![rel];
        let mut visited = 0;
        while let Some(r) = pending.pop() {
            visited += 1;
            if visited > MAX_NESTING {
                let why = MaskSql::Unavailable("inheritance nests too deeply".into());
                return (why, false, false);
            }
            if let Some(col) = r.column(column) {
                let protected = protected_column(r, col, quoted);
                let mask = self.masks.mask_sql(&protected);
                if mask != MaskSql::Clear {
                    let content = self.masks.masks_by_content(&protected);
                    return (mask, visited == 1, content);
                }
            }
            // Reversed so that the first (nearest) parent is looked at next.
            let parents = r.parents.iter().rev();
            pending.extend(parents.filter_map(|&p| self.catalog.relation_by_oid(p)));
        }
        (MaskSql::Clear, false, false)
    }
}

fn protected_column<'r>(
    rel: &'r Relation,
    col: &'r Column,
    quoted: &'r str,
) -> ProtectedColumn<'r> {
    ProtectedColumn {
        schema: &rel.schema,
        table: &rel.name,
        column: &col.name,
        type_oid: col.type_oid,
        type_name: &col.type_name,
        base_type_oid: col.base_type_oid,
        base_type_name: &col.base_type_name,
        column_sql: quoted,
    }
}

/// Parses a masking query and checks that its expressions cannot be captured by the subject:
/// every function, operator and type schema-qualified, and no relation besides the masked one.
fn masking_query(sql: &str) -> Result<SelectStmt, String> {
    let parsed =
        crate::parse::parse(sql, pg_query::ParserOptions::DEFAULT).map_err(|e| e.message)?;
    let mut stmts = parsed.stmts;
    if stmts.len() != 1 {
        return Err("a mask expression ends the statement".into());
    }
    let node = stmts
        .pop()
        .and_then(|raw| raw.stmt)
        .and_then(|stmt| stmt.node);
    let Some(NodeEnum::SelectStmt(mut select)) = node else {
        return Err("not a SELECT".into());
    };
    check_pinned(&Census::of(&*select))?;
    if select.from_clause.len() != 1 {
        return Err("a mask expression added a FROM item".into());
    }
    match select.from_clause[0].node.as_mut() {
        Some(NodeEnum::RangeVar(rv)) => rv.location = VETTED,
        _ => return Err("a mask expression changed the FROM clause".into()),
    }
    Ok(*select)
}

fn check_pinned(census: &Census) -> Result<(), String> {
    if census.relations.len() != 1 {
        return Err("a mask expression reads a relation".into());
    }
    if let Some(f) = census.functions.iter().find(|f| f.name.len() < 2) {
        return Err(format!(
            "function {} is not schema-qualified",
            f.base_name()
        ));
    }
    if let Some(t) = census.type_names.iter().find(|t| t.len() < 2) {
        return Err(format!("type {} is not schema-qualified", t.join(".")));
    }
    // Plain operators can be written OPERATOR(pg_catalog.op); LIKE, IN, BETWEEN, IS DISTINCT
    // FROM, NULLIF and the like look their operator up through search_path.
    use pg_query::protobuf::AExprKind as K;
    let qualifiable = [
        K::AexprOp as i32,
        K::AexprOpAny as i32,
        K::AexprOpAll as i32,
    ];
    if let Some(op) = census
        .operators
        .iter()
        .find(|o| !qualifiable.contains(&o.kind) || o.name.len() < 2)
    {
        return Err(format!(
            "operator {} is not schema-qualified (write OPERATOR(pg_catalog.op))",
            op.name.join(".")
        ));
    }
    if census.sublink_operators.iter().any(|o| o.len() < 2) {
        return Err("a subquery comparison operator is not schema-qualified".into());
    }
    if census.case_with_operand {
        return Err("CASE x WHEN … compares with an unqualified =; use CASE WHEN".into());
    }
    Ok(())
}

/// The FROM item of a masking query, for callers that adjust it (ONLY, TABLESAMPLE).
pub(crate) fn masked_range_var(query: &mut SelectStmt) -> Option<&mut RangeVar> {
    match query.from_clause.first_mut()?.node.as_mut()? {
        NodeEnum::RangeVar(rv) => Some(rv),
        _ => None,
    }
}

/// Why a view definition's relations include one a masked subject may not read (or one it
/// cannot tell, when the definition does not parse).
fn reads_denied_relation(sql: &str) -> Option<String> {
    let tree = match crate::parse::parse(sql, pg_query::ParserOptions::DEFAULT) {
        Ok(tree) => tree,
        Err(_) => return Some("what its definition reads cannot be analysed".into()),
    };
    Census::of(&tree)
        .relations
        .iter()
        .find_map(|r| super::policy::check_relation_name(&r.name).err())
        .map(|refusal| refusal.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_masks_pass() {
        let q = masking_query(
            "SELECT CASE WHEN \"ssn\" IS NULL THEN NULL::pg_catalog.text \
             ELSE (E'***' OPERATOR(pg_catalog.||) pg_catalog.right((\"ssn\")::pg_catalog.text, 4))::pg_catalog.text END \
             AS \"ssn\", \"id\" FROM \"public\".\"customers\"",
        );
        assert!(q.is_ok(), "{q:?}");
    }

    #[test]
    fn capturable_masks_are_rejected() {
        for expr in [
            "lower(\"ssn\")",
            "\"ssn\"::text",
            "\"ssn\" || 'x'",
            "CASE WHEN \"ssn\" LIKE 'a%' THEN 'a' END",
            "CASE \"ssn\" WHEN 'a' THEN 'b' END",
            "(SELECT max(x) FROM public.other)",
        ] {
            let sql = format!("SELECT {expr} AS \"ssn\" FROM \"public\".\"customers\"");
            assert!(masking_query(&sql).is_err(), "{expr}");
        }
        assert!(masking_query("SELECT 1 FROM public.customers; DROP TABLE x").is_err());
    }
}
