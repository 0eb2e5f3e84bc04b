//! The few HTTP calls OIDC needs, with timeouts and size limits: a provider is another party,
//! and a slow or huge answer must not stall logins.

use crate::OidcError;
use serde_json::Value;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);
/// Discovery documents and key sets are a few KiB; a token answer less.
const MAX_BODY: u64 = 1 << 20;

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        // OAuth errors come as JSON bodies with 400; read them.
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .build()
        .new_agent()
}

/// GETs a JSON document; any status but 200 is an error.
pub(crate) fn get_json(agent: &ureq::Agent, url: &str) -> Result<Value, OidcError> {
    let response = agent.get(url).header("Accept", "application/json").call();
    let (status, body) = read(url, response)?;
    if status != 200 {
        return Err(OidcError::Provider(format!("{url} answered HTTP {status}")));
    }
    Ok(body)
}

/// POSTs a form (token and device endpoints); returns the status and the JSON answer, since
/// OAuth errors (`authorization_pending`, `invalid_grant`, …) are answers too.
pub(crate) fn post_form(
    agent: &ureq::Agent,
    url: &str,
    form: &[(&str, &str)],
) -> Result<(u16, Value), OidcError> {
    let response = agent
        .post(url)
        .header("Accept", "application/json")
        .send_form(form.iter().copied());
    read(url, response)
}

fn read(
    url: &str,
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<(u16, Value), OidcError> {
    let mut response =
        response.map_err(|e| OidcError::Provider(format!("cannot reach {url}: {e}")))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(|e| OidcError::Provider(format!("reading the answer of {url}: {e}")))?;
    let body = serde_json::from_str(&text)
        .map_err(|_| OidcError::Provider(format!("{url} answered HTTP {status} without JSON")))?;
    Ok((status, body))
}

/// A string field of a JSON answer.
pub(crate) fn string(body: &Value, name: &str) -> Option<String> {
    body.get(name).and_then(Value::as_str).map(str::to_owned)
}
