//! jitgate's configuration file: TOML, read by hand from a spanned table so that every error names
//! the file, line, column and dotted key, and validated into the types of [`model`].
//!
//! See `docs/configuration.md` for the file format.

mod api;
mod databricks;
mod databricks_sql;
mod describe;
mod error;
mod glob;
mod masking;
pub mod model;
mod mysql;
mod notify;
mod oidc;
mod resources;
mod rules;
mod secret;
mod section;
mod server;
mod slack;
mod spark;
#[cfg(test)]
mod tests;
mod users;

use std::path::Path;

use toml::de::DeTable;

pub use error::{ConfigError, Location};
pub use glob::{glob_match, is_glob};
pub use model::*;
pub use slack::SLACK_RESPONSE_BASE;
pub use users::hash_password;

use section::{Doc, Section};

/// Reads, parses and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Reads `[masking]` of the configuration file at `path` as [`load`] does — the same rules,
/// masks, detectors and masking key from its environment variable or file — without reading
/// anything else's secrets: for tools that mask data outside the gateway (the Python package).
/// The file must still be valid TOML with a `[resources]` table naming the resources rules
/// refer to; the other sections are not validated.
pub fn load_masking(path: &Path) -> Result<MaskingConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_masking(&text, path)
}

/// [`load_masking`] of `text`; `source` as for [`parse`].
pub fn parse_masking(text: &str, source: &Path) -> Result<MaskingConfig, ConfigError> {
    let doc = Doc::new(text, source);
    let table = DeTable::parse(text).map_err(|e| ConfigError::Syntax {
        at: Location::of(source, text, &e.span().unwrap_or(0..0)),
        message: e.message().to_string(),
    })?;
    let root = Section::root(&doc, &table);
    let resources: Vec<String> = match root.get("resources") {
        Some(f) => f
            .table()?
            .entries()
            .iter()
            .map(|e| e.name.to_string())
            .collect(),
        None => Vec::new(),
    };
    let names: Vec<&str> = resources.iter().map(String::as_str).collect();
    let masking = masking::read_masking(&root, &names)?;
    Ok(MaskingConfig { resources, masking })
}

fn resource_names(resources: &[Resource]) -> Vec<&str> {
    resources.iter().map(|r| r.name.as_str()).collect()
}

/// Parses and validates `text`; `source` names the file in messages, and relative paths in the
/// file are taken from its folder. Secrets are read from their environment variables and files.
pub fn parse(text: &str, source: &Path) -> Result<Config, ConfigError> {
    let doc = Doc::new(text, source);
    let table = DeTable::parse(text).map_err(|e| ConfigError::Syntax {
        at: Location::of(source, text, &e.span().unwrap_or(0..0)),
        message: e.message().to_string(),
    })?;
    let root = Section::root(&doc, &table);
    root.only(&[
        "server",
        "resources",
        "api",
        "users",
        "oidc",
        "roles",
        "access",
        "webhooks",
        "alerts",
        "masking",
        "slack",
    ])?;
    let empty = DeTable::new();
    let server = match root.get("server") {
        Some(f) => server::read_server(&doc, &f.table()?)?,
        None => server::read_server(&doc, &Section::absent(&doc, "server", &empty))?,
    };
    let resources = resources::read_resources(&doc, &root)?;
    let api = match root.get("api") {
        Some(f) => api::read_api(&f.table()?, &resources)?,
        None => api::read_api(&Section::absent(&doc, "api", &empty), &resources)?,
    };
    let roles = rules::read_roles(&root)?;
    Ok(Config {
        source: source.to_path_buf(),
        server,
        api,
        users: users::read_users(&root)?,
        oidc: oidc::read_oidc(&root)?,
        access: rules::read_access(&root, &resources, &roles)?,
        roles,
        webhooks: notify::read_webhooks(&root)?,
        slack: slack::read_slack(&root)?,
        alerts: notify::read_alerts(&root, &resources)?,
        masking: masking::read_masking(&root, &resource_names(&resources))?,
        resources,
    })
}
