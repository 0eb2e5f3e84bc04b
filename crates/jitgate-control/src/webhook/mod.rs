//! Webhooks: audit events whose kind matches a webhook's globs are queued for it and POSTed by a
//! delivery thread of its own, as JSON or as a Slack-compatible message, with retries and an
//! optional HMAC signature. Queues are bounded and never block the caller: when one is full the
//! oldest delivery is dropped (and logged), since a stuck endpoint must not stall the lifecycle.

mod blocks;
mod deliver;
mod queue;
#[cfg(test)]
mod tests;
mod text;

pub use blocks::{slack_message, APPROVE_ACTION, DENY_ACTION};
pub use text::sentence;

use crate::audit::AuditEvent;
use crate::metrics::{Metrics, WebhookOutcome};
use jitgate_config::{glob_match, Webhook};
use queue::DeliveryQueue;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How hard deliveries are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per event, the first included.
    pub attempts: u32,
    /// Wait after the first failure; doubled after each further one (0.5s, 1s, 2s, 4s, …).
    pub first_backoff: Duration,
    /// Events waiting per webhook before the oldest are dropped.
    pub queue_capacity: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_backoff: Duration::from_millis(500),
            queue_capacity: 10_000,
        }
    }
}

/// An audit event as a webhook receives it in `json` format: the event with its sequence
/// number in the audit chain.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookEvent {
    pub seq: i64,
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// Decides which webhooks get an event; owned by the recorder thread, which calls it with every
/// batch it has written.
pub(crate) struct WebhookRouter {
    routes: Vec<Route>,
    metrics: Arc<Metrics>,
}

struct Route {
    patterns: Vec<String>,
    /// Kind → matches, so each distinct kind is matched against the globs once.
    decided: HashMap<String, bool>,
    queue: Arc<DeliveryQueue>,
}

/// Most distinct kinds remembered per webhook; past it the cache starts afresh.
const KIND_CACHE: usize = 1024;

impl Route {
    fn wants(&mut self, kind: &str) -> bool {
        if let Some(&known) = self.decided.get(kind) {
            return known;
        }
        let wanted = self.patterns.iter().any(|p| glob_match(p, kind));
        if self.decided.len() >= KIND_CACHE {
            self.decided.clear();
        }
        self.decided.insert(kind.to_owned(), wanted);
        wanted
    }
}

/// The delivery side, kept by the control plane to wait for queues to drain at shutdown.
#[derive(Clone, Default)]
pub(crate) struct WebhookQueues(Vec<Arc<DeliveryQueue>>);

impl WebhookQueues {
    /// Waits until every queue is empty and idle, or `deadline` passes; true if all drained.
    pub fn drain(&self, deadline: Instant) -> bool {
        self.0.iter().all(|q| q.wait_idle(deadline))
    }
}

impl WebhookRouter {
    /// Starts one delivery thread per webhook.
    pub fn start(
        hooks: &[Webhook],
        retry: RetryPolicy,
        metrics: &Arc<Metrics>,
    ) -> (WebhookRouter, WebhookQueues) {
        let mut routes = Vec::with_capacity(hooks.len());
        for (i, hook) in hooks.iter().enumerate() {
            let queue = Arc::new(DeliveryQueue::new(retry.queue_capacity));
            let worker_queue = queue.clone();
            let hook = hook.clone();
            let worker_metrics = metrics.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("jitgate-webhook-{i}"))
                .spawn(move || deliver::run(hook, worker_queue, retry, &worker_metrics));
            if let Err(e) = spawned {
                tracing::error!("webhook {i}: cannot start its delivery thread: {e}");
                continue;
            }
            routes.push(Route {
                patterns: hooks[i].events.clone(),
                decided: HashMap::new(),
                queue,
            });
        }
        let queues = WebhookQueues(routes.iter().map(|r| r.queue.clone()).collect());
        let router = WebhookRouter {
            routes,
            metrics: metrics.clone(),
        };
        (router, queues)
    }

    /// Queues every event (numbered from `first_seq`) for the webhooks that want its kind.
    pub fn route(&mut self, first_seq: i64, events: &[AuditEvent]) {
        for route in &mut self.routes {
            for (i, event) in events.iter().enumerate() {
                if !route.wants(&event.kind) {
                    continue;
                }
                let dropped = route.queue.push(WebhookEvent {
                    seq: first_seq + i as i64,
                    event: event.clone(),
                });
                if dropped {
                    self.metrics.webhook_delivery(WebhookOutcome::Dropped);
                }
            }
        }
    }
}

impl Drop for WebhookRouter {
    /// No more events will come: delivery threads finish what they are doing and stop.
    fn drop(&mut self) {
        for route in &self.routes {
            route.queue.close();
        }
    }
}
