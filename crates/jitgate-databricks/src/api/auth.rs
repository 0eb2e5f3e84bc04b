//! How calls are authorised: a bearer token given in the configuration, or OAuth
//! machine-to-machine (a service principal's client credentials exchanged at the workspace's or
//! account's token endpoint for short-lived access tokens, cached until shortly before expiry).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use super::ApiError;

/// Access tokens are renewed this long before they expire.
const RENEW_EARLY: Duration = Duration::from_secs(60);

pub(crate) enum Auth {
    Token(String),
    OAuth(OAuth),
}

pub(crate) struct OAuth {
    token_url: String,
    client_id: String,
    secret: String,
    cached: Mutex<Option<(String, Instant)>>,
}

impl OAuth {
    /// `token_path` is `/oidc/v1/token` (workspace) or `/oidc/accounts/{id}/v1/token`.
    pub(crate) fn new(base: &str, token_path: &str, client: &jitgate_config::OAuthClient) -> OAuth {
        OAuth {
            token_url: format!("{base}{token_path}"),
            client_id: client.client_id.clone(),
            secret: client.client_secret.expose().to_string(),
            cached: Mutex::new(None),
        }
    }
}

impl Auth {
    /// The `Authorization` header's value.
    pub(crate) fn header(&self, agent: &ureq::Agent) -> Result<String, ApiError> {
        match self {
            Auth::Token(t) => Ok(format!("Bearer {t}")),
            Auth::OAuth(o) => Ok(format!("Bearer {}", o.access_token(agent)?)),
        }
    }
}

impl OAuth {
    fn access_token(&self, agent: &ureq::Agent) -> Result<String, ApiError> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = self.fetch(agent)?;
        let until = Instant::now()
            + lifetime
                .saturating_sub(RENEW_EARLY)
                .max(Duration::from_secs(10));
        *cached = Some((token.clone(), until));
        Ok(token)
    }

    fn fetch(&self, agent: &ureq::Agent) -> Result<(String, Duration), ApiError> {
        let path = "oauth token endpoint".to_string();
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.client_id, self.secret));
        let response = agent
            .post(&self.token_url)
            .header("Authorization", format!("Basic {basic}"))
            .send_form([("grant_type", "client_credentials"), ("scope", "all-apis")]);
        let mut response = response.map_err(|e| ApiError::Transport {
            method: "POST",
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let field = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        if !(200..300).contains(&status) {
            return Err(ApiError::Status {
                method: "POST",
                path,
                status,
                error_code: field("error"),
                message: field("error_description"),
                body,
            });
        }
        let token = field("access_token");
        if token.is_empty() {
            return Err(ApiError::BadAnswer {
                method: "POST",
                path,
                reason: "no access_token".into(),
            });
        }
        let lifetime = body
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(300);
        Ok((token, Duration::from_secs(lifetime)))
    }
}
