//! What `jitgate check` prints: the configuration as understood, secrets shown by origin only.

use std::fmt::Write;

use crate::model::{AccessRule, AlertKind, ClientTlsMode, Config, Resource, Upstream};

impl Config {
    /// The resource named `name`, if the file defines one.
    pub fn resource(&self, name: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.name == name)
    }

    /// A human-readable summary of every setting, defaults included. Never contains a password.
    pub fn describe(&self) -> String {
        let s = &self.server;
        let mut out = String::new();
        // Writing to a String cannot fail, so the results of `writeln!` are ignored.
        let _ = writeln!(out, "configuration: {}", self.source.display());
        match &s.postgres_store {
            Some(pg) => {
                let _ = writeln!(out, "store: {} (replica {})", pg.url, s.replica);
                let _ = writeln!(out, "  store TLS: {}", describe_tls(&pg.tls));
            }
            None => {
                let _ = writeln!(out, "store: {}", s.store.display());
            }
        }
        let _ = writeln!(out, "workers: {}", s.workers);
        let _ = writeln!(out, "max message size: {} bytes", s.max_message_bytes);
        let _ = writeln!(
            out,
            "login timeout: {}",
            humantime::format_duration(s.login_timeout)
        );
        let _ = writeln!(
            out,
            "connections: at most {} open, {} logging in ({} from one address)",
            s.max_connections, s.max_logging_in, s.max_logging_in_per_address
        );
        let _ = writeln!(
            out,
            "drain at shutdown: {}",
            humantime::format_duration(s.drain_timeout)
        );
        let _ = write!(out, "client TLS: {}", s.client_tls.mode.as_str());
        if let (Some(cert), Some(key)) = (&s.client_tls.cert, &s.client_tls.key) {
            let unused = if s.client_tls.mode == ClientTlsMode::Off {
                " (unused)"
            } else {
                ""
            };
            let _ = write!(
                out,
                ", cert {}, key {}{unused}",
                cert.display(),
                key.display()
            );
        }
        let cleartext = if s.allow_cleartext_without_tls {
            "allowed"
        } else {
            "refused"
        };
        let _ = writeln!(out, "\ncleartext passwords without TLS: {cleartext}");
        for r in &self.resources {
            let _ = writeln!(out, "resource {} ({})", r.name, r.upstream.kind());
            let _ = writeln!(out, "  listen: {}", r.listen);
            match &r.upstream {
                Upstream::Postgres(pg) => {
                    let _ = writeln!(out, "  upstream: {}:{}/{}", pg.host, pg.port, pg.database);
                    let _ = writeln!(out, "  user: {}", pg.user);
                    let password = match &pg.password {
                        None => "none (trust)".to_string(),
                        Some(p) if p.origin() == "inline" => "inline (discouraged)".to_string(),
                        Some(p) => p.origin().to_string(),
                    };
                    let _ = writeln!(out, "  password: {password}");
                    let _ = write!(out, "  TLS: {}", describe_tls(&pg.tls));
                    let timeout = humantime::format_duration(pg.connect_timeout);
                    let _ = writeln!(out, "\n  connect timeout: {timeout}");
                }
                Upstream::SparkConnect(sc) => crate::spark::describe(sc, &mut out),
                Upstream::DatabricksSql(u) => crate::databricks_sql::describe(u, &mut out),
                Upstream::MySql(m) => crate::mysql::describe(m, &mut out),
            }
        }
        self.describe_access(&mut out);
        self.describe_notify(&mut out);
        out.push_str(&self.masking.describe());
        out
    }

    /// `[api]`, users, roles and access rules. Password hashes are shown by origin only.
    fn describe_access(&self, out: &mut String) {
        let a = &self.api;
        let _ = writeln!(
            out,
            "api: listen {}, tokens live {}, pending requests expire after {}",
            a.listen,
            humantime::format_duration(a.token_ttl),
            humantime::format_duration(a.pending_ttl)
        );
        for u in &self.users {
            let _ = writeln!(
                out,
                "user {}: groups [{}], password: {}",
                u.name,
                u.groups.join(", "),
                u.password_hash.origin()
            );
        }
        for p in &self.oidc {
            let map: Vec<String> = p
                .group_map
                .iter()
                .map(|(from, to)| format!("{from} -> {to}"))
                .collect();
            let _ = writeln!(
                out,
                "oidc provider {}: issuer {}, client {} ({}), audiences [{}], scopes [{}], \
                 subject from claim {}, groups from claim {}{}, sessions live {}",
                p.name,
                p.issuer,
                p.client_id,
                match (&p.client_secret, p.client_secret_public) {
                    (None, _) => "public".to_string(),
                    (Some(s), false) => format!("secret: {}", s.origin()),
                    (Some(s), true) => format!("secret: {}, shared with the CLI", s.origin()),
                },
                p.audiences.join(", "),
                p.scopes.join(" "),
                p.username_claim,
                p.groups_claim,
                if map.is_empty() {
                    String::new()
                } else {
                    format!(" mapped [{}]", map.join(", "))
                },
                humantime::format_duration(p.session_ttl)
            );
        }
        let _ = writeln!(
            out,
            "roles: approver [{}], admin [{}]",
            self.roles.approver.join(", "),
            self.roles.admin.join(", ")
        );
        if self.access.is_empty() {
            let _ = writeln!(out, "access rules: none (only admin commands grant access)");
        }
        for (i, rule) in self.access.iter().enumerate() {
            let _ = writeln!(out, "access rule {i}: {}", rule_summary(rule));
        }
    }

    /// Webhooks (origin only: a URL path may carry a token) and alert rules.
    fn describe_notify(&self, out: &mut String) {
        for w in &self.webhooks {
            let signed = match &w.secret {
                Some(s) => format!(", signed with secret from {}", s.origin()),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "webhook {}/…: {}, events [{}], timeout {}{signed}",
                w.origin(),
                w.format.as_str(),
                w.events.join(", "),
                humantime::format_duration(w.timeout)
            );
        }
        for rule in &self.alerts {
            let d = humantime::format_duration;
            let condition = match rule.kind {
                AlertKind::LongStatement { threshold, cancel } => {
                    let then = if cancel { " (cancelled then)" } else { "" };
                    format!("statements running {} or longer{then}", d(threshold))
                }
                AlertKind::SessionNearExpiry { before } => {
                    format!("sessions open {} before their grant ends", d(before))
                }
                AlertKind::FailedLogins { count, within } => {
                    format!("{count} failed logins within {}", d(within))
                }
                AlertKind::MaskedRefusals { count, within } => format!(
                    "{count} masking refusals of one subject within {}",
                    d(within)
                ),
            };
            let on = rule.resource.as_deref().unwrap_or("*");
            let _ = writeln!(
                out,
                "alert {}: {condition}, resources {on}",
                rule.kind.as_str()
            );
        }
    }
}

fn rule_summary(rule: &AccessRule) -> String {
    let requesters: Vec<String> = rule.requesters.iter().map(ToString::to_string).collect();
    let mut s = format!(
        "resources [{}] for [{}], up to {}, ",
        rule.resources.join(", "),
        requesters.join(", "),
        humantime::format_duration(rule.max_duration)
    );
    if rule.approvals == 0 {
        s.push_str("no approval needed");
    } else {
        let _ = write!(
            s,
            "{} approval(s) from [{}] or admins",
            rule.approvals,
            rule.approver_groups.join(", ")
        );
    }
    if !rule.auto_approve_groups.is_empty() {
        let _ = write!(
            s,
            ", auto-approved for [{}]",
            rule.auto_approve_groups.join(", ")
        );
    }
    if let Some(w) = &rule.window {
        let _ = write!(s, ", only {w} UTC");
    }
    if rule.read_only {
        s.push_str(", read-only");
    }
    s
}

/// A libpq-style TLS setting in one line: the mode, and the CA and name it verifies against.
pub(crate) fn describe_tls(tls: &crate::model::UpstreamTls) -> String {
    let mut out = tls.mode.as_str().to_owned();
    if let Some(ca) = &tls.ca_file {
        let _ = write!(out, ", CA {}", ca.display());
    }
    if let Some(name) = &tls.server_name {
        let _ = write!(out, ", server name {name}");
    }
    out
}
