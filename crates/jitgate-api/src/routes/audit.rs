//! `/audit` (pages of the trail, for export and `--follow`) and `/audit/verify`. Both are for
//! admins: the trail names every subject and statement.

use crate::auth::Caller;
use crate::blocking::blocking;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::limits::MAX_AUDIT_PAGE;
use crate::paging;
use crate::views::AuditView;
use crate::ApiState;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use jitgate_control::audit::ChainBreak;
use jitgate_control::identity::Subject;
use jitgate_control::{AuditCheckError, ControlPlane};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

/// Who may read the trail: the one rule, for the API and the console alike.
pub(crate) fn require_admin(control: &ControlPlane, caller: &Subject) -> ApiResult<()> {
    if control.policy().is_admin(caller) {
        Ok(())
    } else {
        Err(ApiError::forbidden("only admins may read the audit trail"))
    }
}

/// Events after sequence number `after`, oldest first, as a JSON array.
pub async fn page(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    uri: Uri,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    require_admin(&state.control, &caller)?;
    if query.after < 0 || query.limit == 0 || query.limit > MAX_AUDIT_PAGE {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("after must be 0 or more and limit 1 to {MAX_AUDIT_PAGE}"),
        ));
    }
    let control = state.control.clone();
    let events = blocking(move || {
        // Events are written in batches; a reader should see everything that happened before
        // it asked (a follower would otherwise see them a window late).
        control.flush();
        // One more than asked for tells whether another page follows.
        control
            .audit_page(query.after, query.limit + 1)
            .map_err(|e| ApiError::internal("reading the audit trail", e))
    })
    .await?;
    let more = events.len() > query.limit;
    let events = &events[..events.len().min(query.limit)];
    let next = events.last().filter(|_| more).map(|e| e.seq.to_string());
    let views: Vec<AuditView<'_>> = events.iter().map(AuditView::from).collect();
    Ok(paging::with_next(
        axum::Json(views).into_response(),
        &uri,
        next.as_deref(),
    ))
}

/// Walks the whole chain. A broken chain is an answer (200, `ok: false`), not a failure of the
/// call: the CLI turns it into a non-zero exit naming the event.
pub async fn verify(
    State(state): State<ApiState>,
    Caller(caller): Caller,
) -> ApiResult<axum::Json<serde_json::Value>> {
    require_admin(&state.control, &caller)?;
    let control = state.control.clone();
    let outcome = blocking(move || {
        // Everything recorded before the question is part of the answer.
        control.flush();
        Ok(control.verify_audit())
    })
    .await?;
    match outcome {
        Ok(checked) => Ok(axum::Json(json!({"ok": true, "checked": checked}))),
        Err(AuditCheckError::Broken(brk)) => {
            let seq = match &brk {
                ChainBreak::Edited { seq }
                | ChainBreak::Unlinked { seq, .. }
                | ChainBreak::Sequence { seq, .. } => *seq,
            };
            Ok(axum::Json(json!({
                "ok": false,
                "checked": seq - 1,
                "broken_seq": seq,
                "message": brk.to_string(),
            })))
        }
        Err(AuditCheckError::Store(e)) => Err(ApiError::internal("verifying the audit trail", e)),
    }
}
