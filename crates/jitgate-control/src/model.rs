//! The things the control plane knows about, in DESIGN.md's vocabulary.

use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch: the one time representation in the store.
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_millis() -> Millis {
    to_millis(SystemTime::now())
}

pub fn to_millis(t: SystemTime) -> Millis {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as Millis,
        Err(e) => -(e.duration().as_millis() as Millis),
    }
}

pub fn from_millis(ms: Millis) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

/// RFC 3339 text of a time, to the millisecond, in UTC.
pub fn rfc3339(ms: Millis) -> String {
    humantime::format_rfc3339_millis(from_millis(ms)).to_string()
}

/// A new random identifier with a readable prefix, e.g. `g_7k2m9q4x1c`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_token(10))
}

/// Random lowercase letters and digits (no look-alikes), for identifiers and secrets.
pub fn random_token(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Why a grant stopped being usable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantEnd {
    /// Its time ran out.
    Expired,
    /// Someone with the right took it away.
    Revoked { by: String },
}

impl GrantEnd {
    pub fn as_str(&self) -> &'static str {
        match self {
            GrantEnd::Expired => "expired",
            GrantEnd::Revoked { .. } => "revoked",
        }
    }
}

/// An approved, time-bounded right of one subject to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub id: String,
    pub subject: String,
    pub resource: String,
    pub starts_at: Millis,
    pub expires_at: Millis,
    /// Who created it (an approver, an admin command).
    pub granted_by: String,
    pub ended_at: Option<Millis>,
    pub end: Option<GrantEnd>,
}

impl Grant {
    /// Live means usable now: started, not past its end, not ended early.
    pub fn is_live(&self, now: Millis) -> bool {
        self.end.is_none() && self.starts_at <= now && now < self.expires_at
    }

    /// Why it is not live at `now`, if it is not.
    pub fn end_at(&self, now: Millis) -> Option<GrantEnd> {
        match &self.end {
            Some(end) => Some(end.clone()),
            None if now >= self.expires_at => Some(GrantEnd::Expired),
            None => None,
        }
    }
}

/// A secret bound to a grant, presented by a client as its database password.
/// Only its SCRAM verifier is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: String,
    /// The user name a client logs in with, e.g. `alice-7k2m9q`: names the subject, unique.
    pub login: String,
    pub grant_id: String,
    pub subject: String,
    pub resource: String,
    pub verifier: crate::scram::ScramVerifier,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// A credential as minted: the only moment its secret exists outside the client.
#[derive(Debug, Clone)]
pub struct IssuedCredential {
    pub credential: Credential,
    pub secret: String,
}

/// One client connection under a grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionRecord {
    pub id: String,
    pub subject: String,
    pub grant_id: String,
    pub resource: String,
    pub client_addr: String,
    pub started_at: Millis,
    pub ended_at: Option<Millis>,
    pub end_reason: Option<String>,
    pub bytes_from_client: u64,
    pub bytes_to_client: u64,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnd {
    pub at: Millis,
    pub reason: String,
    pub bytes_from_client: u64,
    pub bytes_to_client: u64,
}
