//! Alert thresholds: statement duration, sliding-window counts fired once per window, sessions
//! near their grant's end, and alerts reaching the audit trail.

use crate::alerts::{EventAlerts, SessionAlerts};
use crate::audit::kind::{LOGIN_FAILED, MASKING_REFUSED};
use crate::audit::AuditEvent;
use crate::control::ControlPlane;
use crate::model::{Millis, SessionRecord};
use crate::policy::ControlSettings;
use crate::recorder::{SessionIds, StatementRecord};
use crate::store::SqliteStore;
use jitgate_config::{AlertKind, AlertRule};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

fn statement(resource: &str, ran: Duration) -> StatementRecord {
    StatementRecord {
        session: Arc::new(SessionIds {
            subject: "alice".into(),
            resource: resource.into(),
            grant_id: "g_1".into(),
            session_id: "s_1".into(),
        }),
        at: 0,
        text: Arc::from("select pg_sleep(60)"),
        duration_us: ran.as_micros() as u64,
        rows: Some(1),
        sqlstate: None,
    }
}

fn rule(kind: AlertKind, resource: Option<&str>) -> AlertRule {
    AlertRule {
        kind,
        resource: resource.map(String::from),
    }
}

fn event(kind: &str, at: Millis, subject: Option<&str>, resource: Option<&str>) -> AuditEvent {
    let mut e = AuditEvent::new(
        kind,
        json!({"login": "alice-x", "client_addr": "10.0.0.1:5"}),
    );
    e.at = at;
    e.subject = subject.map(String::from);
    e.resource = resource.map(String::from);
    e
}

#[test]
fn long_statements_alert_at_the_threshold_on_matching_resources() {
    let alerts = EventAlerts::new(&[rule(
        AlertKind::LongStatement {
            threshold: 30 * S,
            cancel: false,
        },
        Some("prod-*"),
    )]);
    let mut out = Vec::new();
    alerts.statement(&statement("prod-pg", 29 * S), &mut out);
    assert!(out.is_empty());
    alerts.statement(&statement("staging-pg", 60 * S), &mut out);
    assert!(out.is_empty(), "other resources do not count");
    alerts.statement(&statement("prod-pg", 30 * S), &mut out);
    assert_eq!(out.len(), 1);
    let alert = &out[0];
    assert_eq!(alert.kind, "alert.long_statement");
    assert_eq!(alert.session_id.as_deref(), Some("s_1"));
    let message = alert.detail_value()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("ran 30s (threshold 30s; session s_1)"),
        "{message}"
    );
    assert!(
        !message.contains("pg_sleep"),
        "statement text stays out of chat messages"
    );
}

#[test]
fn failed_logins_fire_once_per_window() {
    let mut alerts = EventAlerts::new(&[rule(
        AlertKind::FailedLogins {
            count: 3,
            within: 60 * S,
        },
        None,
    )]);
    let mut out = Vec::new();
    let mut feed = |at: Millis, resource: Option<&str>, out: &mut Vec<AuditEvent>| {
        alerts.event(&event(LOGIN_FAILED, at, None, resource), out);
    };
    // Spread wider than the window: never three within a minute.
    for at in [0, 40_000, 80_000, 120_000] {
        feed(at, Some("prod-pg"), &mut out);
    }
    assert!(out.is_empty());
    // A burst: the third within the window fires, the fourth is inside the quiet time.
    for at in [200_000, 201_000, 202_000, 203_000] {
        feed(at, Some("prod-pg"), &mut out);
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, "alert.failed_logins");
    assert_eq!(out[0].resource.as_deref(), Some("prod-pg"));
    // Other resources (and API logins) count apart.
    feed(204_000, Some("other"), &mut out);
    feed(204_000, None, &mut out);
    assert_eq!(out.len(), 1);
    // After the quiet time, a new burst fires again.
    for at in [270_000, 271_000, 272_000] {
        feed(at, Some("prod-pg"), &mut out);
    }
    assert_eq!(out.len(), 2);
    // Other kinds never count.
    alerts.event(
        &event("login.succeeded", 273_000, None, Some("prod-pg")),
        &mut out,
    );
    assert_eq!(out.len(), 2);
}

#[test]
fn masked_refusals_count_per_subject() {
    let mut alerts = EventAlerts::new(&[rule(
        AlertKind::MaskedRefusals {
            count: 2,
            within: 60 * S,
        },
        Some("prod-pg"),
    )]);
    let mut out = Vec::new();
    for (at, who) in [
        (0, "alice"),
        (1_000, "bob"),
        (2_000, "alice"),
        (3_000, "carol"),
    ] {
        alerts.event(
            &event(MASKING_REFUSED, at, Some(who), Some("prod-pg")),
            &mut out,
        );
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, "alert.masked_refusals");
    assert_eq!(out[0].subject.as_deref(), Some("alice"));
    alerts.event(
        &event(MASKING_REFUSED, 4_000, Some("bob"), Some("staging")),
        &mut out,
    );
    assert_eq!(out.len(), 1, "other resources are filtered out");
    alerts.event(
        &event(MASKING_REFUSED, 5_000, Some("bob"), Some("prod-pg")),
        &mut out,
    );
    assert_eq!(out.len(), 2);
}

#[test]
fn sessions_near_their_grants_end_alert_once() {
    let alerts = SessionAlerts::new(&[
        rule(AlertKind::SessionNearExpiry { before: 300 * S }, None),
        rule(
            AlertKind::LongStatement {
                threshold: S,
                cancel: false,
            },
            None,
        ),
    ]);
    let record = SessionRecord {
        id: "s_1".into(),
        subject: "alice".into(),
        grant_id: "g_1".into(),
        resource: "prod-pg".into(),
        client_addr: "127.0.0.1:1".into(),
        replica: "main".into(),
        started_at: 0,
        ended_at: None,
        end_reason: None,
        bytes_from_client: 0,
        bytes_to_client: 0,
    };
    let expires_at = 600_000;
    alerts.opened(&record, expires_at);
    assert!(alerts.due(299_999).is_empty());
    let due = alerts.due(300_000);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].kind, "alert.session_near_expiry");
    assert_eq!(due[0].session_id.as_deref(), Some("s_1"));
    assert!(alerts.due(400_000).is_empty(), "once per session");
    // A session opened late in its grant alerts at the next check; a closed one never.
    alerts.opened(
        &SessionRecord {
            id: "s_2".into(),
            ..record.clone()
        },
        expires_at,
    );
    alerts.opened(
        &SessionRecord {
            id: "s_3".into(),
            ..record
        },
        expires_at,
    );
    alerts.closed("s_3");
    let due = alerts.due(500_000);
    assert_eq!(
        due.iter().map(|e| e.session_id.clone()).collect::<Vec<_>>(),
        [Some("s_2".into())]
    );
}

#[test]
fn alerts_become_audit_events() {
    let settings = ControlSettings {
        alerts: vec![rule(
            AlertKind::FailedLogins {
                count: 3,
                within: 60 * S,
            },
            None,
        )],
        ..ControlSettings::default()
    };
    let control =
        ControlPlane::with_settings(Arc::new(SqliteStore::in_memory().expect("store")), settings);
    for _ in 0..3 {
        assert!(control.login("mallory", "guess", "10.0.0.66:1000").is_err());
    }
    control.flush();
    let kinds: Vec<String> = control
        .audit_page(0, 100)
        .expect("audit")
        .into_iter()
        .map(|e| e.event.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "login.failed",
            "login.failed",
            "login.failed",
            "alert.failed_logins"
        ]
    );
    assert_eq!(control.verify_audit().expect("chain"), 4);
}
