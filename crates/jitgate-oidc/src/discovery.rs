//! `ISSUER/.well-known/openid-configuration` (OpenID Connect Discovery 1.0).

use crate::http;
use crate::OidcError;
use serde::Deserialize;

/// The parts of a provider's metadata jitgate uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
}

/// Fetches and checks the metadata of `issuer`. The document must name exactly this issuer
/// (Discovery §4.3): otherwise one provider could vouch for another's tokens.
pub fn discover(issuer: &str) -> Result<Metadata, OidcError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let body = http::get_json(&http::agent(), &url)?;
    let metadata: Metadata = serde_json::from_value(body)
        .map_err(|e| OidcError::Provider(format!("{url}: unexpected metadata: {e}")))?;
    if metadata.issuer != issuer {
        return Err(OidcError::Provider(format!(
            "{url} names issuer {:?}, not {issuer:?} as configured",
            metadata.issuer
        )));
    }
    Ok(metadata)
}
