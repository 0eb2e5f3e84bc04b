//! Slack's interactivity endpoint, `POST /api/v1/slack/actions`: the Approve and Deny buttons of
//! jitgate's Slack messages. The request must carry Slack's signature ([`signature`]); the Slack
//! user is mapped to a subject (`[slack.users]`), and the decision is the control plane's
//! `approve`/`deny` with that subject as actor, exactly as `POST /api/v1/requests/{id}/approve`
//! (no self-approval, approver groups, counts). The message is then replaced, through the
//! `response_url` Slack gave, with the outcome and who decided; a refusal is told to the
//! clicker alone.

mod signature;
#[cfg(test)]
mod tests;

use crate::blocking::blocking;
use crate::error::{ApiError, ApiResult};
use crate::ApiState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use jitgate_config::Slack;
use jitgate_control::identity::Subject;
use jitgate_control::model::{now_millis, Request};
use jitgate_control::webhook::{APPROVE_ACTION, DENY_ACTION};
use jitgate_control::ControlPlane;
use serde::Deserialize;
use serde_json::{json, Value};
use signature::{ReplayGuard, SignatureError};
use std::collections::HashMap;
use std::time::Duration;

/// The Slack app's settings and the signatures already seen.
pub struct SlackApp {
    secret: String,
    users: HashMap<String, String>,
    response_base: String,
    bot_token: Option<String>,
    api_base: String,
    replays: ReplayGuard,
}

impl SlackApp {
    pub fn new(config: &Slack) -> SlackApp {
        SlackApp {
            secret: config.signing_secret.expose().to_owned(),
            users: config.users.iter().cloned().collect(),
            response_base: config.response_base.clone(),
            bot_token: config.bot_token.as_ref().map(|t| t.expose().to_owned()),
            api_base: config.api_base.clone(),
            replays: ReplayGuard::default(),
        }
    }
}

/// The parts of a `block_actions` payload jitgate reads.
#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: SlackUser,
    #[serde(default)]
    actions: Vec<Action>,
    response_url: Option<String>,
}

#[derive(Deserialize)]
struct SlackUser {
    id: String,
}

#[derive(Deserialize)]
struct Action {
    action_id: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct Form {
    payload: String,
}

pub async fn actions(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let Some(app) = state.slack.clone() else {
        return Err(ApiError::not_found("Slack is not configured ([slack])"));
    };
    check_signature(&app, &headers, &body)?;
    let form: Form = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ApiError::invalid_input("expected a form with a payload field"))?;
    let payload: Payload = serde_json::from_str(&form.payload).map_err(|e| {
        ApiError::invalid_input(format!("the payload is not a block_actions payload: {e}"))
    })?;
    let Some(action) = payload
        .actions
        .first()
        .filter(|_| payload.kind == "block_actions")
    else {
        return Ok(StatusCode::OK);
    };
    let approve = match action.action_id.as_str() {
        APPROVE_ACTION => true,
        DENY_ACTION => false,
        // The link button and anything else: nothing to do.
        _ => return Ok(StatusCode::OK),
    };
    crate::limits::id("request id", &action.value)?;
    let response_url = payload
        .response_url
        .filter(|u| u.starts_with(&app.response_base))
        .ok_or_else(|| ApiError::invalid_input("the payload's response_url is not Slack's"))?;
    let control = state.control.clone();
    let (user, request_id) = (payload.user.id, action.value.clone());
    let reply = blocking(move || {
        let outcome = decide(&control, &app, &user, &request_id, approve);
        Ok(message(outcome, &request_id))
    })
    .await?;
    tokio::task::spawn_blocking(move || respond(&response_url, &reply));
    Ok(StatusCode::OK)
}

fn check_signature(app: &SlackApp, headers: &HeaderMap, body: &[u8]) -> ApiResult<()> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let refused = |e: SignatureError| {
        let status = if e == SignatureError::Replayed {
            StatusCode::CONFLICT
        } else {
            StatusCode::UNAUTHORIZED
        };
        ApiError::new(status, "bad_slack_signature", e.to_string())
    };
    let (Some(ts), Some(sig)) = (
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
    ) else {
        return Err(refused(SignatureError::Missing));
    };
    let now = now_millis() / 1000;
    signature::verify(app.secret.as_bytes(), ts, body, sig, now).map_err(refused)?;
    let at = ts.parse().unwrap_or(now);
    app.replays.first_time(sig, at, now).map_err(refused)
}

/// The decision, by the subject the Slack user is, under the API's rules.
fn decide(
    control: &ControlPlane,
    app: &SlackApp,
    user: &str,
    request_id: &str,
    approve: bool,
) -> Result<(Request, String), String> {
    // The configured mapping first, then the e-mail address Slack knows (with a bot token).
    let name = match app.users.get(user) {
        Some(name) => Some(name.clone()),
        None => app.email_of(user),
    };
    let subject: Subject = name
        .and_then(|name| control.identity().lookup(&name))
        .ok_or_else(|| {
            format!("jitgate does not know Slack user {user}; an admin maps it under [slack.users]")
        })?;
    let comment = "via Slack";
    let decided = if approve {
        control.approve(&subject, request_id, comment)
    } else {
        control.deny(&subject, request_id, comment)
    };
    decided
        .map(|r| (r, subject.name))
        .map_err(|e| e.to_string())
}

impl SlackApp {
    /// The e-mail address Slack's Web API (`users.info`, with the bot token) gives for `user`;
    /// none without a token, or when Slack does not say.
    fn email_of(&self, user: &str) -> Option<String> {
        let token = self.bot_token.as_ref()?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .max_redirects(0)
            .build()
            .into();
        let url = format!(
            "{}users.info?user={}",
            self.api_base,
            crate::percent_encode(user)
        );
        let answer: Value = agent
            .get(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .and_then(|mut r| r.body_mut().read_json())
            .map_err(|e| tracing::warn!("slack: users.info failed: {e}"))
            .ok()?;
        if answer["ok"] != true {
            tracing::warn!("slack: users.info refused: {}", answer["error"]);
            return None;
        }
        let email = answer["user"]["profile"]["email"].as_str()?;
        (!email.is_empty()).then(|| email.to_owned())
    }
}

/// What replaces the message (the outcome, for everyone) or is told to the clicker alone.
fn message(outcome: Result<(Request, String), String>, request_id: &str) -> Value {
    match outcome {
        Ok((request, by)) => {
            let state = request.state.as_str();
            let text = format!(
                "{}'s request {} for {}: {} by {} ({} of {} approvals)",
                escape(&request.subject),
                request.id,
                escape(&request.resource),
                state,
                escape(&by),
                request.approval_count(),
                request.approvals_required.max(1)
            );
            json!({"replace_original": true, "text": text,
                   "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]})
        }
        Err(why) => json!({
            "replace_original": false,
            "response_type": "ephemeral",
            "text": format!("Request {request_id}: {}", escape(&why)),
        }),
    }
}

/// Slack's three control characters, escaped as its documentation asks.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Posts the reply to Slack's `response_url` (JSON, as Slack documents); failures are logged.
fn respond(url: &str, reply: &Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .max_redirects(0)
        .build()
        .into();
    if let Err(e) = agent.post(url).send_json(reply) {
        tracing::warn!("slack: updating the message failed: {e}");
    }
}
