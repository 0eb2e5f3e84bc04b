//! Shared fixtures of the unit tests: a policy masking `default.people` (ssn redacted, email
//! with the email mask, phone hashed) and `hr.salaries.amount`.

use jitgate_masking::{
    ColumnPattern, Glob, Mask, MaskKey, MaskedView, MaskingPolicy, MaskingRule, PolicySettings,
    SubjectView,
};

use crate::{resolve, Namespace, TableRef};

fn rule(column: &str, mask: Mask) -> MaskingRule {
    MaskingRule {
        resource: Glob::new("*").expect("glob"),
        column: ColumnPattern::parse(column).expect("pattern"),
        mask,
        clear_for: Vec::new(),
    }
}

pub fn view() -> MaskedView {
    let policy = MaskingPolicy::from_config(PolicySettings {
        key: MaskKey::new(&[7u8; 32], "test").expect("key"),
        clear_groups: Vec::new(),
        rules: vec![
            rule("default.people.ssn", Mask::Redact),
            rule("default.people.email", Mask::Email),
            rule("default.people.phone", Mask::Hash),
            rule("hr.salaries.amount", Mask::Null),
        ],
        custom_detectors: Vec::new(),
        stream_detectors: None,
    })
    .expect("policy");
    match policy.view_for("spark", "ann", &[]) {
        SubjectView::Masked(v) => v,
        SubjectView::Clear => panic!("expected a masked view"),
    }
}

pub fn ns() -> Namespace {
    Namespace {
        catalog: "spark_catalog".into(),
        database: "default".into(),
    }
}

pub fn people() -> TableRef {
    resolve(&["people".to_string()], &ns()).expect("resolves")
}
