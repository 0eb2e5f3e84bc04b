//! Subjects from an OpenID Connect provider: login, lookup, and what losing a group ends.

use super::{fixture, rule, MIN, NOON};
use crate::identity::Subject;
use crate::model::{GrantEnd, Millis};
use crate::{Admission, SessionStop};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(15 * 60);

fn carol(groups: &[&str]) -> Subject {
    Subject::new("carol@example.com", groups)
}

#[test]
fn a_provider_login_records_groups_and_is_short_lived() {
    let f = fixture(vec![rule(1)]);
    assert!(f.control.identity().lookup("carol@example.com").is_none());
    let far = NOON + 3_600_000;
    let login = f
        .control
        .login_external("corp", &carol(&["analysts"]), far, TTL)
        .expect("login");
    assert_eq!(login.expires_at, NOON + TTL.as_millis() as Millis);
    assert_eq!(
        f.control.subject_for_token(&login.token),
        Some(carol(&["analysts"]))
    );
    // What protocol fronts see at the next database login.
    assert_eq!(
        f.control.identity().lookup("carol@example.com"),
        Some(carol(&["analysts"]))
    );
    // Never past the IdP token's own expiry.
    let soon = NOON + 60_000;
    let login = f
        .control
        .login_external("corp", &carol(&["analysts"]), soon, TTL)
        .expect("login");
    assert_eq!(login.expires_at, soon);
    assert_eq!(
        f.control
            .login_external("corp", &carol(&[]), NOON - 1, TTL)
            .map(|_| ())
            .expect_err("expired")
            .code(),
        "unauthenticated"
    );
    assert!(f.audit_kinds().contains(&"login.oidc".to_string()));
}

#[test]
fn provider_logins_cannot_take_local_or_other_providers_names() {
    let f = fixture(vec![rule(1)]);
    let as_local = f
        .control
        .login_external("corp", &Subject::new("dana", &["dba"]), NOON + MIN_MS, TTL)
        .map(|_| ())
        .expect_err("local name");
    assert_eq!(as_local.code(), "forbidden");
    f.control
        .login_external("corp", &carol(&[]), NOON + MIN_MS, TTL)
        .expect("login");
    let other = f
        .control
        .login_external("partner", &carol(&["dba"]), NOON + MIN_MS, TTL)
        .map(|_| ())
        .expect_err("other provider");
    assert_eq!(other.code(), "forbidden");
    assert_eq!(
        f.control
            .identity()
            .lookup("carol@example.com")
            .map(|s| s.groups),
        Some(vec![])
    );
}

const MIN_MS: Millis = 60_000;

#[test]
fn losing_the_group_ends_the_grants_it_justified_only() {
    let f = fixture(vec![rule(0)]);
    let c = carol(&["analysts"]);
    let old = f
        .control
        .login_external("corp", &c, NOON + MIN_MS, TTL)
        .expect("login");
    let by_rule = f.ask(&c, 30).grant_id.expect("auto-approved grant");
    let by_admin = f
        .control
        .issue_grant(&c.name, "prod-pg", 30 * MIN, "root")
        .expect("admin grant")
        .id;
    // Same groups: nothing happens.
    let same = f.control.apply_groups("corp", &c).expect("apply");
    assert!(same.ended_grants.is_empty() && same.removed.is_empty());

    let change = f
        .control
        .apply_groups("corp", &carol(&["sales"]))
        .expect("apply");
    assert_eq!(change.removed, ["analysts"]);
    assert_eq!(change.added, ["sales"]);
    assert_eq!(change.ended_grants, std::slice::from_ref(&by_rule));
    assert_eq!(change.revoked_tokens, 1);
    assert_eq!(f.control.subject_for_token(&old.token), None);
    let ended = f
        .control
        .store()
        .grant(&by_rule)
        .expect("read")
        .expect("grant");
    assert_eq!(
        ended.end,
        Some(GrantEnd::Revoked {
            by: "oidc:corp (group removed)".into()
        })
    );
    let kept = f
        .control
        .store()
        .grant(&by_admin)
        .expect("read")
        .expect("grant");
    assert!(kept.end.is_none());
    let kinds = f.audit_kinds();
    assert!(
        kinds.contains(&"subject.groups_changed".to_string()),
        "{kinds:?}"
    );
    assert!(kinds.contains(&"grant.revoked".to_string()));
}

#[tokio::test]
async fn losing_a_masking_exemption_cuts_live_sessions() {
    let f = fixture(vec![rule(0)]);
    f.clock.set(crate::model::now_millis());
    let now = f.control.now();
    // `auditors` exempts from masking in the test policy; `analysts` still justifies the grant.
    let c = carol(&["analysts", "auditors"]);
    f.control
        .login_external("corp", &c, now + MIN_MS, TTL)
        .expect("login");
    let grant_id = f.ask(&c, 30).grant_id.expect("grant");
    let grant = f
        .control
        .store()
        .grant(&grant_id)
        .expect("read")
        .expect("grant");
    let credential = f.control.connect(&c, "prod-pg").expect("credential");
    let admission = Admission {
        subject: c.name.clone(),
        grant,
        credential_id: credential.credential.id,
    };
    let mut session = f.control.open_session(&admission, "127.0.0.1:5555");
    let change = f
        .control
        .apply_groups("corp", &carol(&["analysts"]))
        .expect("apply");
    assert!(change.ended_grants.is_empty());
    assert_eq!(change.cut_sessions, [session.id().to_owned()]);
    let stop = tokio::time::timeout(Duration::from_secs(1), session.stopped())
        .await
        .expect("cut within a second");
    assert_eq!(stop, SessionStop::Killed("masking exemption lost".into()));
    session.close("killed", 0, 0);
}

#[test]
fn jitgate_holds_the_refresh_token_and_a_refused_refresh_loses_every_group() {
    let f = fixture(vec![rule(0)]);
    let c = carol(&["analysts"]);
    f.control
        .login_external("corp", &c, NOON + MIN_MS, TTL)
        .expect("login");
    let renewal = f
        .control
        .hold_refresh_token(&c.name, "refresh-1")
        .expect("hold");
    assert!(renewal.starts_with("jgr_"));
    let held = f.control.renewal(&renewal).expect("known renewal token");
    assert_eq!(
        (held.subject.as_str(), held.provider.as_str()),
        (c.name.as_str(), "corp")
    );
    assert_eq!(held.refresh_token, "refresh-1");
    assert!(!format!("{held:?}").contains("refresh-1"), "never in logs");
    assert!(f.control.renewal("jgr_made-up").is_none());
    // Only subjects with a live grant are re-read.
    assert!(f.control.renewals_with_grants().expect("due").is_empty());
    let grant = f.ask(&c, 30).grant_id.expect("grant");
    f.control
        .replace_refresh_token(&c.name, "refresh-2")
        .expect("rotate");
    let due = f.control.renewals_with_grants().expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].refresh_token, "refresh-2");
    // A re-read that still shows the group changes nothing.
    let same = f.control.recheck_external("corp", &c).expect("recheck");
    assert!(same.ended_grants.is_empty());

    let change = f
        .control
        .disown_external("corp", &c.name, "invalid_grant")
        .expect("disown");
    assert_eq!(change.removed, ["analysts"]);
    assert_eq!(change.ended_grants, std::slice::from_ref(&grant));
    assert!(f.control.renewal(&renewal).is_none(), "must log in again");
    assert!(f.control.renewals_with_grants().expect("due").is_empty());
    assert!(f.audit_kinds().contains(&"subject.disowned".to_string()));
}
