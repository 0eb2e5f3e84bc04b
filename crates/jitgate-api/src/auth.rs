//! Who is calling: the subject behind the `Authorization: Bearer` token `POST /login` handed out.

use crate::blocking::blocking;
use crate::error::ApiError;
use crate::ApiState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use jitgate_control::identity::Subject;

/// The authenticated caller of a route. Routes that take it refuse anonymous calls with 401.
pub struct Caller(pub Subject);

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthenticated(
                "log in first: send `Authorization: Bearer TOKEN` from POST /api/v1/login",
            )
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthenticated("the Authorization header must be `Bearer TOKEN`")
            })?
            .to_owned();
        let control = state.control.clone();
        let subject = blocking(move || Ok(control.subject_for_token(&token))).await?;
        subject.map(Caller).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the token is unknown, expired or revoked; log in again",
            )
        })
    }
}
