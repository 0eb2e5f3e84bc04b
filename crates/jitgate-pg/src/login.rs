//! Logging a client in, in named phases: negotiate encryption, check the start-up packet,
//! authenticate with a jitgate credential, admit under a live grant, choose the session's
//! guard, connect to the upstream with jitgate's own login, and greet the client. Everything
//! that can go wrong here ends with a FATAL error the client can read.
//!
//! Phases after encryption take the client's stream by reference and fail with a [`Stop`], so
//! `?` carries a refusal up to [`open`], which still holds the stream to say it on.

use crate::auth::{authenticate, ClientAuthError, ClientAuthMethod};
use crate::cancel::{CancelKey, CancelTarget};
use crate::codec::backend::{self, Severity};
use crate::codec::startup::{read_startup, StartupParams, StartupRequest, PROTOCOL_OPTION_PREFIX};
use crate::codec::{ProtocolError, PRE_AUTH_MAX_MESSAGE};
use crate::guard::{SessionContext, SessionGuard};
use crate::relay::READ_CHUNK;
use crate::resource::ResourceFront;
use crate::shared::Front;
use crate::stream::PgStream;
use crate::upstream::{self, UpstreamConn, UpstreamError};
use bytes::{BufMut, BytesMut};
use jitgate_control::audit::{kind, AuditEvent};
use jitgate_control::model::UpstreamCancel;
use jitgate_control::{Admission, LoginAttempt, LoginContext, LoginRefused, Proof, Protocol};
use jitgate_sqlstate::SqlState;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// How long jitgate waits to deliver its last words to a client that is not reading.
pub(crate) const GOODBYE_TIMEOUT: Duration = Duration::from_millis(500);

/// Client start-up parameters passed on to the upstream; anything else (notably `options`,
/// which could set `role` or `session_authorization`) is dropped.
const FORWARDED_PARAMS: &[&str] = &[
    "application_name",
    "client_encoding",
    "DateStyle",
    "TimeZone",
    "IntervalStyle",
    "extra_float_digits",
    "search_path",
    "datestyle",
    "timezone",
];

/// A refusal to send the client before closing.
#[derive(Debug)]
pub(crate) struct Fatal {
    pub sqlstate: SqlState,
    pub message: String,
}

impl Fatal {
    pub(crate) fn new(sqlstate: SqlState, message: impl Into<String>) -> Fatal {
        Fatal {
            sqlstate,
            message: message.into(),
        }
    }
}

/// Why a login phase did not go on.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The client went away (or only wanted a cancel): nothing to say.
    Left,
    /// The client is refused, and told why.
    Refused(Fatal),
}

impl From<Fatal> for Stop {
    fn from(fatal: Fatal) -> Stop {
        Stop::Refused(fatal)
    }
}

/// A client logged in and its upstream connection ready.
pub(crate) struct Opened {
    pub client: PgStream,
    pub client_buf: BytesMut,
    pub upstream: UpstreamConn,
    pub session: jitgate_control::Session,
    pub cancel_key: CancelKey,
    pub guard: Option<SessionGuard>,
}

pub(crate) type OpenResult = Result<Option<Opened>, (PgStream, Fatal)>;

/// Everything one login needs to reach.
struct Login<'a> {
    front: &'a Front,
    resource: &'a ResourceFront,
    peer: SocketAddr,
}

pub(crate) async fn open(
    tcp: TcpStream,
    peer: SocketAddr,
    front: &Front,
    resource: &ResourceFront,
) -> OpenResult {
    let (mut stream, params) = match negotiate_encryption(tcp, front).await {
        Ok(ready) => ready,
        Err(None) => return Ok(None),
        Err(Some(refusal)) => return Err(refusal),
    };
    let login = Login {
        front,
        resource,
        peer,
    };
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    match login.run(&mut stream, &mut buf, &params).await {
        Ok((upstream, session, cancel_key, guard)) => Ok(Some(Opened {
            client: stream,
            client_buf: buf,
            upstream,
            session,
            cancel_key,
            guard,
        })),
        Err(Stop::Left) => Ok(None),
        Err(Stop::Refused(fatal)) => Err((stream, fatal)),
    }
}

/// What a login hands the relay, besides the client's stream.
type LoggedIn = (
    UpstreamConn,
    jitgate_control::Session,
    CancelKey,
    Option<SessionGuard>,
);

impl Login<'_> {
    /// The phases after encryption, in order.
    async fn run(
        &self,
        stream: &mut PgStream,
        buf: &mut BytesMut,
        params: &StartupParams,
    ) -> Result<LoggedIn, Stop> {
        let (login, method) = self.check_startup(stream, params).await?;
        let (attempt, proof) = self.authenticate(stream, buf, &login, method).await?;
        let admission = self.admit(attempt, proof)?;
        let guard = self.choose_guard(&admission, params).await?;
        let forwarded = upstream_params(params, &admission, guard.as_ref());
        let upstream = self.connect_upstream(&admission, &forwarded).await?;
        let session = self
            .front
            .control
            .open_session(&admission, &self.peer.to_string());
        // Should jitgate die mid-session, its next start cancels what the session left running.
        if upstream.backend_key != (0, 0) {
            let (process_id, secret_key) = upstream.backend_key;
            session.set_upstream_cancel(UpstreamCancel::Postgres {
                addr: upstream.server_addr,
                process_id,
                secret_key,
            });
        }
        let cancel_key = self.front.cancels.register(CancelTarget {
            upstream_addr: upstream.server_addr,
            upstream_key: upstream.backend_key,
            resource: self.resource.name.clone(),
        });
        if greet(stream, &upstream, &cancel_key).await.is_err() {
            session.close("client closed during login", 0, 0);
            return Err(Stop::Left);
        }
        Ok((upstream, session, cancel_key, guard))
    }

    /// The start-up packet: transport policy, a user, a database this resource serves, how
    /// the password is asked for; a protocol newer than 3.0 or `_pq_.` options are answered
    /// with NegotiateProtocolVersion, as PostgreSQL does, and the login goes on in 3.0.
    async fn check_startup(
        &self,
        stream: &mut PgStream,
        params: &StartupParams,
    ) -> Result<(String, ClientAuthMethod), Stop> {
        let settings = &self.front.settings;
        if settings.tls_required && !stream.is_tls() {
            return Err(refused(
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                "jitgate accepts only TLS connections (use sslmode=require)",
            ));
        }
        let Some(login) = params.get("user").map(str::to_owned) else {
            return Err(refused(
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                "no user name in start-up packet",
            ));
        };
        self.check_database(params.get("database"), &login)?;
        let method = if settings.password_auth {
            if !stream.is_tls()
                && !stream.peer_is_loopback()
                && !settings.allow_cleartext_without_tls
            {
                return Err(refused(
                    SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                    "a password in clear text is accepted only over TLS (use sslmode=require)",
                ));
            }
            ClientAuthMethod::Cleartext
        } else {
            ClientAuthMethod::Scram
        };
        negotiate_protocol_version(stream, params).await?;
        Ok((login, method))
    }

    fn check_database(&self, database: Option<&str>, login: &str) -> Result<(), Stop> {
        let served = self.resource.upstream.database.as_str();
        match database {
            Some(db) if db != served && db != login => Err(refused(
                SqlState::INVALID_CATALOG_NAME,
                format!(
                    "database \"{db}\" is not served here: resource \"{}\" serves \"{served}\"",
                    self.resource.name
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The password exchange, against the control plane's verifier for the login (one that
    /// nothing matches for unknown logins, so both look the same). No message of the exchange
    /// may be longer than [`PRE_AUTH_MAX_MESSAGE`]: nobody is known yet.
    async fn authenticate(
        &self,
        stream: &mut PgStream,
        buf: &mut BytesMut,
        login: &str,
        method: ClientAuthMethod,
    ) -> Result<(LoginAttempt, Proof), Stop> {
        let context = LoginContext {
            login,
            resource: &self.resource.name,
            peer: self.peer,
            protocol: Protocol::Postgres,
        };
        let attempt = self.front.control.begin_login(context).map_err(|e| {
            tracing::error!("looking up credential: {e}");
            refused(SqlState::SYSTEM_ERROR, "jitgate cannot read its store")
        })?;
        let auth = authenticate(
            stream,
            buf,
            method,
            attempt.verifier(),
            PRE_AUTH_MAX_MESSAGE,
        );
        let proof = match auth.await {
            Ok(()) => Proof::Verified,
            Err(ClientAuthError::Disconnected) => return Err(Stop::Left),
            Err(ClientAuthError::Failed) => Proof::Failed,
            Err(e) => Proof::ProtocolError(e.to_string()),
        };
        Ok((attempt, proof))
    }

    /// A live grant behind the proven credential, for this resource; every refusal is
    /// audited by the control plane.
    fn admit(&self, attempt: LoginAttempt, proof: Proof) -> Result<Admission, Stop> {
        attempt.finish(proof).map_err(|refusal| {
            let sqlstate = match refusal {
                LoginRefused::Protocol(_) => SqlState::PROTOCOL_VIOLATION,
                _ => SqlState::INVALID_PASSWORD,
            };
            refused(sqlstate, refusal.client_message())
        })
    }

    /// Masked subjects and read-only grants get their checks now, or no session at all.
    async fn choose_guard(
        &self,
        admission: &Admission,
        params: &StartupParams,
    ) -> Result<Option<SessionGuard>, Stop> {
        let Some(provider) = &self.front.guards else {
            return Ok(None);
        };
        let context = SessionContext {
            admission,
            resource: self.resource,
            search_path: params.get("search_path"),
        };
        provider.guard_for(context).await.map_err(|refusal| {
            tracing::warn!(resource = %self.resource.name, "session checks unavailable: {}", refusal.message);
            refused(refusal.sqlstate, refusal.message)
        })
    }

    /// jitgate's own login to the upstream. A refusal is passed on as far as it is safe to:
    /// its SQLSTATE when it says the upstream is full or not accepting connections now, and a
    /// description jitgate writes; the upstream's own words go to the audit trail only.
    async fn connect_upstream(
        &self,
        admission: &Admission,
        forwarded: &[(String, String)],
    ) -> Result<UpstreamConn, Stop> {
        let resource = self.resource;
        let result = upstream::connect(
            &resource.upstream,
            resource.upstream_tls.as_ref(),
            forwarded,
        )
        .await;
        result.map_err(|e| {
            tracing::warn!(resource = %resource.name, "upstream login failed: {e}");
            let (sqlstate, why) = upstream_refusal(&e);
            self.front.control.audit(
                AuditEvent::new(
                    kind::UPSTREAM_FAILED,
                    json!({
                        "error": e.to_string(),
                        "sqlstate": e.sqlstate().map(|s| s.to_string()),
                        "client_sqlstate": sqlstate.as_str(),
                    }),
                )
                .subject(&admission.subject)
                .resource(&resource.name)
                .grant(&admission.grant.id),
            );
            refused(
                sqlstate,
                format!(
                    "jitgate could not log in to the upstream of resource \"{}\": {why}",
                    resource.name
                ),
            )
        })
    }
}

fn refused(sqlstate: SqlState, message: impl Into<String>) -> Stop {
    Stop::Refused(Fatal::new(sqlstate, message))
}

/// What the client may learn of the upstream's refusal: a SQLSTATE and jitgate's own words.
/// Only the classes that say "try again later" are passed on; a refusal of jitgate's service
/// credential or a misconfigured database is the operator's to read, in the audit trail.
pub(crate) fn upstream_refusal(e: &UpstreamError) -> (SqlState, &'static str) {
    match e.sqlstate() {
        Some(SqlState::TOO_MANY_CONNECTIONS) => (
            SqlState::TOO_MANY_CONNECTIONS,
            "the upstream has too many connections",
        ),
        Some(SqlState::CANNOT_CONNECT_NOW) => (
            SqlState::CANNOT_CONNECT_NOW,
            "the upstream cannot accept connections now",
        ),
        Some(s) if s.class() == "53" => (s.class_code(), "the upstream is out of resources"),
        Some(s) if s.class() == "57" => (s, "the upstream is not accepting connections"),
        Some(_) => (
            SqlState::CONNECTION_FAILURE,
            "the upstream refused jitgate's login",
        ),
        None => (SqlState::CONNECTION_FAILURE, e.client_reason()),
    }
}

/// The start-up parameters for the upstream: the client's safe ones, and the settings a
/// guarded session must start with.
fn upstream_params(
    params: &StartupParams,
    admission: &Admission,
    guard: Option<&SessionGuard>,
) -> Vec<(String, String)> {
    let mut forwarded: Vec<(String, String)> = params
        .params
        .iter()
        .filter(|(k, _)| FORWARDED_PARAMS.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut set = |key: &str, value: &str| {
        forwarded.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        forwarded.push((key.into(), value.into()));
    };
    if guard.is_some() {
        // Statement analysis and masking read text as UTF-8: guarded sessions speak nothing else.
        set("client_encoding", "UTF8");
    }
    if guard.is_some_and(|g| g.results.is_some()) {
        // Masked sessions start (and RESET back to) NOTICE, whatever the server's default:
        // LOG and DEBUG messages can carry statement texts, mask keys included.
        set("client_min_messages", "notice");
        // Masking expressions are heavy enough to cross the JIT's cost thresholds, where
        // compiling them costs far more than evaluating them: masked sessions start without it.
        set("jit", "off");
    }
    if admission.grant.read_only {
        // PostgreSQL itself then refuses writes; the guard stops attempts to switch it off.
        forwarded.push(("default_transaction_read_only".into(), "on".into()));
    }
    forwarded
}

/// A connection that ended before its start-up packet: `None` when the client left (or only
/// sent a cancel), else the stream to say the refusal on.
type Unopened = Option<(PgStream, Fatal)>;

/// Negotiates encryption until a real StartupMessage arrives; a CancelRequest is forwarded
/// and ends the connection.
async fn negotiate_encryption(
    tcp: TcpStream,
    front: &Front,
) -> Result<(PgStream, StartupParams), Unopened> {
    let mut stream = PgStream::Plain(tcp);
    loop {
        let request = match read_startup(&mut stream).await {
            Ok(r) => r,
            Err(ProtocolError::Closed) => return Err(None),
            Err(e) => {
                let fatal = Fatal::new(SqlState::PROTOCOL_VIOLATION, e.to_string());
                return Err(Some((stream, fatal)));
            }
        };
        stream = match request {
            StartupRequest::Ssl if !stream.is_tls() => negotiate_tls(stream, front).await?,
            StartupRequest::GssEnc if !stream.is_tls() => {
                if stream.write_all(b"N").await.is_err() {
                    return Err(None);
                }
                stream
            }
            StartupRequest::Ssl | StartupRequest::GssEnc => {
                let fatal = Fatal::new(SqlState::PROTOCOL_VIOLATION, "encryption requested twice");
                return Err(Some((stream, fatal)));
            }
            StartupRequest::Cancel {
                process_id,
                secret_key,
            } => {
                forward_cancel(front, process_id, secret_key).await;
                return Err(None);
            }
            StartupRequest::Startup(params) => return Ok((stream, params)),
        };
    }
}

/// Answers an SSLRequest on a plain connection: 'S' and a TLS handshake when configured, 'N'
/// otherwise.
async fn negotiate_tls(stream: PgStream, front: &Front) -> Result<PgStream, Unopened> {
    let PgStream::Plain(mut tcp) = stream else {
        let fatal = Fatal::new(SqlState::PROTOCOL_VIOLATION, "encryption requested twice");
        return Err(Some((stream, fatal)));
    };
    let Some(acceptor) = &front.settings.client_tls else {
        if tcp.write_all(b"N").await.is_err() {
            return Err(None);
        }
        return Ok(PgStream::Plain(tcp));
    };
    if tcp.write_all(b"S").await.is_err() {
        return Err(None);
    }
    match acceptor.accept(tcp).await {
        Ok(tls) => Ok(PgStream::ServerTls(Box::new(tls))),
        Err(e) => {
            tracing::info!("client TLS handshake failed: {e}");
            Err(None)
        }
    }
}

/// Protocol 3.2 or `_pq_.` options: jitgate speaks 3.0 and knows no protocol option, and
/// says so as PostgreSQL does; the client then goes on in 3.0 or gives up.
async fn negotiate_protocol_version(
    stream: &mut PgStream,
    params: &StartupParams,
) -> Result<(), Stop> {
    let options: Vec<&str> = params
        .params
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.starts_with(PROTOCOL_OPTION_PREFIX))
        .collect();
    if params.minor_version == 0 && options.is_empty() {
        return Ok(());
    }
    let mut out = BytesMut::new();
    backend::negotiate_protocol_version(&mut out, 0, &options);
    stream.write_all(&out).await.map_err(|_| Stop::Left)?;
    stream.flush().await.map_err(|_| Stop::Left)
}

/// The client now sees what a direct login would show, but with jitgate's own cancel key.
async fn greet(
    stream: &mut PgStream,
    upstream: &UpstreamConn,
    cancel_key: &CancelKey,
) -> std::io::Result<()> {
    let mut hello = BytesMut::with_capacity(1024);
    backend::authentication_ok(&mut hello);
    for m in &upstream.startup_messages {
        hello.put_u8(m.tag);
        hello.put_u32(m.body.len() as u32 + 4);
        hello.extend_from_slice(&m.body);
    }
    backend::backend_key_data(&mut hello, cancel_key.process_id, cancel_key.secret);
    backend::ready_for_query(&mut hello, upstream.transaction_status);
    stream.write_all(&hello).await?;
    stream.flush().await
}

pub(crate) async fn forward_cancel(front: &Front, process_id: i32, secret_key: i32) {
    // A wrong key gets the same silence as a right one: nothing to learn by guessing.
    let Some(target) = front.cancels.lookup(process_id, secret_key) else {
        return;
    };
    let Some(resource) = front.resource(&target.resource) else {
        return;
    };
    if let Err(e) = upstream::cancel(
        target.upstream_addr,
        resource.upstream_tls.as_ref(),
        target.upstream_key,
    )
    .await
    {
        tracing::warn!(resource = %resource.name, "forwarding cancel: {e}");
    }
}

/// Sends a FATAL error during login, then closes.
pub(crate) async fn goodbye(stream: &mut PgStream, fatal: &Fatal) {
    let mut msg = BytesMut::new();
    backend::error_response(&mut msg, Severity::Fatal, fatal.sqlstate, &fatal.message);
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, async {
        stream.write_all(&msg).await?;
        stream.shutdown().await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn server(sqlstate: &str) -> UpstreamError {
        UpstreamError::Server {
            severity: "FATAL".into(),
            sqlstate: sqlstate.into(),
            message: "sorry, too many clients already for role \"svc\"".into(),
        }
    }

    #[test]
    fn only_try_again_later_refusals_of_the_upstream_reach_the_client() {
        assert_eq!(
            upstream_refusal(&server("53300")).0,
            SqlState::TOO_MANY_CONNECTIONS
        );
        assert_eq!(
            upstream_refusal(&server("57P03")).0,
            SqlState::CANNOT_CONNECT_NOW
        );
        assert_eq!(
            upstream_refusal(&server("53200")).0,
            SqlState::INSUFFICIENT_RESOURCES
        );
        // A refusal of jitgate's own service login is not the client's wrong password.
        assert_eq!(
            upstream_refusal(&server("28P01")).0,
            SqlState::CONNECTION_FAILURE
        );
        assert_eq!(
            upstream_refusal(&server("3D000")).0,
            SqlState::CONNECTION_FAILURE
        );
        assert_eq!(
            upstream_refusal(&server("bogus")).0,
            SqlState::CONNECTION_FAILURE
        );
        // The upstream's own words (here a role name) are never passed on.
        assert!(!upstream_refusal(&server("53300")).1.contains("svc"));
        let refused = UpstreamError::Connect {
            addr: "127.0.0.1:1".into(),
            source: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        assert_eq!(
            upstream_refusal(&refused),
            (
                SqlState::CONNECTION_FAILURE,
                "the upstream refused the connection"
            )
        );
    }
}
