//! Live sessions, and killing one with a reason the client is shown.

use super::error::ConsoleResult;
use super::layout::{self, csrf, time};
use super::viewer::{Post, Viewer};
use super::{call, see_other};
use crate::limits;
use crate::ApiState;
use axum::extract::{Path, State};
use axum::response::{Html, Response};
use jitgate_control::lifecycle::PageRequest;
use maud::html;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct KillForm {
    #[serde(default)]
    reason: String,
}

pub async fn page(State(state): State<ApiState>, viewer: Viewer) -> ConsoleResult<Html<String>> {
    let subject = viewer.subject.clone();
    let sessions = call(&state, move |c| {
        Ok(c.list_sessions_page(&subject, true, &PageRequest::first())?
            .items)
    })
    .await?;
    let body = html! {
        section #sessions data-live {
            @if sessions.is_empty() { p.empty { "No open session." } }
            @for s in &sessions {
                article.card.session id={ "session-" (s.id) } {
                    div.line { strong.title { (s.subject) " → " (s.resource) } code { (s.id) } }
                    p.meta { "from " (s.client_addr) " since " (time(s.started_at))
                        " · " (s.bytes_from_client) " B in, " (s.bytes_to_client) " B out" }
                    form.kill method="post" action={ "/sessions/" (s.id) "/kill" } {
                        (csrf(&viewer))
                        label { "Reason shown to the client" input name="reason" maxlength=(limits::MAX_REASON) autocomplete="off"; }
                        button.danger type="submit" { "Kill" }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &state,
        &viewer,
        "/sessions",
        "Open sessions",
        body,
    ))
}

pub async fn kill(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    post: Post<KillForm>,
) -> ConsoleResult<Response> {
    limits::id("id", &id)?;
    let reason = post.form.reason;
    limits::text("reason", &reason, limits::MAX_REASON)?;
    let subject = post.viewer.subject;
    call(&state, move |c| Ok(c.kill_session(&subject, &id, &reason)?)).await?;
    Ok(see_other("/sessions"))
}
