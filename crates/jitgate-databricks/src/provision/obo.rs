//! On-behalf-of tokens per grant: a provision rule with `token_for` lets the grant's holder
//! have jitgate mint a token for a service principal, living no longer than the grant, and
//! deleted when the grant ends.
//!
//! The value goes to the holder once, in the answer to their own call, and is kept nowhere:
//! not in the store, the audit trail (the API's answer is audited with the value withheld) or
//! the log. The store keeps a row per token, written *before* the token is minted with a
//! comment that names the grant and carries a random tag; the comment is how a token whose
//! creation was interrupted (or minted twice by a retried call) is found in the workspace.
//! Asking again for the same grant deletes the earlier token first.

use std::collections::HashSet;

use jitgate_config::ProvisionRule;
use jitgate_control::audit::{kind, AuditEvent};
use jitgate_control::model::{random_token, Grant, Millis};
use jitgate_control::native::{IssuedPlatformToken, NativeRefusal};
use jitgate_control::store::provisioning::WorkspaceToken;
use jitgate_control::ControlPlane;
use serde_json::json;

use super::{Binding, ProvisionError};
use crate::api::ApiError;

/// How long a token row may stay without its token id before a pass looks for the token by
/// its comment (a creation still under way must not be taken for an interrupted one).
const SETTLE_GRACE_MS: Millis = 120_000;

/// The comment a token of `grant` gets: the grant, its holder, and a random tag.
fn comment_for(grant: &Grant) -> String {
    format!(
        "jitgate grant {} of {} #{}",
        grant.id,
        grant.subject,
        random_token(12)
    )
}

/// Mints the token of a live grant under `rule` (earlier tokens of the grant are deleted).
pub(crate) fn issue(
    control: &ControlPlane,
    b: &Binding,
    rule: &ProvisionRule,
    grant: &Grant,
) -> Result<IssuedPlatformToken, NativeRefusal> {
    let Some(application_id) = &rule.token_for else {
        return Err(NativeRefusal::NotOffered(format!(
            "no provision rule of {} gives {} a workspace token",
            b.resource, grant.subject
        )));
    };
    let now = control.now();
    // A second less than the grant has left: the call's delay must not carry the token's
    // expiry past the grant's (the loop deletes it when the grant ends in any case).
    let lifetime_seconds = (grant.expires_at - now) / 1000 - 1;
    if lifetime_seconds < 1 {
        return Err(NativeRefusal::NotOffered(format!(
            "grant {} ends in less than a second",
            grant.id
        )));
    }
    // The holder is told the kind of failure; the log and the audit trail have the rest.
    let unavailable = |e: &dyn std::fmt::Display, brief: &str| {
        tracing::warn!(resource = %b.resource, grant = %grant.id, "workspace token: {e}");
        NativeRefusal::Unavailable(format!(
            "the Databricks workspace of {} did not mint the token ({brief}); try again later",
            b.resource
        ))
    };
    let store_failed = |e: &dyn std::fmt::Display| unavailable(e, "the store failed");
    let store = control.store();
    let earlier: Vec<WorkspaceToken> = store
        .workspace_tokens(&b.resource)
        .map_err(|e| store_failed(&e))?
        .into_iter()
        .filter(|t| t.grant_id == grant.id && t.token_id.is_some())
        .collect();
    for t in &earlier {
        delete(control, b, t, "replaced by a new token of the grant").map_err(|e| {
            let brief = match &e {
                ProvisionError::Api(a) => super::gate::brief(a),
                _ => "the store failed".to_string(),
            };
            unavailable(&e, &format!("deleting its earlier token: {brief}"))
        })?;
    }
    let row = WorkspaceToken {
        comment: comment_for(grant),
        resource: b.resource.clone(),
        grant_id: grant.id.clone(),
        subject: grant.subject.clone(),
        application_id: application_id.clone(),
        token_id: None,
        created_at: now,
        expires_at: now + lifetime_seconds * 1000,
    };
    store
        .insert_workspace_token(&row)
        .map_err(|e| store_failed(&e))?;
    let detail = json!({"action": "create_obo_token", "application_id": application_id,
                        "lifetime_seconds": lifetime_seconds, "comment": row.comment,
                        "grants": [grant.id]});
    let minted = b
        .api
        .create_obo_token(application_id, lifetime_seconds, &row.comment);
    let event = match &minted {
        Ok(t) => AuditEvent::new(kind::DATABRICKS_CHANGED, detail).merge(json!({
            "token_id": t.info.token_id,
            "answer": {"status": t.answer.status, "body": t.answer.body}})),
        Err(e) => AuditEvent::new(kind::DATABRICKS_FAILED, detail)
            .merge(json!({"answer": e.answer(), "error": e.to_string()})),
    };
    control.audit(
        event
            .subject(&grant.subject)
            .resource(&b.resource)
            .grant(&grant.id),
    );
    let minted = match minted {
        Ok(t) => t,
        Err(e) => {
            // Refused outright: nothing was minted. Otherwise the row stays, and a pass looks
            // for the token by its comment.
            if matches!(&e, ApiError::Status { status, .. } if *status < 500 && *status != 429) {
                let _ = store.forget_workspace_token(&row.comment);
            }
            return Err(unavailable(&e, &super::gate::brief(&e)));
        }
    };
    store
        .settle_workspace_token(&row.comment, &minted.info.token_id)
        .map_err(|e| store_failed(&e))?;
    Ok(IssuedPlatformToken {
        token_id: minted.info.token_id,
        value: minted.value,
        on_behalf_of: application_id.clone(),
        expires_at: if minted.info.expiry_time > 0 {
            minted.info.expiry_time.min(row.expires_at)
        } else {
            row.expires_at
        },
        comment: row.comment,
    })
}

/// Deletes one recorded token (already gone counts as deleted), audited, and forgets its row.
fn delete(
    control: &ControlPlane,
    b: &Binding,
    t: &WorkspaceToken,
    why: &str,
) -> Result<(), ProvisionError> {
    let Some(token_id) = &t.token_id else {
        return Ok(());
    };
    let result = b.api.delete_token(token_id);
    let gone = matches!(&result, Err(ApiError::Status { status: 404, .. }));
    let detail = json!({"action": "delete_obo_token", "token_id": token_id,
                        "application_id": t.application_id, "grants": [t.grant_id], "why": why});
    let event = match &result {
        Ok(a) => AuditEvent::new(kind::DATABRICKS_CHANGED, detail)
            .merge(json!({"answer": {"status": a.status, "body": a.body}})),
        Err(e) if gone => AuditEvent::new(kind::DATABRICKS_CHANGED, detail)
            .merge(json!({"answer": e.answer(), "already_gone": true})),
        Err(e) => AuditEvent::new(kind::DATABRICKS_FAILED, detail)
            .merge(json!({"answer": e.answer(), "error": e.to_string()})),
    };
    control.audit(
        event
            .subject(&t.subject)
            .resource(&b.resource)
            .grant(&t.grant_id),
    );
    if !gone {
        result?;
    }
    control
        .store()
        .forget_workspace_token(&t.comment)
        .map_err(|e| ProvisionError::Store(e.to_string()))
}

/// One pass over the tokens jitgate minted in `b`'s workspace: those whose grant is no longer
/// live are deleted; a row left without its token id (an interrupted creation) is settled from
/// the workspace's token list by its comment, or forgotten when no such token exists.
pub(crate) fn reconcile(
    control: &ControlPlane,
    b: &Binding,
    live: &HashSet<String>,
    dry_run: bool,
) -> Result<Vec<String>, ProvisionError> {
    let store_error = |e: jitgate_control::store::StoreError| ProvisionError::Store(e.to_string());
    let now = control.now();
    let rows = control
        .store()
        .workspace_tokens(&b.resource)
        .map_err(store_error)?;
    let unsettled =
        |t: &WorkspaceToken| t.token_id.is_none() && now - t.created_at > SETTLE_GRACE_MS;
    let mut lines = Vec::new();
    let mut rows: Vec<WorkspaceToken> = rows
        .into_iter()
        .filter(|t| !live.contains(&t.grant_id) || unsettled(t))
        .collect();
    if rows.is_empty() {
        return Ok(lines);
    }
    // Tokens minted under a recorded comment but not (or not all) recorded by id: an
    // interrupted creation, or a retried one that minted two.
    let listed = b.api.tokens()?;
    let mut extra = Vec::new();
    for t in rows.iter_mut() {
        for w in listed.iter().filter(|w| w.comment == t.comment) {
            if t.token_id.is_none() {
                if !dry_run {
                    store_settle(control, t, &w.token_id)?;
                }
                t.token_id = Some(w.token_id.clone());
            } else if t.token_id.as_deref() != Some(w.token_id.as_str()) {
                extra.push(WorkspaceToken {
                    token_id: Some(w.token_id.clone()),
                    ..t.clone()
                });
            }
        }
    }
    rows.extend(extra);
    for t in rows {
        if live.contains(&t.grant_id) {
            continue;
        }
        let Some(token_id) = &t.token_id else {
            // No such token in the workspace: the creation never happened.
            if !dry_run && now - t.created_at > SETTLE_GRACE_MS {
                control
                    .store()
                    .forget_workspace_token(&t.comment)
                    .map_err(store_error)?;
            }
            continue;
        };
        let line = format!(
            "{}: {}delete token {token_id} of {} for {} (its grant ended)",
            b.resource,
            if dry_run { "would " } else { "" },
            t.application_id,
            t.subject
        );
        if !dry_run {
            delete(control, b, &t, "its grant ended")?;
        }
        lines.push(line);
    }
    Ok(lines)
}

fn store_settle(
    control: &ControlPlane,
    t: &WorkspaceToken,
    token_id: &str,
) -> Result<(), ProvisionError> {
    control
        .store()
        .settle_workspace_token(&t.comment, token_id)
        .map_err(|e| ProvisionError::Store(e.to_string()))
}
