//! `[oidc.NAME]`: OpenID Connect providers. Only what the file says is checked here; discovery
//! and keys are fetched by the gateway when it starts.

use std::time::Duration;

use crate::error::ConfigError;
use crate::model::OidcProvider;
use crate::secret::read_secret;
use crate::section::{Field, Section};

const DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(15 * 60);
/// Group changes must reach jitgate within this at worst; a day is already generous.
const MAX_SESSION_TTL: Duration = Duration::from_secs(24 * 3600);

/// Reads every `[oidc.NAME]` table in file order; none is fine.
pub(crate) fn read_oidc(root: &Section<'_>) -> Result<Vec<OidcProvider>, ConfigError> {
    let Some(field) = root.get("oidc") else {
        return Ok(Vec::new());
    };
    field.table()?.entries().iter().map(read_provider).collect()
}

fn read_provider(entry: &Field<'_>) -> Result<OidcProvider, ConfigError> {
    check_name(entry)?;
    let s = entry.table()?;
    s.only(&[
        "issuer",
        "client_id",
        "client_secret",
        "client_secret_env",
        "client_secret_file",
        "client_secret_public",
        "audiences",
        "scopes",
        "groups_claim",
        "username_claim",
        "group_map",
        "session_ttl",
    ])?;
    let issuer = read_issuer(&s.required("issuer")?)?;
    let client_id = s.required("client_id")?.str()?.to_string();
    let audiences = s
        .optional("audiences", Field::strings)?
        .unwrap_or_else(|| vec![client_id.clone()]);
    let scopes = match s.get("scopes") {
        Some(f) => {
            let scopes = f.strings()?;
            if !scopes.iter().any(|s| s == "openid") {
                return Err(f.error("the scopes must include \"openid\""));
            }
            scopes
        }
        None => DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
    };
    let session_ttl = match s.get("session_ttl") {
        Some(f) => {
            let ttl = f.duration()?;
            if ttl.is_zero() || ttl > MAX_SESSION_TTL {
                return Err(f.error("session_ttl must be more than 0s and at most 24h"));
            }
            ttl
        }
        None => DEFAULT_SESSION_TTL,
    };
    let client_secret = read_secret(&s, "client_secret")?;
    let client_secret_public = match s.get("client_secret_public") {
        Some(f) if f.bool()? && client_secret.is_none() => {
            return Err(f.error("client_secret_public needs a client secret to share"))
        }
        Some(f) => f.bool()?,
        None => false,
    };
    Ok(OidcProvider {
        name: entry.name.to_string(),
        issuer,
        client_id,
        client_secret,
        client_secret_public,
        audiences,
        scopes,
        groups_claim: claim_name(&s, "groups_claim", "groups")?,
        username_claim: claim_name(&s, "username_claim", "preferred_username")?,
        group_map: read_group_map(&s)?,
        session_ttl,
    })
}

fn check_name(entry: &Field<'_>) -> Result<(), ConfigError> {
    let valid = !entry.name.is_empty()
        && entry.name.len() <= 64
        && entry
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if valid {
        return Ok(());
    }
    Err(entry.key_error("a provider name has 1 to 64 letters, digits, '_' or '-'"))
}

/// The issuer is compared byte for byte with `iss`, so it is kept as written (less a trailing
/// slash the provider may not use). Plain HTTP only for loopback: tokens and keys must not
/// travel where they can be swapped.
fn read_issuer(f: &Field<'_>) -> Result<String, ConfigError> {
    let text = f.str()?;
    let rest = if let Some(rest) = text.strip_prefix("https://") {
        rest
    } else if let Some(rest) = text.strip_prefix("http://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Err(f.error(
                "the issuer must be an https:// URL (http:// only for a provider on loopback)",
            ));
        }
        rest
    } else {
        return Err(f.error("the issuer must be an https:// URL"));
    };
    if rest.is_empty() || rest.contains(['?', '#']) || rest.chars().any(char::is_whitespace) {
        return Err(f.error("the issuer must be a URL without query, fragment or spaces"));
    }
    Ok(text.to_string())
}

fn claim_name(s: &Section<'_>, key: &str, default: &str) -> Result<String, ConfigError> {
    Ok(s.optional(key, |f| f.str().map(str::to_string))?
        .unwrap_or_else(|| default.to_string()))
}

/// `[oidc.NAME.group_map]`: `"IdP group" = "jitgate group"`.
fn read_group_map(s: &Section<'_>) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(f) = s.get("group_map") else {
        return Ok(Vec::new());
    };
    f.table()?
        .entries()
        .iter()
        .map(|e| Ok((e.name.to_string(), e.str()?.to_string())))
        .collect()
}
