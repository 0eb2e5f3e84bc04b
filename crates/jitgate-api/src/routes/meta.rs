//! What needs no login: liveness, the OpenAPI document, and JSON answers for unknown routes and
//! methods (axum's own are empty bodies, which a client cannot tell from a proxy's).

use crate::error::ApiError;
use axum::http::{header, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::json;

/// The OpenAPI 3.1 description of this API, written by hand next to the code it describes.
const OPENAPI: &str = include_str!("../../openapi.json");

pub async fn health() -> impl IntoResponse {
    axum::Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
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
