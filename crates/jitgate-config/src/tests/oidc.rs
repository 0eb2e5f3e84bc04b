//! `[oidc.NAME]`: defaults, secrets, group mapping, and what is refused.

use std::time::Duration;

use crate::*;

/// Appended after the `[oidc]` text, so that line numbers count from it.
const RESOURCE: &str = r#"
[resources.prod-pg]
kind = "postgres"
listen = "127.0.0.1:6432"

[resources.prod-pg.upstream]
host = "127.0.0.1"
database = "app"
user = "svc"
"#;

fn parse_ok(text: &str) -> Config {
    tests::parse_ok(&format!("{text}{RESOURCE}"))
}

fn error(text: &str) -> String {
    tests::error(&format!("{text}{RESOURCE}"))
}

#[test]
fn a_public_client_gets_defaults() {
    let config = parse_ok(
        "[oidc.corp]\nissuer = \"https://login.example.com/\"\nclient_id = \"jitgate-cli\"\n",
    );
    let p = &config.oidc[0];
    assert_eq!(p.name, "corp");
    assert_eq!(p.issuer, "https://login.example.com/");
    assert_eq!(p.audiences, ["jitgate-cli"]);
    assert_eq!(p.scopes, ["openid", "profile", "email", "offline_access"]);
    assert_eq!(p.groups_claim, "groups");
    assert_eq!(p.username_claim, "preferred_username");
    assert_eq!(p.session_ttl, Duration::from_secs(900));
    assert!(p.client_secret.is_none());
    assert!(config
        .describe()
        .contains("oidc provider corp: issuer https://login.example.com/"));
}

#[test]
fn secrets_mapping_and_claims_are_read() {
    std::env::set_var("JITGATE_TEST_OIDC_SECRET", "s3cr3t");
    let config = parse_ok(
        r#"[oidc.entra]
issuer = "https://login.microsoftonline.com/TENANT/v2.0"
client_id = "app-id"
client_secret_env = "JITGATE_TEST_OIDC_SECRET"
scopes = ["openid", "email"]
username_claim = "email"
groups_claim = "roles"
session_ttl = "5m"

[oidc.entra.group_map]
"0b5c-object-id" = "dba"
"#,
    );
    let p = &config.oidc[0];
    assert_eq!(p.client_secret.as_ref().map(|s| s.expose()), Some("s3cr3t"));
    assert_eq!(p.username_claim, "email");
    assert_eq!(p.groups_claim, "roles");
    assert_eq!(p.session_ttl, Duration::from_secs(300));
    assert_eq!(
        p.map_groups(["0b5c-object-id", "analysts", "dba"]),
        ["analysts", "dba"]
    );
    let described = config.describe();
    assert!(
        described.contains("secret: env JITGATE_TEST_OIDC_SECRET"),
        "{described}"
    );
    assert!(!described.contains("s3cr3t"));
}

#[test]
fn insecure_or_incomplete_providers_are_refused() {
    assert_eq!(
        error("[oidc.corp]\nissuer = \"http://idp.example.com\"\nclient_id = \"x\"\n"),
        "jitgate.toml:2:10: oidc.corp.issuer: the issuer must be an https:// URL \
         (http:// only for a provider on loopback)"
    );
    parse_ok("[oidc.corp]\nissuer = \"http://127.0.0.1:9000\"\nclient_id = \"x\"\n");
    assert_eq!(
        error("[oidc.corp]\nissuer = \"https://idp\"\n"),
        "jitgate.toml:1:1: oidc.corp: missing key \"client_id\""
    );
    assert_eq!(
        error("[oidc.corp]\nissuer = \"https://idp\"\nclient_id = \"x\"\nscopes = [\"email\"]\n"),
        "jitgate.toml:4:10: oidc.corp.scopes: the scopes must include \"openid\""
    );
    assert_eq!(
        error("[oidc.g]\nissuer = \"https://idp\"\nclient_id = \"x\"\nclient_secret_public = true\n"),
        "jitgate.toml:4:24: oidc.g.client_secret_public: client_secret_public needs a client secret \
         to share"
    );
    assert!(
        error("[oidc.corp]\nissuer = \"https://idp\"\nclient_id = \"x\"\nnonce = 1\n")
            .contains("unknown key")
    );
    assert!(
        error("[oidc.\"a b\"]\nissuer = \"https://idp\"\nclient_id = \"x\"\n")
            .contains("a provider name has")
    );
}
