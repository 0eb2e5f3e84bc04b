//! Token management: `GET /api/2.0/token-management/tokens`,
//! `DELETE /api/2.0/token-management/tokens/{id}`, and
//! `POST /api/2.0/token-management/on-behalf-of/tokens` (a token for a service principal).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{segment, Answer, ApiError, Workspace};

/// A token of the workspace as token management describes it (times in ms since the epoch;
/// `expiry_time` -1 when it never expires).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub token_id: String,
    #[serde(default)]
    pub creation_time: i64,
    #[serde(default = "never")]
    pub expiry_time: i64,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub created_by_username: String,
    #[serde(default)]
    pub owner_id: Value,
}

fn never() -> i64 {
    -1
}

impl Workspace {
    /// Every token of the workspace, page by page.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, ApiError> {
        let mut all = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let path = match &page_token {
                Some(t) => format!("/api/2.0/token-management/tokens?page_token={}", segment(t)),
                None => "/api/2.0/token-management/tokens".to_string(),
            };
            let answer = self.call("GET", &path, None)?;
            let infos = answer
                .body
                .get("token_infos")
                .cloned()
                .unwrap_or(Value::Array(Vec::new()));
            let page: Vec<TokenInfo> =
                serde_json::from_value(infos).map_err(|e| ApiError::BadAnswer {
                    method: "GET",
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            all.extend(page);
            page_token = answer
                .body
                .get("next_page_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if page_token.is_none() {
                return Ok(all);
            }
        }
    }

    pub fn delete_token(&self, token_id: &str) -> Result<Answer, ApiError> {
        let path = format!("/api/2.0/token-management/tokens/{}", segment(token_id));
        self.call("DELETE", &path, None)
    }
}

/// A token minted on behalf of a service principal. `answer` is the API's answer with the
/// token's value taken out (what the audit trail keeps); the value is only in `value`.
pub struct OboToken {
    pub info: TokenInfo,
    pub value: String,
    pub answer: Answer,
}

impl std::fmt::Debug for OboToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OboToken")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Workspace {
    /// Mints a token for the service principal `application_id`, expiring after
    /// `lifetime_seconds`. Not idempotent: a retried call after a lost answer may mint a
    /// second token with the same comment, which is how jitgate finds and deletes both.
    pub fn create_obo_token(
        &self,
        application_id: &str,
        lifetime_seconds: i64,
        comment: &str,
    ) -> Result<OboToken, ApiError> {
        let path = "/api/2.0/token-management/on-behalf-of/tokens";
        let body = json!({"application_id": application_id,
                          "lifetime_seconds": lifetime_seconds, "comment": comment});
        let mut answer = self.call("POST", path, Some(&body))?;
        let bad = |reason: &str| ApiError::BadAnswer {
            method: "POST",
            path: path.to_string(),
            reason: reason.to_string(),
        };
        let value = match answer.body.get_mut("token_value").map(Value::take) {
            Some(Value::String(v)) if !v.is_empty() => v,
            _ => return Err(bad("no token_value")),
        };
        if let Some(slot) = answer.body.get_mut("token_value") {
            *slot = Value::String("[withheld]".to_string());
        }
        let info = answer
            .body
            .get("token_info")
            .cloned()
            .ok_or_else(|| bad("no token_info"))?;
        let info: TokenInfo = serde_json::from_value(info).map_err(|e| bad(&e.to_string()))?;
        Ok(OboToken {
            info,
            value,
            answer,
        })
    }
}
