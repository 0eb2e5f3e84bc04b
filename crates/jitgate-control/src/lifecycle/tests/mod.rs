//! The request state machine: who may decide, how many votes, expiry, duration caps, windows,
//! automatic approval, and the audit events every step leaves.

mod access;
mod external;

use crate::clock::{Clock, ManualClock};
use crate::control::ControlPlane;
use crate::identity::tests::local_user;
use crate::identity::{LocalUsers, Subject};
use crate::lifecycle::LifecycleError;
use crate::model::{GrantEnd, RequestState};
use crate::policy::{ControlSettings, Policy};
use crate::store::{GrantQuery, SqliteStore, Store};
use jitgate_config::{AccessRule, Requester, Roles, TimeWindow};
use std::sync::Arc;
use std::time::Duration;

const HOUR: i64 = 3_600_000;
/// Noon UTC on some day: inside an office-hours window.
pub(super) const NOON: i64 = 20_000 * 24 * HOUR + 12 * HOUR;
pub(super) const MIN: Duration = Duration::from_secs(60);

pub(super) struct Fixture {
    pub control: Arc<ControlPlane>,
    pub clock: ManualClock,
}

pub(super) fn rule(approvals: u32) -> AccessRule {
    AccessRule {
        resources: vec!["prod-*".into()],
        requesters: vec![
            Requester::Group("analysts".into()),
            Requester::User("dana".into()),
        ],
        max_duration: 60 * MIN,
        approvals,
        approver_groups: vec!["dba".into()],
        auto_approve_groups: vec!["oncall".into()],
        window: None,
        read_only: false,
        reason: Default::default(),
    }
}

pub(super) fn policy(rules: Vec<AccessRule>) -> Policy {
    Policy {
        resources: vec!["prod-pg".into(), "staging-pg".into()],
        roles: Roles {
            approver: vec!["dba".into()],
            admin: vec!["admins".into()],
        },
        rules,
        token_ttl: Duration::from_secs(3600),
        pending_ttl: Duration::from_secs(3600),
        exemption_groups: vec!["auditors".into()],
        native_password_resources: Vec::new(),
    }
}

pub(super) fn fixture_with(store: Arc<dyn Store>, rules: Vec<AccessRule>) -> Fixture {
    let (clock, hand) = Clock::manual(NOON);
    let settings = ControlSettings {
        policy: policy(rules),
        identity: Arc::new(LocalUsers::new(&[
            local_user("alice", "alice-pw", &["analysts"]),
            local_user("dana", "dana-pw", &["dba"]),
        ])),
        clock,
        ..ControlSettings::default()
    };
    Fixture {
        control: ControlPlane::with_settings(store, settings),
        clock: hand,
    }
}

pub(super) fn fixture(rules: Vec<AccessRule>) -> Fixture {
    let store = SqliteStore::in_memory().expect("in-memory store");
    fixture_with(Arc::new(store), rules)
}

pub(super) fn alice() -> Subject {
    Subject::new("alice", &["analysts"])
}
pub(super) fn bob() -> Subject {
    Subject::new("bob", &["analysts"])
}
pub(super) fn dana() -> Subject {
    Subject::new("dana", &["dba"])
}
pub(super) fn erin() -> Subject {
    Subject::new("erin", &["dba"])
}
pub(super) fn root() -> Subject {
    Subject::new("root", &["admins"])
}
pub(super) fn oscar() -> Subject {
    Subject::new("oscar", &["analysts", "oncall"])
}

impl Fixture {
    pub fn ask(&self, who: &Subject, minutes: u32) -> crate::model::Request {
        self.control
            .request_access(who, "prod-pg", MIN * minutes, "INC-1234")
            .expect("request accepted")
    }

    /// Audit kinds written so far, in order.
    pub fn audit_kinds(&self) -> Vec<String> {
        self.control.flush();
        let events = self.control.audit_page(0, 10_000).expect("audit");
        events.into_iter().map(|e| e.event.kind).collect()
    }
}

fn code<T: std::fmt::Debug>(result: Result<T, LifecycleError>) -> &'static str {
    result.expect_err("expected a refusal").code()
}

#[test]
fn nobody_approves_their_own_request() {
    let f = fixture(vec![rule(1)]);
    // dana is an approver herself, and may request under the rule (user:dana).
    let own = f.ask(&dana(), 30);
    let refused = f.control.approve(&dana(), &own.id, "mine");
    assert_eq!(refused, Err(LifecycleError::SelfApproval));
    assert_eq!(LifecycleError::SelfApproval.status(), 403);
    assert_eq!(
        code(f.control.deny(&dana(), &own.id, "no")),
        "self_approval"
    );
    let still = f.control.get_request(&dana(), &own.id).expect("visible");
    assert_eq!(
        (still.state, still.approvals.len()),
        (RequestState::Pending, 0)
    );
    // Admins are not exempt either.
    let admin_rule = AccessRule {
        requesters: vec![Requester::Anyone],
        ..rule(1)
    };
    let f = fixture(vec![admin_rule]);
    let own = f.ask(&root(), 30);
    assert_eq!(
        code(f.control.approve(&root(), &own.id, "")),
        "self_approval"
    );
}

#[test]
fn a_two_approver_rule_needs_two_distinct_approvers() {
    let f = fixture(vec![rule(2)]);
    let request = f.ask(&alice(), 30);
    assert_eq!(
        (request.state, request.approvals_required),
        (RequestState::Pending, 2)
    );

    f.clock.advance(5 * MIN);
    let once = f
        .control
        .approve(&dana(), &request.id, "ok")
        .expect("first vote");
    assert_eq!(
        (once.state, once.approval_count()),
        (RequestState::Pending, 1)
    );
    assert_eq!(once.grant_id, None);
    assert_eq!(
        f.control.approve(&dana(), &request.id, "again"),
        Err(LifecycleError::AlreadyVoted(request.id.clone()))
    );
    assert_eq!(LifecycleError::AlreadyVoted(String::new()).status(), 409);

    f.clock.advance(5 * MIN);
    let approved_at = f.control.now();
    let twice = f
        .control
        .approve(&erin(), &request.id, "ok too")
        .expect("second vote");
    assert_eq!(twice.state, RequestState::Approved);
    assert_eq!(twice.approval_count(), 2);
    assert_eq!(twice.decided_by.as_deref(), Some("erin"));
    let grant_id = twice.grant_id.clone().expect("a grant");
    let grant = f.control.get_grant(&alice(), &grant_id).expect("grant");
    // The clock starts at approval, not at the request.
    assert_eq!(grant.starts_at, approved_at);
    assert_eq!(grant.expires_at, approved_at + 30 * 60_000);
    assert_eq!(grant.request_id.as_deref(), Some(request.id.as_str()));
    assert_eq!(grant.granted_by, "dana, erin");
    assert!(!grant.read_only);
    assert_eq!(
        code(f.control.approve(&root(), &request.id, "late")),
        "already_decided"
    );
    let kinds = f.audit_kinds();
    assert_eq!(
        kinds,
        [
            "request.created",
            "approval.added",
            "approval.added",
            "request.approved",
            "grant.created"
        ]
    );
}

#[test]
fn a_denial_needs_no_comment() {
    let f = fixture(vec![rule(1)]);
    let request = f.ask(&alice(), 30);
    let after = f.control.deny(&dana(), &request.id, "").expect("deny");
    assert_eq!(after.state, RequestState::Denied);
}

#[test]
fn decided_requests_cannot_be_approved_or_cancelled() {
    let f = fixture(vec![rule(1)]);
    let denied = f.ask(&alice(), 30);
    assert_eq!(
        code(f.control.deny(&dana(), &denied.id, "bad\u{7}bell")),
        "invalid_input"
    );
    let after = f
        .control
        .deny(&dana(), &denied.id, "not during the freeze")
        .expect("deny");
    assert_eq!(after.state, RequestState::Denied);
    assert_eq!(after.approvals[0].comment, "not during the freeze");
    assert_eq!(
        f.control.approve(&erin(), &denied.id, ""),
        Err(LifecycleError::AlreadyDecided {
            id: denied.id.clone(),
            state: RequestState::Denied
        })
    );
    assert_eq!(
        code(f.control.cancel(&alice(), &denied.id)),
        "already_decided"
    );

    let cancelled = f.ask(&alice(), 30);
    assert_eq!(code(f.control.cancel(&dana(), &cancelled.id)), "forbidden");
    assert_eq!(code(f.control.cancel(&bob(), &cancelled.id)), "not_found");
    let after = f.control.cancel(&alice(), &cancelled.id).expect("cancel");
    assert_eq!(
        (after.state, after.decided_by.as_deref()),
        (RequestState::Cancelled, Some("alice"))
    );
    assert_eq!(
        code(f.control.approve(&dana(), &cancelled.id, "")),
        "already_decided"
    );
    assert!(f
        .control
        .list_grants(&root(), false)
        .expect("grants")
        .is_empty());
    assert_eq!(
        f.audit_kinds(),
        [
            "request.created",
            "request.denied",
            "request.created",
            "request.cancelled"
        ]
    );
}

#[test]
fn pending_requests_expire() {
    let f = fixture(vec![rule(1)]);
    let request = f.ask(&alice(), 30);
    assert_eq!(request.expires_at, NOON + HOUR);
    f.clock.advance(59 * MIN);
    f.control.enforce_once().expect("enforce");
    assert_eq!(
        f.control
            .get_request(&alice(), &request.id)
            .expect("r")
            .state,
        RequestState::Pending
    );
    f.clock.advance(MIN);
    f.control.enforce_once().expect("enforce");
    let expired = f.control.get_request(&alice(), &request.id).expect("r");
    assert_eq!(
        (expired.state, expired.decided_by),
        (RequestState::Expired, None)
    );
    assert_eq!(
        code(f.control.approve(&dana(), &request.id, "")),
        "already_decided"
    );
    assert_eq!(f.audit_kinds(), ["request.created", "request.expired"]);

    // A decision after the deadline finds it expired even before the scheduler ran.
    let late = f.ask(&alice(), 30);
    f.clock.advance(2 * MIN * 60);
    assert_eq!(
        f.control.approve(&dana(), &late.id, ""),
        Err(LifecycleError::AlreadyDecided {
            id: late.id.clone(),
            state: RequestState::Expired
        })
    );
    // And `recover` expires what came due while jitgate was down.
    let down = f.ask(&alice(), 30);
    f.clock.advance(2 * MIN * 60);
    f.control.recover().expect("recover");
    let store_state = f
        .control
        .store()
        .request(&down.id)
        .expect("read")
        .expect("row")
        .state;
    assert_eq!(store_state, RequestState::Expired);
}

#[test]
fn durations_are_capped_by_the_rule() {
    let f = fixture(vec![rule(1)]);
    let too_long = f.control.request_access(&alice(), "prod-pg", 61 * MIN, "x");
    assert_eq!(
        too_long,
        Err(LifecycleError::DurationTooLong {
            requested: "1h 1m".into(),
            max: "1h".into()
        })
    );
    assert_eq!(code(too_long), "duration_too_long");
    // Absurd lengths are the same refusal, not a different code.
    let absurd = f
        .control
        .request_access(&alice(), "prod-pg", 999_999 * 60 * MIN, "x");
    assert_eq!(code(absurd), "duration_too_long");
    // A rule tightened while a request waits caps the grant at the new maximum.
    let request = f.ask(&alice(), 60);
    let tighter = fixture_with(
        Arc::new(SqliteStore::in_memory().expect("store")),
        vec![AccessRule {
            max_duration: 10 * MIN,
            ..rule(1)
        }],
    );
    tighter
        .control
        .store()
        .insert_request(&request, None)
        .expect("copy request");
    let approved = tighter
        .control
        .approve(&dana(), &request.id, "")
        .expect("approve");
    let grant = tighter
        .control
        .get_grant(&alice(), approved.grant_id.as_deref().expect("grant"))
        .expect("grant");
    assert_eq!(grant.expires_at - grant.starts_at, 10 * 60_000);
}

#[test]
fn time_windows_refuse_and_cap() {
    let office = AccessRule {
        window: Some("08:00-18:00".parse::<TimeWindow>().expect("window")),
        max_duration: 120 * MIN,
        approvals: 0,
        ..rule(0)
    };
    let f = fixture(vec![office]);
    f.clock.set(NOON - 5 * HOUR); // 07:00
    let early = f.control.request_access(&alice(), "prod-pg", 30 * MIN, "x");
    assert_eq!(
        early,
        Err(LifecycleError::OutsideWindow {
            resource: "prod-pg".into(),
            window: "08:00-18:00".into()
        })
    );
    assert_eq!(code(early), "outside_window");
    f.clock.set(NOON + 5 * HOUR + 30 * 60_000); // 17:30
    let request = f.ask(&alice(), 90);
    assert_eq!(request.state, RequestState::Approved);
    let grant = f
        .control
        .get_grant(&alice(), request.grant_id.as_deref().expect("grant"))
        .expect("grant");
    assert_eq!(grant.expires_at, NOON + 6 * HOUR, "capped at 18:00");
}

#[test]
fn auto_approval_grants_at_once() {
    let f = fixture(vec![AccessRule {
        read_only: true,
        ..rule(2)
    }]);
    let request = f.ask(&oscar(), 20);
    assert_eq!(request.state, RequestState::Approved);
    assert_eq!(request.decided_by.as_deref(), Some("policy"));
    let grant = f
        .control
        .get_grant(&oscar(), request.grant_id.as_deref().expect("grant"))
        .expect("grant");
    assert_eq!(
        (grant.starts_at, grant.expires_at),
        (NOON, NOON + 20 * 60_000)
    );
    assert!(grant.read_only, "read_only comes from the rule");
    assert_eq!(
        f.audit_kinds(),
        ["request.created", "request.approved", "grant.created"]
    );
    // A rule needing no approval grants everyone it admits.
    let f = fixture(vec![rule(0)]);
    assert_eq!(f.ask(&alice(), 5).state, RequestState::Approved);
}

#[test]
fn requests_are_checked_before_anything_is_stored() {
    let f = fixture(vec![rule(1)]);
    let ask = |who: &Subject, resource: &str, d: Duration, reason: &str| {
        code(f.control.request_access(who, resource, d, reason))
    };
    assert_eq!(ask(&alice(), "nope", MIN, "x"), "not_found");
    assert_eq!(ask(&alice(), "staging-pg", MIN, "x"), "no_matching_rule");
    assert_eq!(
        ask(&Subject::new("eve", &["sales"]), "prod-pg", MIN, "x"),
        "no_matching_rule"
    );
    assert_eq!(
        ask(&alice(), "prod-pg", Duration::ZERO, "x"),
        "invalid_input"
    );
    assert_eq!(ask(&alice(), "prod-pg", MIN, ""), "invalid_input");
    assert_eq!(
        ask(&alice(), "prod-pg", MIN, &"x".repeat(1001)),
        "invalid_input"
    );
    assert_eq!(ask(&alice(), "prod-pg", MIN, "a\u{0}b"), "invalid_input");
    assert_eq!(ask(&alice(), "prod pg; drop", MIN, "x"), "invalid_input");
    assert_eq!(
        ask(&Subject::new("", &[]), "prod-pg", MIN, "x"),
        "invalid_input"
    );
    assert!(f
        .control
        .list_requests(&root(), false)
        .expect("list")
        .is_empty());
    assert!(f.audit_kinds().is_empty());
    assert_eq!(
        code(f.control.approve(&dana(), "r_missing", "")),
        "not_found"
    );
    assert_eq!(
        code(f.control.approve(&dana(), "../etc", "")),
        "invalid_input"
    );
}

#[test]
fn only_the_rules_approvers_or_admins_decide() {
    let leads_only = AccessRule {
        approver_groups: vec!["leads".into()],
        ..rule(1)
    };
    let f = fixture(vec![leads_only]);
    let request = f.ask(&alice(), 30);
    // dana holds the approver role, so she sees it, but this rule names other approvers.
    assert_eq!(
        code(f.control.approve(&dana(), &request.id, "")),
        "forbidden"
    );
    // bob is a plain requester: he does not even see it.
    assert_eq!(
        code(f.control.approve(&bob(), &request.id, "")),
        "not_found"
    );
    let lena = Subject::new("lena", &["leads"]);
    assert_eq!(
        f.control
            .approve(&lena, &request.id, "")
            .expect("lead")
            .state,
        RequestState::Approved
    );
    let other = f.ask(&alice(), 30);
    assert_eq!(
        f.control
            .approve(&root(), &other.id, "")
            .expect("admin")
            .state,
        RequestState::Approved
    );
}

#[test]
fn concurrent_approvals_create_one_grant() {
    let dir = tempfile::tempdir().expect("folder");
    let path = dir.path().join("store.sqlite");
    // Two control planes on one file, as two gateway processes would be.
    let a = fixture_with(
        Arc::new(SqliteStore::open(&path).expect("open")),
        vec![rule(1)],
    );
    let b = fixture_with(
        Arc::new(SqliteStore::open(&path).expect("open")),
        vec![rule(1)],
    );
    for _ in 0..5 {
        let request = a.ask(&alice(), 30);
        let (ca, cb) = (a.control.clone(), b.control.clone());
        let (ida, idb) = (request.id.clone(), request.id.clone());
        let ta = std::thread::spawn(move || ca.approve(&dana(), &ida, ""));
        let tb = std::thread::spawn(move || cb.approve(&erin(), &idb, ""));
        let results = [ta.join().expect("thread"), tb.join().expect("thread")];
        let approved = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(approved, 1, "{results:?}");
        assert!(results
            .iter()
            .any(|r| matches!(r, Err(LifecycleError::AlreadyDecided { .. }))));
    }
    let grants = a
        .control
        .store()
        .find_grants(&GrantQuery::default())
        .expect("grants");
    assert_eq!(grants.len(), 5);
}

#[test]
fn grants_are_revoked_by_approvers_and_ended_by_holders() {
    let f = fixture(vec![rule(0)]);
    let first = f.ask(&alice(), 30).grant_id.expect("grant");
    assert_eq!(code(f.control.revoke_grant(&bob(), &first)), "not_found");
    let revoked = f.control.revoke_grant(&dana(), &first).expect("revoke");
    assert_eq!(revoked.end, Some(GrantEnd::Revoked { by: "dana".into() }));
    assert_eq!(code(f.control.revoke_grant(&dana(), &first)), "conflict");
    let second = f.ask(&alice(), 30).grant_id.expect("grant");
    assert_eq!(code(f.control.end_own_grant(&dana(), &second)), "forbidden");
    let ended = f.control.end_own_grant(&alice(), &second).expect("end own");
    assert!(ended.ended_at.is_some());
    // A holder calling revoke ends their own grant too.
    let third = f.ask(&alice(), 30).grant_id.expect("grant");
    f.control
        .revoke_grant(&alice(), &third)
        .expect("holder revoke");
    let kinds = f.audit_kinds();
    assert_eq!(kinds.iter().filter(|k| *k == "grant.revoked").count(), 1);
    assert_eq!(kinds.iter().filter(|k| *k == "grant.ended").count(), 2);
    assert!(f
        .control
        .list_grants(&alice(), true)
        .expect("list")
        .is_empty());
    assert_eq!(
        f.control.list_grants(&alice(), false).expect("list").len(),
        3
    );
}

#[test]
fn error_codes_and_statuses_are_stable() {
    use RequestState::Denied;
    let cases = [
        (LifecycleError::NotFound(String::new()), "not_found", 404),
        (LifecycleError::Forbidden(String::new()), "forbidden", 403),
        (LifecycleError::SelfApproval, "self_approval", 403),
        (
            LifecycleError::AlreadyDecided {
                id: String::new(),
                state: Denied,
            },
            "already_decided",
            409,
        ),
        (
            LifecycleError::AlreadyVoted(String::new()),
            "already_voted",
            409,
        ),
        (
            LifecycleError::DurationTooLong {
                requested: String::new(),
                max: String::new(),
            },
            "duration_too_long",
            400,
        ),
        (
            LifecycleError::OutsideWindow {
                resource: String::new(),
                window: String::new(),
            },
            "outside_window",
            403,
        ),
        (
            LifecycleError::NoMatchingRule {
                subject: String::new(),
                resource: String::new(),
            },
            "no_matching_rule",
            403,
        ),
        (
            LifecycleError::InvalidInput(String::new()),
            "invalid_input",
            400,
        ),
        (
            LifecycleError::NoActiveGrant(String::new()),
            "no_active_grant",
            403,
        ),
        (LifecycleError::Conflict(String::new()), "conflict", 409),
        (
            LifecycleError::Unauthenticated(String::new()),
            "unauthenticated",
            401,
        ),
        (LifecycleError::Internal, "internal", 500),
    ];
    for (error, code, status) in cases {
        assert_eq!((error.code(), error.status()), (code, status), "{error:?}");
    }
}

#[test]
fn a_rules_reason_pattern_is_enforced_for_every_client() {
    let ticketed = AccessRule {
        reason: jitgate_config::ReasonTerms {
            prompt: Some("Ticket id".into()),
            pattern: Some(regex_for_test("INC-[0-9]+")),
        },
        ..rule(1)
    };
    let f = fixture(vec![ticketed]);
    let refused = f
        .control
        .request_access(&alice(), "prod-pg", MIN * 10, "just looking");
    assert_eq!(code(refused), "invalid_input");
    assert!(!f.audit_kinds().iter().any(|k| k == "request.created"));
    let taken = f.ask(&alice(), 10);
    assert_eq!(taken.state, RequestState::Pending);
}

fn regex_for_test(pattern: &str) -> regex::Regex {
    regex::Regex::new(pattern).expect("pattern")
}
