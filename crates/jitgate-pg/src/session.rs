//! One client connection, from its first byte to its last: TLS negotiation, authentication with a
//! jitgate credential, admission under a live grant, the upstream login, the relay, and a clean
//! end — with a FATAL error the client can read when the grant ends under it.

use crate::auth::{authenticate, ClientAuthError, ClientAuthMethod};
use crate::cancel::CancelTarget;
use crate::codec::backend::{self, Severity};
use crate::codec::scanner::{Limits, Oversize};
use crate::codec::startup::{read_startup, StartupParams, StartupRequest};
use crate::codec::ProtocolError;
use crate::front::{Front, ResourceFront};
use crate::relay::{self, Direction, Flow, PumpEnd, PumpError, READ_CHUNK};
use crate::statements::StatementLog;
use crate::stream::PgStream;
use crate::upstream::{self, UpstreamConn};
use bytes::{BufMut, BytesMut};
use jitgate_control::audit::AuditEvent;
use jitgate_control::model::GrantEnd;
use jitgate_control::scram::ScramVerifier;
use jitgate_control::{Refusal, SessionStop};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long jitgate waits to deliver its last words to a client that is not reading.
const GOODBYE_TIMEOUT: Duration = Duration::from_millis(500);

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
struct Fatal {
    sqlstate: &'static str,
    message: String,
}

impl Fatal {
    fn new(sqlstate: &'static str, message: impl Into<String>) -> Fatal {
        Fatal {
            sqlstate,
            message: message.into(),
        }
    }
}

/// Serves one accepted connection to the end.
pub async fn run(
    tcp: TcpStream,
    peer: SocketAddr,
    front: Arc<Front>,
    resource: Arc<ResourceFront>,
) {
    let _ = tcp.set_nodelay(true);
    let login = tokio::time::timeout(
        front.settings.login_timeout,
        open(tcp, peer, &front, &resource),
    )
    .await;
    let opened = match login {
        Ok(Ok(Some(opened))) => opened,
        Ok(Ok(None)) => return,
        Ok(Err((mut stream, fatal))) => {
            goodbye(&mut stream, &fatal).await;
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "client did not finish logging in in time");
            return;
        }
    };
    serve(opened, &front, &resource).await;
}

/// A client logged in and its upstream connection ready.
struct Opened {
    client: PgStream,
    client_buf: BytesMut,
    upstream: UpstreamConn,
    session: jitgate_control::Session,
    cancel_key: crate::cancel::CancelKey,
}

type OpenResult = Result<Option<Opened>, (PgStream, Fatal)>;

async fn open(
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

    let credential = match front.control.find_credential(&login) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("looking up credential: {e}");
            return Err((stream, Fatal::new("58000", "jitgate cannot read its store")));
        }
    };
    let verifier = credential
        .as_ref()
        .map(|c| c.verifier.clone())
        .unwrap_or_else(|| ScramVerifier::unmatchable(&login));
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let auth = authenticate(
        &mut stream,
        &mut buf,
        method,
        &verifier,
        front.settings.max_message_bytes,
    )
    .await;
    let audit_failure = |reason: &str| {
        front.control.audit(
            AuditEvent::new(
                "login.failed",
                json!({"login": login, "client_addr": peer.to_string(), "reason": reason}),
            )
            .resource(&resource.name),
        );
    };
    let credential = match (auth, credential) {
        (Ok(()), Some(c)) => c,
        (Err(ClientAuthError::Disconnected), _) => return Ok(None),
        (Ok(()), None) | (Err(ClientAuthError::Failed), _) => {
            audit_failure("wrong credential");
            return Err((
                stream,
                Fatal::new(
                    "28P01",
                    format!("password authentication failed for user \"{login}\""),
                ),
            ));
        }
        (Err(e), _) => {
            audit_failure("authentication protocol error");
            return Err((stream, Fatal::new("08P01", e.to_string())));
        }
    };

    let admission = match front.control.admit(&credential, &resource.name) {
        Ok(a) => a,
        Err(refusal) => {
            audit_failure(&refusal.to_string());
            let message = match &refusal {
                Refusal::OtherResource(r) => format!(
                    "credential \"{login}\" is for resource \"{r}\", not \"{}\"",
                    resource.name
                ),
                other => format!("{other}: credential \"{login}\" no longer admits you"),
            };
            return Err((stream, Fatal::new("28P01", message)));
        }
    };

    let forwarded = forwarded_params(&params);
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
                AuditEvent::new("upstream.failed", json!({"error": e.to_string()}))
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

async fn forward_cancel(front: &Front, process_id: i32, secret_key: i32) {
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

/// How the relay ended.
enum Outcome {
    Stopped(SessionStop),
    Client(Result<PumpEnd, PumpError>),
    Upstream(Result<PumpEnd, PumpError>),
}

async fn serve(opened: Opened, front: &Front, resource: &ResourceFront) {
    let Opened {
        client,
        client_buf,
        upstream,
        mut session,
        cancel_key,
    } = opened;
    let max = front.settings.max_message_bytes;
    let mut relay = Relay {
        from_client: Direction::new(
            client_buf,
            Limits {
                whole_max: max,
                stream_above: READ_CHUNK,
                oversize: Oversize::Reject,
            },
            |tag| tag == b'd',
        ),
        from_upstream: Direction::new(
            upstream.read_buf,
            Limits {
                whole_max: max,
                stream_above: READ_CHUNK,
                oversize: Oversize::Stream,
            },
            |tag| matches!(tag, b'D' | b'd'),
        ),
        upstream_addr: upstream.server_addr,
        upstream_key: upstream.backend_key,
    };
    // Plain sockets split into borrowed halves at no cost; TLS streams need a shared lock.
    let reason = match (client, upstream.stream) {
        (PgStream::Plain(mut c), PgStream::Plain(mut u)) => {
            let (cr, cw) = c.split();
            let (ur, uw) = u.split();
            relay.run((cr, cw), (ur, uw), &mut session, resource).await
        }
        (c, u) => {
            let client = tokio::io::split(c);
            let upstream = tokio::io::split(u);
            relay.run(client, upstream, &mut session, resource).await
        }
    };
    drop(cancel_key);
    session.close(&reason, relay.from_client.bytes, relay.from_upstream.bytes);
}

/// Both directions of a logged-in session.
struct Relay {
    from_client: Direction,
    from_upstream: Direction,
    upstream_addr: SocketAddr,
    upstream_key: (i32, i32),
}

impl Relay {
    /// Relays until either side ends or the session must stop; returns why it ended.
    async fn run<CR, CW, UR, UW>(
        &mut self,
        (mut client_rx, mut client_tx): (CR, CW),
        (mut up_rx, mut up_tx): (UR, UW),
        session: &mut jitgate_control::Session,
        resource: &ResourceFront,
    ) -> String
    where
        CR: AsyncRead + Unpin,
        CW: AsyncWrite + Unpin,
        UR: AsyncRead + Unpin,
        UW: AsyncWrite + Unpin,
    {
        let log = Mutex::new(StatementLog::default());
        let auditor = session.auditor();
        let lock = || log.lock().unwrap_or_else(|p| p.into_inner());

        let outcome = tokio::select! {
            biased;
            stop = session.stopped() => Outcome::Stopped(stop),
            r = self.from_client.pump(&mut client_rx, &mut up_tx, |tag, msg| {
                if matches!(tag, b'Q' | b'F' | b'P' | b'B' | b'E' | b'S' | b'C') {
                    lock().client_message(tag, msg);
                }
                if tag == b'X' { Flow::ForwardAndStop } else { Flow::Forward }
            }) => Outcome::Client(r),
            r = self.from_upstream.pump(&mut up_rx, &mut client_tx, |tag, msg| {
                if matches!(tag, b'C' | b'I' | b's' | b'E' | b'Z') {
                    lock().server_message(tag, msg, |f| {
                        auditor.statement(f.text, f.duration, f.rows, f.sqlstate);
                    });
                }
                Flow::Forward
            }) => Outcome::Upstream(r),
        };

        let busy = lock().busy();
        let (reason, fatal) = outcome.describe();
        // A query still running upstream is cancelled rather than left to finish for nobody.
        let client_left = matches!(outcome, Outcome::Client(Ok(PumpEnd::Stopped)));
        if busy && !client_left {
            let _ = upstream::cancel(
                self.upstream_addr,
                resource.upstream_tls.as_ref(),
                self.upstream_key,
            )
            .await;
        }
        if let Some(fatal) = &fatal {
            say_fatal(&mut client_tx, &mut self.from_upstream, fatal).await;
        }
        let mut bye = BytesMut::new();
        backend::terminate(&mut bye);
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, async {
            let _ = up_tx.write_all(&bye).await;
            let _ = up_tx.shutdown().await;
        })
        .await;
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, client_tx.shutdown()).await;
        reason
    }
}

impl Outcome {
    /// Why the session ended, for the record, and what to tell the client, if anything.
    fn describe(&self) -> (String, Option<Fatal>) {
        let ended = |why: &str| {
            Some(Fatal::new(
                "57P01",
                format!("terminating connection: {why}"),
            ))
        };
        match self {
            Outcome::Stopped(SessionStop::Grant(GrantEnd::Expired)) => {
                ("grant expired".to_owned(), ended("access grant expired"))
            }
            Outcome::Stopped(SessionStop::Grant(GrantEnd::Revoked { by })) => (
                format!("grant revoked by {by}"),
                ended("access grant revoked"),
            ),
            Outcome::Stopped(SessionStop::Killed(why)) => (
                format!("killed: {why}"),
                ended("session ended by an administrator"),
            ),
            Outcome::Client(Ok(PumpEnd::Stopped)) => ("client terminated".to_owned(), None),
            Outcome::Client(Ok(PumpEnd::Eof)) => ("client disconnected".to_owned(), None),
            Outcome::Client(Err(PumpError::Protocol(e))) => (
                format!("client protocol violation: {e}"),
                Some(Fatal::new("08P01", format!("protocol violation: {e}"))),
            ),
            Outcome::Client(Err(e)) => (format!("client connection lost: {e}"), None),
            Outcome::Upstream(Ok(_)) => ("upstream closed the connection".to_owned(), None),
            Outcome::Upstream(Err(e)) => (
                format!("upstream connection lost: {e}"),
                Some(Fatal::new(
                    "08006",
                    "terminating connection: lost the upstream connection",
                )),
            ),
        }
    }
}

/// Finishes the message being forwarded, then sends a FATAL error — if it can within the time.
async fn say_fatal<W: AsyncWrite + Unpin>(client: &mut W, pending: &mut Direction, fatal: &Fatal) {
    if !pending.at_boundary() {
        // Half a huge row has gone out; anything more would be garbage to the client.
        return;
    }
    let mut msg = BytesMut::new();
    backend::error_response(&mut msg, Severity::Fatal, fatal.sqlstate, &fatal.message);
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, relay::say(client, pending, &msg)).await;
}

/// Sends a FATAL error during login, then closes.
async fn goodbye(stream: &mut PgStream, fatal: &Fatal) {
    let mut msg = BytesMut::new();
    backend::error_response(&mut msg, Severity::Fatal, fatal.sqlstate, &fatal.message);
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, async {
        stream.write_all(&msg).await?;
        stream.shutdown().await
    })
    .await;
}
