//! The web console, served with the API at `/` (the API stays under `/api/v1`): sign-in,
//! requesting and following one's requests and grants, the approver's inbox and decisions,
//! grants, sessions, and the audit trail.
//!
//! Server-rendered HTML from compile-time templates (`maud`: escaping by default, checked by the
//! compiler, nothing to embed or parse at run time), one small script file for live updates over
//! server-sent events, countdowns and copy buttons, and one stylesheet, both compiled into the
//! binary: no Node toolchain, no inline script, a strict Content-Security-Policy.
//!
//! The console decides nothing: every page and action is the control plane's call with the
//! viewer as the actor, exactly the calls the API's routes make, so the rules live in one place.

mod audit;
mod error;
mod events;
mod grants;
mod inbox;
mod layout;
mod login;
mod oidc;
mod policy;
mod requests;
mod session;
mod sessions;
#[cfg(test)]
mod tests;
mod viewer;

pub use session::ConsoleSessions;

use crate::blocking::blocking;
use crate::error::ApiResult;
use crate::ApiState;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use jitgate_control::ControlPlane;
use std::sync::Arc;

/// The console's state within the API's: sign-in sessions and the audit head live updates wait on.
#[derive(Default)]
pub struct Console {
    pub sessions: ConsoleSessions,
    head: events::Head,
    oidc: oidc::PendingLogins,
}

impl Console {
    pub fn new(sessions: ConsoleSessions) -> Console {
        Console {
            sessions,
            head: events::Head::default(),
            oidc: oidc::PendingLogins::default(),
        }
    }
}

/// Every console route, with the security headers.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(requests::home))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/login/oidc/callback", get(oidc::callback))
        .route("/login/oidc/{provider}", get(oidc::start))
        .route("/requests", post(requests::create))
        .route("/requests/{id}", get(requests::show))
        .route("/requests/{id}/approve", post(requests::approve))
        .route("/requests/{id}/deny", post(requests::deny))
        .route("/requests/{id}/cancel", post(requests::cancel))
        .route("/inbox", get(inbox::page))
        .route("/grants", get(grants::page))
        .route("/grants/{id}/revoke", post(grants::revoke))
        .route("/connect", post(grants::connect))
        .route("/sessions", get(sessions::page))
        .route("/sessions/{id}/kill", post(sessions::kill))
        .route("/audit", get(audit::page))
        .route("/audit/export", get(audit::export))
        .route("/policy", get(policy::page))
        .route("/events", get(events::stream))
        .route("/assets/console.js", get(script))
        .route("/assets/console.css", get(stylesheet))
        .layer(axum::middleware::from_fn(security_headers))
}

/// What the browser may do with console pages: scripts and styles from this origin only (no
/// inline code), no framing, no plugins, forms posting only here; nothing cached.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &'static str| {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    set("content-security-policy", CSP);
    set("x-frame-options", "DENY");
    set("x-content-type-options", "nosniff");
    set("referrer-policy", "same-origin");
    set("cross-origin-opener-policy", "same-origin");
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    )
}

async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    )
}

fn asset(mime: &'static str, text: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, mime),
            (CACHE_CONTROL, "private, max-age=300"),
        ],
        text,
    )
        .into_response()
}

/// A control-plane call on the blocking pool.
pub(crate) async fn call<T, F>(state: &ApiState, work: F) -> ApiResult<T>
where
    F: FnOnce(&ControlPlane) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    let control: Arc<ControlPlane> = state.control.clone();
    blocking(move || work(&control)).await
}

/// After a form post: see the page that shows its outcome.
fn see_other(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(location) => (StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response(),
        Err(_) => (
            StatusCode::SEE_OTHER,
            [(LOCATION, HeaderValue::from_static("/"))],
        )
            .into_response(),
    }
}
