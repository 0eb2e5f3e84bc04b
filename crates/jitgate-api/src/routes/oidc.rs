//! Single sign-on: `GET /oidc/providers` tells clients which OpenID Connect providers this
//! gateway trusts and how to reach them; `POST /login/oidc` exchanges a provider's token for a
//! short-lived jitgate token, re-reading the subject's groups each time; `POST
//! /login/oidc/renew` gives a new one for a renewal token, asking the provider again.

use super::login::{login_answer, peer_text};
use crate::blocking::blocking;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::providers::Refusal;
use crate::ApiState;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Extension;
use jitgate_control::audit::kind;
use jitgate_control::audit::AuditEvent;
use jitgate_control::{ControlPlane, Login};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;

/// Longest token looked at; real ID and refresh tokens are a few KiB.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Public: a client needs this before anyone is logged in. No secrets, except a client
/// secret configured as `client_secret_public` (installed-application clients).
pub async fn providers(State(state): State<ApiState>) -> axum::Json<Value> {
    let list: Vec<Value> = state
        .oidc
        .all()
        .map(|p| {
            let mut info = json!({"name": p.name, "issuer": p.issuer, "client_id": p.client_id,
                                  "scopes": p.scopes});
            // Only an installed-application secret, which the provider does not treat as one.
            if let (true, Some(secret)) = (p.client_secret_public, &p.client_secret) {
                info["client_secret"] = json!(secret.expose());
            }
            info
        })
        .collect();
    axum::Json(json!({ "providers": list }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcLoginBody {
    provider: String,
    /// An ID token (or a JWT access token whose audience is configured) from the provider.
    id_token: String,
    /// The nonce the client sent in its authorization request, if it used one.
    #[serde(default)]
    nonce: Option<String>,
    /// The provider's refresh token, handed over: jitgate re-reads the groups with it and
    /// answers with a renewal token for the client to keep instead.
    #[serde(default)]
    refresh_token: Option<String>,
}

pub async fn login(
    State(state): State<ApiState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(body): Json<OidcLoginBody>,
) -> ApiResult<axum::Json<Value>> {
    let peer = peer_text(peer);
    let Some(provider) = state.oidc.get(&body.provider) else {
        return Err(ApiError::not_found(format!(
            "no OpenID Connect provider {:?}; see /api/v1/oidc/providers",
            body.provider.chars().take(64).collect::<String>()
        )));
    };
    let too_long = body.id_token.len() > MAX_TOKEN_BYTES
        || body
            .refresh_token
            .as_ref()
            .is_some_and(|t| t.len() > MAX_TOKEN_BYTES);
    if too_long {
        return Err(ApiError::invalid_input(format!(
            "tokens have at most {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let control = state.control.clone();
    let answer = blocking(move || {
        let name = &provider.config.name;
        let (subject, valid_until) = match provider.subject(&body.id_token, body.nonce.as_deref()) {
            Ok(found) => found,
            Err(refusal) => return Err(refused(&control, name, &peer, refusal)),
        };
        let login =
            control.login_external(name, &subject, valid_until, provider.config.session_ttl)?;
        let renewal = match &body.refresh_token {
            Some(refresh) => Some(control.hold_refresh_token(&subject.name, refresh)?),
            None => None,
        };
        Ok(answer(&control, &login, name, renewal.as_deref()))
    })
    .await?;
    Ok(axum::Json(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewBody {
    renewal_token: String,
}

pub async fn renew(
    State(state): State<ApiState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(body): Json<RenewBody>,
) -> ApiResult<axum::Json<Value>> {
    let peer = peer_text(peer);
    let ended = || ApiError::unauthenticated("this login cannot be renewed; log in again");
    let control = state.control.clone();
    let oidc = state.oidc.clone();
    let answer = blocking(move || {
        // Under the lock: a re-check may be rotating this subject's refresh token.
        let _one_at_a_time = oidc.refreshing();
        let held = control.renewal(&body.renewal_token).ok_or_else(ended)?;
        let provider = oidc.get(&held.provider).ok_or_else(ended)?;
        let name = &provider.config.name;
        let refreshed = match provider.refresh(&held.refresh_token) {
            Ok(r) if r.subject.name == held.subject => r,
            Ok(_) => {
                control.disown_external(
                    name,
                    &held.subject,
                    "the provider named another subject",
                )?;
                return Err(ended());
            }
            Err(Refusal::Token(why)) => {
                control.disown_external(name, &held.subject, &why)?;
                return Err(refused(&control, name, &peer, Refusal::Token(why)));
            }
            Err(unavailable) => return Err(refused(&control, name, &peer, unavailable)),
        };
        if let Some(rotated) = &refreshed.refresh_token {
            control.replace_refresh_token(&held.subject, rotated)?;
        }
        let login = control.login_external(
            name,
            &refreshed.subject,
            refreshed.valid_until,
            provider.config.session_ttl,
        )?;
        Ok(answer(&control, &login, name, Some(&body.renewal_token)))
    })
    .await?;
    Ok(axum::Json(answer))
}

/// The answer of a login: what `POST /login` answers, plus the provider and the renewal token.
fn answer(control: &ControlPlane, login: &Login, provider: &str, renewal: Option<&str>) -> Value {
    let mut answer = login_answer(control, login);
    answer["provider"] = json!(provider);
    if let Some(renewal) = renewal {
        answer["renewal_token"] = json!(renewal);
    }
    answer
}

/// A refused or failed login through `provider`: audited (refusals), reported with a stable
/// code.
pub(crate) fn refused(
    control: &ControlPlane,
    provider: &str,
    peer: &str,
    refusal: Refusal,
) -> ApiError {
    match refusal {
        Refusal::Token(why) => {
            control.audit(AuditEvent::new(
                kind::LOGIN_FAILED,
                json!({"client_addr": peer, "via": format!("oidc:{provider}"), "reason": why}),
            ));
            ApiError::unauthenticated(format!("token refused: {why}"))
        }
        Refusal::Unavailable(why) => {
            tracing::error!("oidc provider {provider}: {why}");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "idp_unavailable",
                format!("identity provider {provider} cannot be reached; see the gateway's log"),
            )
        }
    }
}
