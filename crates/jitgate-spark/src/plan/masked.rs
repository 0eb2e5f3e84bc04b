//! The plan policy of masked subjects: mask before evaluate.
//!
//! - A DataFrame `Read` of a protected table becomes a projection of the masks over that read,
//!   keeping the column names and taking over the read's plan id (DataFrame column references
//!   such as `df["ssn"]` name the plan node by id, so they resolve to the masked column). Every
//!   operator above it — filters, joins, aggregations, windows, temp views, caches — only sees
//!   masked values.
//! - SQL texts (`spark.sql`, SQL relations, SQL expression strings) go through
//!   `jitgate_spark_sql`, which replaces protected relations by masking subqueries.
//! - What could reach data around the masks is refused: file and data source reads, code
//!   (UDFs, artifacts), writes and catalog changes, EXPLAIN and input files (plans embed key
//!   material), setting configuration that changes how SQL is read, and every relation,
//!   expression or command this walker does not know.

use jitgate_masking::{MaskedView, Scanner};
use jitgate_spark_sql::{self as sql, Namespace, Refusal, TableRef};
use spark_connect_proto::analyze_plan_request::Analyze;
use spark_connect_proto::catalog::CatType;
use spark_connect_proto::command::CommandType;
use spark_connect_proto::config_request::operation::OpType as ConfigOp;
use spark_connect_proto::expression::window::window_frame::frame_boundary::Boundary;
use spark_connect_proto::expression::{self, ExprType};
use spark_connect_proto::plan::OpType;
use spark_connect_proto::read::ReadType;
use spark_connect_proto::relation::RelType;
use spark_connect_proto::{
    AnalyzePlanRequest, Command, ConfigRequest, ExecutePlanRequest, Expression, Plan, Project,
    Relation,
};

use super::{variant_name, PlanPolicy, Rewrite, Schemas, Verdict};
use crate::grpc::{Code, Status};

/// The policy of one masked subject on one resource.
pub struct Masked {
    view: MaskedView,
    namespace: Namespace,
    secrets: Vec<Vec<u8>>,
}

impl Masked {
    pub fn new(view: MaskedView, namespace: Namespace) -> Masked {
        // The key-derived pads inside keyed masks, as SQL text and plan strings write them.
        let secrets = view
            .key()
            .spark_secrets()
            .into_iter()
            .flat_map(|hex| [hex.to_ascii_lowercase(), hex.to_ascii_uppercase()])
            .map(String::into_bytes)
            .collect();
        Masked {
            view,
            namespace,
            secrets,
        }
    }

    fn walk<'a>(&'a self, schemas: &'a Schemas) -> Walk<'a> {
        Walk {
            policy: self,
            schemas,
            missing: Vec::new(),
            rewrite: Rewrite::default(),
            changed: false,
        }
    }
}

impl PlanPolicy for Masked {
    fn execute(&self, request: &mut ExecutePlanRequest, schemas: &Schemas) -> Verdict {
        let Some(plan) = request.plan.as_ref() else {
            return Verdict::Pass;
        };
        // Walk a copy: a walk that needs schemas first must leave the request as it was.
        let mut plan = plan.clone();
        let mut walk = self.walk(schemas);
        let walked = walk.plan(&mut plan);
        walk.verdict(walked, || request.plan = Some(plan))
    }

    fn analyze(&self, request: &mut AnalyzePlanRequest, schemas: &Schemas) -> Verdict {
        let Some(analyze) = request.analyze.as_ref() else {
            return Verdict::Pass;
        };
        let mut analyze = analyze.clone();
        let mut walk = self.walk(schemas);
        let walked = walk.analyze(&mut analyze);
        walk.verdict(walked, || request.analyze = Some(analyze))
    }

    fn config(&self, request: &ConfigRequest) -> Verdict {
        let op = request.operation.as_ref().and_then(|o| o.op_type.as_ref());
        if let Some(ConfigOp::Set(set)) = op {
            if let Some(refused) = set.pairs.iter().find(|p| !sql::may_set(&p.key)) {
                return refuse(format!(
                    "jitgate refuses setting {} to masked subjects: it could change how masking \
                     expressions are read",
                    refused.key
                ));
            }
        }
        Verdict::Pass
    }

    fn other_call(&self, method: &str) -> Verdict {
        if super::CALLS_WITHOUT_PLANS.contains(&method) {
            return Verdict::Pass;
        }
        let why = if method == "AddArtifacts" {
            "uploaded code (jars, Python files, UDFs) would run next to the clear data".to_string()
        } else {
            "jitgate does not know this call, so it cannot check what it reads".to_string()
        };
        refuse(format!(
            "jitgate refuses {method} to masked subjects: {why}"
        ))
    }

    fn secrets(&self) -> &[Vec<u8>] {
        &self.secrets
    }

    fn result_scanner(&self) -> Option<&Scanner> {
        // No detectors configured: nothing to run (and no batch to decode).
        Some(self.view.scanner()).filter(|s| !s.is_empty())
    }
}

fn refuse(message: impl Into<String>) -> Verdict {
    Verdict::Refuse(Status::new(Code::PermissionDenied, message))
}

/// One walk over a request: the tables whose schemas are still missing, and what was changed.
struct Walk<'a> {
    policy: &'a Masked,
    schemas: &'a Schemas,
    missing: Vec<TableRef>,
    rewrite: Rewrite,
    changed: bool,
}

type Walked = Result<(), Refusal>;

impl Walk<'_> {
    fn verdict(self, walked: Walked, commit: impl FnOnce()) -> Verdict {
        if let Err(refusal) = walked {
            return refuse(refusal.message);
        }
        if !self.missing.is_empty() {
            return Verdict::NeedSchemas(self.missing);
        }
        if !self.changed {
            return Verdict::Pass;
        }
        commit();
        Verdict::Rewritten(self.rewrite)
    }

    fn plan(&mut self, plan: &mut Plan) -> Walked {
        match plan.op_type.as_mut() {
            Some(OpType::Root(rel)) => self.relation(rel),
            Some(OpType::Command(cmd)) => self.command(cmd),
            Some(OpType::CompressedOperation(_)) => Err(refusal(
                "jitgate cannot check compressed plans: turn plan compression off \
                 (spark.connect.session.planCompression.threshold = -1)",
            )),
            None => Ok(()),
        }
    }

    fn analyze(&mut self, analyze: &mut Analyze) -> Walked {
        match analyze {
            Analyze::Schema(a) => self.opt_plan(&mut a.plan),
            Analyze::TreeString(a) => self.opt_plan(&mut a.plan),
            Analyze::IsLocal(a) => self.opt_plan(&mut a.plan),
            Analyze::IsStreaming(a) => self.opt_plan(&mut a.plan),
            Analyze::SemanticHash(a) => self.opt_plan(&mut a.plan),
            Analyze::SameSemantics(a) => {
                self.opt_plan(&mut a.target_plan)?;
                self.opt_plan(&mut a.other_plan)
            }
            Analyze::Persist(a) => self.opt_relation(&mut a.relation),
            Analyze::Unpersist(a) => self.opt_relation(&mut a.relation),
            Analyze::GetStorageLevel(a) => self.opt_relation(&mut a.relation),
            Analyze::SparkVersion(_) | Analyze::DdlParse(_) | Analyze::JsonToDdl(_) => Ok(()),
            Analyze::Explain(_) => Err(refusal(
                "jitgate refuses EXPLAIN to masked subjects: the plan shows the masking \
                 expressions, which embed key material",
            )),
            Analyze::InputFiles(_) => Err(refusal(
                "jitgate refuses inputFiles to masked subjects: it names the files behind \
                 protected tables",
            )),
        }
    }

    fn opt_plan(&mut self, plan: &mut Option<Plan>) -> Walked {
        match plan {
            Some(p) => self.plan(p),
            None => Ok(()),
        }
    }

    fn opt_relation(&mut self, rel: &mut Option<Relation>) -> Walked {
        match rel {
            Some(r) => self.relation(r),
            None => Ok(()),
        }
    }

    fn input(&mut self, rel: &mut Option<Box<Relation>>) -> Walked {
        match rel {
            Some(r) => self.relation(r),
            None => Ok(()),
        }
    }

    fn command(&mut self, cmd: &mut Command) -> Walked {
        let Some(kind) = cmd.command_type.as_mut() else {
            return Ok(());
        };
        match kind {
            CommandType::SqlCommand(c) => {
                #[allow(deprecated)] // Older clients send the text here rather than in `input`.
                if !c.sql.is_empty() {
                    let text = &mut c.sql;
                    self.sql_text(text)?;
                }
                self.expressions(c.named_arguments.values_mut())?;
                #[allow(deprecated)]
                self.expressions(c.pos_arguments.iter_mut())?;
                self.opt_relation(&mut c.input)
            }
            CommandType::CreateDataframeView(v) => {
                let parts = if v.is_global {
                    vec!["global_temp".to_string(), v.name.clone()]
                } else {
                    sql::parse_identifier(&v.name)?
                };
                let table = sql::resolve(&parts, &self.policy.namespace)?;
                if sql::is_protected(&self.policy.view, &table) {
                    return Err(refusal(format!(
                        "jitgate refuses a temporary view named {}: it would stand for a \
                         protected table",
                        v.name
                    )));
                }
                self.opt_relation(&mut v.input)
            }
            CommandType::CheckpointCommand(c) => self.opt_relation(&mut c.relation),
            CommandType::RemoveCachedRemoteRelationCommand(_)
            | CommandType::GetResourcesCommand(_) => Ok(()),
            CommandType::RegisterFunction(_)
            | CommandType::RegisterTableFunction(_)
            | CommandType::RegisterDataSource(_) => Err(refusal(
                "jitgate refuses registering functions and data sources to masked subjects: \
                 a function named like a built-in would see clear values",
            )),
            other => Err(refusal(format!(
                "jitgate refuses {} to masked subjects: only queries and temporary views are \
                 allowed",
                variant_name(other)
            ))),
        }
    }

    fn sql_text(&mut self, text: &mut String) -> Walked {
        let analysed = sql::analyse(text, &self.policy.namespace, &self.policy.view)?;
        if !self.need(analysed.protected()) {
            return Ok(());
        }
        let rewritten = analysed.rewrite(self.schemas)?;
        if rewritten != *text {
            let original = std::mem::replace(text, rewritten.clone());
            self.rewrite.sql_texts.push((rewritten, original));
            self.changed = true;
        }
        Ok(())
    }

    /// Whether every table's schema is at hand; the missing ones are noted.
    fn need(&mut self, tables: &[TableRef]) -> bool {
        let mut all = true;
        for t in tables {
            if !self.schemas.contains_key(t) {
                all = false;
                if !self.missing.contains(t) {
                    self.missing.push(t.clone());
                }
            }
        }
        all
    }

    fn relation(&mut self, rel: &mut Relation) -> Walked {
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
    fn mask_read(&mut self, rel: &mut Relation, table: &TableRef) -> Walked {
        if !self.need(std::slice::from_ref(table)) {
            return Ok(());
        }
        let Some(columns) = self.schemas.get(table) else {
            return Ok(());
        };
        let projection = sql::masking_projection(&self.policy.view, table, columns)?;
        let read = Relation {
            common: None,
            rel_type: rel.rel_type.take(),
        };
        let expressions = projection
            .into_iter()
            .map(|p| Expression {
                common: None,
                expr_type: Some(ExprType::Alias(Box::new(expression::Alias {
                    expr: Some(Box::new(Expression {
                        common: None,
                        expr_type: Some(ExprType::ExpressionString(expression::ExpressionString {
                            expression: p.expr_sql,
                        })),
                    })),
                    name: vec![p.name],
                    metadata: None,
                }))),
            })
            .collect();
        rel.rel_type = Some(RelType::Project(Box::new(Project {
            input: Some(Box::new(read)),
            expressions,
        })));
        self.changed = true;
        Ok(())
    }

    fn expressions<'e>(&mut self, exprs: impl Iterator<Item = &'e mut Expression>) -> Walked {
        for e in exprs {
            self.expression(e)?;
        }
        Ok(())
    }

    fn opt_expression(&mut self, e: &mut Option<Expression>) -> Walked {
        match e {
            Some(e) => self.expression(e),
            None => Ok(()),
        }
    }

    fn opt_boxed(&mut self, e: &mut Option<Box<Expression>>) -> Walked {
        match e {
            Some(e) => self.expression(e),
            None => Ok(()),
        }
    }

    fn expression(&mut self, e: &mut Expression) -> Walked {
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

fn refusal(message: impl Into<String>) -> Refusal {
    Refusal {
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jitgate_masking::{
        ColumnPattern, Glob, Mask, MaskKey, MaskingPolicy, MaskingRule, PolicySettings, SparkType,
        SubjectView,
    };
    use jitgate_spark_sql::{Column, ColumnType};
    use spark_connect_proto::analyze_plan_request;
    use spark_connect_proto::config_request::{self, Operation};
    use spark_connect_proto::{read, Filter, KeyValue, Plan, Read, RelationCommon, SqlCommand};

    fn policy() -> Masked {
        let rule = |column: &str, mask: Mask| MaskingRule {
            resource: Glob::new("lake").expect("glob"),
            column: ColumnPattern::parse(column).expect("pattern"),
            mask,
            clear_for: Vec::new(),
        };
        let settings = PolicySettings {
            key: MaskKey::new(&[7u8; 32], "test").expect("key"),
            clear_groups: Vec::new(),
            rules: vec![
                rule("default.people.ssn", Mask::Hash),
                rule("default.people.name", Mask::Redact),
            ],
            custom_detectors: Vec::new(),
            stream_detectors: None,
        };
        let policy = MaskingPolicy::from_config(settings).expect("policy");
        let SubjectView::Masked(view) = policy.view_for("lake", "alice", &[]) else {
            panic!("alice is masked");
        };
        Masked::new(
            view,
            Namespace {
                catalog: "spark_catalog".into(),
                database: "default".into(),
            },
        )
    }

    fn people() -> TableRef {
        sql::resolve(&["people".to_string()], &ns()).expect("resolves")
    }

    fn ns() -> Namespace {
        Namespace {
            catalog: "spark_catalog".into(),
            database: "default".into(),
        }
    }

    fn schemas() -> Schemas {
        let column = |name: &str, ty| Column {
            name: name.into(),
            ty: ColumnType::Known(ty),
        };
        Schemas::from([(
            people(),
            vec![
                column("id", SparkType::Int),
                column("name", SparkType::String),
                column("ssn", SparkType::String),
            ],
        )])
    }

    fn read_table(name: &str, plan_id: i64) -> Relation {
        Relation {
            common: Some(RelationCommon {
                plan_id: Some(plan_id),
                ..Default::default()
            }),
            rel_type: Some(RelType::Read(Read {
                is_streaming: false,
                read_type: Some(ReadType::NamedTable(read::NamedTable {
                    unparsed_identifier: name.into(),
                    options: Default::default(),
                })),
            })),
        }
    }

    fn execute(root: Relation) -> ExecutePlanRequest {
        ExecutePlanRequest {
            plan: Some(Plan {
                op_type: Some(OpType::Root(root)),
            }),
            ..Default::default()
        }
    }

    fn root(request: &ExecutePlanRequest) -> &Relation {
        match request.plan.as_ref().and_then(|p| p.op_type.as_ref()) {
            Some(OpType::Root(r)) => r,
            other => panic!("not a root plan: {other:?}"),
        }
    }

    fn expression_string(text: &str) -> Expression {
        Expression {
            common: None,
            expr_type: Some(ExprType::ExpressionString(expression::ExpressionString {
                expression: text.into(),
            })),
        }
    }

    fn refused(verdict: Verdict, words: &str) {
        match verdict {
            Verdict::Refuse(status) => {
                assert_eq!(status.code, Code::PermissionDenied);
                assert!(
                    status.message.contains(words),
                    "{words:?}: {}",
                    status.message
                );
            }
            other => panic!("expected a refusal with {words:?}, got {other:?}"),
        }
    }

    #[test]
    fn a_protected_read_needs_its_schema_first_and_is_left_alone_until_then() {
        let policy = policy();
        let mut request = execute(read_table("people", 7));
        let before = request.clone();
        assert_eq!(
            policy.execute(&mut request, &Schemas::new()),
            Verdict::NeedSchemas(vec![people()])
        );
        assert_eq!(request, before);
    }

    #[test]
    fn a_protected_read_becomes_a_masking_projection_that_takes_over_its_plan_id() {
        let policy = policy();
        let filter = Relation {
            common: None,
            rel_type: Some(RelType::Filter(Box::new(Filter {
                input: Some(Box::new(read_table("default.people", 7))),
                condition: Some(expression_string("ssn like '1%'")),
            }))),
        };
        let mut request = execute(filter);
        assert_eq!(
            policy.execute(&mut request, &schemas()),
            Verdict::Rewritten(Rewrite::default())
        );
        let Some(RelType::Filter(filter)) = root(&request).rel_type.as_ref() else {
            panic!("the filter stays on top");
        };
        let project = filter.input.as_deref().expect("input");
        assert_eq!(project.common.as_ref().and_then(|c| c.plan_id), Some(7));
        let Some(RelType::Project(project)) = project.rel_type.as_ref() else {
            panic!("a projection over the read: {project:?}");
        };
        let read = project.input.as_deref().expect("the read");
        assert!(read.common.is_none(), "the read gave its plan id away");
        assert!(matches!(read.rel_type, Some(RelType::Read(_))));
        let outputs: Vec<(String, String)> = project
            .expressions
            .iter()
            .map(|e| match e.expr_type.as_ref() {
                Some(ExprType::Alias(a)) => {
                    match a.expr.as_deref().and_then(|e| e.expr_type.as_ref()) {
                        Some(ExprType::ExpressionString(s)) => {
                            (a.name.join("."), s.expression.clone())
                        }
                        other => panic!("{other:?}"),
                    }
                }
                other => panic!("{other:?}"),
            })
            .collect();
        let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["id", "name", "ssn"], "column names and order kept");
        assert_eq!(outputs[0].1, "`id`", "clear columns are read as they are");
        assert!(outputs[2].1.contains("sha2"), "{}", outputs[2].1);
    }

    #[test]
    fn reads_of_other_tables_pass_untouched() {
        let mut request = execute(read_table("orders", 1));
        assert_eq!(
            policy().execute(&mut request, &Schemas::new()),
            Verdict::Pass
        );
    }

    #[test]
    fn sql_texts_are_rewritten_and_remembered_for_the_answer() {
        let policy = policy();
        let text = "SELECT ssn FROM people WHERE ssn LIKE '123%'";
        let mut request = ExecutePlanRequest {
            plan: Some(Plan {
                op_type: Some(OpType::Command(Command {
                    command_type: Some(CommandType::SqlCommand(SqlCommand {
                        input: Some(Relation {
                            common: None,
                            rel_type: Some(RelType::Sql(spark_connect_proto::Sql {
                                query: text.into(),
                                ..Default::default()
                            })),
                        }),
                        ..Default::default()
                    })),
                })),
            }),
            ..Default::default()
        };
        assert_eq!(
            policy.execute(&mut request.clone(), &Schemas::new()),
            Verdict::NeedSchemas(vec![people()])
        );
        let Verdict::Rewritten(rewrite) = policy.execute(&mut request, &schemas()) else {
            panic!("rewritten");
        };
        let [(sent, original)] = rewrite.sql_texts.as_slice() else {
            panic!("one text: {rewrite:?}");
        };
        assert_eq!(original, text);
        assert!(
            sent.contains("sha2") && sent.contains("WHERE ssn LIKE '123%'"),
            "{sent}"
        );
    }

    #[test]
    fn reads_around_the_masks_are_refused() {
        let policy = policy();
        let source = Relation {
            common: None,
            rel_type: Some(RelType::Read(Read {
                is_streaming: false,
                read_type: Some(ReadType::DataSource(read::DataSource {
                    format: Some("parquet".into()),
                    paths: vec!["/warehouse/people".into()],
                    ..Default::default()
                })),
            })),
        };
        refused(
            policy.execute(&mut execute(source), &schemas()),
            "data sources",
        );
        let udf = Relation {
            common: None,
            rel_type: Some(RelType::Project(Box::new(Project {
                input: Some(Box::new(read_table("people", 1))),
                expressions: vec![Expression {
                    common: None,
                    expr_type: Some(ExprType::CommonInlineUserDefinedFunction(Default::default())),
                }],
            }))),
        };
        refused(
            policy.execute(&mut execute(udf), &schemas()),
            "user-defined functions",
        );
        let subquery = Relation {
            common: None,
            rel_type: Some(RelType::Filter(Box::new(Filter {
                input: Some(Box::new(read_table("orders", 1))),
                condition: Some(expression_string("(SELECT max(ssn) FROM people) > 'a'")),
            }))),
        };
        assert!(matches!(
            policy.execute(&mut execute(subquery), &schemas()),
            Verdict::Refuse(_)
        ));
        let view = Command {
            command_type: Some(CommandType::CreateDataframeView(
                spark_connect_proto::CreateDataFrameViewCommand {
                    input: Some(read_table("orders", 1)),
                    name: "people".into(),
                    is_global: false,
                    replace: true,
                },
            )),
        };
        let mut request = ExecutePlanRequest {
            plan: Some(Plan {
                op_type: Some(OpType::Command(view)),
            }),
            ..Default::default()
        };
        refused(policy.execute(&mut request, &schemas()), "temporary view");
    }

    #[test]
    fn explain_and_input_files_are_refused_schemas_are_masked() {
        let policy = policy();
        let analyze = |a: Analyze| AnalyzePlanRequest {
            analyze: Some(a),
            ..Default::default()
        };
        let plan = || {
            Some(Plan {
                op_type: Some(OpType::Root(read_table("people", 1))),
            })
        };
        let mut explain = analyze(Analyze::Explain(analyze_plan_request::Explain {
            plan: plan(),
            explain_mode: 0,
        }));
        refused(policy.analyze(&mut explain, &schemas()), "EXPLAIN");
        let mut files = analyze(Analyze::InputFiles(analyze_plan_request::InputFiles {
            plan: plan(),
        }));
        refused(policy.analyze(&mut files, &schemas()), "inputFiles");
        let mut schema = analyze(Analyze::Schema(analyze_plan_request::Schema {
            plan: plan(),
        }));
        assert!(matches!(
            policy.analyze(&mut schema, &schemas()),
            Verdict::Rewritten(_)
        ));
    }

    #[test]
    fn configuration_that_changes_how_sql_is_read_is_refused() {
        let policy = policy();
        let set = |key: &str| ConfigRequest {
            operation: Some(Operation {
                op_type: Some(ConfigOp::Set(config_request::Set {
                    pairs: vec![KeyValue {
                        key: key.into(),
                        value: Some("true".into()),
                    }],
                    silent: None,
                })),
            }),
            ..Default::default()
        };
        refused(
            policy.config(&set("spark.sql.parser.escapedStringLiterals")),
            "escapedStringLiterals",
        );
        assert_eq!(
            policy.config(&set("spark.sql.session.timeZone")),
            Verdict::Pass
        );
        refused(policy.other_call("AddArtifacts"), "uploaded code");
        refused(policy.other_call("CloneSession"), "does not know");
        assert_eq!(policy.other_call("Interrupt"), Verdict::Pass);
        assert_eq!(policy.secrets().len(), 8, "four pads, two cases");
    }
}
