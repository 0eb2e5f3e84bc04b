//! Sign-in with an OpenID Connect provider (`[oidc.NAME]`, the API's own providers): the
//! authorization code flow with PKCE, state and nonce. The flow is bound to the browser that
//! started it by a cookie holding its state; the ID token is validated and the subject read
//! exactly as for `POST /api/v1/login/oidc`, and the control plane logs the subject in.

use super::error::local_path;
use super::error::{ConsoleError, ConsoleResult};
use super::login::{over_tls, sign_in_page, Next};
use super::session::{cookie, same_token, set_cookie, OIDC_COOKIE, SESSION_COOKIE};
use crate::blocking::blocking;
use crate::error::ApiError;
use crate::providers::Refusal;
use crate::routes::oidc::refused;
use crate::ApiState;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::header::{COOKIE, HOST, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::Extension;
use jitgate_oidc::flows::WebLogin;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a browser may take at the provider.
const FLOW_TTL: Duration = Duration::from_secs(600);
/// Most flows under way at once.
const MAX_PENDING: usize = 10_000;

struct Pending {
    provider: String,
    /// Where to go once signed in.
    next: String,
    login: WebLogin,
    started: Instant,
}

/// Logins sent to a provider and not back yet, by their state.
#[derive(Default)]
pub struct PendingLogins(Mutex<HashMap<String, Pending>>);

impl PendingLogins {
    fn put(&self, pending: Pending) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, p| p.started.elapsed() < FLOW_TTL);
        if map.len() >= MAX_PENDING {
            return false;
        }
        map.insert(pending.login.state.clone(), pending);
        true
    }

    fn take(&self, state: &str) -> Option<Pending> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(state).filter(|p| p.started.elapsed() < FLOW_TTL)
    }
}

/// Where the provider sends the browser back: this console's callback, as the browser reached
/// it (the provider accepts only the redirect URIs registered for the client).
fn callback_url(headers: &HeaderMap) -> ConsoleResult<String> {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', '\\', '@', ' ']))
        .ok_or_else(|| ConsoleError::refused(StatusCode::BAD_REQUEST, "no usable Host header"))?;
    let scheme = if over_tls(headers) { "https" } else { "http" };
    Ok(format!("{scheme}://{host}/login/oidc/callback"))
}

/// `GET /login/oidc/NAME`: off to the provider.
pub async fn start(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(next): Query<Next>,
) -> ConsoleResult<Response> {
    let provider = state
        .oidc
        .get(&name)
        .ok_or_else(|| ConsoleError::refused(StatusCode::NOT_FOUND, "no such sign-in provider"))?;
    let redirect = callback_url(&headers)?;
    let login = blocking(move || {
        let client = provider.client().map_err(unavailable)?;
        client
            .start_web(&redirect)
            .map_err(|e| unavailable(Refusal::Unavailable(e.to_string())))
    })
    .await?;
    let (url, flow) = (login.url.clone(), login.state.clone());
    let pending = Pending {
        provider: name,
        next: local_path(&next.next).to_owned(),
        login,
        started: Instant::now(),
    };
    if !state.console.oidc.put(pending) {
        return Err(ConsoleError::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many sign-ins under way; try again shortly",
        ));
    }
    let bind = set_cookie(OIDC_COOKIE, &flow, over_tls(&headers), Some(FLOW_TTL));
    Ok((
        StatusCode::SEE_OTHER,
        AppendHeaders([(SET_COOKIE, bind), (LOCATION, url)]),
    )
        .into_response())
}

fn unavailable(refusal: Refusal) -> ApiError {
    let why = match refusal {
        Refusal::Token(why) | Refusal::Unavailable(why) => why,
    };
    tracing::error!("console sign-in: {why}");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "idp_unavailable",
        "the identity provider cannot be reached; see the gateway's log",
    )
}

#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: Option<String>,
}

/// `GET /login/oidc/callback`: the provider's answer, for the browser that started the flow.
pub async fn callback(
    State(state): State<ApiState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(answer): Query<Callback>,
) -> ConsoleResult<Response> {
    let bound = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .find_map(|h| cookie(h, OIDC_COOKIE))
        .unwrap_or_default();
    if !same_token(bound, &answer.state) {
        return Err(ConsoleError::csrf());
    }
    let Some(pending) = state.console.oidc.take(&answer.state) else {
        return Ok(sign_in_page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            Some("that sign-in took too long; start again"),
            "/",
        ));
    };
    if answer.error.is_some() || answer.code.is_empty() {
        return Ok(sign_in_page(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("the identity provider did not sign you in"),
            &pending.next,
        ));
    }
    let next = pending.next.clone();
    let provider = state
        .oidc
        .get(&pending.provider)
        .ok_or_else(|| ConsoleError::refused(StatusCode::NOT_FOUND, "no such sign-in provider"))?;
    let peer = peer.map_or_else(|| "unknown".to_owned(), |p| p.0 .0.to_string());
    let control = state.control.clone();
    let login = blocking(move || {
        let name = provider.config.name.clone();
        let refuse = |r: Refusal| refused(&control, &name, &peer, r);
        let client = provider.client().map_err(refuse)?;
        let tokens = client
            .finish_web(&pending.login, &answer.code)
            .map_err(|e| refuse(Refusal::Token(e.to_string())))?;
        let id_token = tokens.id_token.ok_or_else(|| {
            refuse(Refusal::Token(
                "the provider answered without an ID token".into(),
            ))
        })?;
        let (subject, valid_until) = provider
            .subject(&id_token, Some(&pending.login.nonce))
            .map_err(refuse)?;
        Ok(control.login_external(&name, &subject, valid_until, provider.config.session_ttl)?)
    })
    .await;
    let login = match login {
        Ok(login) => login,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            return Ok(sign_in_page(
                &state,
                &headers,
                StatusCode::UNAUTHORIZED,
                Some(&e.message),
                &next,
            ));
        }
        Err(e) => return Err(e.into()),
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
        AppendHeaders([
            (SET_COOKIE, set_cookie(SESSION_COOKIE, &session, tls, None)),
            (
                SET_COOKIE,
                set_cookie(OIDC_COOKIE, "", tls, Some(Duration::ZERO)),
            ),
            (LOCATION, next),
        ]),
    )
        .into_response())
}
