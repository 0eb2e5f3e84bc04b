//! Unity Catalog permissions: `GET`/`PATCH /api/2.1/unity-catalog/permissions/{type}/{name}`.

use serde_json::{json, Value};

use super::{segment, Answer, ApiError, Workspace};

/// The privileges one principal holds directly on a securable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivilegeAssignment {
    pub principal: String,
    pub privileges: Vec<String>,
}

fn path(securable_type: &str, full_name: &str) -> String {
    format!(
        "/api/2.1/unity-catalog/permissions/{}/{}",
        segment(securable_type),
        segment(full_name)
    )
}

impl Workspace {
    /// Who holds which privileges on a securable (directly, not inherited).
    pub fn permissions(
        &self,
        securable_type: &str,
        full_name: &str,
    ) -> Result<Vec<PrivilegeAssignment>, ApiError> {
        let answer = self.call("GET", &path(securable_type, full_name), None)?;
        let list = answer
            .body
            .get("privilege_assignments")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(list
            .iter()
            .filter_map(|a| {
                let principal = a.get("principal")?.as_str()?.to_string();
                let privileges = a
                    .get("privileges")?
                    .as_array()?
                    .iter()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect();
                Some(PrivilegeAssignment {
                    principal,
                    privileges,
                })
            })
            .collect())
    }

    /// Grants (`add`) or revokes (`!add`) one privilege of one principal.
    pub fn change_privilege(
        &self,
        securable_type: &str,
        full_name: &str,
        principal: &str,
        privilege: &str,
        add: bool,
    ) -> Result<Answer, ApiError> {
        let op = if add { "add" } else { "remove" };
        let body = json!({"changes": [{"principal": principal, op: [privilege]}]});
        self.call("PATCH", &path(securable_type, full_name), Some(&body))
    }
}
