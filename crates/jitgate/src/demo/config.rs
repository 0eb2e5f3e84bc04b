//! The demo's configuration: one resource in front of the throwaway PostgreSQL (and one in front
//! of the throwaway MariaDB, when MariaDB is installed), three local users, one access rule, and
//! masking rules for the personal data in `customers`.

use std::path::Path;

/// Ports and the service role's password, filled in once the cluster runs.
pub struct Endpoints {
    pub api_port: u16,
    pub gateway_port: u16,
    pub upstream_port: u16,
    /// The store (a SQLite file name or a PostgreSQL URL) and this replica's name.
    pub store: String,
    pub replica: String,
    /// The MariaDB resource's listen port and its upstream's port, when there is one.
    pub mysql: Option<MySqlEndpoints>,
}

pub struct MySqlEndpoints {
    pub gateway_port: u16,
    pub upstream_port: u16,
}

/// The MariaDB resource's name.
pub const MYSQL_RESOURCE: &str = "demo-mysql";
/// The database both resources' sessions start in.
pub const DATABASE: &str = "app";

/// The demo's masking rules: column (in table `customers`) and the mask's settings.
const MASKS: [(&str, &str); 6] = [
    ("ssn", "mask = \"partial\"\nkeep_last = 4"),
    ("email", "mask = \"email\""),
    ("credit_card", "mask = \"tokenize\""),
    ("phone", "mask = \"partial\"\nkeep_last = 4"),
    (
        "birth_date",
        "mask = \"generalize\"\ngranularity = \"year\"",
    ),
    ("notes", "mask = \"scan\""),
];

/// `[[masking.rules]]` for `resource`'s `customers` table in `schema`.
fn masking_rules(resource: &str, schema: &str) -> String {
    MASKS
        .iter()
        .map(|(column, mask)| {
            format!(
                "[[masking.rules]]\nresource = \"{resource}\"\ncolumn = \"{schema}.customers.{column}\"\n{mask}\n\n"
            )
        })
        .collect()
}

/// The MariaDB resource's table, when there is one.
fn mysql_resource(e: &Endpoints) -> String {
    let Some(m) = &e.mysql else {
        return String::new();
    };
    format!(
        r#"[resources.{MYSQL_RESOURCE}]
kind = "mysql"
listen = "127.0.0.1:{gateway}"

[resources.{MYSQL_RESOURCE}.upstream]
host = "127.0.0.1"
port = {upstream}
database = "{DATABASE}"
user = "jitgate_svc"
password_file = "secrets/mysql-upstream"

"#,
        gateway = m.gateway_port,
        upstream = m.upstream_port,
    )
}

/// The demo's users: name, groups, and what they stand for.
pub const USERS: [(&str, &str, &str); 3] = [
    (
        "alice",
        "analysts",
        "analyst: may request `demo` for up to 30m, sees masked data",
    ),
    ("dana", "dba", "approver: decides on requests"),
    (
        "erin",
        "admins",
        "admin: sees clear values; her requests are approved at once",
    ),
];

/// Writes `jitgate.toml` into `dir`; secrets are files in `dir/secrets`.
pub fn write(dir: &Path, e: &Endpoints) -> std::io::Result<std::path::PathBuf> {
    let mut users = String::new();
    for (name, group, _) in USERS {
        users.push_str(&format!(
            "[users.{name}]\npassword_file = \"secrets/{name}\"\ngroups = [\"{group}\"]\n\n"
        ));
    }
    let mut resources = String::from("\"demo\"");
    let mut rules = masking_rules("demo", "public");
    if e.mysql.is_some() {
        resources.push_str(&format!(", \"{MYSQL_RESOURCE}\""));
        rules.push_str(&masking_rules(MYSQL_RESOURCE, DATABASE));
    }
    let text = format!(
        r#"# Written by `jitgate demo`; everything here is thrown away when the demo ends.
[server]
store = "{store}"
replica = "{replica}"

[api]
listen = "127.0.0.1:{api}"
pending_ttl = "10m"

{users}[roles]
approver = ["dba"]
admin = ["admins"]

[resources.demo]
kind = "postgres"
listen = "127.0.0.1:{gateway}"

[resources.demo.upstream]
host = "127.0.0.1"
port = {upstream}
database = "app"
user = "jitgate_svc"
password_file = "secrets/upstream"
tls = "disable"

{mysql_resource}[[access]]
resources = [{resources}]
requesters = ["group:analysts", "group:admins"]
max_duration = "30m"
approvals = 1
approver_groups = ["dba"]
auto_approve_groups = ["admins"]

[masking]
key_file = "secrets/mask-key"
clear_groups = ["admins"]

{rules}"#,
        api = e.api_port,
        gateway = e.gateway_port,
        upstream = e.upstream_port,
        store = e.store,
        replica = e.replica,
        mysql_resource = mysql_resource(e),
        resources = resources,
        rules = rules,
    );
    let path = dir.join(format!("jitgate-{}.toml", e.replica));
    std::fs::write(&path, text)?;
    Ok(path)
}
