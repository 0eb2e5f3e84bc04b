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

/// The characters of random tokens and secrets (no look-alikes: i, l, o, 0, 1).
pub(crate) const TOKEN_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Random lowercase letters and digits (no look-alikes), for identifiers and secrets.
pub fn random_token(len: usize) -> String {
    use rand::Rng;

    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| TOKEN_ALPHABET[rng.gen_range(0..TOKEN_ALPHABET.len())] as char)
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
    /// The protocol front refuses writes and DDL under a read-only grant (SQLSTATE 25006).
    pub read_only: bool,
    /// The request this grant answers; none for grants made by admin commands.
    pub request_id: Option<String>,
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
/// Only its SCRAM verifier is stored (and never serialised), and, for a MySQL resource with
/// `native_password = true`, its `mysql_native_password` hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credential {
    pub id: String,
    /// The user name a client logs in with, e.g. `alice-7k2m9q`: names the subject, unique.
    pub login: String,
    pub grant_id: String,
    pub subject: String,
    pub resource: String,
    #[serde(skip)]
    pub verifier: crate::scram::ScramVerifier,
    /// SHA1(SHA1(secret)), only when the resource accepts `mysql_native_password`
    /// (see [`crate::native_password`] for what keeping it costs).
    #[serde(skip)]
    pub native_password: Option<crate::native_password::NativePasswordHash>,
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
    /// The gateway replica (`[server] replica`) the session runs on.
    pub replica: String,
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

/// What it takes to cancel the work a session started upstream, should jitgate die before the
/// session ends. Kept in the session's row only (it is a credential to the upstream backend):
/// never in audit events, API views or logs.
#[derive(Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(tag = "protocol", rename_all = "snake_case")]
pub enum UpstreamCancel {
    /// A PostgreSQL CancelRequest to the backend that serves the session.
    Postgres {
        addr: std::net::SocketAddr,
        process_id: i32,
        secret_key: i32,
    },
}

impl std::fmt::Debug for UpstreamCancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamCancel::Postgres {
                addr, process_id, ..
            } => write!(
                f,
                "Postgres {{ addr: {addr}, process_id: {process_id}, .. }}"
            ),
        }
    }
}

/// A session a previous run of the gateway left open, now closed, and what cancels its
/// upstream work (if it recorded that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanedSession {
    pub record: SessionRecord,
    pub upstream_cancel: Option<UpstreamCancel>,
}

/// A gateway process's claim on its replica name, kept alive by heartbeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaBeat {
    /// The replica name (`[server] replica`).
    pub name: String,
    /// The process holding the name: a random id of each start.
    pub instance: String,
    /// Its last heartbeat.
    pub heartbeat_at: Millis,
    /// How long after its last heartbeat every session it ran has surely ended (it ends them
    /// itself when it cannot reach the store for its `store_grace`): past that, another
    /// replica marks them ended.
    pub lost_after_ms: i64,
}

/// Where a request is in its lifecycle. Only `Pending` ever changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting for approvals.
    Pending,
    /// Enough approvals (or none needed): a grant exists.
    Approved,
    /// An approver said no.
    Denied,
    /// The requester withdrew it.
    Cancelled,
    /// Nobody decided within the pending time.
    Expired,
}

impl RequestState {
    pub const ALL: [RequestState; 5] = [
        RequestState::Pending,
        RequestState::Approved,
        RequestState::Denied,
        RequestState::Cancelled,
        RequestState::Expired,
    ];

    /// The word stored and shown, e.g. `pending`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Denied => "denied",
            RequestState::Cancelled => "cancelled",
            RequestState::Expired => "expired",
        }
    }

    pub fn parse(word: &str) -> Option<RequestState> {
        RequestState::ALL.into_iter().find(|s| s.as_str() == word)
    }
}

/// A subject's request for time-limited access to a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub id: String,
    pub subject: String,
    /// The requester's groups when asking: the access rule is matched against them.
    pub subject_groups: Vec<String>,
    pub resource: String,
    /// How long the requester asked for; the grant may be shorter (rule maximum, time window).
    pub duration_ms: Millis,
    pub reason: String,
    pub state: RequestState,
    pub created_at: Millis,
    /// When it left `pending`.
    pub decided_at: Option<Millis>,
    /// Who made it leave `pending`: the last approver, the denier, the requester who cancelled,
    /// or `policy` for an automatic approval; none when it expired.
    pub decided_by: Option<String>,
    /// When a pending request expires.
    pub expires_at: Millis,
    /// Distinct approvals needed, as the rule said when the request was made.
    pub approvals_required: u32,
    pub read_only: bool,
    pub grant_id: Option<String>,
    /// Every vote, in the order cast.
    pub approvals: Vec<Approval>,
}

impl Request {
    /// Approving votes cast so far.
    pub fn approval_count(&self) -> u32 {
        self.approvals
            .iter()
            .filter(|a| a.decision == Decision::Approve)
            .count() as u32
    }
}

/// One approver's vote on a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    pub request_id: String,
    pub approver: String,
    pub decision: Decision,
    pub comment: String,
    pub at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
        }
    }
}

/// A login token of the HTTP API, as stored: only the SHA-256 of the token is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Lowercase hex SHA-256 of the token text.
    pub token_hash: String,
    pub subject: String,
    /// The subject's groups at login.
    pub groups: Vec<String>,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// A subject whose identity comes from an OpenID Connect provider: the groups its last
/// validated token carried (after mapping), and when that was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalSubject {
    pub name: String,
    /// The `[oidc.NAME]` it logged in through; a name belongs to one provider.
    pub provider: String,
    pub groups: Vec<String>,
    pub last_seen: Millis,
}

/// What jitgate holds to re-read an external subject's groups without them: the provider's
/// refresh token.
#[derive(Clone, PartialEq, Eq)]
pub struct ExternalRenewal {
    pub subject: String,
    pub provider: String,
    pub refresh_token: String,
    /// When the subject's groups were last proven.
    pub last_seen: Millis,
}

impl std::fmt::Debug for ExternalRenewal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the refresh token: it is as good as a login.
        f.debug_struct("ExternalRenewal")
            .field("subject", &self.subject)
            .field("provider", &self.provider)
            .field("last_seen", &self.last_seen)
            .finish_non_exhaustive()
    }
}
