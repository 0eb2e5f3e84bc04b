//! The audit trail for admins (the API's own rule, `require_admin`): filtered, following live,
//! exported as JSON lines or CSV, with the hash chain's verification state.

use super::call;
use super::error::{ConsoleError, ConsoleResult};
use super::layout::{self, time};
use super::viewer::Viewer;
use crate::routes::audit::require_admin;
use crate::views::AuditView;
use crate::ApiState;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use jitgate_control::audit::ChainedEvent;
use jitgate_control::model::{rfc3339, Millis};
use jitgate_control::AuditCheckError;
use maud::html;
use serde::Deserialize;
use std::collections::VecDeque;

/// Events read from the store per step of a scan.
const SCAN_PAGE: usize = 1000;
/// Most events the page shows (the newest that match).
const SHOWN: usize = 200;

#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    resource: String,
    /// A kind, or a prefix ending in `.` (`request.`).
    #[serde(default)]
    kind: String,
    /// `1h`, `24h`, `7d` or empty.
    #[serde(default)]
    period: String,
    /// `jsonl` or `csv`, for the export.
    #[serde(default)]
    format: String,
}

impl Filters {
    fn since(&self, now: Millis) -> Option<Millis> {
        let span = match self.period.as_str() {
            "1h" => 3_600_000,
            "24h" => 86_400_000,
            "7d" => 604_800_000,
            _ => return None,
        };
        Some(now - span)
    }

    fn admits(&self, e: &ChainedEvent, since: Option<Millis>) -> bool {
        let ev = &e.event;
        let kind_ok = self.kind.is_empty()
            || ev.kind == self.kind
            || (self.kind.ends_with('.') && ev.kind.starts_with(&self.kind));
        kind_ok
            && (self.subject.is_empty() || ev.subject.as_deref() == Some(self.subject.as_str()))
            && (self.resource.is_empty() || ev.resource.as_deref() == Some(self.resource.as_str()))
            && since.is_none_or(|s| ev.at >= s)
    }
}

fn admin(state: &ApiState, viewer: &Viewer) -> ConsoleResult<()> {
    Ok(require_admin(&state.control, &viewer.subject)?)
}

pub async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(f): Query<Filters>,
) -> ConsoleResult<Html<String>> {
    admin(&state, &viewer)?;
    let since = f.since(state.control.now());
    let filters = f.clone();
    let (events, chain) = call(&state, move |c| {
        c.flush();
        let mut shown = VecDeque::with_capacity(SHOWN);
        let mut after = 0;
        loop {
            let page = c
                .audit_page(after, SCAN_PAGE)
                .map_err(|e| crate::ApiError::internal("reading the audit trail", e))?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in page.into_iter().filter(|e| filters.admits(e, since)) {
                if shown.len() == SHOWN {
                    shown.pop_front();
                }
                shown.push_back(e);
            }
        }
        Ok((shown, c.verify_audit()))
    })
    .await?;
    let query = serde_urlencoded::to_string([
        ("subject", &f.subject),
        ("resource", &f.resource),
        ("kind", &f.kind),
        ("period", &f.period),
    ])
    .unwrap_or_default();
    let body = html! {
        @match &chain {
            Ok(n) => p.chain.ok #chain { "Hash chain verified: " (n) " events, none edited, missing or out of order." },
            Err(AuditCheckError::Broken(b)) => p.chain.broken #chain role="alert" { "Hash chain BROKEN: " (b.to_string()) },
            Err(AuditCheckError::Store(_)) => p.chain.broken #chain role="alert" { "The chain could not be read; see the gateway's log." },
        }
        form.card.filters method="get" action="/audit" {
            label { "Subject" input name="subject" value=(f.subject) autocomplete="off"; }
            label { "Resource" input name="resource" value=(f.resource) autocomplete="off"; }
            label { "Kind" input name="kind" value=(f.kind) placeholder="request. or statement" autocomplete="off"; }
            label { "Period" select name="period" {
                option value="" { "any time" }
                @for (k, l) in [("1h", "last hour"), ("24h", "last day"), ("7d", "last week")] { option value=(k) selected[f.period == k] { (l) } }
            } }
            button type="submit" { "Filter" }
        }
        p.export { "Export: "
            a href={ "/audit/export?format=jsonl&" (query) } { "JSON lines" } " · "
            a href={ "/audit/export?format=csv&" (query) } { "CSV" } }
        section #audit data-live data-live-all {
            @if events.is_empty() { p.empty { "No event matches." } }
            ol.audit reversed {
                @for e in events.iter().rev() {
                    li.event {
                        div.line { span.seq { "#" (e.seq) } strong.kind { (e.event.kind) } (time(e.event.at)) }
                        p.meta {
                            @if let Some(s) = &e.event.subject { "subject " strong.subject { (s) } " " }
                            @if let Some(r) = &e.event.resource { "resource " strong { (r) } " " }
                            @if let Some(s) = &e.event.session_id { "session " code { (s) } }
                        }
                        code.detail { (e.event.detail.get()) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&state, &viewer, "/audit", "Audit trail", body))
}

/// The matching events, oldest first, as JSON lines (the API's event shape) or CSV, streamed a
/// store page at a time.
pub async fn export(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(f): Query<Filters>,
) -> ConsoleResult<Response> {
    admin(&state, &viewer)?;
    let csv = match f.format.as_str() {
        "jsonl" | "" => false,
        "csv" => true,
        _ => {
            return Err(ConsoleError::refused(
                StatusCode::BAD_REQUEST,
                "format must be jsonl or csv",
            ))
        }
    };
    let since = f.since(state.control.now());
    state.control.flush();
    let control = state.control.clone();
    let header =
        csv.then(|| "seq,at,kind,subject,resource,grant_id,session_id,detail,hash\n".to_owned());
    let pages = futures_util::stream::unfold(Some(0i64), move |after| {
        let control = control.clone();
        let f = f.clone();
        async move {
            let after = after?;
            let page =
                tokio::task::spawn_blocking(move || control.audit_page(after, SCAN_PAGE)).await;
            let page = match page {
                Ok(Ok(page)) => page,
                _ => {
                    return Some((
                        Err(std::io::Error::other("reading the audit trail failed")),
                        None,
                    ))
                }
            };
            let next = page.last().map(|e| e.seq);
            let text: String = page
                .iter()
                .filter(|e| f.admits(e, since))
                .map(|e| line(e, csv))
                .collect();
            next.map(|n| (Ok::<_, std::io::Error>(text), Some(n)))
        }
    });
    let head = futures_util::stream::iter(header.map(Ok));
    let body = Body::from_stream(futures_util::StreamExt::chain(head, pages));
    let (mime, name) = if csv {
        ("text/csv; charset=utf-8", "audit.csv")
    } else {
        ("application/x-ndjson", "audit.jsonl")
    };
    Ok((
        [
            (CONTENT_TYPE, mime.to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

fn line(e: &ChainedEvent, csv: bool) -> String {
    if !csv {
        return serde_json::to_string(&AuditView::from(e)).unwrap_or_default() + "\n";
    }
    let ev = &e.event;
    let fields = [
        e.seq.to_string(),
        rfc3339(ev.at),
        ev.kind.clone(),
        ev.subject.clone().unwrap_or_default(),
        ev.resource.clone().unwrap_or_default(),
        ev.grant_id.clone().unwrap_or_default(),
        ev.session_id.clone().unwrap_or_default(),
        ev.detail.get().to_owned(),
        e.hash.clone(),
    ];
    let cells: Vec<String> = fields.iter().map(|f| csv_cell(f)).collect();
    cells.join(",") + "\n"
}

/// RFC 4180 quoting; a cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
/// tab, carriage return first) is prefixed with `'`.
fn csv_cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", value.replace('"', "\"\""))
}
