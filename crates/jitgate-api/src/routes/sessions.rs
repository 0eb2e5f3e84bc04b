//! `/sessions`: list, and kill one.

use crate::auth::Caller;
use crate::blocking::blocking;
use crate::error::ApiResult;
use crate::extract::{Id, JsonOrEmpty, Query};
use crate::limits;
use crate::paging;
use crate::views::SessionView;
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
    open: bool,
    limit: Option<usize>,
    after: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KillBody {
    #[serde(default)]
    reason: Option<String>,
}

/// A page of the sessions the caller may see, newest first.
pub async fn list(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    uri: Uri,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    let page = paging::request(query.limit, query.after.as_deref())?;
    let control = state.control.clone();
    let sessions =
        blocking(move || Ok(control.list_sessions_page(&caller, query.open, &page)?)).await?;
    Ok(paging::answer(&uri, sessions, |s| SessionView::from(s)))
}

pub async fn kill(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Id(id): Id,
    JsonOrEmpty(body): JsonOrEmpty<KillBody>,
) -> ApiResult<axum::Json<Value>> {
    let reason = body.reason.unwrap_or_default();
    limits::text("reason", &reason, limits::MAX_REASON)?;
    let control = state.control.clone();
    let killed = id.clone();
    blocking(move || Ok(control.kill_session(&caller, &id, &reason)?)).await?;
    Ok(axum::Json(json!({ "killed": killed })))
}
