//! The workspace keys of `[resources.NAME.databricks]`: the REST API jitgate uses for native
//! provisioning, token management and Unity Catalog column masks, and the
//! `[[resources.NAME.databricks.provision]]` rules saying what a grant means in the workspace.

use std::time::Duration;

use crate::error::ConfigError;
use crate::model::{
    DatabricksAccount, DatabricksWorkspace, ForeignPolicy, OAuthClient, ProvisionRule, Requester,
    Secret, SecurablePrivileges,
};
use crate::rules::read_requester;
use crate::secret::read_secret;
use crate::section::{Field, Section};

/// The keys of the preset that belong to the workspace API (the others are Spark Connect's).
pub(crate) const KEYS: [&str; 16] = [
    "client_id",
    "client_secret_env",
    "client_secret_file",
    "client_secret",
    "api_url",
    "account_id",
    "accounts_url",
    "account_token_env",
    "account_token_file",
    "warehouse_id",
    "catalog",
    "identities",
    "provision",
    "reconcile_interval",
    "token_max_lifetime",
    "account_token",
];

const ACCOUNTS_URL: &str = "https://accounts.cloud.databricks.com";
const DEFAULT_RECONCILE: Duration = Duration::from_secs(300);

/// Reads the workspace part of the preset; `token` is the preset's (required) token.
pub(crate) fn read_workspace(
    s: &Section<'_>,
    workspace_host: &str,
    token: &Secret,
) -> Result<DatabricksWorkspace, ConfigError> {
    let api_url = match s.get("api_url") {
        Some(f) => api_url(&f)?,
        None => format!("https://{workspace_host}"),
    };
    Ok(DatabricksWorkspace {
        api_url,
        token: token.clone(),
        oauth: read_oauth(s)?,
        account: read_account(s)?,
        warehouse_id: s.optional("warehouse_id", |f| identifier(f, "a warehouse id"))?,
        catalog: s.optional("catalog", |f| identifier(f, "a catalog name"))?,
        identities: match s.get("identities") {
            Some(f) => read_identities(&f)?,
            None => Vec::new(),
        },
        provision: match s.get("provision") {
            Some(f) => f
                .items()?
                .iter()
                .map(|item| read_provision(&item.table()?))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        },
        reconcile_interval: s
            .optional("reconcile_interval", |f| f.duration())?
            .unwrap_or(DEFAULT_RECONCILE),
        token_max_lifetime: s.optional("token_max_lifetime", |f| f.duration())?,
    })
}

/// `https://…`, or `http://` to a loopback address only: the bearer token must not cross a
/// network in clear.
fn api_url(f: &Field<'_>) -> Result<String, ConfigError> {
    let url = f.str()?.trim_end_matches('/');
    let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"];
    if url.starts_with("https://") || loopback.iter().any(|p| url.starts_with(p)) {
        return Ok(url.to_string());
    }
    Err(f.error("give an https:// URL (http:// only to 127.0.0.1, localhost or [::1] with a port)"))
}

/// `client_id` with `client_secret_env` or `client_secret_file`: both or neither.
fn read_oauth(s: &Section<'_>) -> Result<Option<OAuthClient>, ConfigError> {
    let secret = read_secret(s, "client_secret")?;
    match (s.get("client_id"), secret) {
        (None, None) => Ok(None),
        (Some(id), Some(client_secret)) => Ok(Some(OAuthClient {
            client_id: id.str()?.to_string(),
            client_secret,
        })),
        (Some(id), None) => {
            Err(id.key_error("client_id needs client_secret_env or client_secret_file"))
        }
        (None, Some(_)) => Err(s.error("client_secret needs client_id")),
    }
}

fn read_account(s: &Section<'_>) -> Result<Option<DatabricksAccount>, ConfigError> {
    let Some(id) = s.get("account_id") else {
        for key in [
            "accounts_url",
            "account_token_env",
            "account_token_file",
            "account_token",
        ] {
            if let Some(f) = s.get(key) {
                return Err(f.key_error(format!("{key} needs account_id")));
            }
        }
        return Ok(None);
    };
    Ok(Some(DatabricksAccount {
        id: identifier(&id, "an account id")?,
        api_url: match s.get("accounts_url") {
            Some(f) => api_url(&f)?,
            None => ACCOUNTS_URL.to_string(),
        },
        token: read_secret(s, "account_token")?,
    }))
}

/// Ids and names that go into URLs and SQL: letters, digits, `-`, `_`.
fn identifier(f: &Field<'_>, what: &str) -> Result<String, ConfigError> {
    let text = f.str()?;
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        return Ok(text.to_string());
    }
    Err(f.error(format!("{what} has letters, digits, '-' and '_' only")))
}

/// `identities = { alice = "alice@example.com" }`.
fn read_identities(f: &Field<'_>) -> Result<Vec<(String, String)>, ConfigError> {
    f.table()?
        .entries()
        .iter()
        .map(|e| Ok((e.name.to_string(), e.str()?.to_string())))
        .collect()
}

fn read_provision(s: &Section<'_>) -> Result<ProvisionRule, ConfigError> {
    s.only(&["requesters", "group", "privileges", "foreign", "token_for"])?;
    let requesters = match s.get("requesters") {
        Some(f) => f
            .items()?
            .iter()
            .map(read_requester)
            .collect::<Result<_, _>>()?,
        None => vec![Requester::Anyone],
    };
    let group = s.optional("group", |f| f.str().map(str::to_string))?;
    let privileges = match s.get("privileges") {
        Some(f) => f
            .items()?
            .iter()
            .map(|item| read_privileges(&item.table()?))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let token_for = s.optional("token_for", |f| {
        identifier(f, "a service principal's application id")
    })?;
    if group.is_none() && privileges.is_empty() && token_for.is_none() {
        return Err(
            s.error("a provision rule gives a group, privileges, a token (token_for), or several")
        );
    }
    let foreign = s
        .optional("foreign", |f| {
            f.choice(
                &[ForeignPolicy::Alert, ForeignPolicy::Remove],
                |p| match p {
                    ForeignPolicy::Alert => "alert",
                    ForeignPolicy::Remove => "remove",
                },
            )
        })?
        .unwrap_or(ForeignPolicy::Alert);
    Ok(ProvisionRule {
        requesters,
        group,
        privileges,
        foreign,
        token_for,
    })
}

/// `{ securable = "table", name = "main.sales.orders", privileges = ["SELECT"] }`.
fn read_privileges(s: &Section<'_>) -> Result<SecurablePrivileges, ConfigError> {
    s.only(&["securable", "name", "privileges"])?;
    let kind = s.required("securable")?;
    let securable_type = kind.str()?.to_ascii_lowercase();
    if !securable_type
        .chars()
        .all(|c| c.is_ascii_lowercase() || c == '_')
    {
        return Err(kind.error("a securable type such as \"catalog\", \"schema\" or \"table\""));
    }
    let name = s.required("name")?;
    let full_name = name.str()?.to_string();
    if full_name.contains(['/', '?', '#', '%']) || full_name.contains(char::is_whitespace) {
        return Err(name.error("a full name such as \"main.sales.orders\""));
    }
    let list = s.required("privileges")?;
    let privileges = list.strings()?;
    if privileges.is_empty()
        || !privileges
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
    {
        return Err(list.error("privileges such as [\"SELECT\", \"USE_SCHEMA\"] (upper case)"));
    }
    Ok(SecurablePrivileges {
        securable_type,
        full_name,
        privileges,
    })
}
