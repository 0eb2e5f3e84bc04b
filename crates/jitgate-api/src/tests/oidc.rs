//! `/oidc/providers` and `/login/oidc` in-process, with a provider that cannot be reached:
//! what is answered before the provider is needed, and what when it is.

use crate::{router, ApiState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use jitgate_config::{OidcProvider, Secret};
use jitgate_control::store::SqliteStore;
use jitgate_control::{ControlPlane, ControlSettings};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

fn provider(name: &str, secret: Option<(&str, bool)>) -> OidcProvider {
    OidcProvider {
        name: name.into(),
        // Nothing listens on port 1: discovery fails at once.
        issuer: "http://127.0.0.1:1".into(),
        client_id: "jitgate-cli".into(),
        client_secret: secret.map(|(s, _)| Secret::new(s.into(), "test")),
        client_secret_public: secret.is_some_and(|(_, public)| public),
        audiences: vec!["jitgate-cli".into()],
        scopes: vec!["openid".into()],
        groups_claim: "groups".into(),
        username_claim: "preferred_username".into(),
        group_map: Vec::new(),
        session_ttl: Duration::from_secs(900),
    }
}

fn app() -> axum::Router {
    let store = SqliteStore::in_memory().expect("an in-memory store");
    let control = ControlPlane::with_settings(Arc::new(store), ControlSettings::default());
    let providers = [
        provider("corp", Some(("confidential", false))),
        provider("google", Some(("installed-app", true))),
    ];
    router(ApiState::new(control, &[]).with_oidc(&providers))
}

async fn call(method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("a request");
    let response = app().oneshot(request).await.expect("an answer");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn login(provider: &str, token: &str) -> Option<Value> {
    Some(json!({"provider": provider, "id_token": token}))
}

#[tokio::test]
async fn providers_are_listed_without_their_secrets() {
    let (status, body) = call("GET", "/api/v1/oidc/providers", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["providers"][0]["name"], "corp");
    assert_eq!(body["providers"][0]["client_id"], "jitgate-cli");
    assert!(
        body["providers"][0].get("client_secret").is_none(),
        "{body}"
    );
    // Only an installed-application secret, configured as public, is handed out.
    assert_eq!(body["providers"][1]["client_secret"], "installed-app");
    assert!(!body.to_string().contains("confidential"));
}

#[tokio::test]
async fn bad_logins_get_stable_codes() {
    let (status, body) = call("POST", "/api/v1/login/oidc", login("nobody", "x.y.z")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    // Refused before the provider is asked: not a JWT, or an algorithm never allowed.
    let (status, body) = call("POST", "/api/v1/login/oidc", login("corp", "garbage")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthenticated");
    let hs256 = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
    let (status, body) = call("POST", "/api/v1/login/oidc", login("corp", hs256)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("HS256"));
    // A plausible RS256 token needs the provider's keys, and it cannot be reached.
    let rs256 = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4In0.c2ln";
    let (status, body) = call("POST", "/api/v1/login/oidc", login("corp", rs256)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "idp_unavailable");
    let (status, body) = call(
        "POST",
        "/api/v1/login/oidc",
        Some(json!({"provider": "corp", "id_token": "x", "extra": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A renewal token nobody was given.
    let unknown = Some(json!({"renewal_token": "jgr_made-up"}));
    let (status, body) = call("POST", "/api/v1/login/oidc/renew", unknown).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthenticated");
}

#[test]
fn groups_are_re_read_at_a_quarter_of_the_shortest_session_ttl() {
    use crate::providers::OidcProviders;
    let mut short = provider("short", None);
    short.session_ttl = Duration::from_secs(8);
    let providers = OidcProviders::new(&[provider("corp", None), short]);
    assert_eq!(providers.recheck_interval(), Some(Duration::from_secs(2)));
    assert_eq!(OidcProviders::new(&[]).recheck_interval(), None);
    // Never more often than every second, never less than every minute.
    let mut tiny = provider("tiny", None);
    tiny.session_ttl = Duration::from_secs(1);
    assert_eq!(
        OidcProviders::new(&[tiny]).recheck_interval(),
        Some(Duration::from_secs(1))
    );
}
