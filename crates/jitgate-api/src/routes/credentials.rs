//! `/credentials`: the database credentials `connect` minted (`jitgate tokens`).

use crate::auth::Caller;
use crate::blocking::blocking;
use crate::error::ApiResult;
use crate::extract::{Empty, Id, JsonOrEmpty, Query};
use crate::paging;
use crate::views::CredentialView;
use crate::ApiState;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    expired: bool,
    limit: Option<usize>,
    after: Option<String>,
}

/// A page of the credentials the caller may see, newest first.
pub async fn list(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    uri: Uri,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    let page = paging::request(query.limit, query.after.as_deref())?;
    let control = state.control.clone();
    let credentials =
        blocking(move || Ok(control.list_credentials_page(&caller, query.expired, &page)?)).await?;
    Ok(paging::answer(&uri, credentials, |c| {
        CredentialView::from(c)
    }))
}

pub async fn remove(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Id(id): Id,
) -> ApiResult<axum::Json<Value>> {
    let control = state.control.clone();
    let deleted = id.clone();
    blocking(move || Ok(control.delete_credential(&caller, &id)?)).await?;
    Ok(axum::Json(json!({ "deleted": deleted })))
}

pub async fn prune(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    JsonOrEmpty(_): JsonOrEmpty<Empty>,
) -> ApiResult<axum::Json<Value>> {
    let control = state.control.clone();
    let pruned = blocking(move || Ok(control.prune_credentials(&caller)?)).await?;
    Ok(axum::Json(json!({ "pruned": pruned })))
}
