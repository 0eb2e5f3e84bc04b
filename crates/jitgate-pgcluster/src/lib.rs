//! Throwaway PostgreSQL clusters: `initdb` into a temporary directory, start on a free port of
//! 127.0.0.1, remove everything on drop. `jitgate demo` runs its upstream database this way, and
//! the integration tests run theirs. Throwaway MariaDB servers likewise: [`mariadb`].
//!
//! Server binaries are looked up in `$JITGATE_PG_BINDIR`, then on `PATH`, then in
//! `/usr/lib/postgresql/<version>/bin` (15 preferred). As root, the server runs as the `postgres`
//! OS user, because PostgreSQL refuses to run as root.

mod cluster;
pub mod mariadb;

pub use cluster::{server_binaries_found, AuthMethod, ClusterOptions, PgCluster};
pub use mariadb::{MariaDb, MariaDbOptions};

use std::net::TcpListener;
use std::process::{Command, Output};

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
///
/// The OS picks it (bind to port 0), then the socket is closed so the caller
/// can hand the port to a server. Another process could grab it in between;
/// [`PgCluster::start`] retries with a new port when that happens.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Runs `cmd` to completion and fails, with its stdout and stderr in the
/// error, unless it exits successfully. `what` names the step for the error.
pub fn run_checked(cmd: &mut Command, what: &str) -> anyhow::Result<Output> {
    let out = cmd
        .output()
        .map_err(|e| anyhow::anyhow!("{what}: could not run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        anyhow::bail!(
            "{what} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}
