//! The upstream password: from an environment variable, a file, or (discouraged) inline.

use std::env::VarError;

use crate::error::ConfigError;
use crate::model::Secret;
use crate::section::{Field, Section};

const PASSWORD_KEYS: [&str; 3] = ["password_env", "password_file", "password"];

/// Reads whichever password key is given; none means the upstream trusts jitgate without one.
pub(crate) fn read_password(s: &Section<'_>) -> Result<Option<Secret>, ConfigError> {
    let mut given: Vec<Field<'_>> = PASSWORD_KEYS.iter().filter_map(|k| s.get(k)).collect();
    // Point at the later one in the file: that is the line the user most likely just added.
    given.sort_by_key(|f| f.key_span.start);
    match given.as_slice() {
        [] => Ok(None),
        [one] => read_one(one).map(Some),
        [first, second, ..] => Err(second.key_error(format!(
            "{} is already given; use at most one of password_env, password_file and password",
            first.name
        ))),
    }
}

fn read_one(f: &Field<'_>) -> Result<Secret, ConfigError> {
    let (value, origin) = match f.name {
        "password_env" => {
            let var = f.str()?;
            let value = std::env::var(var).map_err(|e| match e {
                VarError::NotPresent => f.error(format!("environment variable {var} is not set")),
                VarError::NotUnicode(_) => {
                    f.error(format!("environment variable {var} is not valid UTF-8"))
                }
            })?;
            (value, format!("env {var}"))
        }
        "password_file" => {
            let path = f.path()?;
            let text = std::fs::read_to_string(&path).map_err(|e| {
                f.error(format!("cannot read password file {}: {e}", path.display()))
            })?;
            // Files written by `echo` or editors end in a newline that is not part of the secret.
            let value = text.trim_end_matches(['\n', '\r']).to_string();
            (value, format!("file {}", path.display()))
        }
        _ => (f.str()?.to_string(), "inline".to_string()),
    };
    if value.is_empty() {
        // Most likely an unset secret store; trust auth is asked for by leaving the key out.
        return Err(f.error(format!(
            "the password from {origin} is empty; leave out the key for a login without password"
        )));
    }
    Ok(Secret::new(value, origin))
}
