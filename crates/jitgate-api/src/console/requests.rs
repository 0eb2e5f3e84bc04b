//! The requester's page (what they may request, their requests, their grants) and a request's
//! own page, where approvers decide. Every read and change is the control plane's call, as for
//! the API: visibility, self-approval, approver groups and counts are decided there.

use super::error::ConsoleResult;
use super::layout::{self, badge, csrf, duration, time};
use super::viewer::{Post, Viewer};
use super::{call, see_other};
use crate::limits;
use crate::ApiState;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use jitgate_config::AccessRule;
use jitgate_control::lifecycle::PageRequest;
use jitgate_control::model::{Decision, Grant, Request, RequestState};
use maud::{html, Markup};
use serde::Deserialize;
use std::time::Duration;

/// Durations offered in the form, capped by the rule's maximum (which is always offered too).
const DURATIONS: [u64; 7] = [
    15 * 60,
    30 * 60,
    3600,
    2 * 3600,
    4 * 3600,
    8 * 3600,
    24 * 3600,
];

#[derive(Deserialize, Default)]
pub struct Prefill {
    resource: Option<String>,
}

#[derive(Deserialize)]
pub struct NewRequest {
    resource: String,
    duration_seconds: u64,
    reason: String,
}

#[derive(Deserialize)]
pub struct Comment {
    #[serde(default)]
    comment: String,
}

/// `/`: the request form, the viewer's requests and grants.
pub async fn home(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(prefill): Query<Prefill>,
) -> ConsoleResult<Html<String>> {
    let subject = viewer.subject.clone();
    let (requests, grants) = call(&state, move |c| {
        let mut requests = c
            .list_requests_page(&subject, false, &PageRequest::first())?
            .items;
        requests.retain(|r| r.subject == subject.name);
        requests.truncate(50);
        let mut grants = c
            .list_grants_page(&subject, true, &PageRequest::first())?
            .items;
        grants.retain(|g| g.subject == subject.name);
        Ok((requests, grants))
    })
    .await?;
    let now = state.control.now();
    let body = html! {
        (request_form(&state, &viewer, prefill.resource.as_deref()))
        section #my-grants data-live {
            h2 { "My active grants" }
            @if grants.is_empty() { p.empty { "No active grant. Request access above." } }
            @for g in &grants { (grant_card(&viewer, g, now)) }
        }
        section #my-requests data-live {
            h2 { "My requests" }
            @if requests.is_empty() { p.empty { "You have not requested anything yet." } }
            @for r in &requests { (request_card(&viewer, r, true)) }
        }
    };
    Ok(layout::page(&state, &viewer, "/", "My access", body))
}

/// The rules the viewer may request under, by resource: the control plane's own lookup.
fn requestable<'p>(state: &'p ApiState, viewer: &Viewer) -> Vec<(&'p str, &'p AccessRule)> {
    let policy = state.control.policy();
    let s = &viewer.subject;
    policy
        .resources
        .iter()
        .filter_map(|r| Some((r.as_str(), policy.rule_for(&s.name, &s.groups, r)?)))
        .collect()
}

fn request_form(state: &ApiState, viewer: &Viewer, chosen: Option<&str>) -> Markup {
    let rules = requestable(state, viewer);
    if rules.is_empty() {
        return html! { section.card #new { h2 { "Request access" } p.empty { "No access rule lets you request anything." } } };
    }
    let longest = rules
        .iter()
        .map(|(_, r)| r.max_duration)
        .max()
        .unwrap_or_default();
    let mut durations: Vec<u64> = DURATIONS
        .iter()
        .copied()
        .filter(|d| Duration::from_secs(*d) <= longest)
        .collect();
    if !durations.contains(&longest.as_secs()) {
        durations.push(longest.as_secs());
    }
    html! {
        form.card #new method="post" action="/requests" {
            h2 { "Request access" }
            (csrf(viewer))
            label { "Resource"
                select name="resource" data-prompts required {
                    @for (name, rule) in &rules {
                        option value=(name) selected[chosen == Some(*name)]
                            data-max=(rule.max_duration.as_secs())
                            data-prompt=(rule.reason.prompt.as_deref().unwrap_or("Why do you need access?")) {
                            (name) " (up to " (duration(rule.max_duration.as_millis() as i64)) ")"
                        }
                    }
                }
            }
            label { "Duration"
                select name="duration_seconds" required {
                    @for d in &durations { option value=(d) { (duration(*d as i64 * 1000)) } }
                }
            }
            label { span.prompt { (rules[0].1.reason.prompt.as_deref().unwrap_or("Why do you need access?")) }
                input name="reason" required maxlength=(limits::MAX_REASON) autocomplete="off";
            }
            button.primary type="submit" { "Request" }
        }
    }
}

pub async fn create(
    State(state): State<ApiState>,
    post: Post<NewRequest>,
) -> ConsoleResult<Response> {
    let NewRequest {
        resource,
        duration_seconds,
        reason,
    } = post.form;
    limits::name("resource", &resource, limits::MAX_RESOURCE)?;
    limits::required_text("reason", &reason, limits::MAX_REASON)?;
    let subject = post.viewer.subject;
    let request = call(&state, move |c| {
        Ok(c.request_access(
            &subject,
            &resource,
            Duration::from_secs(duration_seconds),
            &reason,
        )?)
    })
    .await?;
    Ok(see_other(&format!("/requests/{}", request.id)))
}

/// A request's page: who, what, why, the votes so far, and the decision forms.
pub async fn show(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> ConsoleResult<Html<String>> {
    limits::id("id", &id)?;
    let subject = viewer.subject.clone();
    let (request, history) = call(&state, move |c| {
        let request = c.get_request(&subject, &id)?;
        // Only what the viewer may see anyway: the same listing, narrowed to this requester.
        let mut history = c
            .list_requests_page(&subject, false, &PageRequest::first())?
            .items;
        history.retain(|r| r.subject == request.subject && r.id != request.id);
        history.truncate(5);
        Ok((request, history))
    })
    .await?;
    let mine = request.subject == viewer.subject.name;
    let body = html! {
        section #request data-live {
            (request_card(&viewer, &request, false))
            (votes(&request))
            @if request.state == RequestState::Pending && !mine {
                form.card.decide method="post" {
                    (csrf(&viewer))
                    label { "Comment (optional)" textarea name="comment" maxlength=(limits::MAX_COMMENT) rows="2" {} }
                    div.actions {
                        button.primary.approve type="submit" formaction={ "/requests/" (request.id) "/approve" } { "Approve" }
                        button.danger.deny type="submit" formaction={ "/requests/" (request.id) "/deny" } { "Deny" }
                    }
                }
            }
        }
        @if !mine {
            section #history {
                h2 { "Recent requests of " (request.subject) }
                @if history.is_empty() { p.empty { "None you can see." } }
                @for r in &history { (request_card(&viewer, r, false)) }
            }
        }
    };
    Ok(layout::page(
        &state,
        &viewer,
        "",
        &format!("Request {}", request.id),
        body,
    ))
}

fn votes(request: &Request) -> Markup {
    let approvals = request.approval_count();
    let needed = request.approvals_required.max(1);
    html! {
        div.card.votes {
            h2 { "Approvals: " (approvals) " of " (needed) }
            @if request.approvals.is_empty() { p.empty { "No decision yet." } }
            ul {
                @for a in &request.approvals {
                    li {
                        strong { (a.approver) } " "
                        (if a.decision == Decision::Approve { "approved" } else { "denied" })
                        " at " (time(a.at))
                        @if !a.comment.is_empty() { blockquote.comment { (a.comment) } }
                    }
                }
            }
        }
    }
}

/// One request as a card; `own` adds the requester's actions (cancel, request again).
pub fn request_card(viewer: &Viewer, r: &Request, own: bool) -> Markup {
    html! {
        article.card.request id={ "req-" (r.id) } {
            div.line {
                a.title href={ "/requests/" (r.id) } { (r.resource) " for " (duration(r.duration_ms)) }
                (badge(r.state.as_str()))
            }
            p.meta { "by " strong.subject { (r.subject) }
                @if !r.subject_groups.is_empty() { " (" (r.subject_groups.join(", ")) ")" }
                ", asked " (time(r.created_at)) }
            p.reason { (r.reason) }
            @if let Some(by) = &r.decided_by { p.meta { (r.state.as_str()) " by " strong { (by) } } }
            @for a in r.approvals.iter().filter(|a| !a.comment.is_empty()) {
                blockquote.comment { strong { (a.approver) ": " } (a.comment) }
            }
            @if own && r.state == RequestState::Pending && r.subject == viewer.subject.name {
                form method="post" action={ "/requests/" (r.id) "/cancel" } {
                    (csrf(viewer)) button type="submit" { "Cancel" }
                }
            }
            @if own && r.state == RequestState::Approved {
                a.button href={ "/?resource=" (r.resource) "#new" } { "Request again (extension)" }
            }
        }
    }
}

/// One of the viewer's own live grants, with its countdown and the connect button.
fn grant_card(viewer: &Viewer, g: &Grant, now: i64) -> Markup {
    html! {
        article.card.grant id={ "grant-" (g.id) } {
            div.line { strong.title { (g.resource) } (layout::countdown(g.expires_at, now)) }
            p.meta { "granted by " (g.granted_by) @if g.read_only { " · read only" } }
            div.actions {
                form method="post" action="/connect" {
                    (csrf(viewer))
                    input type="hidden" name="resource" value=(g.resource);
                    button.primary type="submit" { "Connect" }
                }
                form method="post" action={ "/grants/" (g.id) "/revoke" } {
                    (csrf(viewer)) button type="submit" { "End now" }
                }
            }
        }
    }
}

pub async fn approve(
    state: State<ApiState>,
    id: Path<String>,
    post: Post<Comment>,
) -> ConsoleResult<Response> {
    decide(state, id, post, true).await
}

pub async fn deny(
    state: State<ApiState>,
    id: Path<String>,
    post: Post<Comment>,
) -> ConsoleResult<Response> {
    decide(state, id, post, false).await
}

async fn decide(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    post: Post<Comment>,
    approve: bool,
) -> ConsoleResult<Response> {
    limits::id("id", &id)?;
    let comment = post.form.comment;
    limits::text("comment", &comment, limits::MAX_COMMENT)?;
    let subject = post.viewer.subject;
    let target = format!("/requests/{id}");
    call(&state, move |c| {
        Ok(if approve {
            c.approve(&subject, &id, &comment)?
        } else {
            c.deny(&subject, &id, &comment)?
        })
    })
    .await?;
    Ok(see_other(&target))
}

pub async fn cancel(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    post: Post<super::login::Nothing>,
) -> ConsoleResult<Response> {
    limits::id("id", &id)?;
    let subject = post.viewer.subject;
    let target = format!("/requests/{id}");
    call(&state, move |c| Ok(c.cancel(&subject, &id)?)).await?;
    Ok(see_other(&target))
}
