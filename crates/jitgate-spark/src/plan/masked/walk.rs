//! One walk over a request: plans, analyses, commands and SQL texts, the schemas still
//! missing, and the masking projections put over protected reads.

use jitgate_spark_sql::{self as sql, Refusal, TableRef};
use spark_connect_proto::analyze_plan_request::Analyze;
use spark_connect_proto::command::CommandType;
use spark_connect_proto::expression::{self, ExprType};
use spark_connect_proto::plan::OpType;
use spark_connect_proto::relation::RelType;
use spark_connect_proto::{Command, Expression, Plan, Project, Relation};

use super::{refuse, Masked};
use crate::plan::{variant_name, Rewrite, Schemas, Verdict};

/// One walk over a request: the tables whose schemas are still missing, and what was changed.
pub(super) struct Walk<'a> {
    pub(super) policy: &'a Masked,
    pub(super) schemas: &'a Schemas,
    pub(super) missing: Vec<TableRef>,
    pub(super) rewrite: Rewrite,
    pub(super) changed: bool,
}

pub(super) type Walked = Result<(), Refusal>;

impl Walk<'_> {
    pub(super) fn verdict(self, walked: Walked, commit: impl FnOnce()) -> Verdict {
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

    pub(super) fn plan(&mut self, plan: &mut Plan) -> Walked {
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

    pub(super) fn analyze(&mut self, analyze: &mut Analyze) -> Walked {
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

    pub(super) fn opt_plan(&mut self, plan: &mut Option<Plan>) -> Walked {
        match plan {
            Some(p) => self.plan(p),
            None => Ok(()),
        }
    }

    pub(super) fn opt_relation(&mut self, rel: &mut Option<Relation>) -> Walked {
        match rel {
            Some(r) => self.relation(r),
            None => Ok(()),
        }
    }

    pub(super) fn input(&mut self, rel: &mut Option<Box<Relation>>) -> Walked {
        match rel {
            Some(r) => self.relation(r),
            None => Ok(()),
        }
    }

    pub(super) fn command(&mut self, cmd: &mut Command) -> Walked {
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

    pub(super) fn sql_text(&mut self, text: &mut String) -> Walked {
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
    pub(super) fn need(&mut self, tables: &[TableRef]) -> bool {
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

    pub(super) fn mask_read(&mut self, rel: &mut Relation, table: &TableRef) -> Walked {
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
}

pub(super) fn refusal(message: impl Into<String>) -> Refusal {
    Refusal {
        message: message.into(),
    }
}
