//! What `jitgate check` prints: the configuration as understood, secrets shown by origin only.

use std::fmt::Write;

use crate::model::{ClientTlsMode, Config, Resource, Upstream};

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
        let _ = writeln!(out, "store: {}", s.store.display());
        let _ = writeln!(out, "workers: {}", s.workers);
        let _ = writeln!(out, "max message size: {} bytes", s.max_message_bytes);
        let _ = writeln!(
            out,
            "login timeout: {}",
            humantime::format_duration(s.login_timeout)
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
                    let _ = write!(out, "  TLS: {}", pg.tls.mode.as_str());
                    if let Some(ca) = &pg.tls.ca_file {
                        let _ = write!(out, ", CA {}", ca.display());
                    }
                    if let Some(name) = &pg.tls.server_name {
                        let _ = write!(out, ", server name {name}");
                    }
                    let timeout = humantime::format_duration(pg.connect_timeout);
                    let _ = writeln!(out, "\n  connect timeout: {timeout}");
                }
            }
        }
        out
    }
}
