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
            ConsoleError::SignIn => (StatusCode::SEE_OTHER, [(LOCATION, "/login")]).into_response(),
            ConsoleError::Refused { status, message } => {
                (status, layout::error_page(status, &message)).into_response()
            }
        }
    }
}
