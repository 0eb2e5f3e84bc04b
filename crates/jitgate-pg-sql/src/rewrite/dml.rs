//! INSERT, UPDATE, DELETE, MERGE, COPY and TRUNCATE.
//!
//! Relations they read (FROM, USING, sources, subqueries, RETURNING of other relations) are
//! masked like any query's. Writing to a protected relation is refused unless the subject's
//! policy allows blind writes ([`ProtectedWrites::AllowBlind`]), and even then a write may not
//! evaluate a masked column of its target: UPDATE and DELETE evaluate WHERE and RETURNING on
//! the target's real row, which no masking subquery can stand in for (the target must stay the
//! real table), so such statements are refused rather than rewritten.

use pg_query::protobuf::{
    CopyStmt, DeleteStmt, InsertStmt, MergeStmt, Node, RangeVar, TruncateStmt, UpdateStmt,
};
use pg_query::NodeEnum;
use serde::Serialize;

use super::nodes;
use super::policy;
use super::protection::Protection;
use super::references::RowOf;
use super::walker::{masked_subselect, Target, Walker};
use crate::catalog::{RelKind, Relation};
use crate::census::Census;
use crate::error::Refusal;
use crate::masks::ProtectedWrites;

/// A protected relation being written blind: names the statement may not evaluate.
pub(super) struct BlindTarget<'c> {
    shown: String,
    masked_columns: Vec<String>,
    /// The target's rows, to resolve references against its real columns.
    row: RowOf<'c>,
}

impl BlindTarget<'_> {
    /// Refuses `clause` if it names a masked column of the target, its whole row (`t`, `t.*`,
    /// `t.f` with f no column of t, which is `f(t)`), or `*`. A name part equal to a masked
    /// column is refused whatever qualifies it: a same-named column of another relation is
    /// refused too, which costs little.
    fn check<T: Serialize + ?Sized>(&self, clause: &str, part: &T) -> Result<(), Refusal> {
        let census = Census::of(part);
        for col in &census.columns {
            let resolved = self.row.resolve(col);
            if col.star || resolved.whole_row {
                return Err(Refusal::insufficient_privilege(format!(
                    "the {clause} of a write to {} uses its whole row, which has masked columns",
                    self.shown
                )));
            }
            let named = col.fields.iter().chain(&resolved.columns);
            if let Some(f) = named.into_iter().find(|f| self.masked_columns.contains(f)) {
                return Err(Refusal::insufficient_privilege(format!(
                    "the {clause} of a write to {} reads masked column {f}: writes see the \
                     real values",
                    self.shown
                )));
            }
        }
        Ok(())
    }
}

impl<'a> Walker<'a> {
    /// The relation a statement writes to: `None` when it is not protected, else what the
    /// statement may not evaluate (or a refusal when the subject may not write it at all).
    pub(super) fn write_target(
        &mut self,
        rv: &mut RangeVar,
        command: &str,
    ) -> Result<Option<BlindTarget<'a>>, Refusal> {
        policy::check_write_target(&rv.relname)?;
        // A WITH query is never a write target: PostgreSQL looks the name up as a relation.
        let Target::Relation(rel, protection) = self.resolve(rv, false)? else {
            return Ok(None);
        };
        self.check_foreign_keys(rel, command)?;
        if let Some((on, hook)) = self.catalog.write_hook(rel) {
            return Err(Refusal::insufficient_privilege(format!(
                "{command} on {}.{} is not available to subjects with masked columns: it runs \
                 {hook} on {}.{}, whose code reads tables unmasked",
                rel.schema, rel.name, on.schema, on.name
            )));
        }
        let masked_columns = match protection {
            Protection::Clear => return Ok(None),
            Protection::Refused(why) => return Err(Refusal::insufficient_privilege(why)),
            Protection::Masked(m) => m.masked_columns.clone(),
            // An updatable view over protected data: which of its columns are masked depends
            // on its definition, so all of them count.
            Protection::Inline => rel.columns.iter().map(|c| c.name.clone()).collect(),
        };
        self.protected_touched = true;
        let shown = format!("{}.{}", rel.schema, rel.name);
        if self.masks.protected_writes() == ProtectedWrites::Refuse {
            return Err(Refusal::insufficient_privilege(format!(
                "{command} on {shown} is not allowed: it has masked columns, and a write can \
                 reveal what it does not return (constraint errors, row counts)"
            )));
        }
        let alias = rv.alias.as_ref().map(|a| a.aliasname.as_str());
        Ok(Some(BlindTarget {
            shown,
            masked_columns,
            row: RowOf::new(rel, alias),
        }))
    }

    /// A write that makes PostgreSQL compare keys with masked columns of another relation —
    /// inserting or updating the referencing side looks its key up there, updating or deleting
    /// the referenced side looks for rows there that still hold it — answers by its success
    /// whether a value exists among them: refused, however clear the written relation is.
    fn check_foreign_keys(&mut self, rel: &Relation, command: &str) -> Result<(), Refusal> {
        let looks_up_referenced = matches!(command, "INSERT" | "UPDATE" | "MERGE" | "COPY FROM");
        let looks_up_referencing = matches!(command, "UPDATE" | "DELETE" | "MERGE" | "TRUNCATE");
        let catalog = self.catalog;
        for key in &rel.foreign_keys {
            let looks_up = if key.referencing {
                looks_up_referenced
            } else {
                looks_up_referencing
            };
            // The snapshot is read in one transaction: the other side is in it.
            let Some(other) = catalog.relation_by_oid(key.other).filter(|_| looks_up) else {
                continue;
            };
            let masked = match self.protection_of(other) {
                Protection::Clear => false,
                Protection::Masked(m) => other
                    .columns
                    .iter()
                    .filter(|c| key.other_columns.contains(&c.attnum))
                    .any(|c| m.masked_columns.contains(&c.name)),
                Protection::Inline | Protection::Refused(_) => true,
            };
            if masked {
                return Err(Refusal::insufficient_privilege(format!(
                    "{command} on {}.{} is not allowed: a foreign key compares it with masked                      columns of {}.{}, and whether the write succeeds tells their values",
                    rel.schema, rel.name, other.schema, other.name
                )));
            }
        }
        Ok(())
    }

    pub(super) fn insert(&mut self, s: &mut InsertStmt) -> Result<(), Refusal> {
        let blind = match s.relation.as_mut() {
            Some(rv) => self.write_target(rv, "INSERT")?,
            None => None,
        };
        if let Some(target) = &blind {
            if s.on_conflict_clause.is_some() {
                return Err(Refusal::insufficient_privilege(format!(
                    "INSERT … ON CONFLICT into {} is not allowed: the conflict test compares \
                     with the real values",
                    target.shown
                )));
            }
            target.check("RETURNING", &s.returning_clause)?;
        }
        let scope = self.enter_with(s.with_clause.as_mut())?;
        self.opt_query(&mut s.select_stmt)?;
        if let Some(oc) = s.on_conflict_clause.as_deref_mut() {
            self.exprs(&mut oc.target_list)?;
            self.opt_expr(&mut oc.where_clause)?;
        }
        if let Some(r) = s.returning_clause.as_mut() {
            self.exprs(&mut r.exprs)?;
        }
        self.ctes.truncate(scope);
        Ok(())
    }

    pub(super) fn update(&mut self, s: &mut UpdateStmt) -> Result<(), Refusal> {
        let blind = match s.relation.as_mut() {
            Some(rv) => self.write_target(rv, "UPDATE")?,
            None => None,
        };
        // Checked before the walk: masking subqueries in FROM mention masked names themselves.
        if let Some(target) = &blind {
            target.check("SET list", &s.target_list)?;
            target.check("WHERE clause", &s.where_clause)?;
            target.check("FROM clause", &s.from_clause)?;
            target.check("RETURNING list", &s.returning_clause)?;
        }
        let scope = self.enter_with(s.with_clause.as_mut())?;
        for item in &mut s.from_clause {
            self.range_item(item)?;
        }
        self.exprs(&mut s.target_list)?;
        self.opt_expr(&mut s.where_clause)?;
        if let Some(r) = s.returning_clause.as_mut() {
            self.exprs(&mut r.exprs)?;
        }
        self.ctes.truncate(scope);
        Ok(())
    }

    pub(super) fn delete(&mut self, s: &mut DeleteStmt) -> Result<(), Refusal> {
        let blind = match s.relation.as_mut() {
            Some(rv) => self.write_target(rv, "DELETE")?,
            None => None,
        };
        if let Some(target) = &blind {
            target.check("USING clause", &s.using_clause)?;
            target.check("WHERE clause", &s.where_clause)?;
            target.check("RETURNING list", &s.returning_clause)?;
        }
        let scope = self.enter_with(s.with_clause.as_mut())?;
        for item in &mut s.using_clause {
            self.range_item(item)?;
        }
        self.opt_expr(&mut s.where_clause)?;
        if let Some(r) = s.returning_clause.as_mut() {
            self.exprs(&mut r.exprs)?;
        }
        self.ctes.truncate(scope);
        Ok(())
    }

    pub(super) fn merge(&mut self, s: &mut MergeStmt) -> Result<(), Refusal> {
        if let Some(rv) = s.relation.as_mut() {
            if let Some(target) = self.write_target(rv, "MERGE")? {
                return Err(Refusal::insufficient_privilege(format!(
                    "MERGE into {} is not allowed: its join condition compares with the real \
                     values",
                    target.shown
                )));
            }
        }
        let scope = self.enter_with(s.with_clause.as_mut())?;
        if let Some(source) = s.source_relation.as_deref_mut() {
            self.range_item(source)?;
        }
        self.opt_expr(&mut s.join_condition)?;
        for clause in &mut s.merge_when_clauses {
            if let Some(NodeEnum::MergeWhenClause(w)) = clause.node.as_mut() {
                self.opt_expr(&mut w.condition)?;
                self.exprs(&mut w.target_list)?;
                self.exprs(&mut w.values)?;
            }
        }
        if let Some(r) = s.returning_clause.as_mut() {
            self.exprs(&mut r.exprs)?;
        }
        self.ctes.truncate(scope);
        Ok(())
    }

    /// COPY: a protected table copied out becomes `COPY (SELECT … FROM <masking subquery>) TO`,
    /// whatever the format (text, csv, binary), since the values are masked before COPY sees
    /// them; COPY (query) has its query rewritten; COPY FROM is a write.
    pub(super) fn copy(&mut self, s: &mut CopyStmt) -> Result<(), Refusal> {
        if s.is_program || !s.filename.is_empty() {
            return Err(Refusal::insufficient_privilege(
                "COPY to or from a server file or program is not available to subjects with \
                 masked columns",
            ));
        }
        if s.query.is_some() {
            return self.opt_query(&mut s.query);
        }
        let Some(rv) = s.relation.as_mut() else {
            return Ok(());
        };
        if s.is_from {
            self.write_target(rv, "COPY FROM")?;
            return self.opt_expr(&mut s.where_clause);
        }
        let Target::Relation(rel, protection) = self.resolve(rv, false)? else {
            return Ok(());
        };
        // COPY t TO reads t alone, never its inheritance children. (PostgreSQL refuses to COPY a
        // partitioned table; as a query it reads the partitions.)
        rv.inh = rel.kind == RelKind::PartitionedTable;
        let from = match protection {
            Protection::Clear => return Ok(()),
            Protection::Refused(why) => return Err(Refusal::insufficient_privilege(why)),
            Protection::Masked(masked) => masked_subselect(&masked, rv, None, &[]),
            Protection::Inline => match self.relation_reference(rv, None)? {
                Some(view) => view,
                None => return Ok(()),
            },
        };
        self.protected_touched = true;
        self.changed = true;
        let targets: Vec<Node> = if s.attlist.is_empty() {
            vec![nodes::column_target(None)]
        } else {
            let names = s.attlist.iter().filter_map(|n| match n.node.as_ref() {
                Some(NodeEnum::String(name)) => Some(name.sval.as_str()),
                _ => None,
            });
            names.map(|n| nodes::column_target(Some(n))).collect()
        };
        if targets.len() != s.attlist.len().max(1) {
            return Err(Refusal::insufficient_privilege(format!(
                "the column list of COPY {}.{} could not be analysed",
                rel.schema, rel.name
            )));
        }
        let query = nodes::select(targets, from);
        s.relation = None;
        s.attlist.clear();
        s.query = Some(Box::new(nodes::node(NodeEnum::SelectStmt(Box::new(query)))));
        Ok(())
    }

    /// TRUNCATE empties protected tables without reading them: a (blind) write.
    pub(super) fn truncate(&mut self, s: &mut TruncateStmt) -> Result<(), Refusal> {
        for rel in &mut s.relations {
            if let Some(NodeEnum::RangeVar(rv)) = rel.node.as_mut() {
                self.write_target(rv, "TRUNCATE")?;
            }
        }
        Ok(())
    }
}
