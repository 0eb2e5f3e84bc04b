//! Sign-in with a local user's name and password (the control plane's own login, audited as
//! any), and sign-out.

use super::error::{local_path, ConsoleError, ConsoleResult};
use super::layout;
use super::session::{cookie, login_token, same_token, set_cookie, LOGIN_COOKIE, SESSION_COOKIE};
use super::viewer::{parse_form, same_origin, Post};
use crate::blocking::blocking;
use crate::limits;
use crate::ApiState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::Extension;
use maud::html;
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub struct Nothing {}

/// Whether the browser reached us over TLS (a terminating proxy says so): cookies are then
/// `Secure`.
pub fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The sign-in form, with a fresh CSRF token in a cookie and in the form (double submit).
pub async fn form(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(next): Query<Next>,
) -> Response {
    sign_in_page(&state, &headers, StatusCode::OK, None, &next.next)
}

/// Where to go after signing in (a path of this console).
#[derive(Deserialize, Default)]
pub struct Next {
    #[serde(default)]
    pub next: String,
}

/// The sign-in page: the local users' form, and a button per OpenID Connect provider.
pub fn sign_in_page(
    state: &ApiState,
    headers: &HeaderMap,
    status: StatusCode,
    problem: Option<&str>,
    next: &str,
) -> Response {
    let token = login_token();
    let next = local_path(next);
    let providers: Vec<String> = state.oidc.all().map(|p| p.name.clone()).collect();
    let body = html! {
        @if !providers.is_empty() {
            div.card.signin.providers {
                @for name in &providers {
                    a.button.primary href={ "/login/oidc/" (name) "?next=" (crate::percent_encode(next)) } { "Sign in with " (name) }
                }
            }
        }
        form.card.signin method="post" action="/login" {
            @if let Some(problem) = problem { p.error role="alert" { (problem) } }
            input type="hidden" name="csrf" value=(token);
            input type="hidden" name="next" value=(next);
            label { "User name" input name="user" autocomplete="username" required autofocus; }
            label { "Password" input name="password" type="password" autocomplete="current-password" required; }
            button.primary type="submit" { "Sign in" }
        }
    };
    let cookie = set_cookie(
        LOGIN_COOKIE,
        &token,
        over_tls(headers),
        Some(Duration::from_secs(3600)),
    );
    (
        status,
        [(SET_COOKIE, cookie)],
        layout::bare("Sign in", body),
    )
        .into_response()
}

pub async fn submit(
    State(state): State<ApiState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> ConsoleResult<Response> {
    same_origin(&headers)?;
    let form: SignIn = parse_form(&body)?;
    let expected = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .find_map(|h| cookie(h, LOGIN_COOKIE))
        .unwrap_or_default();
    if !same_token(expected, &form.csrf) {
        return Err(ConsoleError::csrf());
    }
    if form.user.chars().count() > limits::MAX_USER || form.password.len() > limits::MAX_PASSWORD {
        return Ok(sign_in_page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            Some("user name or password too long"),
            &form.next,
        ));
    }
    let peer = peer.map_or_else(|| "unknown".to_owned(), |p| p.0 .0.to_string());
    let control = state.control.clone();
    let next = local_path(&form.next).to_owned();
    let login = blocking(move || Ok(control.login(&form.user, &form.password, &peer))).await?;
    let Ok(login) = login else {
        return Ok(sign_in_page(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("wrong user name or password"),
            &next,
        ));
    };
    let Some(session) = state.console.sessions.open(login.token, Instant::now()) else {
        return Err(ConsoleError::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many console sessions; try again later",
        ));
    };
    let tls = over_tls(&headers);
    Ok((
        StatusCode::SEE_OTHER,
        // Appended, not inserted: two cookies are set.
        AppendHeaders([
            (SET_COOKIE, set_cookie(SESSION_COOKIE, &session, tls, None)),
            (
                SET_COOKIE,
                set_cookie(LOGIN_COOKIE, "", tls, Some(Duration::ZERO)),
            ),
            (LOCATION, next),
        ]),
    )
        .into_response())
}

/// Ends the session and revokes its token.
pub async fn logout(
    State(state): State<ApiState>,
    headers: HeaderMap,
    post: Post<Nothing>,
) -> ConsoleResult<Response> {
    if let Some(entry) = state.console.sessions.close(&post.viewer.session) {
        let control = state.control.clone();
        blocking(move || Ok(control.revoke_token(&entry.token)?)).await?;
    }
    let gone = set_cookie(SESSION_COOKIE, "", over_tls(&headers), Some(Duration::ZERO));
    Ok((
        StatusCode::SEE_OTHER,
        [(SET_COOKIE, gone), (LOCATION, "/login".to_owned())],
    )
        .into_response())
}
