//! What a console page answers when it cannot do what was asked: a sign-in redirect, or an HTML
//! page with the status and the control plane's own message (the API's errors, in HTML).

use super::layout;
use crate::error::ApiError;
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jitgate_control::lifecycle::LifecycleError;

#[derive(Debug)]
pub enum ConsoleError {
    /// No session, or an expired one: sign in first.
    SignIn,
    /// As `SignIn`, then back to this page (a path of this console).
    SignInThen(String),
    /// Refused or failed, with the status and message the API would give.
    Refused { status: StatusCode, message: String },
}

pub type ConsoleResult<T> = Result<T, ConsoleError>;

impl ConsoleError {
    pub fn refused(status: StatusCode, message: impl Into<String>) -> ConsoleError {
        ConsoleError::Refused {
            status,
            message: message.into(),
        }
    }

    pub fn csrf() -> ConsoleError {
        ConsoleError::refused(
            StatusCode::FORBIDDEN,
            "the form is stale or did not come from this console (CSRF token missing or wrong); reload the page and try again",
        )
    }
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> ConsoleError {
        if e.status == StatusCode::UNAUTHORIZED {
            return ConsoleError::SignIn;
        }
        ConsoleError::refused(e.status, e.message)
    }
}

impl From<LifecycleError> for ConsoleError {
    fn from(e: LifecycleError) -> ConsoleError {
        ConsoleError::from(ApiError::from(e))
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self {
            ConsoleError::SignIn => {
                (StatusCode::SEE_OTHER, [(LOCATION, "/login".to_owned())]).into_response()
            }
            ConsoleError::SignInThen(next) => {
                let to = format!("/login?next={}", crate::percent_encode(&next));
                (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response()
            }
            ConsoleError::Refused { status, message } => {
                (status, layout::error_page(status, &message)).into_response()
            }
        }
    }
}

/// `next` if it is a path of this console (so never another site: no `//host`, no `\`, no
/// scheme), else `/`.
pub fn local_path(next: &str) -> &str {
    let safe = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 512
        && !next
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace());
    if safe {
        next
    } else {
        "/"
    }
}
