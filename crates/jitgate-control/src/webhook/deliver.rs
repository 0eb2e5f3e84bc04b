//! One webhook's delivery thread: render, sign, POST, retry with exponential backoff.

use super::queue::DeliveryQueue;
use super::{RetryPolicy, WebhookEvent};
use crate::metrics::{Metrics, WebhookOutcome};
use hmac::{Hmac, Mac};
use jitgate_config::{Webhook, WebhookFormat};
use sha2::Sha256;
use std::sync::Arc;

/// Header carrying `sha256=<hex HMAC-SHA256 of the body>` when the webhook has a secret.
pub const SIGNATURE_HEADER: &str = "X-Jitgate-Signature";

enum Failure {
    /// Worth another try: network trouble, a timeout, 408, 429 or a 5xx.
    Transient(String),
    /// Another try would fail the same way (e.g. 400, 404).
    Permanent(String),
}

/// Delivers queued events until the queue closes.
pub(super) fn run(hook: Webhook, queue: Arc<DeliveryQueue>, retry: RetryPolicy, metrics: &Metrics) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(hook.timeout))
        // Statuses are judged here (retry or not), not turned into errors.
        .http_status_as_error(false)
        // A redirect would send events (and their signature) somewhere not configured.
        .max_redirects(0)
        .user_agent(concat!("jitgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    while let Some(event) = queue.take() {
        let body = render(&hook, &event);
        let signature = hook.secret.as_ref().map(|s| sign(s.expose(), &body));
        let mut backoff = retry.first_backoff;
        for attempt in 1..=retry.attempts.max(1) {
            match post(&agent, &hook, &event, &body, signature.as_deref()) {
                Ok(()) => {
                    metrics.webhook_delivery(WebhookOutcome::Delivered);
                    break;
                }
                Err(Failure::Permanent(why)) => {
                    tracing::error!(webhook = %hook.origin(), seq = event.seq, "webhook refused the event, not retrying: {why}");
                    metrics.webhook_delivery(WebhookOutcome::Refused);
                    break;
                }
                Err(Failure::Transient(why)) if attempt >= retry.attempts => {
                    tracing::error!(webhook = %hook.origin(), seq = event.seq, "webhook delivery failed {attempt} times, giving up: {why}");
                    metrics.webhook_delivery(WebhookOutcome::Failed);
                }
                Err(Failure::Transient(why)) => {
                    tracing::warn!(webhook = %hook.origin(), seq = event.seq, "webhook delivery attempt {attempt} failed, retrying in {backoff:?}: {why}");
                    if !queue.pause(backoff) {
                        return;
                    }
                    backoff = backoff.saturating_mul(2);
                }
            }
        }
    }
}

/// The request body: the event itself, or a Slack-compatible `{"text": …}` message.
pub(super) fn render(hook: &Webhook, event: &WebhookEvent) -> Vec<u8> {
    let value = match hook.format {
        WebhookFormat::Json => serde_json::to_value(event),
        WebhookFormat::Slack => Ok(super::blocks::slack_message(
            event.seq,
            &event.event,
            hook.console_url.as_deref(),
        )),
    };
    // Events are plain data and always serialise; an empty object keeps a bug from panicking.
    value
        .and_then(|v| serde_json::to_vec(&v))
        .unwrap_or_else(|_| b"{}".to_vec())
}

/// `sha256=<hex>` of the body under the webhook's secret.
pub(super) fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this never fails; the fallback keeps it panic-free.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

fn post(
    agent: &ureq::Agent,
    hook: &Webhook,
    event: &WebhookEvent,
    body: &[u8],
    signature: Option<&str>,
) -> Result<(), Failure> {
    let mut request = agent
        .post(&hook.url)
        .header("Content-Type", "application/json")
        .header("X-Jitgate-Event", &event.event.kind)
        .header("X-Jitgate-Seq", event.seq.to_string());
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    let response = request
        .send(body)
        .map_err(|e| Failure::Transient(e.to_string()))?;
    let status = response.status().as_u16();
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(Failure::Transient(format!("HTTP {status}"))),
        _ => Err(Failure::Permanent(format!("HTTP {status}"))),
    }
}
