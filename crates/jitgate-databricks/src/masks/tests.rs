use super::*;
use jitgate_masking::{ColumnPattern, Glob, MaskKey, PolicySettings};

fn rule(pattern: &str, mask: Mask, clear_for: &[&str]) -> MaskingRule {
    MaskingRule {
        resource: Glob::new("dbx").expect("glob"),
        column: ColumnPattern::parse(pattern).expect("pattern"),
        mask,
        clear_for: clear_for
            .iter()
            .map(|p| Principal::parse(p).expect("principal"))
            .collect(),
    }
}

fn policy(rules: Vec<MaskingRule>) -> MaskingPolicy {
    MaskingPolicy::from_config(PolicySettings {
        key: MaskKey::new(&[7u8; 32], "test").expect("key"),
        clear_groups: vec!["dba".into()],
        rules,
        custom_detectors: Vec::new(),
        stream_detectors: None,
    })
    .expect("policy")
}

fn column(schema: &str, table: &str, name: &str, ty: &str) -> Column {
    Column {
        schema: schema.into(),
        table: table.into(),
        column: name.into(),
        data_type: ty.into(),
    }
}

#[test]
fn each_masked_column_gets_a_function_clear_for_its_groups_and_users() {
    let p = policy(vec![
        rule(
            "sales.*.email",
            Mask::Email,
            &["group:support", "user:alice"],
        ),
        rule("sales.customers.email", Mask::Redact, &[]),
    ]);
    let columns = [
        column("sales", "customers", "email", "string"),
        column("sales", "orders", "email", "string"),
        column("sales", "orders", "id", "bigint"),
    ];
    let ids = [("alice".to_string(), "alice@example.com".to_string())];
    let (compiled, refused) = compile(&p, "dbx", "main", &columns, &ids);
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(compiled.len(), 2, "the id column has no rule");
    // The more specific rule decides customers.email, and nobody but clear_groups is exempt.
    let customers = &compiled[0];
    assert_eq!(
        customers.body,
        "CASE WHEN is_account_group_member('dba') THEN v ELSE CASE WHEN (v) IS NULL THEN CAST(NULL AS string) ELSE CAST('***' AS string) END END"
    );
    let orders = &compiled[1];
    assert!(orders.body.starts_with(
        "CASE WHEN is_account_group_member('dba') OR is_account_group_member('support') \
         OR current_user() = 'alice@example.com' THEN v ELSE"
    ));
    assert!(orders
        .create
        .starts_with("CREATE OR REPLACE FUNCTION `main`.`sales`.`jitgate_mask_orders_email_"));
    assert!(orders
        .create
        .contains("(v string) RETURNS string COMMENT 'jitgate mask "));
}

#[test]
fn keyed_masks_and_types_without_a_spark_form_are_refused_not_compiled() {
    let p = policy(vec![
        rule("s.t.h", Mask::Hash, &[]),
        rule("s.t.m", Mask::Email, &[]),
    ]);
    let columns = [
        column("s", "t", "h", "string"),
        column("s", "t", "m", "map<string,int>"),
    ];
    let (compiled, refused) = compile(&p, "dbx", "main", &columns, &[]);
    assert!(compiled.is_empty());
    assert!(refused[0].reason.contains("keyed"), "{:?}", refused[0]);
    assert!(
        refused[1].reason.contains("map<string,int>"),
        "{:?}",
        refused[1]
    );
}

#[test]
fn names_and_literals_cannot_break_out_of_the_statement() {
    assert_eq!(string_literal("a'b\\c"), "'a\\'b\\\\c'");
    assert_eq!(quoted(&["ma`in", "s"]), "`ma``in`.`s`");
    let p = policy(vec![rule(
        "s.*.*",
        Mask::Redact,
        &["group:x') OR true OR ('"],
    )]);
    let (compiled, _) = compile(
        &p,
        "dbx",
        "main",
        &[column("s", "t`; DROP", "c", "int")],
        &[],
    );
    let m = &compiled[0];
    assert!(m
        .body
        .contains("is_account_group_member('x\\') OR true OR (\\'')"));
    assert!(function_name("t`; DROP", "c")
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_'));
}

#[test]
fn the_plan_creates_sets_replaces_drops_and_leaves_foreign_masks_alone() {
    let p = policy(vec![rule("s.t.*", Mask::Redact, &[])]);
    let columns = [
        column("s", "t", "a", "string"),
        column("s", "t", "b", "string"),
        column("s", "t", "c", "string"),
    ];
    let (compiled, _) = compile(&p, "dbx", "main", &columns, &[]);
    let [a, b, c] = [&compiled[0], &compiled[1], &compiled[2]];
    let masks = vec![
        // a: up to date.
        ExistingMask {
            schema: "s".into(),
            table: "t".into(),
            column: "a".into(),
            function: a.function.clone(),
        },
        // c: someone else's mask.
        ExistingMask {
            schema: "s".into(),
            table: "t".into(),
            column: "c".into(),
            function: "main.s.their_mask".into(),
        },
        // d: a jitgate mask no rule wants.
        ExistingMask {
            schema: "s".into(),
            table: "u".into(),
            column: "d".into(),
            function: "main.s.jitgate_mask_u_d_00000000".into(),
        },
    ];
    let functions = vec![
        ExistingFunction {
            function: a.function.clone(),
            comment: a.comment.clone(),
        },
        // b's function exists with an older body.
        ExistingFunction {
            function: b.function.clone(),
            comment: "jitgate mask old".into(),
        },
    ];
    let (statements, conflicts) = plan("main", &compiled, &masks, &functions);
    let sql: Vec<&str> = statements.iter().map(|s| s.sql.as_str()).collect();
    assert_eq!(sql.len(), 3, "{sql:#?}");
    assert_eq!(sql[0], b.create);
    assert!(sql[1].starts_with(
        "ALTER TABLE `main`.`s`.`t` ALTER COLUMN `b` SET MASK `main`.`s`.`jitgate_mask_t_b_"
    ));
    assert_eq!(
        sql[2],
        "ALTER TABLE `main`.`s`.`u` ALTER COLUMN `d` DROP MASK"
    );
    assert!(conflicts[0].contains("main.s.their_mask"));
    let _ = c;
}
