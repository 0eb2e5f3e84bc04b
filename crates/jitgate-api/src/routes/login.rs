//! `POST /login` (user name and password → bearer token) and `POST /logout`.

use crate::auth::Caller;
use crate::blocking::blocking;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::limits;
use crate::ApiState;
use axum::extract::{ConnectInfo, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::Extension;
use jitgate_control::audit::kind;
use jitgate_control::audit::AuditEvent;
use jitgate_control::model::rfc3339;
use jitgate_control::{ControlPlane, Login};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    user: String,
    password: String,
}

pub async fn login(
    State(state): State<ApiState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(body): Json<LoginBody>,
) -> ApiResult<axum::Json<Value>> {
    let peer = peer_text(peer);
    // Bounded here so that a long "password" is never hashed; audited like any failed login
    // (the control plane audits the others), so that probing shows in the trail.
    if body.user.chars().count() > limits::MAX_USER || body.password.len() > limits::MAX_PASSWORD {
        let login: String = body.user.chars().take(limits::MAX_USER).collect();
        state.control.audit(AuditEvent::new(
            kind::LOGIN_FAILED,
            json!({"login": login, "client_addr": peer, "via": "api", "reason": "over-long"}),
        ));
        return Err(ApiError::invalid_input(format!(
            "user names have at most {} characters and passwords at most {} bytes",
            limits::MAX_USER,
            limits::MAX_PASSWORD
        )));
    }
    let control = state.control.clone();
    let answer = blocking(move || {
        let login = control.login(&body.user, &body.password, &peer)?;
        Ok(login_answer(&control, &login))
    })
    .await?;
    Ok(axum::Json(answer))
}

/// The client's address for the audit trail: known when served by `serve`; a router driven
/// in-process has no peer.
pub(super) fn peer_text(peer: Option<Extension<ConnectInfo<SocketAddr>>>) -> String {
    peer.map_or_else(|| "unknown".to_owned(), |p| p.0 .0.to_string())
}

/// What a successful login answers: the token, when it expires, and who the caller now is.
pub(super) fn login_answer(control: &ControlPlane, login: &Login) -> Value {
    let roles: Vec<&str> = login
        .subject
        .roles(&control.policy().roles)
        .into_iter()
        .map(|r| r.as_str())
        .collect();
    json!({
        "token": login.token,
        "expires_at": rfc3339(login.expires_at),
        "subject": login.subject.name,
        "groups": login.subject.groups,
        "roles": roles,
    })
}

/// Revokes the token the call carries.
pub async fn logout(
    State(state): State<ApiState>,
    Caller(_): Caller,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    // The Caller extractor has accepted this header already.
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    let control = state.control.clone();
    blocking(move || Ok(control.revoke_token(&token)?)).await?;
    Ok(axum::Json(json!({"logged_out": true})))
}
