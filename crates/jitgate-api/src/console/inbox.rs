//! The approver's inbox: the requests they may decide, oldest first, with filters and an empty
//! state. The listing is the control plane's (`list_requests_page`, as `GET /api/v1/requests`).

use super::call;
use super::error::ConsoleResult;
use super::layout::{self, time};
use super::requests::request_card;
use super::viewer::Viewer;
use crate::ApiState;
use axum::extract::{Query, State};
use axum::response::Html;
use jitgate_control::lifecycle::PageRequest;
use jitgate_control::model::{Millis, RequestState};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Filters {
    #[serde(default)]
    resource: String,
    #[serde(default)]
    requester: String,
    /// `pending` (default), `approved`, `denied`, `cancelled`, `expired` or `all`.
    #[serde(default)]
    status: String,
    /// `1h`, `24h`, `7d` or empty (any time).
    #[serde(default)]
    period: String,
}

const PERIODS: [(&str, &str, Millis); 3] = [
    ("1h", "last hour", 3_600_000),
    ("24h", "last day", 86_400_000),
    ("7d", "last week", 604_800_000),
];
const STATUSES: [&str; 6] = [
    "pending",
    "approved",
    "denied",
    "cancelled",
    "expired",
    "all",
];

pub async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(f): Query<Filters>,
) -> ConsoleResult<Html<String>> {
    let status = if f.status.is_empty() {
        "pending"
    } else {
        f.status.as_str()
    };
    let wanted = RequestState::parse(status);
    let since = PERIODS
        .iter()
        .find(|(key, _, _)| *key == f.period)
        .map(|(_, _, span)| state.control.now() - span);
    let subject = viewer.subject.clone();
    let mut requests = call(&state, move |c| {
        Ok(c.list_requests_page(
            &subject,
            wanted == Some(RequestState::Pending),
            &PageRequest::first(),
        )?
        .items)
    })
    .await?;
    requests.retain(|r| {
        r.subject != viewer.subject.name
            && wanted.is_none_or(|w| r.state == w)
            && (f.resource.is_empty() || r.resource == f.resource)
            && (f.requester.is_empty() || r.subject == f.requester)
            && since.is_none_or(|s| r.created_at >= s)
    });
    requests.reverse();
    let resources = &state.control.policy().resources;
    let body = html! {
        form.card.filters method="get" action="/inbox" {
            label { "Resource" select name="resource" {
                option value="" { "any" }
                @for r in resources { option value=(r) selected[f.resource == *r] { (r) } }
            } }
            label { "Requester" input name="requester" value=(f.requester) autocomplete="off"; }
            label { "Status" select name="status" {
                @for s in STATUSES { option value=(s) selected[status == s] { (s) } }
            } }
            label { "Period" select name="period" {
                option value="" { "any time" }
                @for (key, label, _) in PERIODS { option value=(key) selected[f.period == key] { (label) } }
            } }
            button type="submit" { "Filter" }
        }
        section #inbox data-live {
            @if requests.is_empty() {
                p.empty { "Nothing waiting for you." }
            }
            @for r in &requests {
                (request_card(&viewer, r, false))
                @if r.state == RequestState::Pending {
                    p.meta { "expires " (time(r.expires_at)) " · " a href={ "/requests/" (r.id) } { "Review" } }
                }
            }
        }
    };
    Ok(layout::page(&state, &viewer, "/inbox", "Inbox", body))
}
