//! What needs no login: liveness, the OpenAPI document, and JSON answers for unknown routes and
//! methods (axum's own are empty bodies, which a client cannot tell from a proxy's).

use crate::error::ApiError;
use crate::ApiState;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::IntoResponse;
use jitgate_control::liveness::Readiness;
use serde_json::json;

/// The OpenAPI 3.1 description of this API, written by hand next to the code it describes.
const OPENAPI: &str = include_str!("../../openapi.json");

pub async fn health() -> impl IntoResponse {
    axum::Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// How recently the scheduler must have reached the store for this replica to be ready.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

/// For load balancers: 200 while this replica takes new sessions (the store answers, the
/// replica name is this process's, it is not shutting down), else 503 with the reason in
/// `status`: `draining` from the moment shutdown starts (sessions go on for the drain time, so
/// the balancer takes it out of rotation first), `store unreachable`, or
/// `replica name taken by another process`.
pub async fn ready(State(state): State<ApiState>) -> impl IntoResponse {
    let control = &state.control;
    let readiness = control.readiness(READY_WITHIN);
    let status = if readiness == Readiness::Ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({"status": readiness.as_str(), "replica": control.replica()})),
    )
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
