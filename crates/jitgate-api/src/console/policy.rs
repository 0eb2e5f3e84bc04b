//! The effective policy, read-only, for admins (the audit trail's rule): who may request what,
//! on which terms, approved by whom; and per resource which columns are masked, how, and for
//! whom they are clear.

use super::error::ConsoleResult;
use super::layout::{self, duration};
use super::viewer::Viewer;
use crate::routes::audit::require_admin;
use crate::ApiState;
use axum::extract::State;
use axum::response::Html;
use maud::html;

pub async fn page(State(state): State<ApiState>, viewer: Viewer) -> ConsoleResult<Html<String>> {
    require_admin(&state.control, &viewer.subject)?;
    let policy = state.control.policy();
    let masking = state.masking.as_ref();
    let body = html! {
        section #access {
            h2 { "Who may request what" }
            @if policy.rules.is_empty() { p.empty { "No access rule: only admin commands grant access." } }
            @for (i, rule) in policy.rules.iter().enumerate() {
                article.card.rule {
                    div.line { strong.title { "Rule " (i + 1) ": " (rule.resources.join(", ")) } }
                    p.meta { "for " (rule.requesters.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
                        ", up to " (duration(rule.max_duration.as_millis() as i64)) }
                    p.meta {
                        @if rule.approvals == 0 { "granted on request" }
                        @else { (rule.approvals) " approval(s) from " (rule.approver_groups.join(", ")) }
                        @if !rule.auto_approve_groups.is_empty() { "; at once for " (rule.auto_approve_groups.join(", ")) }
                        @if let Some(w) = rule.window { "; between " (w.to_string()) " UTC" }
                        @if rule.read_only { "; read only" }
                    }
                    @if let Some(p) = &rule.reason.prompt { p.meta { "reason prompt: " (p) } }
                    @if let Some(p) = &rule.reason.pattern { p.meta { "reason must match " code { (p.as_str()) } } }
                }
            }
        }
        section #masking {
            h2 { "Masking" }
            @match masking {
                None => p.empty { "No masking policy." },
                Some(m) if m.rules().is_empty() => p.empty { "No masking rule: every column is clear." },
                Some(m) => {
                    @if !m.clear_groups().is_empty() { p.meta { "clear everywhere for groups " (m.clear_groups().join(", ")) } }
                    @for r in m.rules() {
                        article.card.rule {
                            div.line { strong.title { (r.resource.to_string()) " · " (r.column.to_string()) } code { (r.mask.to_string()) } }
                            p.meta {
                                @if r.clear_for.is_empty() { "masked for everyone" }
                                @else { "clear for " (r.clear_for.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &state,
        &viewer,
        "/policy",
        "Effective policy",
        body,
    ))
}
