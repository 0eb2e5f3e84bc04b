//! Who is looking: the signed-in subject behind the session cookie ([`Viewer`]), and the one
//! way state changes arrive ([`Post`]): a form from this console's own pages, carrying the
//! session's CSRF token.

use super::error::{ConsoleError, ConsoleResult};
use super::session::{cookie, same_token, SESSION_COOKIE};
use crate::blocking::blocking;
use crate::ApiState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use jitgate_control::identity::Subject;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::time::Instant;

/// Header the console's script sends on its live re-reads.
pub const LIVE_REFRESH: &str = "x-jitgate-live-refresh";

/// The signed-in subject of a console page.
pub struct Viewer {
    pub subject: Subject,
    /// The session's CSRF token, for the forms the page renders.
    pub csrf: String,
    /// The session id (from the cookie).
    pub session: String,
}

impl Viewer {
    /// Resolves the session cookie; `renew` says whether this use counts against idling.
    pub async fn resolve(
        headers: &HeaderMap,
        state: &ApiState,
        renew: bool,
    ) -> ConsoleResult<Viewer> {
        let session = session_id(headers).ok_or(ConsoleError::SignIn)?;
        let entry = state
            .console
            .sessions
            .use_session(&session, Instant::now(), renew)
            .ok_or(ConsoleError::SignIn)?;
        let control = state.control.clone();
        let token = entry.token.clone();
        let subject = blocking(move || Ok(control.subject_for_token(&token))).await?;
        match subject {
            Some(subject) => Ok(Viewer {
                subject,
                csrf: entry.csrf,
                session,
            }),
            None => {
                // The token expired (absolute timeout) or was revoked elsewhere.
                state.console.sessions.close(&session);
                Err(ConsoleError::SignIn)
            }
        }
    }
}

/// The console session id in the request's cookies.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .find_map(|h| cookie(h, SESSION_COOKIE))
        .map(str::to_owned)
}

impl FromRequestParts<ApiState> for Viewer {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> ConsoleResult<Viewer> {
        // The script's re-reads after a live update are not the person using the console: they
        // must not keep an unattended session from idling out.
        let renew = !parts.headers.contains_key(LIVE_REFRESH);
        let viewer = Viewer::resolve(&parts.headers, state, renew).await;
        // A page opened signed out (a link from chat) comes back after sign-in.
        match viewer {
            Err(ConsoleError::SignIn) if parts.method == Method::GET => {
                match parts.uri.path_and_query().map_or("/", |p| p.as_str()) {
                    "/" => Err(ConsoleError::SignIn),
                    page => Err(ConsoleError::SignInThen(page.to_owned())),
                }
            }
            other => other,
        }
    }
}

/// A state-changing form post of the signed-in viewer: from this origin, with the session's CSRF
/// token in the `csrf` field, its other fields read as `T`.
pub struct Post<T> {
    pub viewer: Viewer,
    pub form: T,
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<ApiState> for Post<T> {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &ApiState) -> ConsoleResult<Post<T>> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        same_origin(&parts.headers)?;
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|r| ConsoleError::refused(r.status(), r.body_text()))?;
        let form = parse_form::<T>(&bytes)?;
        let csrf = parse_form::<CsrfField>(&bytes)?.csrf;
        if !same_token(&viewer.csrf, &csrf) {
            return Err(ConsoleError::csrf());
        }
        Ok(Post { viewer, form })
    }
}

/// An `application/x-www-form-urlencoded` body as `T`.
pub fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> ConsoleResult<T> {
    serde_urlencoded::from_bytes(bytes).map_err(|e| {
        ConsoleError::refused(
            StatusCode::BAD_REQUEST,
            format!("the form is malformed: {e}"),
        )
    })
}

/// A second line behind the CSRF token: a browser's `Origin` must be this host, and
/// `Sec-Fetch-Site` must not say cross-site.
pub fn same_origin(headers: &HeaderMap) -> ConsoleResult<()> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site") == Some("cross-site") {
        return Err(ConsoleError::csrf());
    }
    if let Some(origin) = text(ORIGIN.as_str()) {
        let origin_host = origin.split_once("://").map(|(_, h)| h);
        if origin_host.is_none() || origin_host != text(HOST.as_str()) {
            return Err(ConsoleError::csrf());
        }
    }
    Ok(())
}
