//! Token management: `GET /api/2.0/token-management/tokens`,
//! `DELETE /api/2.0/token-management/tokens/{id}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
