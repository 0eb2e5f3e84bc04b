//! `[api]`, `[users]`, `[roles]`, `[[access]]`, `[[webhooks]]` and `[[alerts]]`: the model they
//! produce, their defaults, and where their errors point.

use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::tests::{error, parse_ok};
use crate::*;

/// One resource, ending on line 8; the sections under test start on line 10.
const BASE: &str = r#"[resources.prod-pg]
kind = "postgres"
listen = "127.0.0.1:6432"

[resources.prod-pg.upstream]
host = "127.0.0.1"
database = "app"
user = "svc"
"#;

/// A cheap argon2id PHC string (tests need not pay the real cost).
fn cheap_hash(password: &str) -> String {
    let params = Params::new(8, 1, 1, None).expect("argon2 parameters");
    let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .expect("hash")
        .to_string()
}

#[test]
fn full_policy_parses_into_the_model() {
    std::env::set_var("JITGATE_TEST_BOB_PW", "bob-plain-password");
    std::env::set_var("JITGATE_TEST_HOOK_SECRET", "hook-secret-value");
    let hash = cheap_hash("alice-password");
    let text = format!(
        r#"{BASE}
[api]
listen = "127.0.0.1:9090"
token_ttl = "2h"
pending_ttl = "15m"
header_timeout = "5s"
body_timeout = "20s"
max_connections = 64

[users.alice]
password_hash = "{hash}"
groups = ["analysts"]

[users."bob@corp"]
password_env = "JITGATE_TEST_BOB_PW"
groups = ["dba", "oncall"]

[roles]
approver = ["dba"]
admin = ["admins"]

[[access]]
resources = ["prod-pg"]
requesters = ["group:analysts", "user:bob@corp"]
max_duration = "30m"
approvals = 2
approver_groups = ["dba", "leads"]
auto_approve_groups = ["oncall"]
window = "22:00-06:00"
read_only = true

[[access]]
resources = ["*"]
requesters = ["*"]
max_duration = "5m"
approvals = 0

[[webhooks]]
url = "https://hooks.example.com/services/T0/B0/token"
format = "slack"
events = ["request.*", "alert.*"]
secret_env = "JITGATE_TEST_HOOK_SECRET"
timeout = "2s"

[[webhooks]]
url = "http://127.0.0.1:9000/hook"

[[alerts]]
kind = "long_statement"
resource = "prod-*"
threshold = "30s"

[[alerts]]
kind = "session_near_expiry"
before = "5m"

[[alerts]]
kind = "failed_logins"
count = 5
within = "1m"

[[alerts]]
kind = "masked_refusals"
count = 3
within = "10m"
"#
    );
    let config = parse_ok(&text);

    assert_eq!(config.api.listen.to_string(), "127.0.0.1:9090");
    assert_eq!(config.api.token_ttl, Duration::from_secs(7200));
    assert_eq!(config.api.pending_ttl, Duration::from_secs(900));
    assert_eq!(config.api.header_timeout, Duration::from_secs(5));
    assert_eq!(config.api.body_timeout, Duration::from_secs(20));
    assert_eq!(config.api.max_connections, 64);

    let alice = &config.users[0];
    assert_eq!(
        (alice.name.as_str(), alice.groups.as_slice()),
        ("alice", &["analysts".to_string()][..])
    );
    assert_eq!(alice.password_hash.expose(), hash);
    assert_eq!(alice.password_hash.origin(), "inline hash");
    let bob = &config.users[1];
    assert_eq!(bob.name, "bob@corp");
    assert_eq!(
        bob.password_hash.origin(),
        "env JITGATE_TEST_BOB_PW (hashed at load)"
    );
    let parsed = PasswordHash::new(bob.password_hash.expose()).expect("a PHC string");
    assert!(Argon2::default()
        .verify_password(b"bob-plain-password", &parsed)
        .is_ok());

    assert_eq!(config.roles.approver, ["dba"]);
    assert_eq!(config.roles.admin, ["admins"]);

    let rule = &config.access[0];
    assert_eq!(rule.resources, ["prod-pg"]);
    assert_eq!(
        rule.requesters,
        [
            Requester::Group("analysts".into()),
            Requester::User("bob@corp".into())
        ]
    );
    assert_eq!(rule.max_duration, Duration::from_secs(1800));
    assert_eq!(rule.approvals, 2);
    assert_eq!(rule.approver_groups, ["dba", "leads"]);
    assert_eq!(rule.auto_approve_groups, ["oncall"]);
    assert_eq!(
        rule.window,
        Some(TimeWindow {
            start: 22 * 60,
            end: 6 * 60
        })
    );
    assert!(rule.read_only);
    assert!(rule.matches("bob@corp", &[], "prod-pg"));
    assert!(rule.matches("carol", &["analysts".into()], "prod-pg"));
    assert!(!rule.matches("carol", &["sales".into()], "prod-pg"));
    let open = &config.access[1];
    assert_eq!(
        (open.approvals, open.requesters.as_slice()),
        (0, &[Requester::Anyone][..])
    );
    assert!(open.matches("anyone", &[], "whatever"));

    let slack = &config.webhooks[0];
    assert_eq!(slack.format, WebhookFormat::Slack);
    assert_eq!(slack.events, ["request.*", "alert.*"]);
    assert_eq!(slack.timeout, Duration::from_secs(2));
    let secret = slack.secret.as_ref().expect("secret");
    assert_eq!(
        (secret.expose(), secret.origin()),
        ("hook-secret-value", "env JITGATE_TEST_HOOK_SECRET")
    );
    assert_eq!(slack.origin(), "https://hooks.example.com");
    let plain = &config.webhooks[1];
    assert_eq!(
        (plain.format, plain.timeout),
        (WebhookFormat::Json, Duration::from_secs(5))
    );
    assert_eq!(plain.events, DEFAULT_WEBHOOK_EVENTS);
    assert!(plain.secret.is_none());

    let kinds: Vec<AlertKind> = config.alerts.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [
            AlertKind::LongStatement {
                threshold: Duration::from_secs(30),
                cancel: false,
            },
            AlertKind::SessionNearExpiry {
                before: Duration::from_secs(300)
            },
            AlertKind::FailedLogins {
                count: 5,
                within: Duration::from_secs(60)
            },
            AlertKind::MaskedRefusals {
                count: 3,
                within: Duration::from_secs(600)
            },
        ]
    );
    assert_eq!(config.alerts[0].resource.as_deref(), Some("prod-*"));
    assert_eq!(config.alerts[1].resource, None);
}

#[test]
fn policy_defaults() {
    let config = parse_ok(BASE);
    assert_eq!(config.api.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.api.token_ttl, Duration::from_secs(12 * 3600));
    assert_eq!(config.api.pending_ttl, Duration::from_secs(3600));
    // Idle and half-sent connections are bounded even when the file says nothing.
    assert_eq!(config.api.header_timeout, Duration::from_secs(10));
    assert_eq!(config.api.body_timeout, Duration::from_secs(30));
    assert_eq!(config.api.max_connections, 128);
    assert!(config.users.is_empty() && config.access.is_empty());
    assert_eq!(config.roles, Roles::default());
    assert!(config.webhooks.is_empty() && config.alerts.is_empty());

    let rule = parse_ok(&format!(
        "{BASE}\n[roles]\napprover = [\"dba\"]\n\n[[access]]\nresources = [\"prod-pg\"]\nrequesters = [\"*\"]\nmax_duration = \"1h\"\n"
    ))
    .access
    .remove(0);
    assert_eq!(rule.approvals, 1, "one approval unless said otherwise");
    assert_eq!(
        rule.approver_groups,
        ["dba"],
        "default: the approver role's groups"
    );
    assert!(rule.auto_approve_groups.is_empty());
    assert_eq!((rule.window, rule.read_only), (None, false));
}

/// `[[access]]` with `body`, whose first line is line 11.
fn access(body: &str) -> String {
    format!("{BASE}\n[[access]]\n{body}")
}

const RULE: &str = "resources = [\"prod-pg\"]\nrequesters = [\"*\"]\nmax_duration = \"30m\"\napprover_groups = [\"dba\"]\n";

#[test]
fn policy_errors_name_file_line_column_and_key() {
    let cases = [
        (access(&RULE.replace("[\"prod-pg\"]", "[\"prod-pg\", \"nope\"]")), r#"jitgate.toml:11:25: access[0].resources[1]: no resource "nope"; known resources: prod-pg"#),
        (access(&RULE.replace("[\"prod-pg\"]", "[]")), "jitgate.toml:11:13: access[0].resources: expected at least one entry"),
        (access(&RULE.replace("[\"*\"]", "[\"*\", \"bob\"]")), r#"jitgate.toml:12:20: access[0].requesters[1]: expected "user:NAME", "group:NAME" or "*", found "bob""#),
        (access(&RULE.replace("\"30m\"", "\"0s\"")), r#"jitgate.toml:13:16: access[0].max_duration: expected a positive duration such as "30s" or "5m", found "0s""#),
        (access(&format!("{RULE}approvals = 11\n")), "jitgate.toml:15:13: access[0].approvals: expected an integer from 0 to 10, found 11"),
        (access(&format!("{RULE}window = \"8-18\"\n")), r#"jitgate.toml:15:10: access[0].window: expected a UTC time-of-day range such as "08:00-18:00", found "8-18""#),
        (access(&format!("{RULE}window = \"08:00-08:00\"\n")), r#"jitgate.toml:15:10: access[0].window: expected a UTC time-of-day range"#),
        (access(&format!("{RULE}read_only = \"yes\"\n")), r#"jitgate.toml:15:13: access[0].read_only: expected true or false, found "yes""#),
        (access(&format!("{RULE}approver_groups2 = []\n")), "jitgate.toml:15:1: access[0].approver_groups2: unknown key; valid keys are: resources,"),
        (access(&format!("{RULE}auto_approve_groups = [\"\"]\n")), r#"jitgate.toml:15:24: access[0].auto_approve_groups[0]: expected a non-empty string, found """#),
        (access(&RULE.replace("approver_groups = [\"dba\"]\n", "")), "jitgate.toml:10:1: access[0]: this rule needs 1 approval(s) but nobody may give them"),
        (format!("access = 1\n{BASE}"), "jitgate.toml:1:10: access: expected an array, found 1"),
        (format!("{BASE}\n[roles]\napprover = \"dba\"\n"), r#"jitgate.toml:11:12: roles.approver: expected an array, found "dba""#),
        (format!("{BASE}\n[api]\nlisten = \"127.0.0.1:6432\"\n"), r#"jitgate.toml:11:10: api.listen: 127.0.0.1:6432 is already the listen address of resource "prod-pg""#),
        (format!("{BASE}\n[api]\npending_ttl = 5\n"), "jitgate.toml:11:15: api.pending_ttl: expected a positive duration"),
        (format!("{BASE}\n[api]\nmax_connections = 0\n"), "jitgate.toml:11:19: api.max_connections: expected an integer from 1 to 1000000"),
        (format!("{BASE}\n[api]\nheader_timeout = \"0s\"\n"), "jitgate.toml:11:18: api.header_timeout: expected a positive duration"),
        (format!("{BASE}\n[users.alice]\ngroups = [1]\npassword_env = \"X\"\n"), "jitgate.toml:11:11: users.alice.groups[0]: expected a non-empty string, found 1"),
        (format!("{BASE}\n[users.\"al ice\"]\n"), r#"jitgate.toml:10:8: users."al ice": a user name starts with a letter or digit"#),
        (format!("{BASE}\n[users.alice]\ngroups = []\n"), r#"jitgate.toml:10:1: users.alice: missing key "password_hash (or password_env, password_file)""#),
        (format!("{BASE}\n[[webhooks]]\nurl = \"ftp://example.com\"\n"), "jitgate.toml:11:7: webhooks[0].url: the URL must start with http:// or https://"),
        (format!("{BASE}\n[[webhooks]]\nurl = \"https://:80/x\"\n"), "jitgate.toml:11:7: webhooks[0].url: the URL has no host"),
        (format!("{BASE}\n[[webhooks]]\nurl = \"http://h:99999/\"\n"), "jitgate.toml:11:7: webhooks[0].url: the port is not a number from 1 to 65535"),
        (format!("{BASE}\n[[webhooks]]\nurl = \"http://h/\"\nformat = \"xml\"\n"), r#"jitgate.toml:12:10: webhooks[0].format: expected one of "json", "slack", found "xml""#),
        (format!("{BASE}\n[[webhooks]]\nurl = \"http://h/\"\nevents = [\"Grant Created\"]\n"), r#"jitgate.toml:12:11: webhooks[0].events[0]: expected an event kind or glob such as "grant.*", found "Grant Created""#),
        (format!("{BASE}\n[[webhooks]]\nurl = \"http://h/\"\nsecret_env = \"JITGATE_TEST_UNSET_SECRET\"\n"), "jitgate.toml:12:14: webhooks[0].secret_env: environment variable JITGATE_TEST_UNSET_SECRET is not set"),
        (format!("{BASE}\n[[alerts]]\nkind = \"slow\"\n"), r#"jitgate.toml:11:8: alerts[0].kind: unknown alert kind "slow"; known kinds: "long_statement", "session_near_expiry", "failed_logins", "masked_refusals""#),
        (format!("{BASE}\n[[alerts]]\nkind = \"failed_logins\"\ncount = 5\nwithin = \"1m\"\nthreshold = \"1s\"\n"), "jitgate.toml:14:1: alerts[0].threshold: unknown key; valid keys are: kind, resource, count, within"),
        (format!("{BASE}\n[[alerts]]\nkind = \"failed_logins\"\ncount = 0\nwithin = \"1m\"\n"), "jitgate.toml:12:9: alerts[0].count: expected an integer from 1 to 100000, found 0"),
        (format!("{BASE}\n[[alerts]]\nkind = \"long_statement\"\n"), r#"jitgate.toml:10:1: alerts[0]: missing key "threshold""#),
        (format!("{BASE}\n[[alerts]]\nkind = \"long_statement\"\nthreshold = \"1s\"\nresource = \"other\"\n"), r#"jitgate.toml:13:12: alerts[0].resource: no resource "other"; known resources: prod-pg"#),
    ];
    for (text, expected) in cases {
        let got = error(&text);
        assert!(got.starts_with(expected), "\n got: {got}\nwant: {expected}");
    }
}

#[test]
fn a_bad_password_hash_is_not_echoed() {
    let got = error(&format!(
        "{BASE}\n[users.alice]\npassword_hash = \"$argon2id$not-really-a-hash-value\"\n"
    ));
    assert!(
        got.starts_with(
            "jitgate.toml:11:17: users.alice.password_hash: expected an argon2 PHC string"
        ),
        "{got}"
    );
    assert!(!got.contains("not-really-a-hash-value"), "{got}");
    let got = error(&format!(
        "{BASE}\n[users.alice]\npassword_hash = \"h\"\npassword_env = \"X\"\n"
    ));
    assert!(
        got.starts_with("jitgate.toml:11:1: users.alice.password_hash: give either password_hash"),
        "{got}"
    );
}

#[test]
fn time_windows_may_wrap_midnight() {
    const H: i64 = 3_600_000;
    let day = 20_000 * 24 * H; // some midnight, UTC
    let office: TimeWindow = "08:00-18:00".parse().expect("window");
    assert!(!office.contains(day + 7 * H));
    assert!(office.contains(day + 8 * H));
    assert!(!office.contains(day + 18 * H));
    assert_eq!(office.end_after(day + 9 * H), Some(day + 18 * H));
    assert_eq!(office.end_after(day + 19 * H), None);

    let night: TimeWindow = "22:00-06:00".parse().expect("window");
    assert!(night.contains(day + 23 * H) && night.contains(day + 5 * H));
    assert!(!night.contains(day + 12 * H));
    assert_eq!(
        night.end_after(day + 23 * H),
        Some(day + 30 * H),
        "ends tomorrow"
    );
    assert_eq!(
        night.end_after(day + 2 * H),
        Some(day + 6 * H),
        "ends today"
    );
    assert_eq!(night.to_string(), "22:00-06:00");

    let evening: TimeWindow = "18:30-24:00".parse().expect("window");
    assert_eq!(evening.end_after(day + 19 * H), Some(day + 24 * H));
    for bad in [
        "8:00-18:00",
        "08:00-25:00",
        "08:60-09:00",
        "00:00-24:00",
        "10:00-10:00",
        "08:00",
    ] {
        assert!(
            bad.parse::<TimeWindow>().is_err(),
            "{bad} should be refused"
        );
    }
}

#[test]
fn describe_shows_the_policy_but_no_hash_secret_or_url_token() {
    std::env::set_var("JITGATE_TEST_DESCRIBE_HOOK", "hook-secret-value");
    let hash = cheap_hash("pw");
    let text = format!(
        "{BASE}\n[users.alice]\npassword_hash = \"{hash}\"\ngroups = [\"analysts\"]\n\n\
         [roles]\napprover = [\"dba\"]\n\n\
         [[access]]\nresources = [\"prod-pg\"]\nrequesters = [\"group:analysts\"]\nmax_duration = \"30m\"\n\
         auto_approve_groups = [\"oncall\"]\nwindow = \"08:00-18:00\"\nread_only = true\n\n\
         [[webhooks]]\nurl = \"https://hooks.example.com/services/SECRET-PATH\"\nformat = \"slack\"\n\
         secret_env = \"JITGATE_TEST_DESCRIBE_HOOK\"\n\n\
         [[alerts]]\nkind = \"failed_logins\"\ncount = 5\nwithin = \"1m\"\n"
    );
    let described = parse_ok(&text).describe();
    for expected in [
        "api: listen 127.0.0.1:8080, tokens live 12h, pending requests expire after 1h",
        "user alice: groups [analysts], password: inline hash",
        "roles: approver [dba], admin []",
        "access rule 0: resources [prod-pg] for [group:analysts], up to 30m, 1 approval(s) from [dba] or admins, auto-approved for [oncall], only 08:00-18:00 UTC, read-only",
        "webhook https://hooks.example.com/…: slack, events [request.*, approval.*, grant.*, alert.*], timeout 5s, signed with secret from env JITGATE_TEST_DESCRIBE_HOOK",
        "alert failed_logins: 5 failed logins within 1m, resources *",
    ] {
        assert!(described.contains(expected), "missing {expected:?} in:\n{described}");
    }
    for secret in [hash.as_str(), "hook-secret-value", "SECRET-PATH"] {
        assert!(!described.contains(secret), "{secret} leaked:\n{described}");
    }
}

#[test]
fn hash_password_makes_a_verifiable_argon2id_string() {
    let hash = hash_password("correct horse").expect("hash");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let parsed = PasswordHash::new(&hash).expect("PHC");
    assert!(Argon2::default()
        .verify_password(b"correct horse", &parsed)
        .is_ok());
    assert!(Argon2::default()
        .verify_password(b"wrong", &parsed)
        .is_err());
}

#[test]
fn reason_prompt_and_pattern_are_read_and_checked() {
    let rule = parse_ok(&access(&format!(
        "{RULE}reason_prompt = \"Ticket id\"\nreason_pattern = \"INC-[0-9]+\"\n"
    )))
    .access
    .remove(0);
    assert_eq!(rule.reason.prompt.as_deref(), Some("Ticket id"));
    assert!(rule.reason.admits("fixing INC-123 now"));
    assert!(!rule.reason.admits("fixing things"));
    let bare = parse_ok(&access(RULE)).access.remove(0);
    assert!(bare.reason.admits("anything"), "no pattern, any reason");
    let bad = error(&access(&format!("{RULE}reason_pattern = \"INC-[\"\n")));
    assert!(
        bad.starts_with(
            "jitgate.toml:15:18: access[0].reason_pattern: not a valid regular expression"
        ),
        "{bad}"
    );
}
