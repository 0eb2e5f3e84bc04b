//! Body, query and path extractors whose rejections are API errors with stable codes, instead
//! of axum's plain-text ones.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// A JSON request body. Unknown fields are refused by the body types themselves
/// (`deny_unknown_fields`), so a misspelt field is an error rather than silently ignored.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// An optional JSON body: no body at all (as `curl -X POST` sends) is `T::default()`; a body
/// must be sent as `Content-Type: application/json` (415 otherwise, as for required bodies) and
/// be valid JSON for `T`. One rule for every body: what a route reads is always declared JSON.
pub struct JsonOrEmpty<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let declared_json = is_json(req.headers());
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| rejection(r.status(), r.body_text()))?;
        if bytes.is_empty() {
            return Ok(JsonOrEmpty(T::default()));
        }
        if !declared_json {
            return Err(rejection(StatusCode::UNSUPPORTED_MEDIA_TYPE, String::new()));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonOrEmpty(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(JsonOrEmpty)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))
    }
}

/// `Content-Type: application/json`, with or without parameters (`; charset=utf-8`), as
/// axum's `Json` accepts it (`application/*+json` too).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(mime) = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
    else {
        return false;
    };
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// A body with no fields, for actions that take none: `{}` or nothing; anything else is a
/// mistake worth reporting.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

fn json_rejection(r: JsonRejection) -> ApiError {
    rejection(r.status(), r.body_text())
}

fn rejection(status: StatusCode, text: String) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "request body is larger than {} bytes",
                crate::MAX_BODY_BYTES
            ),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", text),
    }
}

/// Query-string parameters.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|r: QueryRejection| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text())
            })
    }
}

/// The `{id}` of a route, checked to be a plausible identifier before any lookup.
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(id) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|r: PathRejection| ApiError::invalid_input(r.body_text()))?;
        crate::limits::id("id", &id)?;
        Ok(Id(id))
    }
}
