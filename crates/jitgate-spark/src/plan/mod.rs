//! What jitgate reads from and does to Spark Connect plans: a readable summary for the audit
//! trail ([`summarize`]), and the plan policy that passes, rewrites or refuses each request
//! before the upstream sees it ([`PlanPolicy`]). Masked subjects get [`Masked`]: mask before
//! evaluate, for DataFrame plans and SQL texts alike.

mod masked;
mod summary;

use std::collections::HashMap;

use jitgate_masking::Scanner;
use jitgate_spark_sql::{Column, TableRef};
use spark_connect_proto::{AnalyzePlanRequest, ConfigRequest, ExecutePlanRequest};

use crate::grpc::{Code, Status};

pub use masked::Masked;
pub use summary::summarize;
pub(crate) use summary::variant_name;

/// The columns of the tables a policy asked about, as the upstream's catalog has them.
pub type Schemas = HashMap<TableRef, Vec<Column>>;

/// What a plan policy decided about one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Forward the request bytes as the client sent them.
    Pass,
    /// The policy changed the decoded request: forward it re-encoded.
    Rewritten(Rewrite),
    /// Answer the client with this status; nothing reaches the upstream.
    Refuse(Status),
    /// The policy needs these tables' columns to decide: ask again with them in the schemas.
    NeedSchemas(Vec<TableRef>),
}

/// What the front must know about a rewritten request to answer the client.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rewrite {
    /// SQL texts sent in place of the client's, as (sent, client's). The upstream echoes a
    /// query's text back (a `SqlCommandResult` relation the client later sends again): the
    /// client must get its own text back, both so that it is masked once more when it comes
    /// back and because the sent text holds the masking expressions.
    pub sql_texts: Vec<(String, String)>,
}

/// Decides, per subject and session, what happens to the calls of a connection. Called with
/// decoded requests before anything is forwarded; pure (the front does the I/O, such as reading
/// table schemas from the upstream when a policy asks for them).
pub trait PlanPolicy: Send + Sync {
    fn execute(&self, request: &mut ExecutePlanRequest, schemas: &Schemas) -> Verdict;
    fn analyze(&self, request: &mut AnalyzePlanRequest, schemas: &Schemas) -> Verdict;
    /// `Config` calls: setting some keys would undo masking.
    fn config(&self, request: &ConfigRequest) -> Verdict;
    /// Every other call, by method name (artifact uploads, interrupts, …, and the calls of a
    /// newer Spark that jitgate does not know, which could carry a plan it never looked at).
    fn other_call(&self, method: &str) -> Verdict;
    /// Texts that must never reach the client (key material inside masking expressions):
    /// scrubbed from the upstream's answers.
    fn secrets(&self) -> &[Vec<u8>] {
        &[]
    }
    /// Whether answers go through [`crate::edit`] (SQL texts put back, detectors, blotting):
    /// such sessions must not be sent compressed answers jitgate could not read.
    fn edits_answers(&self) -> bool {
        false
    }
    /// The content detectors result batches go through (masked subjects).
    fn result_scanner(&self) -> Option<&Scanner> {
        None
    }
}

/// The calls of `SparkConnectService` that carry no plan and change nothing about what a
/// session may read.
pub const CALLS_WITHOUT_PLANS: [&str; 6] = [
    "ArtifactStatus",
    "Interrupt",
    "ReattachExecute",
    "ReleaseExecute",
    "ReleaseSession",
    "FetchErrorDetails",
];

/// Subjects who see everything in clear: plans pass untouched.
/// The refusal of a Config call that reads what masked and read-only subjects may not learn:
/// every setting at once (`GetAll`: Spark answers with the cluster's values unredacted, storage
/// credentials included), or a key that looks like a credential
/// ([`jitgate_spark_sql::may_read`]).
pub(crate) fn config_read_refused(request: &ConfigRequest) -> Option<Verdict> {
    use spark_connect_proto::config_request::operation::OpType;
    let op = request.operation.as_ref()?.op_type.as_ref()?;
    let keys: Vec<&str> =
        match op {
            OpType::GetAll(_) => return Some(Verdict::Refuse(Status::new(
                Code::PermissionDenied,
                "jitgate refuses listing every setting (spark.conf.getAll): Spark answers with \
                 credentials unredacted; ask for settings by name, or run SQL SET, which \
                 redacts them",
            ))),
            OpType::Get(g) => g.keys.iter().map(String::as_str).collect(),
            OpType::GetOption(g) => g.keys.iter().map(String::as_str).collect(),
            OpType::GetWithDefault(g) => g.pairs.iter().map(|p| p.key.as_str()).collect(),
            OpType::Set(_) | OpType::Unset(_) | OpType::IsModifiable(_) => return None,
        };
    let key = keys.into_iter().find(|k| !jitgate_spark_sql::may_read(k))?;
    Some(Verdict::Refuse(Status::new(
        Code::PermissionDenied,
        format!("jitgate refuses reading {key}: it looks like a credential"),
    )))
}

pub struct Clear;

impl PlanPolicy for Clear {
    fn execute(&self, _: &mut ExecutePlanRequest, _: &Schemas) -> Verdict {
        Verdict::Pass
    }
    fn analyze(&self, _: &mut AnalyzePlanRequest, _: &Schemas) -> Verdict {
        Verdict::Pass
    }
    fn config(&self, _: &ConfigRequest) -> Verdict {
        Verdict::Pass
    }
    fn other_call(&self, _: &str) -> Verdict {
        Verdict::Pass
    }
}

/// Subjects whose access needs a check jitgate cannot make on Spark plans (read-only grants):
/// every plan is refused rather than evaluated unchecked.
pub struct FailClosed {
    pub message: String,
}

impl FailClosed {
    fn refuse(&self) -> Verdict {
        Verdict::Refuse(Status::new(Code::PermissionDenied, self.message.clone()))
    }
}

impl PlanPolicy for FailClosed {
    fn execute(&self, _: &mut ExecutePlanRequest, _: &Schemas) -> Verdict {
        self.refuse()
    }
    fn analyze(&self, _: &mut AnalyzePlanRequest, _: &Schemas) -> Verdict {
        self.refuse()
    }
    fn config(&self, request: &ConfigRequest) -> Verdict {
        config_read_refused(request).unwrap_or(Verdict::Pass)
    }
    fn other_call(&self, method: &str) -> Verdict {
        if CALLS_WITHOUT_PLANS.contains(&method) {
            return Verdict::Pass;
        }
        Verdict::Refuse(Status::new(
            Code::PermissionDenied,
            format!("{method}: {}", self.message),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_closed_refuses_plans_and_unknown_calls_clear_passes_them() {
        let closed = FailClosed {
            message: "read-only".into(),
        };
        let schemas = Schemas::new();
        let mut execute = ExecutePlanRequest::default();
        assert!(
            matches!(closed.execute(&mut execute, &schemas), Verdict::Refuse(s) if s.code == Code::PermissionDenied)
        );
        assert!(matches!(
            closed.analyze(&mut AnalyzePlanRequest::default(), &schemas),
            Verdict::Refuse(_)
        ));
        assert!(
            matches!(closed.other_call("CloneSession"), Verdict::Refuse(s) if s.message == "CloneSession: read-only")
        );
        assert_eq!(closed.other_call("Interrupt"), Verdict::Pass);
        assert_eq!(Clear.execute(&mut execute, &schemas), Verdict::Pass);
        assert_eq!(Clear.other_call("CloneSession"), Verdict::Pass);
    }
}
