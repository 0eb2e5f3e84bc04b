//! `kind = "spark-connect"` resources: `[resources.NAME.upstream]` for any Spark Connect server,
//! or the `[resources.NAME.databricks]` preset for a Databricks cluster.

use std::time::Duration;

use crate::error::ConfigError;
use crate::model::{DatabricksPreset, SparkConnectUpstream};
use crate::secret::read_secret;
use crate::section::{Field, Section};

const DEFAULT_PORT: i64 = 15002;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the upstream of a spark-connect resource from whichever of `upstream` and `databricks`
/// the resource table has (exactly one).
pub(crate) fn read_spark_connect(
    resource: &Section<'_>,
    kind: &Field<'_>,
) -> Result<SparkConnectUpstream, ConfigError> {
    match (resource.get("upstream"), resource.get("databricks")) {
        (Some(u), None) => read_upstream(&u.table()?),
        (None, Some(d)) => read_databricks(&d.table()?),
        (Some(_), Some(d)) => Err(d.key_error(
            "give either [upstream] (any Spark Connect server) or [databricks] (the preset), not both",
        )),
        (None, None) => Err(kind.error(
            "a spark-connect resource needs an [upstream] table (host, port, …) or a \
             [databricks] table (workspace_host, cluster_id, token_env)",
        )),
    }
}

fn read_upstream(s: &Section<'_>) -> Result<SparkConnectUpstream, ConfigError> {
    s.only(&[
        "host",
        "port",
        "tls",
        "token_env",
        "token_file",
        "token",
        "headers",
        "connect_timeout",
        "default_database",
    ])?;
    let headers = match s.get("headers") {
        Some(f) => read_headers(&f)?,
        None => Vec::new(),
    };
    Ok(SparkConnectUpstream {
        host: host(&s.required("host")?)?,
        // The range is checked, so the cast cannot truncate.
        port: s
            .optional("port", |f| f.integer(1, 65535))?
            .unwrap_or(DEFAULT_PORT) as u16,
        tls: s.optional("tls", |f| f.bool())?.unwrap_or(false),
        token: read_secret(s, "token")?,
        headers,
        connect_timeout: connect_timeout(s)?,
        default_database: default_database(s)?,
        databricks: None,
    })
}

/// Databricks Connect speaks Spark Connect over TLS on the workspace's port 443, with a personal
/// access token (or service principal token) as bearer and the cluster named in a header.
fn read_databricks(s: &Section<'_>) -> Result<SparkConnectUpstream, ConfigError> {
    let mut keys = vec![
        "workspace_host",
        "cluster_id",
        "token_env",
        "token_file",
        "token",
        "connect_timeout",
        "default_database",
    ];
    keys.extend(crate::databricks::KEYS);
    s.only(&keys)?;
    let host_field = s.required("workspace_host")?;
    // People paste the workspace URL; the host is what is meant.
    let raw = host_field.str()?;
    let trimmed = raw
        .strip_prefix("https://")
        .unwrap_or(raw)
        .trim_end_matches('/');
    let workspace_host = host(&host_field).map(|_| trimmed.to_string())?;
    if workspace_host.contains(['/', ':']) {
        return Err(host_field.error(
            "give the workspace host name, e.g. \"adb-1234567890123456.7.azuredatabricks.net\"",
        ));
    }
    let cluster = s.required("cluster_id")?;
    let cluster_id = cluster.str()?.to_string();
    if cluster_id.is_empty()
        || !cluster_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(cluster
            .error("a cluster id has letters, digits and '-', e.g. \"0123-456789-abcdefgh\""));
    }
    let Some(token) = read_secret(s, "token")? else {
        return Err(s.error(
            "a Databricks resource needs a token: token_env or token_file (a personal access \
             token or a service principal's token)",
        ));
    };
    let workspace = crate::databricks::read_workspace(s, &workspace_host, &token)?;
    Ok(SparkConnectUpstream {
        host: workspace_host.clone(),
        port: 443,
        tls: true,
        token: Some(token),
        headers: vec![("x-databricks-cluster-id".to_string(), cluster_id.clone())],
        connect_timeout: connect_timeout(s)?,
        default_database: default_database(s)?,
        databricks: Some(DatabricksPreset {
            workspace_host,
            cluster_id,
            workspace: Box::new(workspace),
        }),
    })
}

fn host(f: &Field<'_>) -> Result<String, ConfigError> {
    let host = f.str()?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(f.error("give a host name or IP address"));
    }
    Ok(host.to_string())
}

fn default_database(s: &Section<'_>) -> Result<String, ConfigError> {
    let Some(f) = s.get("default_database") else {
        return Ok("default".to_string());
    };
    let name = f.str()?;
    if name.is_empty() || name.contains(['.', '`']) || name.contains(char::is_whitespace) {
        return Err(f.error("give one database (schema) name, e.g. \"default\""));
    }
    Ok(name.to_string())
}

fn connect_timeout(s: &Section<'_>) -> Result<Duration, ConfigError> {
    Ok(s.optional("connect_timeout", |f| f.duration())?
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT))
}

/// `headers = { "x-name" = "value" }`: gRPC metadata names are lower-case; the ones gRPC and
/// jitgate own themselves cannot be set.
fn read_headers(f: &Field<'_>) -> Result<Vec<(String, String)>, ConfigError> {
    let table = f.table()?;
    let mut headers = Vec::new();
    for entry in table.entries() {
        let name = entry.name;
        let valid = !name.is_empty()
            && name.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
            });
        if !valid {
            return Err(
                entry.key_error("a header name has lower-case letters, digits, '-', '_' and '.'")
            );
        }
        if name == "authorization" {
            return Err(
                entry.key_error("give the upstream's bearer token with token_env or token_file")
            );
        }
        if name.starts_with("grpc-")
            || matches!(name, "te" | "content-type" | "user-agent" | "host")
        {
            return Err(entry.key_error(format!("{name} is set by gRPC itself")));
        }
        let value = entry.str()?;
        if value.chars().any(|c| !(' '..='~').contains(&c)) {
            return Err(entry.error("a header value has printable ASCII characters only"));
        }
        headers.push((name.to_string(), value.to_string()));
    }
    Ok(headers)
}

/// The `jitgate check` lines of a spark-connect resource; secrets by origin only.
pub(crate) fn describe(sc: &SparkConnectUpstream, out: &mut String) {
    use std::fmt::Write as _;
    if let Some(d) = &sc.databricks {
        let _ = writeln!(
            out,
            "  upstream: Databricks workspace {}, cluster {}",
            d.workspace_host, d.cluster_id
        );
        let w = &d.workspace;
        let auth = match &w.oauth {
            Some(o) => format!(
                "OAuth client {} (secret from {})",
                o.client_id,
                o.client_secret.origin()
            ),
            None => "the bearer token".to_string(),
        };
        let _ = writeln!(out, "  workspace API: {} with {auth}", w.api_url);
        if let Some(a) = &w.account {
            let _ = writeln!(out, "  account groups: account {} at {}", a.id, a.api_url);
        }
        for r in &w.provision {
            let who: Vec<String> = r.requesters.iter().map(ToString::to_string).collect();
            let privileges: Vec<String> = r
                .privileges
                .iter()
                .map(|p| {
                    format!(
                        "{} on {} {}",
                        p.privileges.join("+"),
                        p.securable_type,
                        p.full_name
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "  provision for {}: group {}, privileges [{}], foreign {:?}",
                who.join(", "),
                r.group.as_deref().unwrap_or("-"),
                privileges.join("; "),
                r.foreign
            );
        }
    }
    let scheme = if sc.tls { "TLS" } else { "plaintext" };
    let _ = writeln!(out, "  endpoint: {}:{} ({scheme})", sc.host, sc.port);
    let token = match &sc.token {
        None => "none".to_string(),
        Some(t) if t.origin() == "inline" => "inline (discouraged)".to_string(),
        Some(t) => t.origin().to_string(),
    };
    let _ = writeln!(out, "  upstream bearer token: {token}");
    for (name, value) in &sc.headers {
        let _ = writeln!(out, "  header: {name}: {value}");
    }
    let timeout = humantime::format_duration(sc.connect_timeout);
    let _ = writeln!(out, "  connect timeout: {timeout}");
    let _ = writeln!(
        out,
        "  default database: {} (unqualified table names in masking rules resolve here)",
        sc.default_database
    );
}
