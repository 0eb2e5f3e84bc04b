//! What needs no login: liveness, the OpenAPI document, and JSON answers for unknown routes and
//! methods (axum's own are empty bodies, which a client cannot tell from a proxy's).

use crate::error::ApiError;
use crate::ApiState;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::json;

/// The OpenAPI 3.1 description of this API, written by hand next to the code it describes.
const OPENAPI: &str = include_str!("../../openapi.json");

pub async fn health() -> impl IntoResponse {
    axum::Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// How recently the scheduler must have reached the store for this replica to be ready.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

/// For load balancers: 200 while the control-plane store answers (the fronts are listening
/// before the API starts, and the API stops first at shutdown), 503 otherwise.
pub async fn ready(State(state): State<ApiState>) -> impl IntoResponse {
    let control = &state.control;
    if control.store_reachable(READY_WITHIN) {
        (
            StatusCode::OK,
            axum::Json(json!({"status": "ready", "replica": control.replica()})),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "store unreachable", "replica": control.replica()})),
        )
    }
}

/// Prometheus metrics of this replica, in the text exposition format; no login (like
/// `/health`, they carry counts, never names or data).
pub async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.control.metrics().encode(),
    )
}

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_route",
        format!("no API route {}; see /api/v1/openapi.json", uri.path()),
    )
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method; see /api/v1/openapi.json",
    )
}
