//! `long_statement` alerts while the statement still runs: a runaway query on sensitive data is
//! reported when it crosses the threshold, not when it finally ends. A session's front notes
//! the oldest statement the upstream has not answered yet ([`SessionAuditor::running`]); the
//! enforcement scheduler, which wakes at least four times a second, raises the alert. Without
//! `long_statement` rules nothing is tracked and the note costs one branch.
//!
//! [`SessionAuditor::running`]: crate::SessionAuditor::running

use crate::audit::kind::{ALERT_LONG_STATEMENT, STATEMENT_CANCELLED};
use crate::audit::AuditEvent;
use crate::model::SessionRecord;
use jitgate_config::{glob_match, AlertKind, AlertRule};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The statement a session's upstream is working on, as its front last said.
#[derive(Default)]
pub struct Running {
    statement: Option<(Arc<str>, Instant)>,
    /// Rules already alerted for this statement.
    fired: Vec<bool>,
}

pub type RunningSlot = Arc<Mutex<Running>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Notes `statement` (its text and when it was sent) as the one running now.
pub(crate) fn note(slot: &RunningSlot, statement: Option<(&Arc<str>, Instant)>) {
    let mut running = lock(slot);
    let same = match (&running.statement, statement) {
        (Some((a, at)), Some((b, bt))) => Arc::ptr_eq(a, b) && *at == bt,
        (None, None) => true,
        _ => false,
    };
    if !same {
        running.statement = statement.map(|(text, at)| (text.clone(), at));
        running.fired.iter_mut().for_each(|f| *f = false);
    }
}

struct Watched {
    record: SessionRecord,
    slot: RunningSlot,
}

/// A statement a rule says must be cancelled: the session, and what its client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementCancel {
    pub session_id: String,
    pub message: String,
}

/// One `long_statement` rule: its threshold, resource glob, and whether it cancels.
struct Rule {
    threshold: Duration,
    resource: Option<String>,
    cancel: bool,
}

pub(crate) struct RunningAlerts {
    rules: Vec<Rule>,
    live: Mutex<HashMap<String, Watched>>,
}

impl RunningAlerts {
    pub fn new(rules: &[AlertRule]) -> RunningAlerts {
        let rules = rules
            .iter()
            .filter_map(|rule| match rule.kind {
                AlertKind::LongStatement { threshold, cancel } => Some(Rule {
                    threshold,
                    resource: rule.resource.clone(),
                    cancel,
                }),
                _ => None,
            })
            .collect();
        RunningAlerts {
            rules,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for the session's front to note its running statement in; none without rules.
    pub fn opened(&self, record: &SessionRecord) -> Option<RunningSlot> {
        if self.rules.is_empty() {
            return None;
        }
        let slot = Arc::new(Mutex::new(Running {
            statement: None,
            fired: vec![false; self.rules.len()],
        }));
        let watched = Watched {
            record: record.clone(),
            slot: slot.clone(),
        };
        lock(&self.live).insert(record.id.clone(), watched);
        Some(slot)
    }

    pub fn closed(&self, session_id: &str) {
        if !self.rules.is_empty() {
            lock(&self.live).remove(session_id);
        }
    }

    /// Whether some rule cancels statements: only then do sessions listen for cancels.
    pub fn cancels(&self) -> bool {
        self.rules.iter().any(|r| r.cancel)
    }

    /// Alerts for statements that have just run longer than a rule's threshold, and the cancels
    /// rules with `cancel` ask for; each statement alerts once per rule while it runs (and, as
    /// before, once more when it ends).
    pub fn due(&self) -> (Vec<AuditEvent>, Vec<StatementCancel>) {
        let mut alerts = Vec::new();
        let mut cancels = Vec::new();
        if self.rules.is_empty() {
            return (alerts, cancels);
        }
        for watched in lock(&self.live).values() {
            let mut running = lock(&watched.slot);
            let Some((_, started)) = running.statement else {
                continue;
            };
            let ran = started.elapsed();
            let r = &watched.record;
            for (i, rule) in self.rules.iter().enumerate() {
                let covered = rule
                    .resource
                    .as_ref()
                    .is_none_or(|g| glob_match(g, &r.resource));
                if running.fired[i] || ran < rule.threshold || !covered {
                    continue;
                }
                running.fired[i] = true;
                alerts.push(alert(r, ran, rule.threshold));
                if rule.cancel {
                    alerts.push(cancelled(r, ran, rule.threshold));
                    cancels.push(StatementCancel {
                        session_id: r.id.clone(),
                        message: format!(
                            "canceling statement: it ran longer than {}, the limit a \
                             long_statement rule sets on {}",
                            human(rule.threshold),
                            r.resource
                        ),
                    });
                }
            }
        }
        (alerts, cancels)
    }
}

/// A duration in whole seconds, for people.
fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// The record of a statement a rule cancelled (its text is in its `statement` event).
fn cancelled(r: &SessionRecord, ran: Duration, threshold: Duration) -> AuditEvent {
    AuditEvent::new(
        STATEMENT_CANCELLED,
        json!({"reason": "long_statement", "running_ms": ran.as_millis() as u64,
               "threshold_ms": threshold.as_millis() as u64}),
    )
    .subject(&r.subject)
    .resource(&r.resource)
    .grant(&r.grant_id)
    .session(&r.id)
}

fn alert(r: &SessionRecord, ran: Duration, threshold: Duration) -> AuditEvent {
    let message = format!(
        "a statement of {} on {} is still running after {} (threshold {}; session {})",
        r.subject,
        r.resource,
        human(ran),
        human(threshold),
        r.id
    );
    AuditEvent::new(
        ALERT_LONG_STATEMENT,
        json!({"message": message, "running": true,
               "running_ms": ran.as_millis() as u64, "threshold_ms": threshold.as_millis() as u64}),
    )
    .subject(&r.subject)
    .resource(&r.resource)
    .grant(&r.grant_id)
    .session(&r.id)
}
