//! Secrets (upstream passwords, OIDC client secrets): from an environment variable, a file, or
//! (discouraged) inline.

use std::env::VarError;

use crate::error::ConfigError;
use crate::model::Secret;
use crate::section::{Field, Section};

/// Reads whichever password key is given; none means the upstream trusts jitgate without one.
pub(crate) fn read_password(s: &Section<'_>) -> Result<Option<Secret>, ConfigError> {
    read_secret(s, "password")
}

/// Reads whichever of `BASE_env`, `BASE_file` and `BASE` is given (at most one).
pub(crate) fn read_secret(s: &Section<'_>, base: &str) -> Result<Option<Secret>, ConfigError> {
    let keys = [
        format!("{base}_env"),
        format!("{base}_file"),
        base.to_string(),
    ];
    let mut given: Vec<Field<'_>> = keys.iter().filter_map(|k| s.get(k)).collect();
    // Point at the later one in the file: that is the line the user most likely just added.
    given.sort_by_key(|f| f.key_span.start);
    match given.as_slice() {
        [] => Ok(None),
        [one] => read_one(one, base).map(Some),
        [first, second, ..] => Err(second.key_error(format!(
            "{} is already given; use at most one of {}, {} and {}",
            first.name, keys[0], keys[1], keys[2]
        ))),
    }
}

fn read_one(f: &Field<'_>, base: &str) -> Result<Secret, ConfigError> {
    let kind = f.name.strip_prefix(base).unwrap_or(f.name);
    let (value, origin) = match kind {
        "_env" => {
            let var = f.str()?;
            let value = std::env::var(var).map_err(|e| match e {
                VarError::NotPresent => f.error(format!("environment variable {var} is not set")),
                VarError::NotUnicode(_) => {
                    f.error(format!("environment variable {var} is not valid UTF-8"))
                }
            })?;
            (value, format!("env {var}"))
        }
        "_file" => {
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
            "the {} from {origin} is empty; leave out the key for none",
            base.replace('_', " ")
        )));
    }
    Ok(Secret::new(value, origin))
}
