//! The SQL Statement Execution API: `POST /api/2.0/sql/statements` on a warehouse, polled
//! until it ends, results read inline chunk by chunk.

use std::time::Duration;

use serde_json::{json, Value};

use super::{segment, ApiError, Workspace};

/// How long to wait between polls of a running statement.
const POLL: Duration = Duration::from_millis(500);
/// Most polls before jitgate gives up on a statement (and cancels it).
const MAX_POLLS: u32 = 1200;

/// Rows of a finished statement (values as the JSON_ARRAY format gives them: strings or null).
#[derive(Debug, Clone, Default)]
pub struct StatementResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// The final answer, for the audit trail.
    pub answer: Value,
}

impl Workspace {
    /// Runs one statement with named parameters (`:name` markers, string values).
    pub fn execute(
        &self,
        statement: &str,
        parameters: &[(&str, &str)],
    ) -> Result<StatementResult, ApiError> {
        let parameters: Vec<Value> = parameters
            .iter()
            .map(|(n, v)| json!({"name": n, "value": v, "type": "STRING"}))
            .collect();
        let body = json!({
            "statement": statement,
            "warehouse_id": self.warehouse_id()?,
            "parameters": parameters,
            "wait_timeout": "30s",
            "on_wait_timeout": "CONTINUE",
            "disposition": "INLINE",
            "format": "JSON_ARRAY",
        });
        let mut answer = self
            .call("POST", "/api/2.0/sql/statements", Some(&body))?
            .body;
        let id = super::scim::string(&answer, "statement_id", "/api/2.0/sql/statements")?;
        let path = format!("/api/2.0/sql/statements/{}", segment(&id));
        let mut polls = 0;
        while matches!(state(&answer), "PENDING" | "RUNNING") {
            polls += 1;
            if polls > MAX_POLLS {
                let _ = self.call("POST", &format!("{path}/cancel"), None);
                return Err(failed(&path, &answer, "did not finish; cancelled"));
            }
            std::thread::sleep(POLL);
            answer = self.call("GET", &path, None)?.body;
        }
        if state(&answer) != "SUCCEEDED" {
            return Err(failed(&path, &answer, state(&answer)));
        }
        let mut result = StatementResult {
            columns: columns(&answer),
            rows: rows(answer.get("result")),
            answer: answer.clone(),
        };
        let mut next = answer
            .pointer("/result/next_chunk_index")
            .and_then(Value::as_i64);
        while let Some(index) = next {
            let chunk = self
                .call("GET", &format!("{path}/result/chunks/{index}"), None)?
                .body;
            result.rows.extend(rows(Some(&chunk)));
            next = chunk.get("next_chunk_index").and_then(Value::as_i64);
        }
        Ok(result)
    }
}

fn state(answer: &Value) -> &str {
    answer
        .pointer("/status/state")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn failed(path: &str, answer: &Value, state: &str) -> ApiError {
    let error = answer.pointer("/status/error");
    let field = |k: &str| {
        error
            .and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    ApiError::Status {
        method: "POST",
        path: path.to_string(),
        status: 200,
        error_code: field("error_code"),
        message: format!("statement {state}: {}", field("message")),
        body: answer.clone(),
    }
}

fn columns(answer: &Value) -> Vec<String> {
    answer
        .pointer("/manifest/schema/columns")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(|x| x.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn rows(result: Option<&Value>) -> Vec<Vec<Option<String>>> {
    result
        .and_then(|r| r.get("data_array"))
        .and_then(Value::as_array)
        .map(|rows| {
            rows.iter()
                .filter_map(Value::as_array)
                .map(|row| row.iter().map(|v| v.as_str().map(str::to_string)).collect())
                .collect()
        })
        .unwrap_or_default()
}
