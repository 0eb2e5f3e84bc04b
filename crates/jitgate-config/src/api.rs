//! `[api]`: the HTTP API's address and the lifetimes of tokens and pending requests.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::ConfigError;
use crate::model::{Api, Resource};
use crate::section::Section;

const DEFAULT_LISTEN: ([u8; 4], u16) = ([127, 0, 0, 1], 8080);
const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);
const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(3600);

/// Reads `[api]` (an empty stand-in when the file has none); the address must not be one that a
/// resource already listens on.
pub(crate) fn read_api(s: &Section<'_>, resources: &[Resource]) -> Result<Api, ConfigError> {
    s.only(&["listen", "token_ttl", "pending_ttl"])?;
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
    })
}
