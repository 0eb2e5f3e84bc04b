//! `/grants` (list, show, revoke) and `/connect` (a credential for the caller's live grant).

use crate::auth::Caller;
use crate::blocking::blocking;
use crate::connection::ConnectionInfo;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Empty, Id, Json, JsonOrEmpty, Query};
use crate::limits;
use crate::paging;
use crate::views::GrantView;
use crate::ApiState;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use jitgate_control::model::rfc3339;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    active: bool,
    limit: Option<usize>,
    after: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectBody {
    resource: String,
}

#[derive(Serialize)]
pub struct ConnectAnswer {
    #[serde(flatten)]
    connection: ConnectionInfo,
    grant_id: String,
    credential_id: String,
    expires_at: String,
}

/// A page of the grants the caller may see, newest first.
pub async fn list(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    uri: Uri,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    let page = paging::request(query.limit, query.after.as_deref())?;
    let control = state.control.clone();
    let grants =
        blocking(move || Ok(control.list_grants_page(&caller, query.active, &page)?)).await?;
    let now = state.control.now();
    Ok(paging::answer(&uri, grants, |g| GrantView::new(g, now)))
}

pub async fn show(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Id(id): Id,
) -> ApiResult<axum::Json<GrantView>> {
    let control = state.control.clone();
    let grant = blocking(move || Ok(control.get_grant(&caller, &id)?)).await?;
    Ok(axum::Json(GrantView::new(&grant, state.control.now())))
}

/// Approvers of the resource and admins revoke; the holder ends their own grant early.
pub async fn revoke(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Id(id): Id,
    JsonOrEmpty(_): JsonOrEmpty<Empty>,
) -> ApiResult<axum::Json<GrantView>> {
    let control = state.control.clone();
    let grant = blocking(move || Ok(control.revoke_grant(&caller, &id)?)).await?;
    Ok(axum::Json(GrantView::new(&grant, state.control.now())))
}

pub async fn connect(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Json(body): Json<ConnectBody>,
) -> ApiResult<axum::Json<ConnectAnswer>> {
    limits::name("resource", &body.resource, limits::MAX_RESOURCE)?;
    let Some(resource) = state.resources.get(&body.resource).cloned() else {
        return Err(ApiError::not_found(format!(
            "no resource {}",
            body.resource
        )));
    };
    let control = state.control.clone();
    let issued = blocking(move || Ok(control.connect(&caller, &body.resource)?)).await?;
    let credential = &issued.credential;
    Ok(axum::Json(ConnectAnswer {
        connection: ConnectionInfo::new(
            &resource,
            state.client_tls,
            &credential.login,
            &issued.secret,
        ),
        grant_id: credential.grant_id.clone(),
        credential_id: credential.id.clone(),
        expires_at: rfc3339(credential.expires_at),
    }))
}

#[derive(Serialize)]
pub struct PlatformTokenAnswer {
    grant_id: String,
    token_id: String,
    /// The token's value: shown in this answer only, kept nowhere by jitgate.
    token: String,
    on_behalf_of: String,
    expires_at: String,
    comment: String,
}

/// A platform token (a Databricks on-behalf-of token) for the caller's own live grant, minted
/// now and living no longer than the grant. Asking again replaces the earlier token.
pub async fn platform_token(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Id(id): Id,
    JsonOrEmpty(_): JsonOrEmpty<Empty>,
) -> ApiResult<Response> {
    use axum::response::IntoResponse;
    let control = state.control.clone();
    let grant_id = id.clone();
    let issued = blocking(move || Ok(control.issue_platform_token(&caller, &id)?)).await?;
    let answer = PlatformTokenAnswer {
        grant_id,
        token_id: issued.token_id.clone(),
        token: issued.value.clone(),
        on_behalf_of: issued.on_behalf_of.clone(),
        expires_at: rfc3339(issued.expires_at),
        comment: issued.comment.clone(),
    };
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        axum::Json(answer),
    )
        .into_response())
}
