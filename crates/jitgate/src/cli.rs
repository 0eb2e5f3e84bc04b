//! The command line.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "jitgate",
    version,
    about = "Just-in-time, time-limited access to databases, with data masking",
    long_about = "jitgate sits between people and databases. Clients (psql, DBeaver, drivers) connect \
to jitgate with a credential bound to a grant; when the grant ends, their sessions end with it.\n\n\
Start with `jitgate check --config jitgate.toml`, then `jitgate serve --config jitgate.toml`."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
pub struct ConfigArg {
    /// Configuration file
    #[arg(
        long,
        short = 'c',
        env = "JITGATE_CONFIG",
        default_value = "jitgate.toml"
    )]
    pub config: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: listen for database clients on every resource's address
    Serve {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Validate a configuration file and print what jitgate understood
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Admin: grant SUBJECT access to RESOURCE now, for a limited time, and mint a credential
    Grant {
        /// Who receives access (a user or service name)
        subject: String,
        /// Resource name from the configuration
        resource: String,
        /// How long the grant lives, e.g. 30s, 5m, 2h
        #[arg(long, short = 'd', value_parser = parse_duration)]
        duration: Duration,
        /// Print one JSON object instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Admin: revoke a grant; its live sessions end within a second
    Revoke {
        /// Grant id, as printed by `jitgate grant`
        grant_id: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// Durations in seconds, minutes or hours: `90s`, `30m`, `2h` (also `1h30m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("{e}; use a number with s, m or h, e.g. 30m"))?;
    if d.is_zero() {
        return Err("a duration must be longer than zero".into());
    }
    Ok(d)
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve { config } => crate::serve::serve(&config.config),
            Command::Check { config } => {
                let cfg = jitgate_config::load(&config.config)?;
                print!("{}", cfg.describe());
                println!("configuration OK");
                Ok(())
            }
            Command::Grant {
                subject,
                resource,
                duration,
                json,
                config,
            } => crate::grant::grant(&config.config, &subject, &resource, duration, json),
            Command::Revoke { grant_id, config } => crate::grant::revoke(&config.config, &grant_id)
                .with_context(|| format!("revoking {grant_id}")),
        }
    }
}
