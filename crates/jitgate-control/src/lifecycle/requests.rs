//! Requests and their decisions: request, approve, deny, cancel, expire, and listing them.

use super::checks::{self, human};
use super::paging::{merge, Fetched, Page, PageRequest};
use super::LifecycleError;
use crate::audit::{kind, AuditEvent};
use crate::control::ControlPlane;
use crate::identity::Subject;
use crate::model::{new_id, Approval, Decision, Grant, Millis, Request, RequestState};
use crate::store::{Cursor, RequestQuery, StoreError, Transition};
use jitgate_config::AccessRule;
use serde_json::json;
use std::time::Duration;

/// `decided_by` of a request approved without a vote.
pub const POLICY: &str = "policy";

impl ControlPlane {
    /// Asks for `resource` for `duration`. The first access rule matching the resource and the
    /// subject decides: the duration must be within its maximum and now within its time window.
    /// Granted at once (the request is returned `approved`, with its grant) when the rule needs
    /// no approval or the subject is in one of its auto-approve groups; `pending` otherwise.
    pub fn request_access(
        &self,
        subject: &Subject,
        resource: &str,
        duration: Duration,
        reason: &str,
    ) -> Result<Request, LifecycleError> {
        checks::subject(subject)?;
        checks::name("resource", resource)?;
        checks::duration(duration)?;
        checks::text("reason", reason, true)?;
        let rule = self.rule_for_request(subject, resource, duration)?;
        check_reason(rule, reason)?;
        let now = self.now();
        check_window(rule, resource, now)?;
        // Refused up front, not granted and then left undone in the platform.
        self.check_grantable(&subject.name, &subject.groups, resource)?;
        let auto = rule.approvals == 0 || subject.in_any(&rule.auto_approve_groups);
        let expires_at = now.saturating_add(self.policy().pending_ttl.as_millis() as Millis);
        let mut request = Request {
            id: new_id("r"),
            subject: subject.name.clone(),
            subject_groups: subject.groups.clone(),
            resource: resource.to_owned(),
            duration_ms: duration.as_millis() as Millis,
            reason: reason.to_owned(),
            state: RequestState::Pending,
            created_at: now,
            decided_at: None,
            decided_by: None,
            expires_at,
            approvals_required: rule.approvals,
            read_only: rule.read_only,
            grant_id: None,
            approvals: Vec::new(),
        };
        let grant = if auto {
            Some(approve_by_policy(&mut request, rule, now)?)
        } else {
            None
        };
        self.store().insert_request(&request, grant.as_ref())?;
        self.audit(request_event(kind::REQUEST_CREATED, &request).merge(json!({
            "duration_ms": request.duration_ms,
            "reason": request.reason,
            "approvals_required": request.approvals_required,
            "read_only": request.read_only,
            "auto_approved": auto,
        })));
        if let Some(grant) = &grant {
            self.audit_approved(&request, grant, POLICY);
        }
        Ok(request)
    }

    /// The access rule that decides a request of `subject` for `resource` for `duration`.
    fn rule_for_request(
        &self,
        subject: &Subject,
        resource: &str,
        duration: Duration,
    ) -> Result<&AccessRule, LifecycleError> {
        let policy = self.policy();
        if !policy.has_resource(resource) {
            return Err(LifecycleError::NotFound(format!("no resource {resource}")));
        }
        let rule = policy
            .rule_for(&subject.name, &subject.groups, resource)
            .ok_or_else(|| LifecycleError::NoMatchingRule {
                subject: subject.name.clone(),
                resource: resource.to_owned(),
            })?;
        let max = rule.max_duration.min(checks::MAX_DURATION);
        if duration > max {
            return Err(LifecycleError::DurationTooLong {
                requested: human(duration),
                max: human(max),
            });
        }
        Ok(rule)
    }

    /// One approver's yes. The approver must be allowed by the request's rule (or be an admin)
    /// and must not be the requester; each approver counts once. When the rule's number of
    /// distinct approvals is reached, the grant is created in the same store transaction: it
    /// starts now and lasts the requested duration, capped at the rule's maximum (and at the
    /// end of its time window).
    pub fn approve(
        &self,
        approver: &Subject,
        request_id: &str,
        comment: &str,
    ) -> Result<Request, LifecycleError> {
        checks::text("comment", comment, false)?;
        let (request, rule) = self.decidable(approver, request_id)?;
        let rule = rule.ok_or_else(|| {
            LifecycleError::Forbidden(
                "no access rule covers this request any more; it can only be denied or cancelled"
                    .into(),
            )
        })?;
        let now = self.now();
        let needed = request.approvals_required.max(rule.approvals).max(1);
        // Everyone who approved, this approver included, is recorded as granting.
        let mut approvers: Vec<&str> = request
            .approvals
            .iter()
            .filter(|a| a.decision == Decision::Approve)
            .map(|a| a.approver.as_str())
            .collect();
        approvers.push(&approver.name);
        let grant = grant_for(&request, &rule, now, &approvers.join(", "))?;
        if approvers.len() as u32 >= needed {
            // This vote creates the grant: the platform must still be able to carry it out.
            self.check_grantable(&request.subject, &request.subject_groups, &request.resource)?;
        }
        let vote = Approval {
            request_id: request.id.clone(),
            approver: approver.name.clone(),
            decision: Decision::Approve,
            comment: comment.to_owned(),
            at: now,
        };
        let outcome = self.store().approve_request(&vote, needed, &grant)?;
        let after = settled(outcome, request_id)?;
        self.audit(request_event(kind::APPROVAL_ADDED, &after).merge(json!({
            "by": approver.name,
            "comment": comment,
            "approvals": after.approval_count(),
            "needed": needed,
        })));
        if after.state == RequestState::Approved {
            self.audit_approved(&after, &grant, &approver.name);
        }
        Ok(after)
    }

    /// One approver's no, with an optional comment saying why (the CLI's `deny ID [--comment]`);
    /// the request is denied at once.
    pub fn deny(
        &self,
        approver: &Subject,
        request_id: &str,
        comment: &str,
    ) -> Result<Request, LifecycleError> {
        checks::text("comment", comment, false)?;
        let (request, _rule) = self.decidable(approver, request_id)?;
        let vote = Approval {
            request_id: request.id.clone(),
            approver: approver.name.clone(),
            decision: Decision::Deny,
            comment: comment.to_owned(),
            at: self.now(),
        };
        let after = settled(self.store().deny_request(&vote)?, request_id)?;
        self.audit(
            request_event(kind::REQUEST_DENIED, &after)
                .merge(json!({"by": approver.name, "comment": comment})),
        );
        Ok(after)
    }

    /// The requester withdraws a pending request.
    pub fn cancel(&self, requester: &Subject, request_id: &str) -> Result<Request, LifecycleError> {
        checks::name("request id", request_id)?;
        self.expire_due()?;
        let request = self.visible_request(requester, request_id)?;
        if request.subject != requester.name {
            return Err(LifecycleError::Forbidden(
                "only the requester may cancel a request; approvers deny it".into(),
            ));
        }
        let outcome = self
            .store()
            .cancel_request(request_id, &requester.name, self.now())?;
        let after = settled(outcome, request_id)?;
        self.audit(
            request_event(kind::REQUEST_CANCELLED, &after).merge(json!({"by": requester.name})),
        );
        Ok(after)
    }

    /// Expires pending requests whose time is up, with an audit event each. Run by the
    /// enforcement scheduler, at start, and before every decision.
    pub fn expire_due(&self) -> Result<usize, LifecycleError> {
        Ok(self.expire_requests_due(self.now())?)
    }

    pub(crate) fn expire_requests_due(&self, now: Millis) -> Result<usize, StoreError> {
        let expired = self.store().expire_requests(now)?;
        for request in &expired {
            self.audit(request_event(kind::REQUEST_EXPIRED, request));
        }
        Ok(expired.len())
    }

    /// A request the actor may see: their own, any for admins, and pending ones they may decide
    /// or any on a resource they oversee. Others are reported as not found.
    pub fn get_request(
        &self,
        actor: &Subject,
        request_id: &str,
    ) -> Result<Request, LifecycleError> {
        checks::name("request id", request_id)?;
        self.expire_due()?;
        self.visible_request(actor, request_id)
    }

    /// The first page of [`ControlPlane::list_requests_page`].
    pub fn list_requests(
        &self,
        actor: &Subject,
        pending_only: bool,
    ) -> Result<Vec<Request>, LifecycleError> {
        Ok(self
            .list_requests_page(actor, pending_only, &PageRequest::first())?
            .items)
    }

    /// Requests the actor may see, newest first: their own; for approvers also the pending
    /// requests they may decide; for admins all. `pending_only` keeps pending ones only.
    pub fn list_requests_page(
        &self,
        actor: &Subject,
        pending_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Request>, LifecycleError> {
        self.expire_due()?;
        let state = pending_only.then_some(RequestState::Pending);
        let policy = self.policy();
        let key = |r: &Request| Cursor {
            at: r.created_at,
            id: r.id.clone(),
        };
        let query = |subject: Option<String>, state: Option<RequestState>| {
            let rows = self.store().find_requests(&RequestQuery {
                subject,
                state,
                limit: page.fetch(),
                after: page.after.clone(),
            })?;
            Ok::<_, LifecycleError>(Fetched::new(rows, page, key))
        };
        if policy.is_admin(actor) {
            return Ok(merge(vec![query(None, state)?], page, key, |_| true));
        }
        let mut fetched = vec![query(Some(actor.name.clone()), state)?];
        if policy.oversees_any(actor) {
            // Their own come from the first query, so that the two never overlap; the others'
            // show when the actor may decide them.
            let pending = query(None, Some(RequestState::Pending))?;
            fetched.push(pending.without(|r| r.subject == actor.name));
        }
        Ok(merge(fetched, page, key, |r| {
            r.subject == actor.name || self.may_decide(actor, r)
        }))
    }

    fn visible_request(
        &self,
        actor: &Subject,
        request_id: &str,
    ) -> Result<Request, LifecycleError> {
        let not_found = || LifecycleError::NotFound(format!("no request {request_id}"));
        let request = self.store().request(request_id)?.ok_or_else(not_found)?;
        let policy = self.policy();
        let visible = request.subject == actor.name
            || policy.oversees(actor, &request.resource)
            || self.may_decide(actor, &request);
        if visible {
            Ok(request)
        } else {
            Err(not_found())
        }
    }

    /// Whether `actor` could vote on `request` under today's policy (ignoring its state).
    fn may_decide(&self, actor: &Subject, request: &Request) -> bool {
        let policy = self.policy();
        request.subject != actor.name
            && policy
                .rule_for(&request.subject, &request.subject_groups, &request.resource)
                .is_some_and(|rule| policy.may_approve(actor, rule))
    }

    /// The pending request and its rule, if `approver` may vote on it now.
    fn decidable(
        &self,
        approver: &Subject,
        request_id: &str,
    ) -> Result<(Request, Option<AccessRule>), LifecycleError> {
        checks::subject(approver)?;
        checks::name("request id", request_id)?;
        self.expire_due()?;
        let request = self.visible_request(approver, request_id)?;
        if request.state != RequestState::Pending {
            return Err(LifecycleError::AlreadyDecided {
                id: request.id,
                state: request.state,
            });
        }
        if request.subject == approver.name {
            return Err(LifecycleError::SelfApproval);
        }
        let policy = self.policy();
        // Today's rule decides who may vote: a policy tightened since the request applies.
        // Without a rule any more, only an admin may still deny.
        let rule = policy
            .rule_for(&request.subject, &request.subject_groups, &request.resource)
            .cloned();
        let allowed = match &rule {
            Some(rule) => policy.may_approve(approver, rule),
            None => policy.is_admin(approver),
        };
        if !allowed {
            let groups = rule.as_ref().map(|r| r.approver_groups.join(", "));
            return Err(LifecycleError::Forbidden(format!(
                "{} may not decide requests for {} (approver groups: {})",
                approver.name,
                request.resource,
                groups
                    .as_deref()
                    .unwrap_or("none: no rule covers it any more")
            )));
        }
        if request
            .approvals
            .iter()
            .any(|a| a.approver == approver.name)
        {
            return Err(LifecycleError::AlreadyVoted(request.id));
        }
        Ok((request, rule))
    }

    fn audit_approved(&self, request: &Request, grant: &Grant, by: &str) {
        self.audit(
            request_event(kind::REQUEST_APPROVED, request)
                .merge(json!({"by": by, "grant_id": grant.id}))
                .grant(&grant.id),
        );
        self.audit_grant_created(grant);
    }
}

/// Maps a store transition to the request after it, or the error it means.
fn settled(outcome: Transition, request_id: &str) -> Result<Request, LifecycleError> {
    match outcome {
        Transition::Counted(r) | Transition::Decided(r) => Ok(r),
        Transition::NotFound => Err(LifecycleError::NotFound(format!("no request {request_id}"))),
        Transition::NotPending(state) => Err(LifecycleError::AlreadyDecided {
            id: request_id.to_owned(),
            state,
        }),
        Transition::AlreadyVoted => Err(LifecycleError::AlreadyVoted(request_id.to_owned())),
    }
}

/// Approves a new request by its rule alone (no vote needed): its grant.
fn approve_by_policy(
    request: &mut Request,
    rule: &AccessRule,
    now: Millis,
) -> Result<Grant, LifecycleError> {
    let grant = grant_for(request, rule, now, POLICY)?;
    request.state = RequestState::Approved;
    request.decided_at = Some(now);
    request.decided_by = Some(POLICY.to_owned());
    request.grant_id = Some(grant.id.clone());
    Ok(grant)
}

/// The rule's `reason_pattern`, whatever client sent the request (API, console, Slack).
fn check_reason(rule: &AccessRule, reason: &str) -> Result<(), LifecycleError> {
    if rule.reason.admits(reason) {
        return Ok(());
    }
    let pattern = rule.reason.pattern.as_ref().map_or("", |p| p.as_str());
    let prompt = rule.reason.prompt.as_deref().unwrap_or("give a reason");
    Err(LifecycleError::InvalidInput(format!(
        "the reason must contain a match of {pattern} ({prompt})"
    )))
}

fn check_window(rule: &AccessRule, resource: &str, now: Millis) -> Result<(), LifecycleError> {
    match &rule.window {
        Some(window) if !window.contains(now) => Err(LifecycleError::OutsideWindow {
            resource: resource.to_owned(),
            window: window.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The grant a request gets when approved at `now`: the requested duration, capped at the
/// rule's maximum and at the end of the rule's time window.
fn grant_for(
    request: &Request,
    rule: &AccessRule,
    now: Millis,
    granted_by: &str,
) -> Result<Grant, LifecycleError> {
    check_window(rule, &request.resource, now)?;
    let max = rule.max_duration.as_millis() as Millis;
    let mut expires_at = now.saturating_add(request.duration_ms.min(max));
    if let Some(end) = rule.window.and_then(|w| w.end_after(now)) {
        expires_at = expires_at.min(end);
    }
    Ok(Grant {
        id: new_id("g"),
        subject: request.subject.clone(),
        resource: request.resource.clone(),
        starts_at: now,
        expires_at,
        granted_by: granted_by.to_owned(),
        ended_at: None,
        end: None,
        read_only: request.read_only || rule.read_only,
        request_id: Some(request.id.clone()),
    })
}

/// An audit event about a request: its subject and resource, and its id in the detail.
fn request_event(kind: &str, request: &Request) -> AuditEvent {
    let mut event = AuditEvent::new(kind, json!({"request_id": request.id}))
        .subject(&request.subject)
        .resource(&request.resource);
    if let Some(grant_id) = &request.grant_id {
        event = event.grant(grant_id);
    }
    event
}
