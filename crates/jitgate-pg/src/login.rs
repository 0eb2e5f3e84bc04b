//! Logging a client in: TLS negotiation, authentication with a jitgate credential, admission
//! under a live grant, and jitgate's own login to the upstream. Everything that can go wrong
//! here ends with a FATAL error the client can read.

use crate::auth::{authenticate, ClientAuthError, ClientAuthMethod};
use crate::cancel::{CancelKey, CancelTarget};
use crate::codec::backend::{self, Severity};
use crate::codec::startup::{read_startup, StartupParams, StartupRequest};
use crate::codec::ProtocolError;
use crate::front::{Front, ResourceFront};
use crate::guard::{SessionContext, SessionGuard};
use crate::relay::READ_CHUNK;
use crate::stream::PgStream;
use crate::upstream::{self, UpstreamConn};
use bytes::{BufMut, BytesMut};
use jitgate_control::audit::{kind, AuditEvent};
use jitgate_control::model::UpstreamCancel;
use jitgate_control::{LoginContext, LoginRefused, Proof, Protocol};
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
pub(crate) struct Fatal {
    pub sqlstate: String,
    pub message: String,
}

impl Fatal {
    pub(crate) fn new(sqlstate: impl Into<String>, message: impl Into<String>) -> Fatal {
        Fatal {
            sqlstate: sqlstate.into(),
            message: message.into(),
        }
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

pub(crate) async fn open(
    tcp: TcpStream,
    peer: SocketAddr,
    front: &Front,
    resource: &ResourceFront,
) -> OpenResult {
    let mut stream = PgStream::Plain(tcp);
    // Negotiate encryption until a real StartupMessage arrives.
    let params = loop {
        let request = match read_startup(&mut stream).await {
            Ok(r) => r,
            Err(ProtocolError::Closed) => return Ok(None),
            Err(e) => return Err((stream, Fatal::new("08P01", e.to_string()))),
        };
        match request {
            StartupRequest::Ssl if !stream.is_tls() => {
                stream = match negotiate_tls(stream, front).await {
                    Ok(Some(s)) => s,
                    Ok(None) => return Ok(None),
                    Err(refusal) => return Err(refusal),
                };
            }
            StartupRequest::GssEnc if !stream.is_tls() => {
                if stream.write_all(b"N").await.is_err() {
                    return Ok(None);
                }
            }
            StartupRequest::Ssl | StartupRequest::GssEnc => {
                return Err((stream, Fatal::new("08P01", "encryption requested twice")));
            }
            StartupRequest::Cancel {
                process_id,
                secret_key,
            } => {
                forward_cancel(front, process_id, secret_key).await;
                return Ok(None);
            }
            StartupRequest::Startup(params) => break params,
        }
    };
    if front.settings.tls_required && !stream.is_tls() {
        return Err((
            stream,
            Fatal::new(
                "28000",
                "jitgate accepts only TLS connections (use sslmode=require)",
            ),
        ));
    }
    let Some(login) = params.get("user").map(str::to_owned) else {
        return Err((
            stream,
            Fatal::new("28000", "no user name in start-up packet"),
        ));
    };
    if let Some(db) = params.get("database") {
        let served = resource.upstream.database.as_str();
        if db != served && db != login {
            return Err((
                stream,
                Fatal::new(
                    "3D000",
                    format!(
                        "database \"{db}\" is not served here: resource \"{}\" serves \"{served}\"",
                        resource.name
                    ),
                ),
            ));
        }
    }

    let method = if front.settings.password_auth {
        if !stream.is_tls()
            && !stream.peer_is_loopback()
            && !front.settings.allow_cleartext_without_tls
        {
            return Err((
                stream,
                Fatal::new(
                    "28000",
                    "a password in clear text is accepted only over TLS (use sslmode=require)",
                ),
            ));
        }
        ClientAuthMethod::Cleartext
    } else {
        ClientAuthMethod::Scram
    };

    let attempt = match front.control.begin_login(LoginContext {
        login: &login,
        resource: &resource.name,
        peer,
        protocol: Protocol::Postgres,
    }) {
        Ok(attempt) => attempt,
        Err(e) => {
            tracing::error!("looking up credential: {e}");
            return Err((stream, Fatal::new("58000", "jitgate cannot read its store")));
        }
    };
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let proof = match authenticate(
        &mut stream,
        &mut buf,
        method,
        attempt.verifier(),
        front.settings.max_message_bytes,
    )
    .await
    {
        Ok(()) => Proof::Verified,
        Err(ClientAuthError::Disconnected) => return Ok(None),
        Err(ClientAuthError::Failed) => Proof::Failed,
        Err(e) => Proof::ProtocolError(e.to_string()),
    };
    let admission = match attempt.finish(proof) {
        Ok(a) => a,
        Err(refused) => {
            let sqlstate = match refused {
                LoginRefused::Protocol(_) => "08P01",
                _ => "28P01",
            };
            return Err((stream, Fatal::new(sqlstate, refused.client_message())));
        }
    };

    // Masked subjects and read-only grants get their checks now, or no session at all.
    let guard = match &front.guards {
        None => None,
        Some(provider) => match provider
            .guard_for(SessionContext {
                admission: &admission,
                resource,
                search_path: params.get("search_path"),
            })
            .await
        {
            Ok(guard) => guard,
            Err(refusal) => {
                tracing::warn!(resource = %resource.name, "session checks unavailable: {}", refusal.message);
                let sqlstate = String::from_utf8_lossy(&refusal.sqlstate).into_owned();
                return Err((stream, Fatal::new(sqlstate, refusal.message)));
            }
        },
    };

    let mut forwarded = forwarded_params(&params);
    if guard.is_some() {
        // Statement analysis and masking read text as UTF-8: guarded sessions speak nothing else.
        forwarded.retain(|(k, _)| !k.eq_ignore_ascii_case("client_encoding"));
        forwarded.push(("client_encoding".into(), "UTF8".into()));
    }
    if guard.as_ref().is_some_and(|g| g.results.is_some()) {
        // Masked sessions start (and RESET back to) NOTICE, whatever the server's default:
        // LOG and DEBUG messages can carry statement texts, mask keys included.
        forwarded.retain(|(k, _)| !k.eq_ignore_ascii_case("client_min_messages"));
        forwarded.push(("client_min_messages".into(), "notice".into()));
        // Masking expressions are heavy enough to cross the JIT's cost thresholds, where
        // compiling them costs far more than evaluating them: masked sessions start without it.
        forwarded.retain(|(k, _)| !k.eq_ignore_ascii_case("jit"));
        forwarded.push(("jit".into(), "off".into()));
    }
    if admission.grant.read_only {
        // PostgreSQL itself then refuses writes; the guard stops attempts to switch it off.
        forwarded.push(("default_transaction_read_only".into(), "on".into()));
    }
    let upstream = match upstream::connect(
        &resource.upstream,
        resource.upstream_tls.as_ref(),
        &forwarded,
    )
    .await
    {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(resource = %resource.name, "upstream login failed: {e}");
            front.control.audit(
                AuditEvent::new(kind::UPSTREAM_FAILED, json!({"error": e.to_string()}))
                    .subject(&admission.subject)
                    .resource(&resource.name)
                    .grant(&admission.grant.id),
            );
            return Err((
                stream,
                Fatal::new(
                    "08006",
                    format!(
                        "jitgate could not log in to the upstream of resource \"{}\"",
                        resource.name
                    ),
                ),
            ));
        }
    };

    let session = front.control.open_session(&admission, &peer.to_string());
    // Should jitgate die mid-session, its next start cancels what the session left running.
    if upstream.backend_key != (0, 0) {
        let (process_id, secret_key) = upstream.backend_key;
        session.set_upstream_cancel(UpstreamCancel::Postgres {
            addr: upstream.server_addr,
            process_id,
            secret_key,
        });
    }
    let cancel_key = front.cancels.register(CancelTarget {
        upstream_addr: upstream.server_addr,
        upstream_key: upstream.backend_key,
        resource: resource.name.clone(),
    });

    // The client now sees what a direct login would show, but with jitgate's own cancel key.
    let mut hello = BytesMut::with_capacity(1024);
    backend::authentication_ok(&mut hello);
    for m in &upstream.startup_messages {
        hello.put_u8(m.tag);
        hello.put_u32(m.body.len() as u32 + 4);
        hello.extend_from_slice(&m.body);
    }
    backend::backend_key_data(&mut hello, cancel_key.process_id, cancel_key.secret);
    hello.extend_from_slice(&[b'Z', 0, 0, 0, 5, upstream.transaction_status]);
    if stream.write_all(&hello).await.is_err() || stream.flush().await.is_err() {
        session.close("client closed during login", 0, 0);
        return Ok(None);
    }
    Ok(Some(Opened {
        client: stream,
        client_buf: buf,
        upstream,
        session,
        cancel_key,
        guard,
    }))
}

/// Answers an SSLRequest: 'S' and a TLS handshake when configured, 'N' otherwise.
/// `Err` carries a stream to send a refusal on; `Ok(None)` means the client left.
async fn negotiate_tls(
    mut stream: PgStream,
    front: &Front,
) -> Result<Option<PgStream>, (PgStream, Fatal)> {
    let PgStream::Plain(mut tcp) = stream else {
        return Err((stream, Fatal::new("08P01", "encryption requested twice")));
    };
    let Some(acceptor) = &front.settings.client_tls else {
        if tcp.write_all(b"N").await.is_err() {
            return Ok(None);
        }
        stream = PgStream::Plain(tcp);
        return Ok(Some(stream));
    };
    if tcp.write_all(b"S").await.is_err() {
        return Ok(None);
    }
    match acceptor.accept(tcp).await {
        Ok(tls) => Ok(Some(PgStream::ServerTls(Box::new(tls)))),
        Err(e) => {
            tracing::info!("client TLS handshake failed: {e}");
            Ok(None)
        }
    }
}

fn forwarded_params(params: &StartupParams) -> Vec<(String, String)> {
    params
        .params
        .iter()
        .filter(|(k, _)| FORWARDED_PARAMS.contains(&k.as_str()))
        .cloned()
        .collect()
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
    backend::error_response(&mut msg, Severity::Fatal, &fatal.sqlstate, &fatal.message);
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, async {
        stream.write_all(&msg).await?;
        stream.shutdown().await
    })
    .await;
}
