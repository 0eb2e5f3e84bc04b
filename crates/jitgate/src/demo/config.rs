//! The demo's configuration: one resource in front of the throwaway PostgreSQL, three local
//! users, one access rule, and masking rules for the personal data in `customers`.

use std::path::Path;

/// Ports and the service role's password, filled in once the cluster runs.
pub struct Endpoints {
    pub api_port: u16,
    pub gateway_port: u16,
    pub upstream_port: u16,
    /// The store (a SQLite file name or a PostgreSQL URL) and this replica's name.
    pub store: String,
    pub replica: String,
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

[[access]]
resources = ["demo"]
requesters = ["group:analysts", "group:admins"]
max_duration = "30m"
approvals = 1
approver_groups = ["dba"]
auto_approve_groups = ["admins"]

[masking]
key_file = "secrets/mask-key"
clear_groups = ["admins"]

[[masking.rules]]
resource = "demo"
column = "public.customers.ssn"
mask = "partial"
keep_last = 4

[[masking.rules]]
resource = "demo"
column = "public.customers.email"
mask = "email"

[[masking.rules]]
resource = "demo"
column = "public.customers.credit_card"
mask = "tokenize"

[[masking.rules]]
resource = "demo"
column = "public.customers.phone"
mask = "partial"
keep_last = 4

[[masking.rules]]
resource = "demo"
column = "public.customers.birth_date"
mask = "generalize"
granularity = "year"

[[masking.rules]]
resource = "demo"
column = "public.customers.notes"
mask = "scan"
"#,
        api = e.api_port,
        gateway = e.gateway_port,
        upstream = e.upstream_port,
        store = e.store,
        replica = e.replica,
    );
    let path = dir.join(format!("jitgate-{}.toml", e.replica));
    std::fs::write(&path, text)?;
    Ok(path)
}
