//! The relations and expressions of a plan, walked for masking: every kind jitgate knows is
//! looked into (and reads of protected tables masked); what could read around the masks, and
//! every kind it does not know, is refused.

use jitgate_spark_sql::{self as sql, Refusal};
use spark_connect_proto::catalog::CatType;
use spark_connect_proto::expression::window::window_frame::frame_boundary::Boundary;
use spark_connect_proto::expression::ExprType;
use spark_connect_proto::read::ReadType;
use spark_connect_proto::relation::RelType;
use spark_connect_proto::{Expression, Relation};

use super::walk::{refusal, Walk, Walked};
use crate::plan::variant_name;

impl Walk<'_> {
    pub(super) fn relation(&mut self, rel: &mut Relation) -> Walked {
        let Some(kind) = rel.rel_type.as_mut() else {
            return Ok(());
        };
        match kind {
            RelType::Read(read) => {
                if read.is_streaming {
                    return Err(refusal(
                        "jitgate refuses streaming reads to masked subjects",
                    ));
                }
                match &read.read_type {
                    Some(ReadType::NamedTable(t)) => {
                        if !t.options.is_empty() {
                            // A read option such as `path` can point a table's read at another
                            // table's files: the masks would be those of the name read.
                            return Err(refusal(format!(
                                "jitgate refuses read options on tables to masked subjects \
                                 (spark.read.option(…).table({})): read the table without them",
                                t.unparsed_identifier
                            )));
                        }
                        let parts = sql::parse_identifier(&t.unparsed_identifier)?;
                        let table = sql::resolve(&parts, &self.policy.namespace)?;
                        if sql::is_protected(&self.policy.view, &table) {
                            return self.mask_read(rel, &table);
                        }
                        Ok(())
                    }
                    Some(ReadType::DataSource(d)) => Err(refusal(format!(
                        "jitgate refuses direct reads of data sources ({}) to masked subjects: \
                         read tables by name (spark.table) instead",
                        d.format.as_deref().unwrap_or("files")
                    ))),
                    None => Ok(()),
                }
            }
            RelType::Sql(s) => {
                self.expressions(s.named_arguments.values_mut())?;
                self.expressions(s.pos_arguments.iter_mut())?;
                self.sql_text(&mut s.query)
            }
            RelType::WithRelations(w) => {
                for r in &mut w.references {
                    self.relation(r)?;
                }
                self.input(&mut w.root)
            }
            RelType::Project(p) => {
                self.expressions(p.expressions.iter_mut())?;
                self.input(&mut p.input)
            }
            RelType::Filter(f) => {
                self.opt_expression(&mut f.condition)?;
                self.input(&mut f.input)
            }
            RelType::Join(j) => {
                self.opt_expression(&mut j.join_condition)?;
                self.input(&mut j.left)?;
                self.input(&mut j.right)
            }
            RelType::LateralJoin(j) => {
                self.opt_expression(&mut j.join_condition)?;
                self.input(&mut j.left)?;
                self.input(&mut j.right)
            }
            RelType::AsOfJoin(j) => {
                for e in [
                    &mut j.left_as_of,
                    &mut j.right_as_of,
                    &mut j.join_expr,
                    &mut j.tolerance,
                ] {
                    self.opt_expression(e)?;
                }
                self.input(&mut j.left)?;
                self.input(&mut j.right)
            }
            RelType::SetOp(s) => {
                self.input(&mut s.left_input)?;
                self.input(&mut s.right_input)
            }
            RelType::Sort(s) => {
                for o in &mut s.order {
                    self.opt_boxed(&mut o.child)?;
                }
                self.input(&mut s.input)
            }
            RelType::Aggregate(a) => {
                self.expressions(a.grouping_expressions.iter_mut())?;
                self.expressions(a.aggregate_expressions.iter_mut())?;
                if let Some(p) = &mut a.pivot {
                    self.opt_expression(&mut p.col)?;
                }
                for g in &mut a.grouping_sets {
                    self.expressions(g.grouping_set.iter_mut())?;
                }
                self.input(&mut a.input)
            }
            RelType::WithColumns(w) => {
                for a in &mut w.aliases {
                    self.opt_boxed(&mut a.expr)?;
                }
                self.input(&mut w.input)
            }
            RelType::Drop(d) => {
                self.expressions(d.columns.iter_mut())?;
                self.input(&mut d.input)
            }
            RelType::Hint(h) => {
                self.expressions(h.parameters.iter_mut())?;
                self.input(&mut h.input)
            }
            RelType::Unpivot(u) => {
                self.expressions(u.ids.iter_mut())?;
                if let Some(v) = &mut u.values {
                    self.expressions(v.values.iter_mut())?;
                }
                self.input(&mut u.input)
            }
            RelType::RepartitionByExpression(r) => {
                self.expressions(r.partition_exprs.iter_mut())?;
                self.input(&mut r.input)
            }
            RelType::CollectMetrics(c) => {
                self.expressions(c.metrics.iter_mut())?;
                self.input(&mut c.input)
            }
            RelType::Transpose(t) => {
                self.expressions(t.index_columns.iter_mut())?;
                self.input(&mut t.input)
            }
            RelType::SampleBy(s) => {
                self.opt_expression(&mut s.col)?;
                self.input(&mut s.input)
            }
            // Operators over their input only (names, literals, numbers).
            RelType::Limit(x) => self.input(&mut x.input),
            RelType::Offset(x) => self.input(&mut x.input),
            RelType::Tail(x) => self.input(&mut x.input),
            RelType::Sample(x) => self.input(&mut x.input),
            RelType::Deduplicate(x) => self.input(&mut x.input),
            RelType::SubqueryAlias(x) => self.input(&mut x.input),
            RelType::Repartition(x) => self.input(&mut x.input),
            RelType::ToDf(x) => self.input(&mut x.input),
            RelType::WithColumnsRenamed(x) => self.input(&mut x.input),
            RelType::ShowString(x) => self.input(&mut x.input),
            RelType::HtmlString(x) => self.input(&mut x.input),
            RelType::ToSchema(x) => self.input(&mut x.input),
            RelType::Parse(x) => self.input(&mut x.input),
            RelType::WithWatermark(x) => self.input(&mut x.input),
            RelType::FillNa(x) => self.input(&mut x.input),
            RelType::DropNa(x) => self.input(&mut x.input),
            RelType::Replace(x) => self.input(&mut x.input),
            RelType::Summary(x) => self.input(&mut x.input),
            RelType::Crosstab(x) => self.input(&mut x.input),
            RelType::Describe(x) => self.input(&mut x.input),
            RelType::Cov(x) => self.input(&mut x.input),
            RelType::Corr(x) => self.input(&mut x.input),
            RelType::ApproxQuantile(x) => self.input(&mut x.input),
            RelType::FreqItems(x) => self.input(&mut x.input),
            // Data the client sent, and server-side results of this session's earlier (checked)
            // plans.
            RelType::LocalRelation(_)
            | RelType::CachedLocalRelation(_)
            | RelType::ChunkedCachedLocalRelation(_)
            | RelType::CachedRemoteRelation(_)
            | RelType::Range(_) => Ok(()),
            RelType::UnresolvedTableValuedFunction(f) => {
                if !f.function_name.eq_ignore_ascii_case("range") {
                    return Err(refusal(format!(
                        "jitgate refuses the table function {} to masked subjects",
                        f.function_name
                    )));
                }
                self.expressions(f.arguments.iter_mut())
            }
            RelType::Catalog(c) => catalog(c.cat_type.as_ref()),
            RelType::MapPartitions(_)
            | RelType::GroupMap(_)
            | RelType::CoGroupMap(_)
            | RelType::ApplyInPandasWithState(_)
            | RelType::CommonInlineUserDefinedTableFunction(_)
            | RelType::CommonInlineUserDefinedDataSource(_) => Err(udf_refusal()),
            other => Err(refusal(format!(
                "jitgate cannot check {} for masking, so it refuses it to masked subjects",
                variant_name(other)
            ))),
        }
    }

    /// Puts the masks over a read of a protected table: `rel` becomes a projection (with the
    /// read's plan id) of the masked columns, over the read (without one).
    pub(super) fn expressions<'e>(
        &mut self,
        exprs: impl Iterator<Item = &'e mut Expression>,
    ) -> Walked {
        for e in exprs {
            self.expression(e)?;
        }
        Ok(())
    }

    pub(super) fn opt_expression(&mut self, e: &mut Option<Expression>) -> Walked {
        match e {
            Some(e) => self.expression(e),
            None => Ok(()),
        }
    }

    pub(super) fn opt_boxed(&mut self, e: &mut Option<Box<Expression>>) -> Walked {
        match e {
            Some(e) => self.expression(e),
            None => Ok(()),
        }
    }

    pub(super) fn expression(&mut self, e: &mut Expression) -> Walked {
        let Some(kind) = e.expr_type.as_mut() else {
            return Ok(());
        };
        match kind {
            ExprType::Literal(_)
            | ExprType::UnresolvedAttribute(_)
            | ExprType::UnresolvedStar(_)
            | ExprType::UnresolvedRegex(_)
            | ExprType::UnresolvedNamedLambdaVariable(_) => Ok(()),
            ExprType::ExpressionString(s) => sql::check_expression(&s.expression),
            ExprType::UnresolvedFunction(f) => {
                if let Some(refused) = sql::function_refused(&f.function_name) {
                    return Err(refused);
                }
                self.expressions(f.arguments.iter_mut())
            }
            ExprType::CallFunction(f) => {
                if let Some(refused) = sql::function_refused(&f.function_name) {
                    return Err(refused);
                }
                self.expressions(f.arguments.iter_mut())
            }
            ExprType::Alias(a) => self.opt_boxed(&mut a.expr),
            ExprType::Cast(c) => self.opt_boxed(&mut c.expr),
            ExprType::SortOrder(o) => self.opt_boxed(&mut o.child),
            ExprType::LambdaFunction(l) => self.opt_boxed(&mut l.function),
            ExprType::Window(w) => {
                self.opt_boxed(&mut w.window_function)?;
                self.expressions(w.partition_spec.iter_mut())?;
                for o in &mut w.order_spec {
                    self.opt_boxed(&mut o.child)?;
                }
                if let Some(frame) = &mut w.frame_spec {
                    for bound in [&mut frame.lower, &mut frame.upper] {
                        if let Some(Boundary::Value(v)) =
                            bound.as_mut().and_then(|b| b.boundary.as_mut())
                        {
                            self.expression(v)?;
                        }
                    }
                }
                Ok(())
            }
            ExprType::UnresolvedExtractValue(x) => {
                self.opt_boxed(&mut x.child)?;
                self.opt_boxed(&mut x.extraction)
            }
            ExprType::UpdateFields(u) => {
                self.opt_boxed(&mut u.struct_expression)?;
                self.opt_boxed(&mut u.value_expression)
            }
            ExprType::NamedArgumentExpression(n) => self.opt_boxed(&mut n.value),
            // The subquery's plan is one of the enclosing WithRelations' references, walked
            // there.
            ExprType::SubqueryExpression(s) => {
                self.expressions(s.in_subquery_values.iter_mut())?;
                if let Some(o) = &mut s.table_arg_options {
                    self.expressions(o.partition_spec.iter_mut())?;
                    for order in &mut o.order_spec {
                        self.opt_boxed(&mut order.child)?;
                    }
                }
                Ok(())
            }
            ExprType::CommonInlineUserDefinedFunction(_)
            | ExprType::TypedAggregateExpression(_) => Err(udf_refusal()),
            other => Err(refusal(format!(
                "jitgate cannot check the expression {} for masking, so it refuses it to masked \
                 subjects",
                variant_name(other)
            ))),
        }
    }
}

fn catalog(op: Option<&CatType>) -> Walked {
    let Some(op) = op else { return Ok(()) };
    match op {
        CatType::CurrentDatabase(_)
        | CatType::CurrentCatalog(_)
        | CatType::ListDatabases(_)
        | CatType::ListTables(_)
        | CatType::ListFunctions(_)
        | CatType::ListColumns(_)
        | CatType::ListCatalogs(_)
        | CatType::GetDatabase(_)
        | CatType::GetTable(_)
        | CatType::GetFunction(_)
        | CatType::DatabaseExists(_)
        | CatType::TableExists(_)
        | CatType::FunctionExists(_)
        | CatType::IsCached(_) => Ok(()),
        other => Err(refusal(format!(
            "jitgate refuses the catalog operation {} to masked subjects: only reading the \
             catalog is allowed",
            variant_name(other)
        ))),
    }
}

fn udf_refusal() -> Refusal {
    refusal(
        "jitgate refuses user-defined functions to masked subjects: their code runs on the \
         cluster, next to the clear data",
    )
}
