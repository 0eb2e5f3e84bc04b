//! The walk over a parse tree that puts masking subqueries in place of protected relations.
//!
//! Queries and their FROM clauses are walked here; writes and COPY in `dml.rs`, other statements
//! in `utility.rs`. The walker need not know every node type: where it does not descend, the
//! census that follows finds any protected relation left behind and refuses the statement.

use pg_query::protobuf::{
    self, JsonAggConstructor, JsonValueExpr, Node, RangeVar, SelectStmt, WindowDef, WithClause,
};
use pg_query::NodeEnum;

use super::nodes::{self, VETTED};
use super::policy;
use super::protection::{masked_range_var, MaskPlans, MaskedRelation, Protection, Protections};
use super::returned::Shape;
use super::SearchPathChange;
use crate::catalog::{Catalog, RelKind, Relation};
use crate::census::Census;
use crate::error::Refusal;
use crate::masks::ColumnMasks;
use crate::search_path::SearchPath;

/// Views inside views inside views…: PostgreSQL has no limit, the rewriter does.
const MAX_VIEW_DEPTH: usize = 16;

/// What a relation name in a statement stands for.
pub(crate) enum Target<'c> {
    /// A WITH query of an enclosing statement.
    Cte,
    /// Not in the catalog snapshot and not a name the policy protects: a temporary table, or
    /// one created after the snapshot. Whatever it is, it holds no protected data.
    Unknown,
    Relation(&'c Relation, Protection),
}

/// The parts of a TABLESAMPLE clause, moved into the masking subquery.
pub(crate) struct Sample {
    method: Vec<Node>,
    args: Vec<Node>,
    repeatable: Option<Box<Node>>,
}

pub(crate) struct Walker<'a> {
    pub(super) catalog: &'a Catalog,
    path: &'a SearchPath,
    pub(super) masks: &'a dyn ColumnMasks,
    protections: Protections<'a>,
    /// Names of the WITH queries visible where the walk is.
    pub(super) ctes: Vec<String>,
    /// Schema-qualified relations that earlier statements of the text create.
    created: Vec<(String, String)>,
    view_depth: usize,
    /// The tree differs from what was parsed: it must be deparsed.
    pub changed: bool,
    /// A protected relation is read (through masks) or written.
    pub protected_touched: bool,
    /// The last session-level `SET search_path` of the text.
    pub search_path_change: Option<SearchPathChange>,
    /// For the statement being walked: the columns of its single FROM table that it evaluates,
    /// when its other columns may be left to the result stream. Taken by the first relation
    /// reference, which must be that table.
    pub returned_only: Option<Shape>,
    /// Masked columns read clear for the result stream to mask (`schema.table.column`).
    pub masked_in_results: Vec<String>,
}

impl<'a> Walker<'a> {
    pub fn new(
        catalog: &'a Catalog,
        path: &'a SearchPath,
        masks: &'a dyn ColumnMasks,
        plans: Option<&'a MaskPlans>,
    ) -> Self {
        Walker {
            catalog,
            path,
            masks,
            protections: Protections::new(catalog, masks, plans),
            ctes: Vec::new(),
            created: Vec::new(),
            view_depth: 0,
            changed: false,
            protected_touched: false,
            search_path_change: None,
            returned_only: None,
            masked_in_results: Vec::new(),
        }
    }

    /// Resolves a relation name as PostgreSQL would, marks it vetted, and pins it to its schema
    /// when the bare name could also mean a protected relation.
    pub(super) fn resolve(
        &mut self,
        rv: &mut RangeVar,
        ctes_in_scope: bool,
    ) -> Result<Target<'a>, Refusal> {
        if ctes_in_scope && rv.schemaname.is_empty() && self.ctes.contains(&rv.relname) {
            rv.location = VETTED;
            return Ok(Target::Cte);
        }
        policy::check_relation_name(&rv.relname)?;
        let catalog = self.catalog;
        let found = if rv.schemaname.is_empty() {
            let found = self.path.resolve(catalog, &rv.relname);
            let found_oid = found.map(|r| r.oid);
            let namesake_protected = catalog
                .relations_named(&rv.relname)
                .filter(|r| Some(r.oid) != found_oid)
                .any(|r| !self.protections.of(r).is_clear());
            match found {
                // Whatever the upstream's search_path says, read this one.
                Some(rel) if namesake_protected => {
                    rv.schemaname = rel.schema.clone();
                    self.changed = true;
                }
                None if namesake_protected => {
                    return Err(Refusal::insufficient_privilege(format!(
                        "relation \"{}\" is not on the search_path jitgate knows, and a relation \
                         of that name in another schema has masked columns: schema-qualify it",
                        rv.relname
                    )))
                }
                _ => {}
            }
            found
        } else {
            catalog.relation(&rv.schemaname, &rv.relname)
        };
        rv.location = VETTED;
        match found {
            Some(rel) => Ok(Target::Relation(rel, self.protections.of(rel))),
            None => {
                self.check_not_stale(&rv.schemaname, &rv.relname)?;
                Ok(Target::Unknown)
            }
        }
    }

    /// A relation the policy protects but the snapshot lacks was created since: refuse rather
    /// than read it unmasked until the next refresh. So is any other schema-qualified one
    /// (a view created directly on the database could read protected data under any name),
    /// unless the text itself creates it first or it is the session's own temporary relation.
    pub(super) fn check_not_stale(&self, schema: &str, name: &str) -> Result<(), Refusal> {
        let qualified = (!schema.is_empty()).then_some(schema);
        if self.masks.may_protect(qualified, name) {
            return Err(Refusal::insufficient_privilege(format!(
                "relation \"{name}\" is not in jitgate's catalog snapshot and the masking policy \
                 could cover it; retry once the snapshot is refreshed (after DDL)"
            )));
        }
        let created = self.created.iter().any(|(s, n)| s == schema && n == name);
        if qualified.is_some_and(|s| s != "pg_temp") && !created {
            return Err(Refusal::insufficient_privilege(format!(
                "relation \"{schema}.{name}\" is not in jitgate's catalog snapshot: if it was just \
                 created directly on the database, retry in 30 seconds"
            )));
        }
        Ok(())
    }

    /// Marks the relation a statement creates: vetted, and known to the statements after it.
    pub(super) fn creates(&mut self, rv: &mut RangeVar) {
        rv.location = VETTED;
        if !rv.schemaname.is_empty() {
            self.created
                .push((rv.schemaname.clone(), rv.relname.clone()));
        }
    }

    /// How the subject may read `rel`.
    pub(super) fn protection_of(&mut self, rel: &Relation) -> Protection {
        self.protections.of(rel)
    }

    /// Whether a name, wherever it appears, might mean a relation the subject may not read as is.
    pub(super) fn possibly_protected(&mut self, schema: &str, name: &str) -> bool {
        let catalog = self.catalog;
        if schema.is_empty() {
            catalog
                .relations_named(name)
                .any(|r| !self.protections.of(r).is_clear())
        } else {
            catalog
                .relation(schema, name)
                .is_some_and(|r| !self.protections.of(r).is_clear())
        }
    }

    /// A statement that can stand where a query can (a WITH query, a subquery, COPY's query).
    pub(crate) fn query(&mut self, node: &mut Node) -> Result<(), Refusal> {
        match node.node.as_mut() {
            Some(NodeEnum::SelectStmt(s)) => self.select(s),
            Some(NodeEnum::InsertStmt(s)) => self.insert(s),
            Some(NodeEnum::UpdateStmt(s)) => self.update(s),
            Some(NodeEnum::DeleteStmt(s)) => self.delete(s),
            Some(NodeEnum::MergeStmt(s)) => self.merge(s),
            _ => Ok(()),
        }
    }

    pub(super) fn opt_query(&mut self, node: &mut Option<Box<Node>>) -> Result<(), Refusal> {
        match node.as_deref_mut() {
            Some(n) => self.query(n),
            None => Ok(()),
        }
    }

    pub(crate) fn select(&mut self, s: &mut SelectStmt) -> Result<(), Refusal> {
        let scope = self.enter_with(s.with_clause.as_mut())?;
        if let Some(left) = s.larg.as_deref_mut() {
            self.select(left)?;
        }
        if let Some(right) = s.rarg.as_deref_mut() {
            self.select(right)?;
        }
        self.exprs(&mut s.values_lists)?;
        for item in &mut s.from_clause {
            self.range_item(item)?;
        }
        self.exprs(&mut s.target_list)?;
        self.opt_expr(&mut s.where_clause)?;
        self.exprs(&mut s.group_clause)?;
        self.opt_expr(&mut s.having_clause)?;
        self.exprs(&mut s.window_clause)?;
        self.exprs(&mut s.sort_clause)?;
        self.opt_expr(&mut s.limit_offset)?;
        self.opt_expr(&mut s.limit_count)?;
        self.exprs(&mut s.distinct_clause)?;
        // FOR UPDATE OF x names a FROM item, which has been dealt with.
        for clause in &mut s.locking_clause {
            if let Some(NodeEnum::LockingClause(lock)) = clause.node.as_mut() {
                for rel in &mut lock.locked_rels {
                    if let Some(NodeEnum::RangeVar(rv)) = rel.node.as_mut() {
                        rv.location = VETTED;
                    }
                }
            }
        }
        // SELECT … INTO names the table it creates.
        if let Some(rel) = s.into_clause.as_mut().and_then(|i| i.rel.as_mut()) {
            self.creates(rel);
        }
        self.ctes.truncate(scope);
        Ok(())
    }

    /// Walks the WITH queries and brings their names into scope; returns the scope to go back
    /// to when the statement ends. In a plain WITH each query sees the ones before it; in WITH
    /// RECURSIVE every query sees all of them (PostgreSQL's rules, which decide whether a name
    /// means a WITH query or a relation).
    pub(super) fn enter_with(&mut self, with: Option<&mut WithClause>) -> Result<usize, Refusal> {
        let scope = self.ctes.len();
        let Some(with) = with else {
            return Ok(scope);
        };
        if with.recursive {
            for cte in &with.ctes {
                if let Some(NodeEnum::CommonTableExpr(c)) = cte.node.as_ref() {
                    self.ctes.push(c.ctename.clone());
                }
            }
        }
        for cte in &mut with.ctes {
            if let Some(NodeEnum::CommonTableExpr(c)) = cte.node.as_mut() {
                self.opt_query(&mut c.ctequery)?;
                if !with.recursive {
                    self.ctes.push(c.ctename.clone());
                }
            }
        }
        Ok(scope)
    }

    pub(super) fn range_item(&mut self, item: &mut Node) -> Result<(), Refusal> {
        let Some(n) = item.node.as_mut() else {
            return Ok(());
        };
        let replacement = match n {
            NodeEnum::RangeVar(rv) => self.relation_reference(rv, None)?,
            NodeEnum::RangeTableSample(ts) => {
                self.exprs(&mut ts.args)?;
                self.opt_expr(&mut ts.repeatable)?;
                let sample = Sample {
                    method: ts.method.clone(),
                    args: ts.args.clone(),
                    repeatable: ts.repeatable.clone(),
                };
                match ts.relation.as_deref_mut().and_then(|r| r.node.as_mut()) {
                    Some(NodeEnum::RangeVar(rv)) => self.relation_reference(rv, Some(sample))?,
                    _ => None,
                }
            }
            NodeEnum::RangeSubselect(sub) => {
                self.opt_query(&mut sub.subquery)?;
                None
            }
            NodeEnum::JoinExpr(join) => {
                if let Some(left) = join.larg.as_deref_mut() {
                    self.range_item(left)?;
                }
                if let Some(right) = join.rarg.as_deref_mut() {
                    self.range_item(right)?;
                }
                self.opt_expr(&mut join.quals)?;
                None
            }
            NodeEnum::RangeFunction(f) => {
                self.exprs(&mut f.functions)?;
                None
            }
            NodeEnum::RangeTableFunc(t) => {
                self.opt_expr(&mut t.docexpr)?;
                self.opt_expr(&mut t.rowexpr)?;
                for col in &mut t.columns {
                    if let Some(NodeEnum::RangeTableFuncCol(c)) = col.node.as_mut() {
                        self.opt_expr(&mut c.colexpr)?;
                        self.opt_expr(&mut c.coldefexpr)?;
                    }
                }
                None
            }
            NodeEnum::JsonTable(t) => {
                self.json_value(t.context_item.as_deref_mut())?;
                self.exprs(&mut t.passing)?;
                None
            }
            _ => None,
        };
        if let Some(replacement) = replacement {
            *item = replacement;
        }
        Ok(())
    }

    /// A relation read in a FROM clause: `None` to keep it, or the masking subquery that
    /// replaces it.
    pub(super) fn relation_reference(
        &mut self,
        rv: &mut RangeVar,
        sample: Option<Sample>,
    ) -> Result<Option<Node>, Refusal> {
        let returned_only = self
            .returned_only
            .take()
            .filter(|r| r.location == rv.location && sample.is_none());
        let Target::Relation(rel, protection) = self.resolve(rv, true)? else {
            return Ok(None);
        };
        match protection {
            // A clear view is read as the snapshot defines it, not by name: one replaced
            // elsewhere (`CREATE OR REPLACE VIEW` over a protected table) would otherwise be read
            // under its new definition, unmasked, until the snapshot is next reloaded.
            Protection::Clear if rel.kind == RelKind::View && rel.view.is_some() => {
                self.changed = true;
                self.inline_view(rel, rv, sample).map(Some)
            }
            Protection::Clear => Ok(None),
            Protection::Refused(why) => Err(Refusal::insufficient_privilege(why)),
            Protection::Masked(masked) => {
                self.protected_touched = true;
                self.changed = true;
                // Resolved against the table's real columns: a name that is none of them is
                // the whole row (`t.f` is `f(t)`), and keeps every mask in SQL.
                let evaluated = returned_only.and_then(|shape| shape.evaluated_in(rel));
                let in_results: Vec<&str> = match &evaluated {
                    Some(evaluated) => masked
                        .exact_in_results
                        .iter()
                        .filter(|c| !evaluated.contains(*c))
                        .map(String::as_str)
                        .collect(),
                    None => Vec::new(),
                };
                for column in &in_results {
                    let qualified = format!("{}.{}.{column}", rel.schema, rel.name);
                    self.masked_in_results.push(qualified);
                }
                Ok(Some(masked_subselect(&masked, rv, sample, &in_results)))
            }
            Protection::Inline => {
                self.protected_touched = true;
                self.changed = true;
                self.inline_view(rel, rv, sample).map(Some)
            }
        }
    }

    /// A view replaced by its definition in the catalog snapshot (walked in turn): for a view
    /// over protected data, so that what it reads is masked and its own filters see masked
    /// values; for a clear one, so that it is read as the snapshot knows it.
    fn inline_view(
        &mut self,
        rel: &Relation,
        rv: &RangeVar,
        sample: Option<Sample>,
    ) -> Result<Node, Refusal> {
        let refuse = |why: String| {
            Refusal::insufficient_privilege(format!(
                "view {}.{} is read as jitgate's catalog snapshot defines it, and {why}",
                rel.schema, rel.name
            ))
        };
        if sample.is_some() {
            return Err(refuse("TABLESAMPLE cannot be applied to it".into()));
        }
        if self.view_depth >= MAX_VIEW_DEPTH {
            return Err(refuse("nests views too deeply to analyse".into()));
        }
        let Some(def) = rel.view.as_ref() else {
            return Err(refuse(
                "its definition is not in the catalog snapshot".into(),
            ));
        };
        let mut query = parse_view(&def.sql)
            .map_err(|e| refuse(format!("its definition could not be analysed: {e}")))?;
        let census = Census::of(&query);
        for call in &census.functions {
            policy::check_function(call, self.catalog)?;
        }
        self.check_aggregation(&census)?;
        // The definition's names were resolved when the view was created: the subject's WITH
        // queries must not capture them.
        let outer_ctes = std::mem::take(&mut self.ctes);
        self.view_depth += 1;
        let walked = self.select(&mut query);
        self.view_depth -= 1;
        self.ctes = outer_ctes;
        walked?;
        // A security_barrier view keeps its filters below the subject's: OFFSET 0 stops the
        // planner from pushing quals into the subquery or pulling it up.
        if def.security_barrier && query.limit_offset.is_none() && query.limit_count.is_none() {
            query.limit_offset = Some(Box::new(nodes::integer_const(0)));
        }
        let user_alias = rv.alias.as_ref();
        let user_names = user_alias.map(|a| a.colnames.as_slice()).unwrap_or(&[]);
        let mut colnames: Vec<Node> = user_names.to_vec();
        for col in rel.columns.iter().skip(user_names.len()) {
            colnames.push(nodes::string(&col.name));
        }
        let name = user_alias.map_or(rv.relname.as_str(), |a| a.aliasname.as_str());
        Ok(nodes::range_subselect(query, nodes::alias(name, colnames)))
    }

    pub(super) fn opt_expr(&mut self, node: &mut Option<Box<Node>>) -> Result<(), Refusal> {
        match node.as_deref_mut() {
            Some(n) => self.expr(n),
            None => Ok(()),
        }
    }

    pub(super) fn exprs(&mut self, nodes: &mut [Node]) -> Result<(), Refusal> {
        nodes.iter_mut().try_for_each(|n| self.expr(n))
    }

    /// Descends into expressions to reach the queries inside them (sublinks, ARRAY(SELECT …),
    /// JSON_ARRAY(SELECT …)). Leaves and node types not listed hold no query the walker needs
    /// to see; any that did would be caught by the census.
    pub(super) fn expr(&mut self, node: &mut Node) -> Result<(), Refusal> {
        let Some(n) = node.node.as_mut() else {
            return Ok(());
        };
        match n {
            NodeEnum::SubLink(s) => {
                self.opt_expr(&mut s.testexpr)?;
                self.opt_query(&mut s.subselect)
            }
            NodeEnum::AExpr(a) => {
                self.opt_expr(&mut a.lexpr)?;
                self.opt_expr(&mut a.rexpr)
            }
            NodeEnum::BoolExpr(b) => self.exprs(&mut b.args),
            NodeEnum::FuncCall(f) => {
                self.exprs(&mut f.args)?;
                self.exprs(&mut f.agg_order)?;
                self.opt_expr(&mut f.agg_filter)?;
                self.window(f.over.as_deref_mut())
            }
            NodeEnum::TypeCast(t) => self.opt_expr(&mut t.arg),
            NodeEnum::CaseExpr(c) => {
                self.opt_expr(&mut c.arg)?;
                self.exprs(&mut c.args)?;
                self.opt_expr(&mut c.defresult)
            }
            NodeEnum::CaseWhen(w) => {
                self.opt_expr(&mut w.expr)?;
                self.opt_expr(&mut w.result)
            }
            NodeEnum::CoalesceExpr(c) => self.exprs(&mut c.args),
            NodeEnum::MinMaxExpr(m) => self.exprs(&mut m.args),
            NodeEnum::NullTest(t) => self.opt_expr(&mut t.arg),
            NodeEnum::BooleanTest(t) => self.opt_expr(&mut t.arg),
            NodeEnum::RowExpr(r) => self.exprs(&mut r.args),
            NodeEnum::AArrayExpr(a) => self.exprs(&mut a.elements),
            NodeEnum::AIndirection(i) => {
                self.opt_expr(&mut i.arg)?;
                self.exprs(&mut i.indirection)
            }
            NodeEnum::AIndices(i) => {
                self.opt_expr(&mut i.lidx)?;
                self.opt_expr(&mut i.uidx)
            }
            NodeEnum::CollateClause(c) => self.opt_expr(&mut c.arg),
            NodeEnum::NamedArgExpr(a) => self.opt_expr(&mut a.arg),
            NodeEnum::XmlExpr(x) => {
                self.exprs(&mut x.named_args)?;
                self.exprs(&mut x.args)
            }
            NodeEnum::XmlSerialize(x) => self.opt_expr(&mut x.expr),
            NodeEnum::GroupingFunc(g) => self.exprs(&mut g.args),
            NodeEnum::GroupingSet(g) => self.exprs(&mut g.content),
            NodeEnum::ResTarget(r) => {
                self.opt_expr(&mut r.val)?;
                self.exprs(&mut r.indirection)
            }
            NodeEnum::MultiAssignRef(m) => self.opt_expr(&mut m.source),
            NodeEnum::SortBy(s) => self.opt_expr(&mut s.node),
            NodeEnum::WindowDef(w) => self.window(Some(w)),
            NodeEnum::List(l) => self.exprs(&mut l.items),
            NodeEnum::JsonArrayQueryConstructor(j) => self.opt_query(&mut j.query),
            NodeEnum::JsonObjectConstructor(j) => self.exprs(&mut j.exprs),
            NodeEnum::JsonArrayConstructor(j) => self.exprs(&mut j.exprs),
            NodeEnum::JsonKeyValue(kv) => self.json_key_value(kv),
            NodeEnum::JsonValueExpr(v) => self.json_value(Some(v)),
            NodeEnum::JsonObjectAgg(a) => {
                if let Some(kv) = a.arg.as_deref_mut() {
                    self.json_key_value(kv)?;
                }
                self.json_agg(a.constructor.as_deref_mut())
            }
            NodeEnum::JsonArrayAgg(a) => {
                self.json_value(a.arg.as_deref_mut())?;
                self.json_agg(a.constructor.as_deref_mut())
            }
            NodeEnum::JsonIsPredicate(p) => self.opt_expr(&mut p.expr),
            NodeEnum::JsonParseExpr(p) => self.json_value(p.expr.as_deref_mut()),
            NodeEnum::JsonScalarExpr(s) => self.opt_expr(&mut s.expr),
            NodeEnum::JsonSerializeExpr(s) => self.json_value(s.expr.as_deref_mut()),
            NodeEnum::JsonFuncExpr(f) => {
                self.json_value(f.context_item.as_deref_mut())?;
                self.exprs(&mut f.passing)?;
                for behavior in [f.on_empty.as_deref_mut(), f.on_error.as_deref_mut()]
                    .into_iter()
                    .flatten()
                {
                    self.opt_expr(&mut behavior.expr)?;
                }
                Ok(())
            }
            NodeEnum::JsonArgument(a) => self.json_value(a.val.as_deref_mut()),
            _ => Ok(()),
        }
    }

    fn window(&mut self, w: Option<&mut WindowDef>) -> Result<(), Refusal> {
        let Some(w) = w else { return Ok(()) };
        self.exprs(&mut w.partition_clause)?;
        self.exprs(&mut w.order_clause)?;
        self.opt_expr(&mut w.start_offset)?;
        self.opt_expr(&mut w.end_offset)
    }

    fn json_value(&mut self, v: Option<&mut JsonValueExpr>) -> Result<(), Refusal> {
        let Some(v) = v else { return Ok(()) };
        self.opt_expr(&mut v.raw_expr)?;
        self.opt_expr(&mut v.formatted_expr)
    }

    fn json_key_value(&mut self, kv: &mut protobuf::JsonKeyValue) -> Result<(), Refusal> {
        self.opt_expr(&mut kv.key)?;
        self.json_value(kv.value.as_deref_mut())
    }

    fn json_agg(&mut self, c: Option<&mut JsonAggConstructor>) -> Result<(), Refusal> {
        let Some(c) = c else { return Ok(()) };
        self.opt_expr(&mut c.agg_filter)?;
        self.exprs(&mut c.agg_order)?;
        self.window(c.over.as_deref_mut())
    }
}

/// `(SELECT <masks> FROM [ONLY] schema.table [TABLESAMPLE …]) AS <the name the query used>`:
/// every column, in order, under its own name, so `*`, `t.*`, whole-row references and
/// positional column aliases all see the masked row.
pub(super) fn masked_subselect(
    masked: &MaskedRelation,
    rv: &RangeVar,
    sample: Option<Sample>,
    in_results: &[&str],
) -> Node {
    let mut query = masked.query.clone();
    // Left to the result stream: read as they are (the masking query names each masked
    // column's expression after the column).
    for target in &mut query.target_list {
        if let Some(NodeEnum::ResTarget(t)) = target.node.as_ref() {
            if in_results.contains(&t.name.as_str()) {
                *target = nodes::column_target(Some(&t.name.clone()));
            }
        }
    }
    if let Some(base) = masked_range_var(&mut query) {
        base.inh = rv.inh;
    }
    if let Some(sample) = sample {
        if let Some(base) = query.from_clause.pop() {
            query
                .from_clause
                .push(nodes::node(NodeEnum::RangeTableSample(Box::new(
                    protobuf::RangeTableSample {
                        relation: Some(Box::new(base)),
                        method: sample.method,
                        args: sample.args,
                        repeatable: sample.repeatable,
                        location: -1,
                    },
                ))));
        }
    }
    let alias = rv
        .alias
        .clone()
        .unwrap_or_else(|| nodes::alias(&rv.relname, Vec::new()));
    nodes::range_subselect(query, alias)
}

fn parse_view(sql: &str) -> Result<SelectStmt, String> {
    let parsed =
        crate::parse::parse(sql, pg_query::ParserOptions::DEFAULT).map_err(|e| e.message)?;
    let mut stmts = parsed.stmts;
    if stmts.len() != 1 {
        return Err("not a single statement".into());
    }
    match stmts.pop().and_then(|raw| raw.stmt).and_then(|s| s.node) {
        Some(NodeEnum::SelectStmt(s)) => Ok(*s),
        _ => Err("not a SELECT".into()),
    }
}
