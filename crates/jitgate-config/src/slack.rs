//! `[slack]`: Slack's interactive approvals (the Approve/Deny buttons of `format = "slack"`
//! webhooks): the signing secret Slack signs interactivity requests with, which Slack user is
//! which subject, and where Slack's response URLs must point.

use crate::error::ConfigError;
use crate::model::Slack;
use crate::notify::read_secret_keys;
use crate::section::Section;

/// Where Slack's `response_url`s live; the interactivity endpoint posts nowhere else.
pub const SLACK_RESPONSE_BASE: &str = "https://hooks.slack.com/";
/// Slack's Web API.
pub const SLACK_API_BASE: &str = "https://slack.com/api/";

pub(crate) fn read_slack(root: &Section<'_>) -> Result<Option<Slack>, ConfigError> {
    let Some(field) = root.get("slack") else {
        return Ok(None);
    };
    let s = field.table()?;
    s.only(&[
        "signing_secret_env",
        "signing_secret_file",
        "users",
        "response_base",
        "bot_token_env",
        "bot_token_file",
        "api_base",
    ])?;
    let signing_secret = read_secret_keys(&s, "signing_secret_env", "signing_secret_file")?
        .ok_or_else(|| s.missing("signing_secret_env (or signing_secret_file)"))?;
    let users = match s.get("users") {
        Some(f) => f
            .table()?
            .entries()
            .iter()
            .map(|e| Ok((e.name.to_string(), e.str()?.to_string())))
            .collect::<Result<_, ConfigError>>()?,
        None => Vec::new(),
    };
    let url_prefix = |f: &crate::section::Field<'_>| {
        let base = f.str()?;
        if base.starts_with("https://") || base.starts_with("http://") {
            Ok(base.to_string())
        } else {
            Err(f.error("expected an http:// or https:// URL prefix"))
        }
    };
    Ok(Some(Slack {
        signing_secret,
        users,
        response_base: s
            .optional("response_base", url_prefix)?
            .unwrap_or_else(|| SLACK_RESPONSE_BASE.to_string()),
        bot_token: read_secret_keys(&s, "bot_token_env", "bot_token_file")?,
        api_base: s
            .optional("api_base", url_prefix)?
            .unwrap_or_else(|| SLACK_API_BASE.to_string()),
    }))
}
