//! Who hears about what happens: webhooks and alert rules.

use std::time::Duration;

use crate::model::Secret;

/// `[[webhooks]]`: an HTTP endpoint that receives audit events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `http://` or `https://` URL. It may carry a token (Slack's do), so `describe` shows only
    /// its scheme and host.
    pub url: String,
    pub format: WebhookFormat,
    /// Globs over audit event kinds, e.g. `request.*`.
    pub events: Vec<String>,
    /// Key of the `X-Jitgate-Signature` HMAC-SHA256 header, when given.
    pub secret: Option<Secret>,
    /// Time allowed for one delivery attempt; default 5s.
    pub timeout: Duration,
    /// The web console's address as people reach it: Slack messages link to request pages.
    pub console_url: Option<String>,
}

/// `[slack]`: interactive approvals from Slack messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slack {
    /// Slack's signing secret: interactivity requests carry `v0=` HMAC-SHA256 signatures by it.
    pub signing_secret: Secret,
    /// Slack user id → subject name (`[slack.users]`, `U024BE7LH = "dana"`).
    pub users: Vec<(String, String)>,
    /// The prefix every `response_url` must have; default `https://hooks.slack.com/`.
    pub response_base: String,
    /// A bot token with `users:read.email`: a clicker missing from `users` is looked up by the
    /// e-mail address Slack's `users.info` gives, as the subject of that name.
    pub bot_token: Option<Secret>,
    /// Slack's Web API; default `https://slack.com/api/`.
    pub api_base: String,
}

impl Webhook {
    /// `scheme://host[:port]` of the URL: what can be shown without a token in the path.
    pub fn origin(&self) -> &str {
        let after_scheme = self.url.find("://").map_or(0, |i| i + 3);
        let end = self.url[after_scheme..]
            .find(['/', '?', '#'])
            .map_or(self.url.len(), |i| after_scheme + i);
        &self.url[..end]
    }
}

/// Event kinds a webhook receives when it names none: the request/grant lifecycle and alerts.
pub const DEFAULT_WEBHOOK_EVENTS: [&str; 4] = ["request.*", "approval.*", "grant.*", "alert.*"];

/// `format` of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// The audit event as JSON, with its sequence number.
    Json,
    /// A Slack-compatible incoming-webhook message: `{"text": "..."}`.
    Slack,
}

impl WebhookFormat {
    pub const ALL: [WebhookFormat; 2] = [WebhookFormat::Json, WebhookFormat::Slack];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
        }
    }
}

/// `[[alerts]]`: a condition that raises an `alert.<kind>` audit event (and so a webhook call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRule {
    pub kind: AlertKind,
    /// Only events on resources matching this glob count; default every resource.
    pub resource: Option<String>,
}

/// What an alert watches, with its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// A statement has run (or finished after running) at least `threshold`; with `cancel`,
    /// a statement still running then is also cancelled upstream.
    LongStatement { threshold: Duration, cancel: bool },
    /// A session is still open `before` its grant ends.
    SessionNearExpiry { before: Duration },
    /// At least `count` failed logins on one resource within `within`.
    FailedLogins { count: u32, within: Duration },
    /// At least `count` statements of one subject refused by masking within `within`.
    MaskedRefusals { count: u32, within: Duration },
}

impl AlertKind {
    /// Every kind's word, in the order the documentation lists them.
    pub const NAMES: [&'static str; 4] = [
        "long_statement",
        "session_near_expiry",
        "failed_logins",
        "masked_refusals",
    ];

    /// The word of the configuration file, also the suffix of the audit kind `alert.<word>`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AlertKind::LongStatement { .. } => "long_statement",
            AlertKind::SessionNearExpiry { .. } => "session_near_expiry",
            AlertKind::FailedLogins { .. } => "failed_logins",
            AlertKind::MaskedRefusals { .. } => "masked_refusals",
        }
    }
}
