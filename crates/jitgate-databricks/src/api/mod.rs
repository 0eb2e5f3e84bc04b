//! The workspace's REST API as jitgate uses it: one blocking client (run it off the async
//! runtime, e.g. in `spawn_blocking`), retries with back-off on 429 and 5xx that honour
//! `Retry-After`, and every answer kept whole so that changes can be audited with it.

mod auth;
mod permissions;
mod scim;
mod statements;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use permissions::PrivilegeAssignment;
pub use scim::{Group, ScimUser};
pub use statements::StatementResult;
pub use tokens::{OboToken, TokenInfo};

/// How long one call may take, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest `Retry-After` jitgate waits for; a longer one is cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// An answer of the API: its status and JSON body (`null` when empty).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API answered with an error status (after retries, for retryable ones).
    #[error("{method} {path}: HTTP {status} {error_code}: {message}")]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        error_code: String,
        message: String,
        body: Value,
    },
    #[error("{method} {path}: {reason}")]
    Transport {
        method: &'static str,
        path: String,
        reason: String,
    },
    #[error("{method} {path}: unexpected answer: {reason}")]
    BadAnswer {
        method: &'static str,
        path: String,
        reason: String,
    },
    /// A name the workspace does not know (a user, a group).
    #[error("{0}")]
    NotFound(String),
}

impl ApiError {
    /// The API's answer, for the audit trail (status and body; never request headers).
    pub fn answer(&self) -> Value {
        match self {
            ApiError::Status { status, body, .. } => {
                serde_json::json!({"status": status, "body": body})
            }
            other => serde_json::json!({"error": other.to_string()}),
        }
    }
}

/// Attempts and back-off of retried calls.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Calls in all, the first included.
    pub attempts: u32,
    /// Wait before the first retry when the answer names none; doubles each time.
    pub first_backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
        }
    }
}

/// One API: a base URL and how calls to it are authorised.
#[derive(Clone)]
struct Endpoint {
    base: String,
    auth: Arc<auth::Auth>,
}

/// A Databricks workspace (and its account, for account-level SCIM).
pub struct Workspace {
    agent: ureq::Agent,
    workspace: Endpoint,
    /// Base of the SCIM API: the account's when configured, else the workspace's.
    scim: (Endpoint, String),
    warehouse_id: Option<String>,
    retry: RetryPolicy,
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .new_agent()
}

impl Workspace {
    pub fn new(config: &jitgate_config::DatabricksWorkspace) -> Workspace {
        let agent = agent(CALL_TIMEOUT);
        let workspace_auth = match &config.oauth {
            Some(client) => {
                auth::Auth::OAuth(auth::OAuth::new(&config.api_url, "/oidc/v1/token", client))
            }
            None => auth::Auth::Token(config.token.expose().to_string()),
        };
        let workspace = Endpoint {
            base: config.api_url.clone(),
            auth: Arc::new(workspace_auth),
        };
        let scim = match &config.account {
            Some(a) => {
                let auth = match (&a.token, &config.oauth) {
                    (Some(t), _) => Arc::new(auth::Auth::Token(t.expose().to_string())),
                    (None, Some(client)) => Arc::new(auth::Auth::OAuth(auth::OAuth::new(
                        &a.api_url,
                        &format!("/oidc/accounts/{}/v1/token", a.id),
                        client,
                    ))),
                    (None, None) => workspace.auth.clone(),
                };
                (
                    Endpoint {
                        base: a.api_url.clone(),
                        auth,
                    },
                    format!("/api/2.0/accounts/{}/scim/v2", a.id),
                )
            }
            None => (workspace.clone(), "/api/2.0/preview/scim/v2".to_string()),
        };
        Workspace {
            agent,
            workspace,
            scim,
            warehouse_id: config.warehouse_id.clone(),
            retry: RetryPolicy::default(),
        }
    }

    /// Replaces the retry policy (tests use short waits).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Workspace {
        self.retry = retry;
        self
    }

    /// Replaces the deadline of one call (look-ups a person waits for are kept short).
    pub fn with_timeout(mut self, timeout: Duration) -> Workspace {
        self.agent = agent(timeout);
        self
    }

    /// A call to the workspace API; `path` starts with `/api/`.
    pub(crate) fn call(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ApiError> {
        self.call_at(&self.workspace.clone(), method, path, body)
    }

    /// A call to the SCIM API (account or workspace); `path` is under `/scim/v2`.
    pub(crate) fn scim_call(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ApiError> {
        let (endpoint, prefix) = &self.scim;
        self.call_at(endpoint, method, &format!("{prefix}{path}"), body)
    }

    fn call_at(
        &self,
        endpoint: &Endpoint,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ApiError> {
        let mut backoff = self.retry.first_backoff;
        let mut attempt = 1;
        loop {
            let outcome = self.once(endpoint, method, path, body);
            let wait = match &outcome {
                Err(Attempt::Retry { retry_after, .. }) => {
                    retry_after.unwrap_or(backoff).min(MAX_RETRY_AFTER)
                }
                _ => Duration::ZERO,
            };
            match outcome {
                Ok(answer) => return Ok(answer),
                Err(Attempt::Final(e)) => return Err(*e),
                Err(Attempt::Retry { error, .. }) if attempt >= self.retry.attempts => {
                    return Err(*error)
                }
                Err(Attempt::Retry { error, .. }) => {
                    tracing::warn!("{error}; retrying in {wait:?}");
                }
            }
            std::thread::sleep(wait);
            backoff = (backoff * 2).min(self.retry.max_backoff);
            attempt += 1;
        }
    }

    fn once(
        &self,
        endpoint: &Endpoint,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, Attempt> {
        let url = format!("{}{path}", endpoint.base);
        let auth = endpoint.auth.header(&self.agent).map_err(|error| {
            let retry = match &error {
                ApiError::Transport { .. } => true,
                ApiError::Status { status, .. } => *status == 429 || *status >= 500,
                _ => false,
            };
            if retry {
                Attempt::Retry {
                    error: Box::new(error),
                    retry_after: None,
                }
            } else {
                Attempt::Final(Box::new(error))
            }
        })?;
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("Authorization", &auth)
                .call(),
            ("PATCH", Some(b)) => self
                .agent
                .patch(&url)
                .header("Authorization", &auth)
                .send_json(b),
            ("PUT", Some(b)) => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .send_json(b),
            (_, b) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(b.unwrap_or(&Value::Null)),
        };
        let transport = |reason: String| ApiError::Transport {
            method,
            path: path.to_string(),
            reason,
        };
        let mut response = response.map_err(|e| Attempt::Retry {
            error: Box::new(transport(e.to_string())),
            retry_after: None,
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| Attempt::Final(Box::new(transport(format!("reading the answer: {e}")))))?;
        let body: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if (200..300).contains(&status) {
            return Ok(Answer { status, body });
        }
        let error = Box::new(ApiError::Status {
            method,
            path: path.to_string(),
            status,
            error_code: error_field(&body, &["error_code", "scimType"]),
            message: error_field(&body, &["message", "detail"]),
            body,
        });
        if status == 429 || matches!(status, 500 | 502 | 503 | 504) {
            return Err(Attempt::Retry { error, retry_after });
        }
        Err(Attempt::Final(error))
    }

    pub(crate) fn warehouse_id(&self) -> Result<&str, ApiError> {
        self.warehouse_id.as_deref().ok_or_else(|| {
            ApiError::NotFound(
                "no warehouse_id under [resources.NAME.databricks]: masks are applied through \
                 a SQL warehouse"
                    .to_string(),
            )
        })
    }
}

/// One attempt's outcome when it is not a success.
enum Attempt {
    Retry {
        error: Box<ApiError>,
        retry_after: Option<Duration>,
    },
    Final(Box<ApiError>),
}

/// The first of `keys` present as a string in an error body (Databricks: `error_code` and
/// `message`; SCIM: `scimType` and `detail`).
fn error_field(body: &Value, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| body.get(k).and_then(Value::as_str))
        .unwrap_or("")
        .to_string()
}

/// Everything but RFC 3986's unreserved characters is encoded.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A path segment (or query value), percent-encoded.
pub(crate) fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

/// A SCIM filter `ATTR eq "VALUE"`, percent-encoded for a query string.
pub(crate) fn scim_eq(attribute: &str, value: &str) -> String {
    let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
    segment(&format!("{attribute} eq \"{quoted}\""))
}
