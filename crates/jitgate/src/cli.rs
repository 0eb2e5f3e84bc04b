//! The command line: `serve` and `check` for operators, offline `admin` tools, and the client
//! verbs people and scripts use against a running gateway.

use crate::client::{Client, DEFAULT_SERVER};
use crate::verbs;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "jitgate",
    version,
    about = "Just-in-time, time-limited access to databases, with data masking",
    long_about = "jitgate sits between people and databases. Clients (psql, DBeaver, drivers) connect \
to jitgate with a credential bound to a grant; when the grant ends, their sessions end with it.\n\n\
Operators: `jitgate check --config jitgate.toml`, then `jitgate serve --config jitgate.toml`.\n\
Users: `jitgate login USER` (or `jitgate login --oidc PROVIDER`), `jitgate request RESOURCE --duration 30m --reason TEXT`, and once \
approved `jitgate connect RESOURCE`."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
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

#[derive(Args)]
pub struct ServerArg {
    /// URL of the jitgate server's API
    #[arg(long, env = "JITGATE_SERVER", default_value = DEFAULT_SERVER, global = true)]
    pub server: String,
}

impl ServerArg {
    fn client(&self) -> anyhow::Result<Client> {
        Client::logged_in(&self.server)
    }
}

#[derive(Args)]
pub struct JsonArg {
    /// Print the server's answer as JSON instead of words or a table for people
    #[arg(long, global = true)]
    pub json: bool,
}

/// How much of a listing to show: every page by default.
#[derive(Args)]
pub struct LimitArg {
    /// Show at most N rows (the newest); without it every page is fetched
    #[arg(long, value_name = "N", value_parser = parse_limit)]
    pub limit: Option<usize>,
}

fn parse_limit(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("the limit is a number of rows, 1 or more".into()),
    }
}

#[derive(Subcommand)]
enum Command {
    /// The guided tour: a throwaway PostgreSQL, three users, masked queries, revocation
    Demo {
        /// Leave everything running and print how each user logs in and connects
        #[arg(long)]
        keep_running: bool,
        /// With --keep-running: print one JSON line (API, endpoint, users, upstream) for scripts
        #[arg(long)]
        json: bool,
        /// Folder with PostgreSQL's server binaries (initdb, pg_ctl, postgres)
        #[arg(long, value_name = "DIR")]
        pg_bin: Option<PathBuf>,
        /// Three gateway replicas on a throwaway PostgreSQL store instead of one on SQLite
        #[arg(long)]
        fleet: bool,
    },
    /// Run the gateway: the HTTP API and a listener for database clients per resource
    Serve {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Validate a configuration file and print what jitgate understood
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Log in to a jitgate server; the token is kept in your configuration folder
    Login {
        /// Your user name (local users; not with --oidc)
        #[arg(required_unless_present = "oidc", conflicts_with = "oidc")]
        user: Option<String>,
        /// Read the password from the first line of standard input instead of prompting
        #[arg(long, conflicts_with = "oidc")]
        password_stdin: bool,
        /// Log in through this OpenID Connect provider (as the server's configuration names it)
        #[arg(long, value_name = "PROVIDER")]
        oidc: Option<String>,
        /// With --oidc: the device flow (a code to enter on any device); the default without a
        /// graphical session
        #[arg(long, requires = "oidc", conflicts_with = "browser")]
        device: bool,
        /// With --oidc: the authorization code flow with PKCE in a browser on this machine
        #[arg(long, requires = "oidc")]
        browser: bool,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Ask for time-limited access to a resource
    Request {
        /// Resource name, as the server's configuration names it
        resource: String,
        /// How long the access should last once granted: 90s, 30m, 2h
        #[arg(long, short = 'd', value_parser = parse_duration)]
        duration: Duration,
        /// Why you need it (a ticket, an incident); approvers read it
        #[arg(long, short = 'r')]
        reason: String,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// List access requests you may see (approvers see those they may decide on)
    Requests {
        /// Only requests still waiting for a decision
        #[arg(long)]
        pending: bool,
        #[command(flatten)]
        limit: LimitArg,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Approve a pending request (approvers; never your own)
    Approve {
        /// Request id
        id: String,
        /// A note for the requester and the audit trail
        #[arg(long)]
        comment: Option<String>,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Deny a pending request (approvers)
    Deny {
        /// Request id
        id: String,
        /// A note for the requester and the audit trail
        #[arg(long)]
        comment: Option<String>,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Withdraw your own pending request
    Cancel {
        /// Request id
        id: String,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// List grants you may see
    Grants {
        /// Only grants usable now
        #[arg(long)]
        active: bool,
        #[command(flatten)]
        limit: LimitArg,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// End a grant now; its live sessions end within a second
    Revoke {
        /// Grant id
        grant_id: String,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Have a platform token minted for your live grant (a Databricks on-behalf-of token);
    /// its value is printed once, and the token is deleted when the grant ends
    PlatformToken {
        /// Grant id
        grant_id: String,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Get a credential for your live grant on RESOURCE and open psql (or print the URI)
    Connect {
        /// Resource name
        resource: String,
        /// Print the libpq connection URI instead of running psql
        #[arg(long)]
        uri: bool,
        /// Print login, password, host, port, database and URI as JSON
        #[arg(long, conflicts_with = "uri")]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Database credentials minted by `connect`
    Tokens {
        #[command(subcommand)]
        action: TokensAction,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Client sessions; `sessions kill ID` ends one
    Sessions {
        #[command(subcommand)]
        action: Option<SessionsAction>,
        #[command(flatten)]
        limit: LimitArg,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// The audit trail; `audit verify` checks its hash chain
    Audit {
        #[command(subcommand)]
        action: Option<AuditAction>,
        /// Keep printing new events as they happen
        #[arg(long, short = 'f')]
        follow: bool,
        /// Print one JSON object per event, one per line (`audit verify`: the server's answer)
        #[arg(long, global = true)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Offline administration on the store itself (no server needed)
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Databricks workspaces: reconcile grants, tokens, column masks (with the configuration)
    Databricks {
        #[command(subcommand)]
        action: crate::databricks::Action,
    },
}

#[derive(Subcommand)]
enum TokensAction {
    /// List tokens
    List {
        /// Only tokens that no longer work
        #[arg(long)]
        expired: bool,
        #[command(flatten)]
        limit: LimitArg,
    },
    /// Delete a token: it no longer opens new sessions
    Delete {
        /// Token (credential) id
        id: String,
    },
    /// Delete every expired token
    Prune,
}

#[derive(Subcommand)]
enum SessionsAction {
    /// End a live session now
    Kill {
        /// Session id
        id: String,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Check the whole hash chain; fails naming the first edited, deleted or reordered event
    Verify,
}

#[derive(Subcommand)]
enum AdminAction {
    /// Grant SUBJECT access to RESOURCE now, bypassing requests, and mint a credential
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
    /// Revoke a grant; a running gateway ends its sessions within a second
    Revoke {
        /// Grant id
        grant_id: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// Durations in seconds, minutes or hours: `90s`, `30m`, `2h` (also `1h30m`). Grants are
/// counted in whole seconds, so the shortest is `1s` and fractions of a second are refused
/// rather than rounded away.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("{e}; use a number with s, m or h, e.g. 30m"))?;
    if d.is_zero() {
        return Err("a duration must be longer than zero; the shortest is 1s".into());
    }
    if d.subsec_nanos() != 0 {
        return Err(format!(
            "{text} is not a whole number of seconds: durations are counted in seconds \
             (the shortest is 1s); use s, m or h, e.g. 30m"
        ));
    }
    Ok(d)
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Demo {
                keep_running,
                json,
                pg_bin,
                fleet,
            } => crate::demo::run(crate::demo::DemoOptions {
                keep_running,
                json,
                pg_bin,
                fleet,
            }),
            Command::Serve { config } => crate::serve::serve(&config.config),
            Command::Check { config } => {
                let cfg = jitgate_config::load(&config.config)?;
                print!("{}", cfg.describe());
                println!("configuration OK");
                Ok(())
            }
            Command::Login {
                user,
                password_stdin,
                oidc,
                device,
                browser,
                json,
                server,
            } => match (oidc, user) {
                (Some(provider), _) => {
                    let flow = verbs::login_oidc::Flow::choose(device, browser);
                    verbs::login_oidc::login(&server.server, &provider, flow, json.json)
                }
                (None, Some(user)) => {
                    verbs::login::login(&server.server, &user, password_stdin, json.json)
                }
                // clap requires one of them.
                (None, None) => Err(anyhow::anyhow!("give a user name or --oidc PROVIDER")),
            },
            Command::Request {
                resource,
                duration,
                reason,
                json,
                server,
            } => {
                verbs::requests::request(&server.client()?, &resource, duration, &reason, json.json)
            }
            Command::Requests {
                pending,
                limit,
                json,
                server,
            } => verbs::requests::list(&server.client()?, pending, limit.limit, json.json),
            Command::Approve {
                id,
                comment,
                json,
                server,
            } => {
                verbs::requests::decide(&server.client()?, &id, true, comment.as_deref(), json.json)
            }
            Command::Deny {
                id,
                comment,
                json,
                server,
            } => verbs::requests::decide(
                &server.client()?,
                &id,
                false,
                comment.as_deref(),
                json.json,
            ),
            Command::Cancel { id, json, server } => {
                verbs::requests::cancel(&server.client()?, &id, json.json)
            }
            Command::Grants {
                active,
                limit,
                json,
                server,
            } => verbs::grants::list(&server.client()?, active, limit.limit, json.json),
            Command::Revoke {
                grant_id,
                json,
                server,
            } => verbs::grants::revoke(&server.client()?, &grant_id, json.json),
            Command::PlatformToken {
                grant_id,
                json,
                server,
            } => verbs::grants::platform_token(&server.client()?, &grant_id, json.json),
            Command::Connect {
                resource,
                uri,
                json,
                server,
            } => verbs::connect::connect(&server.client()?, &resource, uri, json),
            Command::Tokens {
                action,
                json,
                server,
            } => {
                let client = server.client()?;
                match action {
                    TokensAction::List { expired, limit } => {
                        verbs::tokens::list(&client, expired, limit.limit, json.json)
                    }
                    TokensAction::Delete { id } => verbs::tokens::delete(&client, &id, json.json),
                    TokensAction::Prune => verbs::tokens::prune(&client, json.json),
                }
            }
            Command::Sessions {
                action,
                limit,
                json,
                server,
            } => {
                let client = server.client()?;
                match action {
                    None => verbs::sessions::list(&client, limit.limit, json.json),
                    Some(SessionsAction::Kill { id }) => {
                        verbs::sessions::kill(&client, &id, json.json)
                    }
                }
            }
            Command::Audit {
                action,
                follow,
                json,
                server,
            } => {
                let client = server.client()?;
                match action {
                    None => verbs::audit::show(&client, follow, json),
                    Some(AuditAction::Verify) => verbs::audit::verify(&client, json),
                }
            }
            Command::Databricks { action } => action.run(),
            Command::Admin { action } => match action {
                AdminAction::Grant {
                    subject,
                    resource,
                    duration,
                    json,
                    config,
                } => crate::admin::grant(&config.config, &subject, &resource, duration, json),
                AdminAction::Revoke { grant_id, config } => {
                    crate::admin::revoke(&config.config, &grant_id)
                        .with_context(|| format!("revoking {grant_id}"))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_take_s_m_h() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn durations_below_a_second_say_the_unit_and_the_minimum() {
        let message = parse_duration("500ms").expect_err("less than a second");
        assert!(message.contains("the shortest is 1s"), "{message}");
        assert!(parse_duration("1500ms").is_err());
        assert_eq!(parse_duration("1000ms"), Ok(Duration::from_secs(1)));
    }
}
