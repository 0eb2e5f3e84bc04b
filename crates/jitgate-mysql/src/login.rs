//! A client's login: jitgate's greeting, TLS on the client's SSLRequest, the proof of the
//! credential's secret, admission under a live grant, then the service account's login upstream
//! and the session's checks.
//!
//! How the secret is proven. The credential's SCRAM verifier can only be checked against the
//! secret itself, so by default jitgate takes it in clear, over TLS or loopback only: over TLS a
//! `caching_sha2_password` client is asked for full authentication (the client then sends the
//! password in clear, as MySQL does over TLS); any other case switches the client to
//! `mysql_clear_password`. Without TLS and off loopback the login is refused before any password
//! is sent, unless `allow_cleartext_without_tls` is set. There is no RSA key exchange (jitgate
//! would decrypt attackers' ciphertexts with an RSA implementation open to timing attacks): a
//! client asking for the public key is refused with a pointer to TLS.
//!
//! A resource with `native_password = true` also takes `mysql_native_password`, which never
//! sends the secret: its credentials keep SHA1(SHA1(secret)). A client that answers the greeting
//! with it is checked at once, over any transport (or switched to it with a fresh scramble when
//! its answer is empty, as clients whose default plugin is not the greeting's do); a
//! `caching_sha2_password` client that would otherwise be refused (no TLS, not loopback) is
//! switched to it.

use std::net::SocketAddr;
use std::sync::Arc;

use jitgate_control::audit::{kind, AuditEvent};
use jitgate_control::{Admission, LoginAttempt, LoginContext, Proof, Protocol};
use jitgate_masking::SubjectView;
use jitgate_mysql_sql::{lexing_modes_ok, safe_collation_id, Guard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::auth;
use crate::front::{ClientIo, ResourceFront};
use crate::packet::{PacketReader, PacketWriter};
use crate::upstream::{self, UpstreamConn};
use crate::wire::{cap, err_packet, ok_packet, status, ErrorCode, Greeting, HandshakeResponse};

/// Largest packet a client may send before it has logged in.
const PRE_AUTH_MAX: usize = 16 * 1024;

/// Why a login did not become a session.
pub enum LoginEnd {
    /// The client left, or spoke something other than the protocol; nothing to say.
    Left,
    /// Refused with an ERR packet of this sequence number.
    Refused {
        seq: u8,
        code: ErrorCode,
        message: String,
    },
}

fn refused(seq: u8, code: ErrorCode, message: impl Into<String>) -> LoginEnd {
    LoginEnd::Refused {
        seq,
        code,
        message: message.into(),
    }
}

/// A logged-in client, ready for the relay.
pub struct LoggedIn {
    pub client_reader: PacketReader<tokio::io::ReadHalf<ClientIo>>,
    pub client_writer: PacketWriter<tokio::io::WriteHalf<ClientIo>>,
    pub upstream: UpstreamConn,
    pub admission: Admission,
    pub guard: Guard,
    pub connection_id: u32,
    pub peer: SocketAddr,
    /// The detectors a masked subject's answers pass (rows and error texts).
    pub scanner: Option<jitgate_masking::Scanner>,
    /// A masked subject's view: the masks the statement rewrite applies.
    pub view: Option<jitgate_masking::MaskedView>,
}

/// The part of a login before the client's stream is split: greeting and TLS.
pub async fn login(
    mut tcp: TcpStream,
    peer: SocketAddr,
    front: &Arc<ResourceFront>,
    connection_id: u32,
) -> Result<LoggedIn, (Option<ClientIo>, LoginEnd)> {
    let profile = match front.profile().await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(resource = %front.name, "upstream greeting: {e}");
            let io: ClientIo = Box::new(tcp);
            return Err((
                Some(io),
                refused(
                    0,
                    ErrorCode::UPSTREAM,
                    "jitgate cannot reach the upstream database",
                ),
            ));
        }
    };
    let scramble = auth::scramble();
    let tls_offered = front.tls.is_some();
    let greeting = Greeting {
        version: profile.version.clone(),
        connection_id,
        scramble: scramble.clone(),
        capabilities: (profile.capabilities & cap::RELAYED)
            | cap::REQUIRED
            | cap::LONG_PASSWORD
            | if tls_offered { cap::SSL } else { 0 },
        charset: profile.charset,
        status: status::AUTOCOMMIT,
        plugin: auth::CACHING_SHA2.to_vec(),
    };
    let sent = send_raw(&mut tcp, 0, &greeting.encode()).await;
    let first = match sent {
        Ok(()) => read_raw(&mut tcp).await,
        Err(e) => Err(e),
    };
    let Ok((seq, payload)) = first else {
        return Err((None, LoginEnd::Left));
    };
    let (io, seq, payload, tls): (ClientIo, u8, Vec<u8>, bool) =
        match HandshakeResponse::parse(&payload) {
            Some(h)
                if h.capabilities & cap::SSL != 0
                    && payload.len() == crate::wire::SSL_REQUEST_LEN =>
            {
                let Some(acceptor) = front.tls.clone() else {
                    return Err((None, LoginEnd::Left));
                };
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return Err((None, LoginEnd::Left));
                };
                match read_raw(&mut tls).await {
                    Ok((seq, payload)) => (Box::new(tls), seq, payload, true),
                    Err(_) => return Err((None, LoginEnd::Left)),
                }
            }
            _ => (Box::new(tcp), seq, payload, false),
        };
    let (r, w) = tokio::io::split(io);
    let mut reader = PacketReader::new(r, PRE_AUTH_MAX);
    let mut writer = PacketWriter::new(w);
    let login = Login {
        front,
        peer,
        tls,
        greeting: &greeting,
    };
    match login.run(&mut reader, &mut writer, seq, &payload).await {
        Ok((upstream, admission, guard)) => {
            reader.set_max(front.max_message_bytes);
            let view = match front.control.admitted_view(&admission, &front.masking).view {
                SubjectView::Masked(view) => Some(view),
                SubjectView::Clear => None,
            };
            let scanner = view.as_ref().map(|v| v.scanner().clone());
            Ok(LoggedIn {
                client_reader: reader,
                client_writer: writer,
                upstream,
                admission,
                guard,
                connection_id,
                peer,
                scanner,
                view,
            })
        }
        Err(end) => {
            let io = reader.into_inner().0.unsplit(writer.into_inner());
            Err((Some(io), end))
        }
    }
}

/// Sends one packet on a stream not yet framed by a [`PacketWriter`].
async fn send_raw<S: tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    seq: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut p = (payload.len() as u32).to_le_bytes();
    p[3] = seq;
    s.write_all(&p).await?;
    s.write_all(payload).await?;
    s.flush().await
}

/// Reads exactly one packet, without reading past it (a TLS handshake may follow at once).
async fn read_raw<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> std::io::Result<(u8, Vec<u8>)> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).await?;
    let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
    if len > PRE_AUTH_MAX {
        return Err(std::io::Error::other("login packet too large"));
    }
    let mut payload = vec![0; len];
    s.read_exact(&mut payload).await?;
    Ok((h[3], payload))
}

/// What a client gave to prove its credential's secret.
enum Secret {
    /// The secret in clear (over TLS or loopback).
    Clear(Vec<u8>),
    /// A `mysql_native_password` response to `scramble`.
    Native {
        scramble: Vec<u8>,
        response: Vec<u8>,
    },
}

/// Sends one login packet (sequence number `seq`) and reads the client's answer.
async fn exchange(
    reader: &mut Reader,
    writer: &mut Writer,
    seq: u8,
    payload: &[u8],
) -> Result<crate::packet::Packet, LoginEnd> {
    if writer.send(seq, payload).await.is_err() || writer.flush().await.is_err() {
        return Err(LoginEnd::Left);
    }
    reader.next().await.map_err(|_| LoginEnd::Left)
}

struct Login<'a> {
    front: &'a Arc<ResourceFront>,
    peer: SocketAddr,
    tls: bool,
    greeting: &'a Greeting,
}

type Reader = PacketReader<tokio::io::ReadHalf<ClientIo>>;
type Writer = PacketWriter<tokio::io::WriteHalf<ClientIo>>;

impl Login<'_> {
    async fn run(
        &self,
        reader: &mut Reader,
        writer: &mut Writer,
        seq: u8,
        payload: &[u8],
    ) -> Result<(UpstreamConn, Admission, Guard), LoginEnd> {
        let next = seq.wrapping_add(1);
        let Some(response) = HandshakeResponse::parse(payload) else {
            return Err(refused(next, ErrorCode::HANDSHAKE, "bad handshake"));
        };
        if response.capabilities & cap::REQUIRED != cap::REQUIRED {
            return Err(refused(
                next,
                ErrorCode::HANDSHAKE,
                "jitgate needs a client of the 4.1 protocol with authentication plugins",
            ));
        }
        if self.front.tls_required && !self.tls {
            return Err(refused(
                next,
                ErrorCode::ACCESS_DENIED,
                "jitgate accepts only TLS connections (use --ssl)",
            ));
        }
        let clear_ok = self.tls || is_loopback(self.peer) || self.front.allow_cleartext_without_tls;
        let native = self.front.native_password;
        let native_client = response.plugin == auth::NATIVE;
        // A client whose default plugin is not the greeting's (the `mariadb` client's
        // mysql_native_password) answers with an empty response and waits for a switch.
        let (secret, seq) = if native && native_client && !response.auth.is_empty() {
            let proof = Secret::Native {
                scramble: self.greeting.scramble.clone(),
                response: response.auth.clone(),
            };
            (proof, seq)
        } else if native && (native_client || !clear_ok) {
            self.switch_to_native(reader, writer, next).await?
        } else if !clear_ok {
            return Err(refused(
                next,
                ErrorCode::ACCESS_DENIED,
                "jitgate takes passwords only over TLS (use --ssl); it does not do \
                 caching_sha2_password's RSA key exchange",
            ));
        } else {
            self.password(reader, writer, &response, next).await?
        };
        let next = seq.wrapping_add(1);
        let admission = self.admit(&response.user, secret, next).await?;
        let guard = self.guard(&admission);
        if guard.guarded() && !safe_collation_id(response.charset) {
            return Err(refused(
                next,
                ErrorCode::HANDSHAKE,
                "jitgate analyses statements in utf8mb4, utf8, latin1 or ascii only: choose one of \
                 them as the client's character set",
            ));
        }
        let database = response
            .database
            .clone()
            .unwrap_or_else(|| self.front.upstream.database.as_bytes().to_vec());
        let caps = response.capabilities & self.greeting.capabilities;
        let mut upstream =
            upstream::connect(&self.front.upstream, caps, response.charset, &database)
                .await
                .map_err(|e| {
                    self.upstream_failed(&admission, &e);
                    refused(
                        next,
                        ErrorCode::UPSTREAM,
                        format!(
                            "jitgate cannot log in to the upstream database: {}",
                            client_safe(&e)
                        ),
                    )
                })?;
        if let Err(why) = prepare_guarded(&mut upstream, guard).await {
            tracing::warn!(resource = %self.front.name, "session checks: {why}");
            upstream.quit().await;
            return Err(refused(next, ErrorCode::SPECIFIC_ACCESS_DENIED, why));
        }
        let ok = ok_packet(status::AUTOCOMMIT);
        if writer.send(next, &ok).await.is_err() || writer.flush().await.is_err() {
            upstream.quit().await;
            return Err(LoginEnd::Left);
        }
        Ok((upstream, admission, guard))
    }

    /// Logs and audits a failed upstream login; the upstream's words stay out of the client's
    /// answer.
    fn upstream_failed(&self, admission: &Admission, e: &upstream::UpstreamError) {
        tracing::warn!(resource = %self.front.name, "upstream login: {e}");
        let detail = serde_json::json!({ "error": e.to_string(), "client_error": client_safe(e) });
        self.front.control.audit(
            AuditEvent::new(kind::UPSTREAM_FAILED, detail)
                .subject(&admission.subject)
                .resource(&self.front.name)
                .grant(&admission.grant.id),
        );
    }

    /// Gets the password in clear: caching_sha2's full authentication over TLS, or a switch to
    /// `mysql_clear_password`. Returns it with the sequence number of the client's last packet.
    async fn password(
        &self,
        reader: &mut Reader,
        writer: &mut Writer,
        response: &HandshakeResponse,
        next: u8,
    ) -> Result<(Secret, u8), LoginEnd> {
        let full_auth = self.tls && response.plugin == auth::CACHING_SHA2;
        let ask = if full_auth {
            auth::PERFORM_FULL_AUTH.to_vec()
        } else {
            auth::switch_request(auth::CLEAR, &[])
        };
        let p = exchange(reader, writer, next, &ask).await?;
        if full_auth && p.payload.as_ref() == [auth::REQUEST_PUBLIC_KEY] {
            return Err(refused(
                p.seq.wrapping_add(1),
                ErrorCode::ACCESS_DENIED,
                self.no_rsa_message(),
            ));
        }
        let mut password = p.payload.to_vec();
        if password.last() == Some(&0) {
            password.pop();
        }
        Ok((Secret::Clear(password), p.seq))
    }

    /// Switches a client to `mysql_native_password` with a new scramble and takes its response.
    async fn switch_to_native(
        &self,
        reader: &mut Reader,
        writer: &mut Writer,
        next: u8,
    ) -> Result<(Secret, u8), LoginEnd> {
        let scramble = auth::scramble();
        let ask = auth::switch_request(auth::NATIVE, &scramble);
        let p = exchange(reader, writer, next, &ask).await?;
        let proof = Secret::Native {
            scramble,
            response: p.payload.to_vec(),
        };
        Ok((proof, p.seq))
    }

    /// What a client asking for caching_sha2_password's RSA public key is told.
    fn no_rsa_message(&self) -> &'static str {
        if self.front.native_password {
            "jitgate does not do caching_sha2_password's RSA key exchange: connect with TLS \
             (--ssl), or with mysql_native_password, which this resource accepts \
             (--default-auth=mysql_native_password)"
        } else {
            "jitgate does not do caching_sha2_password's RSA key exchange: connect with TLS (--ssl)"
        }
    }

    /// Checks the credential (a key derivation, off the relay's threads) and the grant behind it.
    async fn admit(&self, user: &[u8], secret: Secret, seq: u8) -> Result<Admission, LoginEnd> {
        let login = String::from_utf8_lossy(user).into_owned();
        let context = LoginContext {
            login: &login,
            resource: &self.front.name,
            peer: self.peer,
            protocol: Protocol::MySql,
        };
        let attempt = self.front.control.begin_login(context).map_err(|e| {
            tracing::error!("looking up credential: {e}");
            refused(
                seq,
                ErrorCode::ACCESS_DENIED,
                "jitgate cannot read its store",
            )
        })?;
        let checked = tokio::task::spawn_blocking(move || -> (LoginAttempt, bool) {
            let ok = match &secret {
                Secret::Clear(password) => {
                    std::str::from_utf8(password).is_ok_and(|p| attempt.check_password(p))
                }
                Secret::Native { scramble, response } => {
                    attempt.check_native_password(scramble, response)
                }
            };
            (attempt, ok)
        })
        .await;
        let Ok((attempt, ok)) = checked else {
            return Err(refused(
                seq,
                ErrorCode::ACCESS_DENIED,
                "jitgate could not check the password",
            ));
        };
        let proof = if ok { Proof::Verified } else { Proof::Failed };
        attempt
            .finish(proof)
            .map_err(|refusal| refused(seq, ErrorCode::ACCESS_DENIED, refusal.client_message()))
    }

    fn guard(&self, admission: &Admission) -> Guard {
        let view = self
            .front
            .control
            .admitted_view(admission, &self.front.masking);
        Guard {
            read_only: admission.grant.read_only,
            masked: matches!(view.view, SubjectView::Masked(_)),
        }
    }
}

/// Makes a guarded session's upstream session what its checks assume: the server lexes as the
/// parser does, and a read-only grant's transactions are read-only.
pub async fn prepare_guarded(upstream: &mut UpstreamConn, guard: Guard) -> Result<(), String> {
    if !guard.guarded() {
        return Ok(());
    }
    let mode = upstream
        .query("SELECT @@SESSION.sql_mode")
        .await
        .map_err(|e| {
            format!(
                "jitgate cannot read the session's sql_mode: {}",
                client_safe(&e)
            )
        })?;
    let mode = mode.first().cloned().flatten().unwrap_or_default();
    if !lexing_modes_ok(&String::from_utf8_lossy(&mode)) {
        return Err(
            "the upstream's sql_mode has ANSI_QUOTES or NO_BACKSLASH_ESCAPES, which jitgate \
                    cannot analyse statements under"
                .into(),
        );
    }
    if guard.read_only {
        upstream
            .query("SET SESSION TRANSACTION READ ONLY")
            .await
            .map_err(|e| {
                format!(
                    "jitgate cannot make the session read-only: {}",
                    client_safe(&e)
                )
            })?;
    }
    Ok(())
}

/// What of an upstream failure a client may read: the kind, never the server's words.
fn client_safe(e: &upstream::UpstreamError) -> &'static str {
    use upstream::UpstreamError as E;
    match e {
        E::Connect { .. } | E::Timeout(_) => "the upstream does not answer",
        E::Refused(_) => "the upstream refused the service account",
        E::Unsupported(_) => "the upstream asks for an authentication jitgate does not speak",
        E::NoTls(_) => "the upstream does not offer TLS, which the resource's tls mode requires",
        E::Tls(_) => {
            "TLS with the upstream failed (its certificate is not trusted or the handshake broke)"
        }
        _ => "the upstream broke the protocol",
    }
}

pub fn is_loopback(addr: SocketAddr) -> bool {
    match addr {
        SocketAddr::V4(a) => a.ip().is_loopback(),
        SocketAddr::V6(a) => a
            .ip()
            .to_ipv4_mapped()
            .map_or(a.ip().is_loopback(), |v4| v4.is_loopback()),
    }
}

/// Writes a refusal and closes.
pub async fn goodbye(io: ClientIo, seq: u8, code: ErrorCode, message: &str) {
    let mut w = PacketWriter::new(io);
    let _ = w.send(seq, &err_packet(code, message)).await;
    w.shutdown().await;
}
