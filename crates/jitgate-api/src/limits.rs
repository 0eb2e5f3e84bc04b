//! Bounds on what callers send, checked before anything reaches the control plane, so that an
//! over-long field is a 400 and never a row in the store or a line in the audit trail.

use crate::error::{ApiError, ApiResult};

/// Longest identifier (request, grant, credential, session ids are far shorter).
pub const MAX_ID: usize = 64;
/// Longest reason for a request.
pub const MAX_REASON: usize = 1000;
/// Longest approver's comment.
pub const MAX_COMMENT: usize = 1000;
/// Longest user name at login.
pub const MAX_USER: usize = 128;
/// Longest password at login (argon2 has no need for more, and hashing megabytes is a cheap DoS).
pub const MAX_PASSWORD: usize = 1024;
/// Longest resource name (the configuration allows 63).
pub const MAX_RESOURCE: usize = 63;
/// Most audit events returned by one page.
pub const MAX_AUDIT_PAGE: usize = 1000;

/// An identifier: 1 to [`MAX_ID`] letters, digits, `_` or `-`.
pub fn id(field: &str, value: &str) -> ApiResult<()> {
    let ok = !value.is_empty()
        && value.len() <= MAX_ID
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_input(format!(
            "{field} must be 1 to {MAX_ID} letters, digits, '_' or '-'"
        )))
    }
}

/// Free text of at most `max` characters, without control characters other than newlines and
/// tabs (they would garble tables and logs).
pub fn text(field: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.chars().count() > max {
        return Err(ApiError::invalid_input(format!(
            "{field} is longer than {max} characters"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::invalid_input(format!(
            "{field} contains control characters"
        )));
    }
    Ok(())
}

/// Required text: like [`text`], and not blank.
pub fn required_text(field: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.trim().is_empty() {
        return Err(ApiError::invalid_input(format!(
            "{field} must not be empty"
        )));
    }
    text(field, value, max)
}

/// A name (user, resource): 1 to `max` printable characters, no spaces.
pub fn name(field: &str, value: &str, max: usize) -> ApiResult<()> {
    let ok = !value.is_empty()
        && value.chars().count() <= max
        && !value.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_input(format!(
            "{field} must be 1 to {max} printable characters without spaces"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_and_plain() {
        assert!(id("id", "r_7k2m9q4x1c").is_ok());
        assert!(id("id", "").is_err());
        assert!(id("id", &"a".repeat(MAX_ID + 1)).is_err());
        assert!(id("id", "../etc").is_err());
        assert!(id("id", "a b").is_err());
    }

    #[test]
    fn text_is_bounded_in_characters_not_bytes() {
        assert!(text("reason", &"é".repeat(MAX_REASON), MAX_REASON).is_ok());
        assert!(text("reason", &"é".repeat(MAX_REASON + 1), MAX_REASON).is_err());
        assert!(text("reason", "line\nline", MAX_REASON).is_ok());
        assert!(text("reason", "bell\u{7}", MAX_REASON).is_err());
        assert!(required_text("reason", "  ", MAX_REASON).is_err());
    }
}
