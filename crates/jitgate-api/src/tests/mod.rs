//! The router in-process: every documented route exists with its method, and nothing
//! undocumented answers.

mod oidc;
mod paging;
mod server;

use crate::{router, ApiState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use jitgate_control::store::SqliteStore;
use jitgate_control::{ControlPlane, ControlSettings};
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

fn app() -> axum::Router {
    let store = SqliteStore::in_memory().expect("an in-memory store");
    let control = ControlPlane::with_settings(Arc::new(store), ControlSettings::default());
    router(ApiState::new(control, &[]))
}

async fn call(method: &str, path: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
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

fn documented() -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(include_str!("../../openapi.json")).expect("valid JSON");
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            routes.push((method.to_uppercase(), format!("/api/v1{path}")));
        }
    }
    routes
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let routes = documented();
    assert!(routes.len() >= 20, "{routes:?}");
    for (method, path) in routes {
        let path = path.replace("{id}", "x_1");
        let (status, body) = call(&method, &path).await;
        let code = body["error"]["code"].as_str().unwrap_or("");
        assert!(
            code != "unknown_route" && code != "method_not_allowed",
            "{method} {path}: {status} {body}"
        );
        if !status.is_success() {
            assert!(
                body["error"]["message"].is_string(),
                "{method} {path}: {status} {body}"
            );
        }
    }
}

#[tokio::test]
async fn undocumented_routes_and_methods_get_json_errors() {
    let (status, body) = call("GET", "/api/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "unknown_route");
    let (status, body) = call("PUT", "/api/v1/grants").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
    // Every route that needs a login says so rather than answering.
    let (status, body) = call("GET", "/api/v1/sessions").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthenticated");
}
