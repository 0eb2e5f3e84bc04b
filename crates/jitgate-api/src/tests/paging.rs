//! Listings page instead of stopping at a fixed number of rows: more than a thousand sessions
//! (written straight into the store) are all reachable by following `Link: rel="next"`, each
//! once, newest first, whatever the page size; and a bad cursor or limit is a 400.

use crate::{router, ApiState};
use axum::body::Body;
use axum::http::header::{AUTHORIZATION, LINK};
use axum::http::{Request, StatusCode};
use jitgate_control::model::SessionRecord;
use jitgate_control::store::{SqliteStore, Store};
use jitgate_control::{ControlPlane, ControlSettings, Subject};
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

const SESSIONS: usize = 1234;

/// A router over a store holding [`SESSIONS`] sessions of alice, and alice's token. Every third
/// session starts at the same millisecond as the one before, so that pages split ties.
fn app() -> (axum::Router, String) {
    let store = Arc::new(SqliteStore::in_memory().expect("an in-memory store"));
    for i in 0..SESSIONS {
        store
            .insert_session(&SessionRecord {
                id: format!("s_{i:05}"),
                subject: "alice".into(),
                grant_id: "g_1".into(),
                resource: "app".into(),
                client_addr: "127.0.0.1:5000".into(),
                replica: "main".into(),
                started_at: 1_700_000_000_000 + (i - i / 3) as i64,
                ended_at: None,
                end_reason: None,
                bytes_from_client: 0,
                bytes_to_client: 0,
            })
            .expect("a session row");
    }
    let control = ControlPlane::with_settings(store, ControlSettings::default());
    let (token, _) = control
        .issue_token(&Subject::new("alice", &[]))
        .expect("a token");
    (router(ApiState::new(control, &[])), token)
}

/// One GET: status, body, and the path of the next page if the answer links one.
async fn get(app: &axum::Router, path: &str, auth: &str) -> (StatusCode, Value, Option<String>) {
    let request = Request::builder()
        .uri(path)
        .header(AUTHORIZATION, auth)
        .body(Body::empty())
        .expect("a request");
    let response = app.clone().oneshot(request).await.expect("an answer");
    let status = response.status();
    let next = response
        .headers()
        .get(LINK)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix('<'))
        .and_then(|v| v.split_once(">; rel=\"next\""))
        .map(|(target, _)| target.to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .expect("a body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body, next)
}

/// Every session id, following the links from `first`, and the size of each page.
async fn walk(app: &axum::Router, token: &str, first: &str) -> (Vec<String>, Vec<usize>) {
    let auth = format!("Bearer {token}");
    let (mut ids, mut sizes) = (Vec::new(), Vec::new());
    let mut next = Some(first.to_owned());
    while let Some(path) = next.take() {
        let (status, body, link) = get(app, &path, &auth).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let page = body.as_array().expect("a JSON array, as before paging");
        sizes.push(page.len());
        ids.extend(
            page.iter()
                .map(|s| s["id"].as_str().expect("an id").to_owned()),
        );
        next = link;
    }
    (ids, sizes)
}

fn newest_first() -> Vec<String> {
    let mut all: Vec<(i64, String)> = (0..SESSIONS)
        .map(|i| ((i - i / 3) as i64, format!("s_{i:05}")))
        .collect();
    all.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    all.into_iter().map(|(_, id)| id).collect()
}

#[tokio::test]
async fn more_than_a_thousand_sessions_are_all_listed_across_pages() {
    let (app, token) = app();
    let (ids, sizes) = walk(&app, &token, "/api/v1/sessions").await;
    assert_eq!(sizes, [1000, 234], "the default page is the old maximum");
    assert_eq!(ids, newest_first());
}

#[tokio::test]
async fn smaller_pages_keep_the_filters_and_split_ties_exactly() {
    let (app, token) = app();
    let (ids, sizes) = walk(&app, &token, "/api/v1/sessions?open=true&limit=97").await;
    assert_eq!(sizes.len(), SESSIONS.div_ceil(97));
    assert!(sizes.iter().all(|&n| n <= 97), "{sizes:?}");
    assert_eq!(ids, newest_first());
}

#[tokio::test]
async fn bad_limits_and_cursors_are_refused() {
    let (app, token) = app();
    let auth = format!("Bearer {token}");
    for path in [
        "/api/v1/sessions?limit=0",
        "/api/v1/sessions?limit=1001",
        "/api/v1/sessions?after=yesterday",
        "/api/v1/grants?after=1.a%20b",
        "/api/v1/requests?after=..%2F",
        "/api/v1/credentials?limit=-1",
    ] {
        let (status, body, _) = get(&app, path, &auth).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query", "{path}: {body}");
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_matched_without_regard_to_case() {
    let (app, token) = app();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let (status, body, _) = get(
            &app,
            "/api/v1/sessions?limit=1",
            &format!("{scheme} {token}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{scheme}: {body}");
    }
    let (status, body, _) = get(&app, "/api/v1/sessions", &format!("Basic {token}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}
