//! `[masking]`: the policy it produces, and where its errors point.

use jitgate_masking::{Generalization, Mask, SubjectView};

use crate::*;

/// One resource, ending on line 8; the masking sections under test start on line 9.
const BASE: &str = r#"[resources.prod-pg]
kind = "postgres"
listen = "127.0.0.1:6432"

[resources.prod-pg.upstream]
host = "127.0.0.1"
database = "app"
user = "svc"
"#;

fn parse_ok(text: &str) -> Config {
    tests::parse_ok(&format!("{BASE}{text}"))
}

fn error(text: &str) -> String {
    tests::error(&format!("{BASE}{text}"))
}

#[test]
fn full_masking_section_builds_the_policy() {
    std::env::set_var("JITGATE_TEST_MASK_KEY", "a masking key of enough bytes");
    let config = parse_ok(
        r##"[masking]
key_env = "JITGATE_TEST_MASK_KEY"
clear_groups = ["admins"]

[[masking.rules]]
resource = "prod-*"
column = "public.customers.ssn"
mask = "partial"
keep_last = 4
pad = "#"
clear_for = ["group:hr", "user:erin"]

[[masking.rules]]
resource = "prod-pg"
column = "*.*.email"
mask = "hash"

[[masking.rules]]
resource = "*"
column = "public.people.born"
mask = "generalize"
granularity = "year"

[[masking.rules]]
resource = "*"
column = "public.people.salary"
mask = "generalize"
bucket = 10_000

[[masking.detectors]]
name = "employee_id"
pattern = "EMP-[0-9]{6}"

[masking.stream]
detectors = ["ssn", "card", "employee_id"]
"##,
    );
    let policy = &config.masking;
    assert_eq!(policy.rules().len(), 4);
    assert_eq!(policy.key().origin(), "env JITGATE_TEST_MASK_KEY");
    assert_eq!(policy.clear_groups(), ["admins"]);
    assert_eq!(
        policy.rules()[0].mask,
        Mask::Partial {
            keep_first: 0,
            keep_last: 4,
            pad: '#'
        }
    );
    assert_eq!(
        policy.rules()[3].mask,
        Mask::Generalize(Generalization::Bucket(10_000))
    );
    let SubjectView::Masked(view) = policy.view_for("prod-pg", "ann", &[]) else {
        panic!("ann sees masked values");
    };
    assert_eq!(
        view.mask_for("public", "customers", "email"),
        Some(&Mask::Hash)
    );
    assert_eq!(
        view.mask_for("public", "people", "born"),
        Some(&Mask::Generalize(Generalization::Year))
    );
    let found = policy
        .scanner()
        .scan("id EMP-123456, ip 10.0.0.1, SSN 123-45-6789");
    let kinds: Vec<&str> = found.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        ["employee_id", "ssn"],
        "ip is not among the stream detectors"
    );
    assert!(matches!(
        policy.view_for("prod-pg", "root", &["admins".into()]),
        SubjectView::Clear
    ));
    let described = config.describe();
    assert!(described.contains("masking key: env JITGATE_TEST_MASK_KEY"));
    assert!(!described.contains("a masking key of enough bytes"));
}

#[test]
fn absent_section_masks_nothing() {
    let config = parse_ok("");
    assert!(config.masking.rules().is_empty());
    assert!(matches!(
        config.masking.view_for("prod-pg", "ann", &[]),
        SubjectView::Clear
    ));
}

#[test]
fn errors_point_at_the_masking_key() {
    let rule = |body: &str| format!("[[masking.rules]]\nresource = \"prod-pg\"\n{body}");
    let cases = [
        (
            rule("column = \"customers.ssn\"\nmask = \"redact\"\n"),
            "jitgate.toml:11:10: masking.rules[0].column: expected schema.table.column",
        ),
        (
            rule("column = \"*.*.ssn\"\nmask = \"shuffle\"\n"),
            "jitgate.toml:12:8: masking.rules[0].mask: expected one of \"redact\"",
        ),
        (
            rule("column = \"*.*.ssn\"\nmask = \"redact\"\nkeep_last = 4\n"),
            "jitgate.toml:13:1: masking.rules[0].keep_last: keep_last only applies to mask = \"partial\"",
        ),
        (
            rule("column = \"*.*.ssn\"\nmask = \"hash\"\n"),
            "jitgate.toml:12:8: masking.rules[0].mask: the hash mask needs a key",
        ),
        (
            rule("column = \"*.*.ssn\"\nmask = \"generalize\"\n"),
            "jitgate.toml:12:8: masking.rules[0].mask: the generalize mask needs granularity",
        ),
        (
            rule("column = \"*.*.ssn\"\nmask = \"partial\"\npad = \"**\"\n"),
            "jitgate.toml:13:7: masking.rules[0].pad: pad is a single character",
        ),
        (
            rule("column = \"*.*.ssn\"\nmask = \"redact\"\nclear_for = [\"hr\"]\n"),
            "jitgate.toml:13:14: masking.rules[0].clear_for[0]: expected \"user:NAME\" or \"group:NAME\"",
        ),
        (
            "[[masking.rules]]\nresource = \"staging\"\ncolumn = \"*.*.x\"\nmask = \"null\"\n".to_string(),
            "jitgate.toml:10:12: masking.rules[0].resource: no resource \"staging\"",
        ),
        (
            "[masking]\nkey_env = \"JITGATE_TEST_MASK_UNSET\"\n".to_string(),
            "jitgate.toml:10:11: masking.key_env: environment variable JITGATE_TEST_MASK_UNSET is not set",
        ),
        (
            "[[masking.detectors]]\nname = \"emp\"\npattern = \"EMP-(\"\n".to_string(),
            "jitgate.toml:11:11: masking.detectors[0].pattern: invalid pattern",
        ),
        (
            "[[masking.detectors]]\nname = \"ssn\"\npattern = \"x\"\n".to_string(),
            "jitgate.toml:10:8: masking.detectors[0].name: \"ssn\" is a built-in detector",
        ),
        (
            "[masking.stream]\ndetectors = [\"ssn\", \"passport\"]\n".to_string(),
            "jitgate.toml:10:21: masking.stream.detectors[1]: unknown detector \"passport\"",
        ),
    ];
    for (text, want) in cases {
        let got = error(&text);
        assert!(
            got.starts_with(want),
            "for:\n{text}\nwant: {want}\n got: {got}"
        );
    }
}

#[test]
fn weak_keys_are_refused() {
    std::env::set_var("JITGATE_TEST_MASK_WEAK", "short");
    let got = error("[masking]\nkey_env = \"JITGATE_TEST_MASK_WEAK\"\n");
    assert!(
        got.starts_with("jitgate.toml:10:11: masking.key_env: the masking key has 5 bytes"),
        "{got}"
    );
}

/// Tools that mask outside the gateway read `[masking]` alone: the same policy and key as the
/// gateway, without the secrets of other sections (an upstream password whose variable is not
/// set), and errors still point at the masking line that is wrong.
#[test]
fn masking_alone_reads_the_same_policy_without_other_secrets() {
    std::env::set_var(
        "JITGATE_TEST_MASK_KEY_ALONE",
        "a masking key of enough bytes",
    );
    let text = format!(
        "{BASE}password_env = \"JITGATE_TEST_UNSET_PASSWORD\"\n{}",
        r#"[masking]
key_env = "JITGATE_TEST_MASK_KEY_ALONE"

[[masking.rules]]
resource = "prod-pg"
column = "public.customers.ssn"
mask = "hash"
"#
    );
    let path = std::path::Path::new("jitgate.toml");
    assert!(
        parse(&text, path).is_err(),
        "the full parse needs the password"
    );
    let alone = parse_masking(&text, path).expect("masking alone");
    assert_eq!(alone.resources, ["prod-pg"]);
    let SubjectView::Masked(view) = alone.masking.view_for("prod-pg", "ann", &[]) else {
        panic!("ann is masked");
    };
    assert_eq!(
        view.mask_for("public", "customers", "ssn"),
        Some(&Mask::Hash)
    );
    assert_eq!(view.key().origin(), "env JITGATE_TEST_MASK_KEY_ALONE");

    let wrong = text.replace("resource = \"prod-pg\"", "resource = \"prod\"");
    let err = parse_masking(&wrong, path)
        .expect_err("unknown resource")
        .to_string();
    assert!(
        err.contains("jitgate.toml:14:") && err.contains("no resource \"prod\""),
        "{err}"
    );
}
