//! Prometheus metrics of one gateway replica, served at `/metrics` on the API listener. Names
//! follow Prometheus conventions (`jitgate_` prefix, base units, `_total` counters). Updating a
//! metric is an atomic add; the hot path (a statement) touches one counter and one histogram.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

type Labels = Vec<(&'static str, String)>;

fn label(name: &'static str, value: &str) -> Labels {
    vec![(name, value.to_owned())]
}

pub struct Metrics {
    registry: Registry,
    sessions_active: Family<Labels, Gauge>,
    sessions: Family<Labels, Counter>,
    bytes_received: Family<Labels, Counter>,
    bytes_sent: Family<Labels, Counter>,
    login_failures: Family<Labels, Counter>,
    statements: Counter,
    statement_seconds: Histogram,
    refusals: Family<Labels, Counter>,
    grants_active: Gauge,
    store_up: Gauge,
    store_errors: Counter,
    audit_events: Counter,
    audit_failures: Counter,
    audit_write_seconds: Histogram,
    requests_pending: Gauge,
    grant_end_to_cut_seconds: Histogram,
    webhook_deliveries: Family<Labels, Counter>,
}

/// What became of one event a webhook was to receive (`outcome` of
/// `jitgate_webhook_deliveries_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// The endpoint accepted it (a 2xx).
    Delivered,
    /// The endpoint refused it in a way another try would not change (e.g. 400, 404).
    Refused,
    /// Every try failed (network trouble, timeouts, 5xx); given up.
    Failed,
    /// The queue was full: the oldest event was dropped undelivered.
    Dropped,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Delivered => "delivered",
            WebhookOutcome::Refused => "refused",
            WebhookOutcome::Failed => "failed",
            WebhookOutcome::Dropped => "dropped",
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("jitgate"),
            sessions_active: Family::default(),
            sessions: Family::default(),
            bytes_received: Family::default(),
            bytes_sent: Family::default(),
            login_failures: Family::default(),
            statements: Counter::default(),
            // 100 µs to ~100 s.
            statement_seconds: Histogram::new(exponential_buckets(0.0001, 4.0, 11)),
            refusals: Family::default(),
            grants_active: Gauge::default(),
            store_up: Gauge::default(),
            store_errors: Counter::default(),
            audit_events: Counter::default(),
            audit_failures: Counter::default(),
            // 1 ms to ~16 s.
            audit_write_seconds: Histogram::new(exponential_buckets(0.001, 4.0, 8)),
            requests_pending: Gauge::default(),
            // 1 ms to ~65 s: within the second the fleet promises, and what a lost store makes.
            grant_end_to_cut_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
            webhook_deliveries: Family::default(),
        };
        m.register();
        m
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "sessions_active",
            "Client sessions open on this replica, by resource",
            self.sessions_active.clone(),
        );
        r.register(
            "sessions",
            "Client sessions started, by resource",
            self.sessions.clone(),
        );
        r.register(
            "client_received_bytes",
            "Bytes received from clients, by resource",
            self.bytes_received.clone(),
        );
        r.register(
            "client_sent_bytes",
            "Bytes sent to clients, by resource",
            self.bytes_sent.clone(),
        );
        r.register(
            "login_failures",
            "Refused logins, by reason",
            self.login_failures.clone(),
        );
        r.register("statements", "Statements relayed", self.statements.clone());
        r.register(
            "statement_duration_seconds",
            "Time from a statement to its answer",
            self.statement_seconds.clone(),
        );
        r.register(
            "statement_refusals",
            "Statements refused (masking, read-only), by audit kind",
            self.refusals.clone(),
        );
        r.register(
            "grants_active",
            "Grants not ended, as the store last said",
            self.grants_active.clone(),
        );
        r.register(
            "store_up",
            "1 while the control-plane store answers, else 0",
            self.store_up.clone(),
        );
        r.register(
            "store_errors",
            "Scheduler rounds the store did not answer",
            self.store_errors.clone(),
        );
        r.register(
            "audit_events_written",
            "Audit events written to the chain",
            self.audit_events.clone(),
        );
        r.register(
            "audit_write_failures",
            "Audit batches the store refused",
            self.audit_failures.clone(),
        );
        r.register(
            "audit_write_duration_seconds",
            "Time to append one batch to the audit chain",
            self.audit_write_seconds.clone(),
        );
        r.register(
            "requests_pending",
            "Access requests waiting for a decision, as the store last said",
            self.requests_pending.clone(),
        );
        r.register(
            "grant_end_to_session_cut_seconds",
            "Time from a grant's end (its expiry or revocation) to the cut of a session it \
             admitted on this replica",
            self.grant_end_to_cut_seconds.clone(),
        );
        r.register(
            "webhook_deliveries",
            "Events sent to webhooks, by outcome (delivered, refused, failed, dropped)",
            self.webhook_deliveries.clone(),
        );
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    pub(crate) fn session_opened(&self, resource: &str) {
        self.sessions
            .get_or_create(&label("resource", resource))
            .inc();
        self.sessions_active
            .get_or_create(&label("resource", resource))
            .inc();
    }

    pub(crate) fn session_closed(&self, resource: &str, received: u64, sent: u64) {
        let l = label("resource", resource);
        self.sessions_active.get_or_create(&l).dec();
        self.bytes_received.get_or_create(&l).inc_by(received);
        self.bytes_sent.get_or_create(&l).inc_by(sent);
    }

    pub(crate) fn login_failed(&self, reason: &str) {
        self.login_failures
            .get_or_create(&label("reason", reason))
            .inc();
    }

    pub(crate) fn statement(&self, duration: Duration) {
        self.statements.inc();
        self.statement_seconds.observe(duration.as_secs_f64());
    }

    pub(crate) fn refused(&self, kind: &str) {
        self.refusals.get_or_create(&label("kind", kind)).inc();
    }

    pub(crate) fn store_round(&self, grants_active: Option<usize>) {
        match grants_active {
            Some(n) => {
                self.store_up.set(1);
                self.grants_active.set(n as i64);
            }
            None => {
                self.store_up.set(0);
                self.store_errors.inc();
            }
        }
    }

    pub(crate) fn audit_written(&self, events: usize, took: Duration, ok: bool) {
        if ok {
            self.audit_events.inc_by(events as u64);
        } else {
            self.audit_failures.inc();
        }
        self.audit_write_seconds.observe(took.as_secs_f64());
    }
}

impl Metrics {
    pub(crate) fn requests_pending(&self, pending: usize) {
        self.requests_pending.set(pending as i64);
    }

    /// A session was cut `late` after its grant ended.
    pub(crate) fn session_cut_after_grant_end(&self, late: Duration) {
        self.grant_end_to_cut_seconds.observe(late.as_secs_f64());
    }

    pub(crate) fn webhook_delivery(&self, outcome: WebhookOutcome) {
        self.webhook_deliveries
            .get_or_create(&label("outcome", outcome.as_str()))
            .inc();
    }
}
