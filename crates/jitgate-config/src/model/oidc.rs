//! `[oidc.NAME]`: OpenID Connect providers whose tokens identify subjects.

use std::time::Duration;

use super::Secret;

/// One OpenID Connect provider (Okta, Entra ID, Google, Keycloak, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProvider {
    /// The table's name; `jitgate login --oidc NAME` uses it.
    pub name: String,
    /// The issuer URL exactly as the provider's tokens carry it in `iss`; discovery is at
    /// `ISSUER/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// For confidential clients; public clients (device flow, PKCE) have none.
    pub client_secret: Option<Secret>,
    /// The secret is an installed-application secret that is not confidential (Google's
    /// desktop and TV clients), so the CLI is given it to send at the token endpoint.
    pub client_secret_public: bool,
    /// `aud` values accepted in tokens; default the client id.
    pub audiences: Vec<String>,
    /// Scopes the CLI asks for.
    pub scopes: Vec<String>,
    /// The claim that carries the subject's groups (a list of strings, or one string).
    pub groups_claim: String,
    /// The claim whose value becomes the subject's name.
    pub username_claim: String,
    /// IdP group name (or id) → jitgate group name; groups without an entry keep their name.
    pub group_map: Vec<(String, String)>,
    /// Lifetime of the jitgate token an IdP token is exchanged for (never past the IdP token's
    /// own expiry): how long group changes may take to reach jitgate.
    pub session_ttl: Duration,
}

impl OidcProvider {
    /// The subject's jitgate groups from the IdP's group names: mapped, sorted, deduplicated.
    pub fn map_groups<'a>(&self, idp_groups: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut groups: Vec<String> = idp_groups
            .into_iter()
            .map(|g| {
                self.group_map
                    .iter()
                    .find(|(from, _)| from == g)
                    .map_or_else(|| g.to_string(), |(_, to)| to.clone())
            })
            .collect();
        groups.sort();
        groups.dedup();
        groups
    }
}
