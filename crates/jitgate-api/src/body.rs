//! Request bodies are read whole, within a time limit, before any handler runs: a client that
//! sends headers and then trickles (or withholds) its body gets a 408 instead of holding a
//! connection and a handler. Bodies are small (see [`MAX_BODY_BYTES`]), so reading them first
//! costs nothing.

use crate::error::ApiError;
use crate::MAX_BODY_BYTES;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// How long a request's body may take to arrive, once its headers are in (set per server; the
/// router driven in-process uses [`DEFAULT_BODY_TIMEOUT`]).
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn read_in_time(request: Request, next: Next) -> Response {
    if !has_body(&request) {
        return next.run(request).await;
    }
    let limit = request
        .extensions()
        .get::<BodyTimeout>()
        .map_or(DEFAULT_BODY_TIMEOUT, |t| t.0);
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(limit, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) => unreadable(e).into_response(),
        Err(_) => {
            let mut response = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("the request body did not arrive within {limit:?}"),
            )
            .into_response();
            // The rest of the body may still come; the connection cannot be reused.
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

/// A body is announced by a non-zero length or a transfer encoding.
fn has_body(request: &Request) -> bool {
    let headers = request.headers();
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// A body that could not be read: too long (sent without a length), or cut off.
fn unreadable(error: axum::Error) -> ApiError {
    let too_long = std::error::Error::source(&error)
        .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
    if too_long {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than {MAX_BODY_BYTES} bytes"),
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the request body could not be read",
        )
    }
}
