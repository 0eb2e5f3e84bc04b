//! `[[webhooks]]` and `[[alerts]]`: where audit events and alerts are sent, and what raises one.

use std::env::VarError;
use std::time::Duration;

use crate::error::ConfigError;
use crate::model::{
    AlertKind, AlertRule, Resource, Secret, Webhook, WebhookFormat, DEFAULT_WEBHOOK_EVENTS,
};
use crate::rules::resource_pattern;
use crate::section::{Field, Section};

const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// Most events a counting alert may wait for.
const MAX_ALERT_COUNT: i64 = 100_000;

/// Reads every `[[webhooks]]` entry.
pub(crate) fn read_webhooks(root: &Section<'_>) -> Result<Vec<Webhook>, ConfigError> {
    let Some(field) = root.get("webhooks") else {
        return Ok(Vec::new());
    };
    field
        .items()?
        .iter()
        .map(|item| read_webhook(&item.table()?))
        .collect()
}

fn read_webhook(s: &Section<'_>) -> Result<Webhook, ConfigError> {
    s.only(&[
        "url",
        "format",
        "events",
        "secret_env",
        "secret_file",
        "timeout",
        "console_url",
    ])?;
    let url = s.required("url")?;
    check_url(&url)?;
    let events = match s.get("events") {
        Some(f) => {
            let items = f.items()?;
            if items.is_empty() {
                return Err(f.error("expected at least one event kind or glob, e.g. \"grant.*\""));
            }
            items.iter().map(event_pattern).collect::<Result<_, _>>()?
        }
        None => DEFAULT_WEBHOOK_EVENTS.map(String::from).to_vec(),
    };
    Ok(Webhook {
        url: url.str()?.to_string(),
        format: s
            .optional("format", |f| {
                f.choice(&WebhookFormat::ALL, WebhookFormat::as_str)
            })?
            .unwrap_or(WebhookFormat::Json),
        events,
        secret: read_secret(s)?,
        timeout: s
            .optional("timeout", |f| f.duration())?
            .unwrap_or(DEFAULT_WEBHOOK_TIMEOUT),
        console_url: s.optional("console_url", |f| {
            check_url(f)?;
            Ok(f.str()?.trim_end_matches('/').to_string())
        })?,
    })
}

/// `http://` or `https://`, a host, an optional numeric port, no spaces: enough that a typo is
/// caught at load rather than at the first delivery.
fn check_url(f: &Field<'_>) -> Result<(), ConfigError> {
    let url = f.str()?;
    let bad = |why: &str| {
        f.error(format!(
            "{why}; expected an http:// or https:// URL such as \"https://hooks.example.com/jitgate\""
        ))
    };
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Err(bad("the URL must start with http:// or https://"));
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("the URL contains a space or control character"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials in the URL would end up in logs; a secret belongs in secret_env.
    let host_port = match authority.rsplit_once('@') {
        Some(_) => return Err(bad("user:password@ in the URL is not supported")),
        None => authority,
    };
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Err(bad("unclosed [ in the host")),
        }
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(bad("the URL has no host"));
    }
    if let Some(port) = port {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(bad("the port is not a number from 1 to 65535"));
        }
    }
    Ok(())
}

/// An event kind or glob: lowercase letters, digits, `_`, `.`, `*`, `?`.
fn event_pattern(f: &Field<'_>) -> Result<String, ConfigError> {
    let text = f.str()?;
    let valid = text.chars().all(|c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '*' | '?')
    });
    if !valid {
        return Err(f.error(format!(
            "expected an event kind or glob such as \"grant.*\", found {text:?}"
        )));
    }
    Ok(text.to_string())
}

/// The signing key, from `secret_env` or `secret_file` (never inline: it would sit in the file).
fn read_secret(s: &Section<'_>) -> Result<Option<Secret>, ConfigError> {
    read_secret_keys(s, "secret_env", "secret_file")
}

/// A secret from the environment variable named by `env_key` or the file named by `file_key`.
pub(crate) fn read_secret_keys(
    s: &Section<'_>,
    env_key: &str,
    file_key: &str,
) -> Result<Option<Secret>, ConfigError> {
    let (env, file) = (s.get(env_key), s.get(file_key));
    let (value, origin, field) = match (env, file) {
        (None, None) => return Ok(None),
        (Some(_), Some(f)) => {
            return Err(f.key_error(format!(
                "{env_key} is already given; use at most one of them"
            )))
        }
        (Some(f), None) => {
            let var = f.str()?;
            let value = std::env::var(var).map_err(|e| match e {
                VarError::NotPresent => f.error(format!("environment variable {var} is not set")),
                VarError::NotUnicode(_) => {
                    f.error(format!("environment variable {var} is not valid UTF-8"))
                }
            })?;
            (value, format!("env {var}"), f)
        }
        (None, Some(f)) => {
            let path = f.path()?;
            let text = std::fs::read_to_string(&path)
                .map_err(|e| f.error(format!("cannot read secret file {}: {e}", path.display())))?;
            let value = text.trim_end_matches(['\n', '\r']).to_string();
            (value, format!("file {}", path.display()), f)
        }
    };
    if value.is_empty() {
        return Err(field.error(format!("the secret from {origin} is empty")));
    }
    Ok(Some(Secret::new(value, origin)))
}

/// Reads every `[[alerts]]` rule.
pub(crate) fn read_alerts(
    root: &Section<'_>,
    resources: &[Resource],
) -> Result<Vec<AlertRule>, ConfigError> {
    let Some(field) = root.get("alerts") else {
        return Ok(Vec::new());
    };
    field
        .items()?
        .iter()
        .map(|item| read_alert(&item.table()?, resources))
        .collect()
}

fn read_alert(s: &Section<'_>, resources: &[Resource]) -> Result<AlertRule, ConfigError> {
    let kind_field = s.required("kind")?;
    let word = kind_field.str()?;
    // Each kind has its own keys; the rest are refused so a threshold of another kind is not
    // silently ignored.
    let count = |s: &Section<'_>| -> Result<u32, ConfigError> {
        // The range is checked, so the cast cannot truncate.
        Ok(s.required("count")?.integer(1, MAX_ALERT_COUNT)? as u32)
    };
    let kind = match word {
        "long_statement" => {
            s.only(&["kind", "resource", "threshold", "cancel"])?;
            AlertKind::LongStatement {
                threshold: s.required("threshold")?.duration()?,
                cancel: s.optional("cancel", |f| f.bool())?.unwrap_or(false),
            }
        }
        "session_near_expiry" => {
            s.only(&["kind", "resource", "before"])?;
            AlertKind::SessionNearExpiry {
                before: s.required("before")?.duration()?,
            }
        }
        "failed_logins" => {
            s.only(&["kind", "resource", "count", "within"])?;
            AlertKind::FailedLogins {
                count: count(s)?,
                within: s.required("within")?.duration()?,
            }
        }
        "masked_refusals" => {
            s.only(&["kind", "resource", "count", "within"])?;
            AlertKind::MaskedRefusals {
                count: count(s)?,
                within: s.required("within")?.duration()?,
            }
        }
        other => {
            let known: Vec<String> = AlertKind::NAMES
                .iter()
                .map(|k| format!("\"{k}\""))
                .collect();
            return Err(kind_field.error(format!(
                "unknown alert kind {other:?}; known kinds: {}",
                known.join(", ")
            )));
        }
    };
    Ok(AlertRule {
        kind,
        resource: s.optional("resource", |f| resource_pattern(f, resources))?,
    })
}
