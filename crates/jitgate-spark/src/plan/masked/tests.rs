//! The masked plan policy on hand-built plans: what is wrapped, rewritten, asked for and
//! refused.

use super::*;
use jitgate_masking::{
    ColumnPattern, Glob, Mask, MaskKey, MaskingPolicy, MaskingRule, PolicySettings, SparkType,
    SubjectView,
};
use jitgate_spark_sql::{Column, ColumnType, TableRef};
use spark_connect_proto::analyze_plan_request::{self, Analyze};
use spark_connect_proto::command::CommandType;
use spark_connect_proto::config_request::{self, Operation};
use spark_connect_proto::expression::{self, ExprType};
use spark_connect_proto::plan::OpType;
use spark_connect_proto::read::ReadType;
use spark_connect_proto::relation::RelType;
use spark_connect_proto::{
    read, Command, Expression, Filter, KeyValue, Plan, Project, Read, Relation, RelationCommon,
    SqlCommand,
};

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
                    Some(ExprType::ExpressionString(s)) => (a.name.join("."), s.expression.clone()),
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

/// `spark.read.option("path", <a protected table's files>).table("open")` would read the
/// protected table's data under an unprotected table's name: read options on tables are refused,
/// whichever table is named.
#[test]
fn read_options_on_tables_are_refused() {
    let policy = policy();
    for name in ["open", "people"] {
        let mut read = read_table(name, 1);
        if let Some(RelType::Read(Read {
            read_type: Some(ReadType::NamedTable(t)),
            ..
        })) = read.rel_type.as_mut()
        {
            t.options
                .insert("path".into(), "spark-warehouse/people".into());
        }
        refused(
            policy.execute(&mut execute(read), &schemas()),
            "read options",
        );
    }
    let mut plain = execute(read_table("open", 1));
    assert_eq!(policy.execute(&mut plain, &schemas()), Verdict::Pass);
}
