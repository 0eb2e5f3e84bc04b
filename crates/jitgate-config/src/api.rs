//! `[api]`: the HTTP API's address, the lifetimes of tokens and pending requests, and the bounds
//! on its connections (timeouts and a cap), so that idle or slow clients cannot hold descriptors
//! the database fronts need.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::ConfigError;
use crate::model::{Api, Resource};
use crate::section::Section;

const DEFAULT_LISTEN: ([u8; 4], u16) = ([127, 0, 0, 1], 8080);
const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);
const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(3600);
const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_CONNECTIONS: usize = 128;
const DEFAULT_CONSOLE_IDLE: Duration = Duration::from_secs(30 * 60);
/// A cap beyond what any process's descriptor limit would let it keep.
const MOST_CONNECTIONS: i64 = 1_000_000;

/// Reads `[api]` (an empty stand-in when the file has none); the address must not be one that a
/// resource already listens on.
pub(crate) fn read_api(s: &Section<'_>, resources: &[Resource]) -> Result<Api, ConfigError> {
    s.only(&[
        "listen",
        "token_ttl",
        "pending_ttl",
        "header_timeout",
        "body_timeout",
        "max_connections",
        "console_idle_timeout",
    ])?;
    let listen = match s.get("listen") {
        Some(f) => {
            let addr = f.parse::<SocketAddr>("a socket address such as \"127.0.0.1:8080\"")?;
            if let Some(r) = resources.iter().find(|r| r.listen == addr) {
                return Err(f.error(format!(
                    "{addr} is already the listen address of resource \"{}\"",
                    r.name
                )));
            }
            addr
        }
        None => SocketAddr::from(DEFAULT_LISTEN),
    };
    Ok(Api {
        listen,
        token_ttl: s
            .optional("token_ttl", |f| f.duration())?
            .unwrap_or(DEFAULT_TOKEN_TTL),
        pending_ttl: s
            .optional("pending_ttl", |f| f.duration())?
            .unwrap_or(DEFAULT_PENDING_TTL),
        header_timeout: s
            .optional("header_timeout", |f| f.duration())?
            .unwrap_or(DEFAULT_HEADER_TIMEOUT),
        body_timeout: s
            .optional("body_timeout", |f| f.duration())?
            .unwrap_or(DEFAULT_BODY_TIMEOUT),
        max_connections: s
            .optional("max_connections", |f| f.integer(1, MOST_CONNECTIONS))?
            .map_or(DEFAULT_MAX_CONNECTIONS, |n| n as usize),
        console_idle_timeout: s
            .optional("console_idle_timeout", |f| f.duration())?
            .unwrap_or(DEFAULT_CONSOLE_IDLE),
    })
}
