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
            .and_then(bearer_token)
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

/// The token of an `Authorization: Bearer TOKEN` value. The scheme is matched without regard to
/// case (RFC 9110, section 11.1); spaces around the token are ignored.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_scheme_is_case_insensitive() {
        for header in ["Bearer t0k", "bearer t0k", "BEARER t0k", "bEaReR   t0k  "] {
            assert_eq!(bearer_token(header), Some("t0k"), "{header:?}");
        }
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_refused() {
        for header in [
            "Basic dTpw",
            "Bearer",
            "Bearer   ",
            "Bearert0k",
            "",
            "Token t0k",
        ] {
            assert_eq!(bearer_token(header), None, "{header:?}");
        }
    }
}
