//! SCIM 2.0 users and groups (workspace `/api/2.0/preview/scim/v2` or account
//! `/api/2.0/accounts/{id}/scim/v2`): look-ups by filter, members, PatchOp changes.

use serde_json::{json, Value};

use super::{scim_eq, segment, Answer, ApiError, Workspace};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A workspace user found by userName.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimUser {
    pub id: String,
    pub user_name: String,
}

/// A group and the ids of its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub members: Vec<String>,
}

impl Workspace {
    /// The user whose userName is `user_name` (an e-mail address, usually).
    pub fn user_by_name(&self, user_name: &str) -> Result<ScimUser, ApiError> {
        let path = format!("/Users?filter={}", scim_eq("userName", user_name));
        let answer = self.scim_call("GET", &path, None)?;
        let found = first_resource(&answer).ok_or_else(|| {
            ApiError::NotFound(format!(
                "the workspace has no user with userName {user_name:?}"
            ))
        })?;
        Ok(ScimUser {
            id: string(found, "id", &path)?,
            user_name: string(found, "userName", &path)?,
        })
    }

    /// The group named `name`, with its members.
    pub fn group_by_name(&self, name: &str) -> Result<Group, ApiError> {
        let path = format!("/Groups?filter={}", scim_eq("displayName", name));
        let answer = self.scim_call("GET", &path, None)?;
        let found = first_resource(&answer)
            .ok_or_else(|| ApiError::NotFound(format!("the workspace has no group {name:?}")))?;
        let id = string(found, "id", &path)?;
        // Filtered listings may leave members out; the group itself has them all.
        let answer = self.scim_call("GET", &format!("/Groups/{}", segment(&id)), None)?;
        Ok(Group {
            id,
            display_name: name.to_string(),
            members: members(&answer.body),
        })
    }

    /// Adds a user to a group (adding a member twice changes nothing).
    pub fn add_member(&self, group_id: &str, user_id: &str) -> Result<Answer, ApiError> {
        let body = json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": user_id}]}]});
        let path = format!("/Groups/{}", segment(group_id));
        self.scim_call("PATCH", &path, Some(&body))
    }

    /// Removes a user from a group (removing a non-member changes nothing).
    pub fn remove_member(&self, group_id: &str, user_id: &str) -> Result<Answer, ApiError> {
        let filter = format!("members[value eq \"{}\"]", user_id.replace('"', ""));
        let body = json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": filter}]});
        let path = format!("/Groups/{}", segment(group_id));
        self.scim_call("PATCH", &path, Some(&body))
    }
}

fn first_resource(answer: &Answer) -> Option<&Value> {
    answer.body.get("Resources")?.as_array()?.first()
}

fn members(group: &Value) -> Vec<String> {
    group
        .get("members")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|x| x.get("value").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn string(v: &Value, key: &str, path: &str) -> Result<String, ApiError> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::BadAnswer {
            method: "GET",
            path: path.to_string(),
            reason: format!("no {key}"),
        })
}
