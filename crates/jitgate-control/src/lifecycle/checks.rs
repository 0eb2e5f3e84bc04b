//! Input checks shared by the lifecycle steps: what the API passes through from callers.

use super::LifecycleError;
use crate::identity::Subject;
use std::time::Duration;

/// Longest reason or comment kept.
pub const MAX_TEXT_CHARS: usize = 1000;
/// Longest grant anyone may ask for, whatever a rule says: a year.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

fn invalid(message: String) -> LifecycleError {
    LifecycleError::InvalidInput(message)
}

/// A subject name: 1 to 128 printable characters.
pub fn subject(s: &Subject) -> Result<(), LifecycleError> {
    let n = &s.name;
    if n.is_empty() || n.chars().count() > 128 || n.chars().any(char::is_control) {
        return Err(invalid(format!(
            "subject name {n:?} must be 1 to 128 printable characters"
        )));
    }
    Ok(())
}

/// A reason or comment: at most [`MAX_TEXT_CHARS`] characters, no control characters other
/// than newlines and tabs; `required` ones must have more than white space.
pub fn text(what: &str, value: &str, required: bool) -> Result<(), LifecycleError> {
    if required && value.trim().is_empty() {
        return Err(invalid(format!("a {what} is required")));
    }
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(invalid(format!(
            "the {what} is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(invalid(format!("the {what} contains control characters")));
    }
    Ok(())
}

/// A requested duration: more than zero. Its upper bound is the rule's maximum, never more than
/// [`MAX_DURATION`] (see `request_access`), so that a too-long request is always
/// `duration_too_long`.
pub fn duration(d: Duration) -> Result<(), LifecycleError> {
    if d.is_zero() {
        return Err(invalid("the duration must be longer than zero".into()));
    }
    Ok(())
}

/// An identifier as jitgate makes them (`r_…`, `g_…`), or a resource name: short and plain, so
/// nothing odd reaches the store or a message.
pub fn name(what: &str, value: &str) -> Result<(), LifecycleError> {
    let plain = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if plain {
        Ok(())
    } else {
        Err(invalid(format!("{what} {value:?} is not a valid name")))
    }
}

/// A duration for messages, e.g. `30m`.
pub fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}
