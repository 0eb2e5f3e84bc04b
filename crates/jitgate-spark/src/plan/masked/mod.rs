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

mod tree;
mod walk;

use jitgate_masking::{MaskedView, Scanner};
use jitgate_spark_sql::{self as sql, Namespace};
use spark_connect_proto::config_request::operation::OpType as ConfigOp;
use spark_connect_proto::{AnalyzePlanRequest, ConfigRequest, ExecutePlanRequest};

use super::{PlanPolicy, Rewrite, Schemas, Verdict};
use crate::grpc::{Code, Status};
use walk::Walk;

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
        if let Some(refused) = super::config_read_refused(request) {
            return refused;
        }
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

    fn edits_answers(&self) -> bool {
        true
    }

    fn result_scanner(&self) -> Option<&Scanner> {
        // No detectors configured: nothing to run (and no batch to decode).
        Some(self.view.scanner()).filter(|s| !s.is_empty())
    }
}

fn refuse(message: impl Into<String>) -> Verdict {
    Verdict::Refuse(Status::new(Code::PermissionDenied, message))
}

#[cfg(test)]
mod tests;
