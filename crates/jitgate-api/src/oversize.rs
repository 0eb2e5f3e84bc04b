//! Bodies announced larger than the API accepts are refused before any handler runs, after
//! reading what the client sends anyway (up to a bound). A server that answers and closes while
//! the client is still sending makes the client's kernel see a reset, and the client a broken
//! connection instead of the `payload_too_large` answer.

use crate::error::ApiError;
use crate::MAX_BODY_BYTES;
use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// Most of an oversized body read and discarded before answering; beyond it the connection is
/// closed on the sender (it is then no honest client's mistake).
const DRAIN_BYTES: usize = 1 << 20;
/// Longest wait for that reading.
const DRAIN_TIME: Duration = Duration::from_secs(5);

pub async fn refuse_oversized(request: Request, next: Next) -> Response {
    let announced = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(length) = announced.filter(|&n| n > MAX_BODY_BYTES as u64) else {
        return next.run(request).await;
    };
    if length <= DRAIN_BYTES as u64 {
        let body = request.into_body();
        let _ = tokio::time::timeout(DRAIN_TIME, axum::body::to_bytes(body, DRAIN_BYTES)).await;
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("request body is larger than {MAX_BODY_BYTES} bytes"),
    )
    .into_response()
}
