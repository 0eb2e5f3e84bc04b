//! `/requests`: ask for access, list, show, approve, deny, cancel.

use crate::auth::Caller;
use crate::blocking::blocking;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Empty, Id, Json, JsonOrEmpty, Query};
use crate::limits;
use crate::paging;
use crate::views::RequestView;
use crate::ApiState;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use jitgate_control::model::Request;
use jitgate_control::{ControlPlane, LifecycleError, Subject};
use serde::Deserialize;
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    resource: String,
    duration_seconds: u64,
    reason: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    pending: bool,
    limit: Option<usize>,
    after: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    #[serde(default)]
    comment: Option<String>,
}

type One = ApiResult<axum::Json<RequestView>>;

pub async fn create(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Json(body): Json<NewRequest>,
) -> ApiResult<(StatusCode, axum::Json<RequestView>)> {
    limits::name("resource", &body.resource, limits::MAX_RESOURCE)?;
    limits::required_text("reason", &body.reason, limits::MAX_REASON)?;
    if body.duration_seconds == 0 {
        return Err(ApiError::invalid_input(
            "duration_seconds must be at least 1: durations are whole seconds",
        ));
    }
    let control = state.control.clone();
    let request = blocking(move || {
        Ok(control.request_access(
            &caller,
            &body.resource,
            Duration::from_secs(body.duration_seconds),
            &body.reason,
        )?)
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(RequestView::from(&request))))
}

/// A page of the requests the caller may see, newest first.
pub async fn list(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    uri: Uri,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    let page = paging::request(query.limit, query.after.as_deref())?;
    let control = state.control.clone();
    let requests =
        blocking(move || Ok(control.list_requests_page(&caller, query.pending, &page)?)).await?;
    Ok(paging::answer(&uri, requests, |r| RequestView::from(r)))
}

pub async fn show(State(state): State<ApiState>, Caller(caller): Caller, Id(id): Id) -> One {
    let control = state.control.clone();
    let request = blocking(move || Ok(control.get_request(&caller, &id)?)).await?;
    Ok(axum::Json(RequestView::from(&request)))
}

pub async fn approve(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Id(id): Id,
    JsonOrEmpty(body): JsonOrEmpty<DecisionBody>,
) -> One {
    decide(state, caller, id, body, ControlPlane::approve).await
}

pub async fn deny(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Id(id): Id,
    JsonOrEmpty(body): JsonOrEmpty<DecisionBody>,
) -> One {
    decide(state, caller, id, body, ControlPlane::deny).await
}

/// An approver's decision on a request, with its optional comment.
async fn decide(
    state: ApiState,
    caller: Subject,
    id: String,
    body: DecisionBody,
    decision: fn(&ControlPlane, &Subject, &str, &str) -> Result<Request, LifecycleError>,
) -> One {
    let comment = comment(body)?;
    let control = state.control.clone();
    let request = blocking(move || Ok(decision(&control, &caller, &id, &comment)?)).await?;
    Ok(axum::Json(RequestView::from(&request)))
}

pub async fn cancel(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Id(id): Id,
    JsonOrEmpty(_): JsonOrEmpty<Empty>,
) -> One {
    let control = state.control.clone();
    let request = blocking(move || Ok(control.cancel(&caller, &id)?)).await?;
    Ok(axum::Json(RequestView::from(&request)))
}

fn comment(body: DecisionBody) -> ApiResult<String> {
    let comment = body.comment.unwrap_or_default();
    limits::text("comment", &comment, limits::MAX_COMMENT)?;
    Ok(comment)
}
