//! `/credentials`: the database credentials `connect` minted (`jitgate tokens`).

use crate::auth::Caller;
use crate::blocking::blocking;
use crate::error::ApiResult;
use crate::extract::{Empty, Id, JsonOrEmpty, Query};
use crate::views::CredentialView;
use crate::ApiState;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    expired: bool,
}

pub async fn list(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<axum::Json<Vec<CredentialView>>> {
    let control = state.control.clone();
    let credentials =
        blocking(move || Ok(control.list_credentials(&caller, query.expired)?)).await?;
    Ok(axum::Json(
        credentials.iter().map(CredentialView::from).collect(),
    ))
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
