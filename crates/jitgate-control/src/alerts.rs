//! Alert rules: conditions that raise `alert.<kind>` audit events, which webhooks then carry.
//!
//! Statement and event alerts are evaluated on the recorder thread, off the protocol fronts' hot
//! path, each in constant time per event (sliding windows of at most `count` timestamps per
//! key). Session-near-expiry alerts are checked by the enforcement scheduler, which already
//! wakes at least four times a second.

use crate::audit::kind::{
    ALERT_FAILED_LOGINS, ALERT_LONG_STATEMENT, ALERT_MASKED_REFUSALS, ALERT_SESSION_NEAR_EXPIRY,
    LOGIN_FAILED, MASKING_REFUSED,
};
use crate::audit::AuditEvent;
use crate::model::{Millis, SessionRecord};
use crate::recorder::StatementRecord;
use jitgate_config::{glob_match, AlertKind, AlertRule};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// After this many events a counter forgets keys that have gone quiet, bounding its memory.
const PRUNE_EVERY: u64 = 1024;

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn covers(resource_glob: &Option<String>, resource: Option<&str>) -> bool {
    match (resource_glob, resource) {
        (None, _) => true,
        (Some(glob), Some(resource)) => glob_match(glob, resource),
        (Some(_), None) => false,
    }
}

/// Alerts raised by statements and audit events; owned by the recorder thread.
#[derive(Default)]
pub(crate) struct EventAlerts {
    long_statements: Vec<(u64, Duration, Option<String>)>,
    counters: Vec<Counter>,
}

impl EventAlerts {
    pub fn new(rules: &[AlertRule]) -> EventAlerts {
        let mut alerts = EventAlerts::default();
        for rule in rules {
            match rule.kind {
                AlertKind::LongStatement { threshold, .. } => alerts.long_statements.push((
                    threshold.as_micros() as u64,
                    threshold,
                    rule.resource.clone(),
                )),
                AlertKind::FailedLogins { count, within }
                | AlertKind::MaskedRefusals { count, within } => {
                    alerts.counters.push(Counter::new(rule, count, within));
                }
                AlertKind::SessionNearExpiry { .. } => {}
            }
        }
        alerts
    }

    /// Alerts for a statement that has just finished: one per long-statement rule it exceeds.
    pub fn statement(&self, s: &StatementRecord, out: &mut Vec<AuditEvent>) {
        for (threshold_us, threshold, resource) in &self.long_statements {
            if s.duration_us < *threshold_us || !covers(resource, Some(&s.session.resource)) {
                continue;
            }
            let ran = Duration::from_millis(s.duration_us / 1000);
            let ids = &s.session;
            let message = format!(
                "a statement of {} on {} ran {} (threshold {}; session {})",
                ids.subject,
                ids.resource,
                human(ran),
                human(*threshold),
                ids.session_id
            );
            out.push(
                AuditEvent::new(
                    ALERT_LONG_STATEMENT,
                    json!({"message": message, "duration_us": s.duration_us,
                           "threshold_ms": threshold.as_millis() as u64}),
                )
                .subject(&ids.subject)
                .resource(&ids.resource)
                .grant(&ids.grant_id)
                .session(&ids.session_id),
            );
        }
    }

    /// Alerts an audit event completes (failed logins, masking refusals).
    pub fn event(&mut self, e: &AuditEvent, out: &mut Vec<AuditEvent>) {
        for counter in &mut self.counters {
            if let Some(alert) = counter.observe(e) {
                out.push(alert);
            }
        }
    }
}

/// Counts one kind of event per key (resource or subject) in a sliding window, and fires once
/// per window when the count is reached.
struct Counter {
    kind: AlertKind,
    count: usize,
    within: Duration,
    resource: Option<String>,
    windows: HashMap<String, Window>,
    /// Events counted since the last pruning.
    observed: u64,
}

#[derive(Default)]
struct Window {
    times: VecDeque<Millis>,
    /// No second alert for this key before then.
    quiet_until: Millis,
}

impl Counter {
    fn new(rule: &AlertRule, count: u32, within: Duration) -> Counter {
        Counter {
            kind: rule.kind,
            count: count as usize,
            within,
            resource: rule.resource.clone(),
            windows: HashMap::new(),
            observed: 0,
        }
    }

    fn within_ms(&self) -> Millis {
        self.within.as_millis() as Millis
    }

    /// The key this event counts under, if it is one this counter counts.
    fn key(&self, e: &AuditEvent) -> Option<String> {
        if !covers(&self.resource, e.resource.as_deref()) {
            return None;
        }
        match self.kind {
            // API logins have no resource: they count together.
            AlertKind::FailedLogins { .. } if e.kind == LOGIN_FAILED => {
                Some(e.resource.clone().unwrap_or_else(|| "api".into()))
            }
            AlertKind::MaskedRefusals { .. } if e.kind == MASKING_REFUSED => e.subject.clone(),
            _ => None,
        }
    }

    fn observe(&mut self, e: &AuditEvent) -> Option<AuditEvent> {
        let key = self.key(e)?;
        let (within, count, at) = (self.within_ms(), self.count, e.at);
        self.observed += 1;
        if self.observed >= PRUNE_EVERY {
            self.observed = 0;
            self.windows.retain(|_, w| {
                w.quiet_until > at || w.times.back().is_some_and(|&t| t > at - within)
            });
        }
        let window = self.windows.entry(key.clone()).or_default();
        window.times.push_back(at);
        while window.times.front().is_some_and(|&t| t <= at - within) {
            window.times.pop_front();
        }
        // Only the newest `count` matter, which keeps each key's memory bounded.
        while window.times.len() > count {
            window.times.pop_front();
        }
        if window.times.len() < count || at < window.quiet_until {
            return None;
        }
        window.times.clear();
        window.quiet_until = at + within;
        Some(self.alert(&key, e))
    }

    fn alert(&self, key: &str, e: &AuditEvent) -> AuditEvent {
        let (count, within) = (self.count, human(self.within));
        match self.kind {
            AlertKind::MaskedRefusals { .. } => {
                let message =
                    format!("{count} statements of {key} were refused by masking within {within}");
                let mut alert = AuditEvent::new(
                    ALERT_MASKED_REFUSALS,
                    json!({"message": message, "count": count, "within_ms": self.within_ms()}),
                )
                .subject(key);
                if let Some(r) = &e.resource {
                    alert = alert.resource(r);
                }
                alert
            }
            _ => {
                let detail = e.detail_value();
                let last = detail.get("login").and_then(|v| v.as_str()).unwrap_or("?");
                let from = detail
                    .get("client_addr")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?");
                let message = format!(
                    "{count} failed logins on {key} within {within} (the last as {last:?} from {from})"
                );
                let mut alert = AuditEvent::new(
                    ALERT_FAILED_LOGINS,
                    json!({"message": message, "count": count, "within_ms": self.within_ms()}),
                );
                if let Some(r) = &e.resource {
                    alert = alert.resource(r);
                }
                alert
            }
        }
    }
}

/// Sessions open close to their grant's end; checked by the enforcement scheduler.
pub(crate) struct SessionAlerts {
    rules: Vec<(Millis, Duration, Option<String>)>,
    live: Mutex<HashMap<String, WatchedSession>>,
}

struct WatchedSession {
    record: SessionRecord,
    expires_at: Millis,
    /// Per rule: already alerted.
    fired: Vec<bool>,
}

impl SessionAlerts {
    pub fn new(rules: &[AlertRule]) -> SessionAlerts {
        let rules = rules
            .iter()
            .filter_map(|rule| match rule.kind {
                AlertKind::SessionNearExpiry { before } => {
                    Some((before.as_millis() as Millis, before, rule.resource.clone()))
                }
                _ => None,
            })
            .collect();
        SessionAlerts {
            rules,
            live: Mutex::new(HashMap::new()),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, WatchedSession>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn opened(&self, record: &SessionRecord, expires_at: Millis) {
        if self.rules.is_empty() {
            return;
        }
        self.live().insert(
            record.id.clone(),
            WatchedSession {
                record: record.clone(),
                expires_at,
                fired: vec![false; self.rules.len()],
            },
        );
    }

    pub fn closed(&self, session_id: &str) {
        if !self.rules.is_empty() {
            self.live().remove(session_id);
        }
    }

    /// Alerts for sessions that have just come within a rule's `before` of their grant's end;
    /// each session alerts once per rule.
    pub fn due(&self, now: Millis) -> Vec<AuditEvent> {
        if self.rules.is_empty() {
            return Vec::new();
        }
        let mut alerts = Vec::new();
        for watched in self.live().values_mut() {
            let r = &watched.record;
            for (i, (before_ms, before, resource)) in self.rules.iter().enumerate() {
                let due = now >= watched.expires_at - before_ms && now < watched.expires_at;
                if watched.fired[i] || !due || !covers(resource, Some(&r.resource)) {
                    continue;
                }
                watched.fired[i] = true;
                let left =
                    Duration::from_millis((watched.expires_at - now).max(0) as u64 / 1000 * 1000);
                let message = format!(
                    "session {} of {} on {} is still open {} before its grant ends (alert at {})",
                    r.id,
                    r.subject,
                    r.resource,
                    human(left),
                    human(*before)
                );
                alerts.push(
                    AuditEvent::new(
                        ALERT_SESSION_NEAR_EXPIRY,
                        json!({"message": message, "expires_at": watched.expires_at,
                               "before_ms": *before_ms}),
                    )
                    .subject(&r.subject)
                    .resource(&r.resource)
                    .grant(&r.grant_id)
                    .session(&r.id),
                );
            }
        }
        alerts
    }
}
